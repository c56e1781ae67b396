//! `intercomm mcp`: the stdio MCP server each Claude Code instance launches.
//!
//! Each tool is a thin adapter over [`crate::ops`]: parse the arguments
//! (errors name the argument), run the operation against this process's
//! [`Ctx`], and answer a readable text plus `structuredContent` with the same
//! facts. Errors a caller can fix are `isError` results with a hint.
//!
//! On EOF of stdin, SIGHUP (what tmux kill-session delivers), SIGTERM or
//! SIGINT the server marks its instance inactive before exiting (B14); a
//! SIGKILL is covered by liveness (the row's process is gone).

mod framing;
mod params;
mod stdio;
mod tools;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    CacheScope, CallToolResult, ContentBlock, Implementation, JsonObject, ListToolsResult,
    PaginatedRequestParams, ProtocolVersion, ResultType, ServerCapabilities, ServerConfig,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ServerHandler, ServiceExt, tool_handler};
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorKind};
use crate::ops::{Ctx, Outcome};

pub(crate) use params::TOOL_ARGS;
pub use params::{input_schema, parse};

/// Server name in `initialize`.
pub const SERVER_NAME: &str = "intercomm";

/// The MCP server of one process.
#[derive(Clone)]
pub struct IntercommServer {
    ctx: Arc<Mutex<Ctx>>,
    tool_router: ToolRouter<Self>,
    /// The client has listed the tools once.
    listed: Arc<AtomicBool>,
}

impl IntercommServer {
    /// A server acting for `ctx`.
    pub fn new(ctx: Ctx) -> Self {
        Self {
            ctx: Arc::new(Mutex::new(ctx)),
            tool_router: Self::tool_router(),
            listed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Parses `args` as `P` and runs `op` on this process's context.
    fn call<P, O>(
        &self,
        args: JsonObject,
        op: impl FnOnce(&mut Ctx, P) -> crate::error::Result<O>,
    ) -> CallToolResult
    where
        P: DeserializeOwned,
        O: Outcome,
    {
        respond(
            params::parse::<P>(args).and_then(|p| crate::fleet::with_ctx(&self.ctx, |c| op(c, p))),
        )
    }

    /// Marks this process's instance inactive (exit path).
    fn release(&self) {
        if let Ok(mut ctx) = self.ctx.lock() {
            ctx.release();
        }
    }
}

/// The result of an operation, success or error.
fn respond<O: Outcome>(outcome: crate::error::Result<O>) -> CallToolResult {
    match outcome {
        Ok(o) => success(&o),
        Err(e) => failure(&e),
    }
}

/// A successful result: text for the model, the outcome as structured content.
fn success<O: Outcome>(outcome: &O) -> CallToolResult {
    let mut result = CallToolResult::success(vec![ContentBlock::text(outcome.text())]);
    result.structured_content = serde_json::to_value(outcome).ok();
    result
}

/// An `isError` result naming the problem and the fix.
fn failure(err: &Error) -> CallToolResult {
    if err.kind == ErrorKind::Internal {
        tracing::error!(target: "mcp", code = err.code, "{}", err.message);
    }
    let mut result = CallToolResult::error(vec![ContentBlock::text(err.to_text())]);
    result.structured_content = Some(serde_json::json!({ "error": err }));
    result
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for IntercommServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(SERVER_NAME, env!("CARGO_PKG_VERSION")))
            .with_instructions(crate::protocol::PROTOCOL)
    }

    /// The tool list (what `#[tool_handler]` would answer). The first call
    /// is the client connected and able to offer the tools: a spawned
    /// worker's server records it for spawn, which rings the worker only
    /// then. (Not the `initialized` notification: the 2026-07-28 protocol
    /// that Claude Code 2.1.330 negotiates has no initialize handshake.)
    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, rmcp::ErrorData> {
        if !self.listed.swap(true, Ordering::Relaxed) {
            crate::fleet::spawn::note_mcp_connected(&self.ctx);
        }
        let cache_hints = context
            .protocol_version()
            .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28);
        Ok(ListToolsResult {
            result_type: Some(ResultType::COMPLETE),
            tools: self.tool_router.list_all(),
            meta: None,
            next_cursor: None,
            ttl_ms: cache_hints.then_some(0),
            cache_scope: cache_hints.then_some(CacheScope::Public),
        })
    }
}

/// Serves MCP on stdin/stdout until EOF or a terminating signal, then
/// releases this process's instance.
pub async fn serve_stdio(ctx: Ctx) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let server = IntercommServer::new(ctx);
    let handle = server.clone();
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let running = server
        .serve({
            let (input, output) = stdio::transport();
            framing::guard(input, output)
        })
        .await
        .map_err(std::io::Error::other)?;
    tokio::select! {
        quit = running.waiting() => {
            if let Err(err) = quit {
                tracing::warn!(target: "mcp", %err, "server task ended with an error");
            }
        }
        _ = hup.recv() => tracing::info!(target: "mcp", "SIGHUP"),
        _ = term.recv() => tracing::info!(target: "mcp", "SIGTERM"),
        _ = int.recv() => tracing::info!(target: "mcp", "SIGINT"),
    }
    handle.release();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::IntercommServer;
    use super::params::TOOL_ARGS;

    #[test]
    fn tool_args_table_matches_the_router() {
        let tools = IntercommServer::tool_router().list_all();
        let mut routed: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        let mut table: Vec<&str> = TOOL_ARGS.iter().map(|t| t.name).collect();
        routed.sort_unstable();
        table.sort_unstable();
        assert_eq!(routed, table);
        for tool in &tools {
            let entry = TOOL_ARGS.iter().find(|t| t.name == tool.name);
            let schema = entry.map(|t| (t.schema)());
            assert_eq!(
                schema.as_deref(),
                Some(&*tool.input_schema),
                "{}",
                tool.name
            );
        }
    }
}
