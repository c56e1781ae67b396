//! MCP clients of `intercomm mcp`: starting the master's server in the
//! namespace and calling tools on it.

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

use super::host::intercomm_bin;
use super::{World, fail, short};

/// An rmcp client connected to an `intercomm mcp` server.
pub type Client = RunningService<RoleClient, ()>;

impl World {
    /// Starts `intercomm mcp` in the namespace as a child of the test, with
    /// INTERCOMM_DB_ROOT=<repo> and INTERCOMM_TMUX_SOCKET=<private socket>
    /// (plus `extra` environment), and connects an rmcp client to it.
    pub async fn master_client(&self, extra: &[(&str, &str)]) -> Client {
        let err = std::fs::File::create(self.dir.join("master.err"))
            .unwrap_or_else(|e| fail(format!("master.err: {e}")));
        let mut cmd = tokio::process::Command::new("ip");
        cmd.args(["netns", "exec", &self.ns])
            .arg(intercomm_bin())
            .arg("mcp")
            .current_dir(&self.repo)
            .env_clear()
            .envs(self.base_env())
            .env("INTERCOMM_DB_ROOT", &self.repo)
            .env("INTERCOMM_TMUX_SOCKET", &self.socket)
            .env("INTERCOMM_LOG", "debug,rmcp=info");
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let transport = TokioChildProcess::builder(cmd)
            .stderr(err)
            .spawn()
            .map(|(t, _)| t)
            .unwrap_or_else(|e| fail(format!("cannot start `intercomm mcp`: {e}")));
        match ().serve(transport).await {
            Ok(client) => client,
            Err(e) => fail(format!("cannot connect to `intercomm mcp`: {e}")),
        }
    }

    /// A master client, registered as master.
    pub async fn master(&self, extra: &[(&str, &str)]) -> Client {
        let client = self.master_client(extra).await;
        let reg = ok(&client, "intercomm_register", json!({"role": "master"})).await;
        if reg["id"] != "master" {
            fail(format!("registered as {reg}, not master"));
        }
        client
    }
}

/// Calls a tool with JSON arguments.
pub async fn call(client: &Client, tool: &str, args: Value) -> CallToolResult {
    let mut params = CallToolRequestParams::new(tool.to_owned());
    if let Value::Object(map) = args {
        params = params.with_arguments(map);
    }
    match client.call_tool(params).await {
        Ok(r) => r,
        Err(e) => fail(format!("{tool}: the MCP call failed: {e}")),
    }
}

/// The text of a result's first content block.
pub fn text(result: &CallToolResult) -> String {
    result
        .content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

/// Calls a tool that must succeed; returns its structured content.
pub async fn ok(client: &Client, tool: &str, args: Value) -> Value {
    let result = call(client, tool, args.clone()).await;
    if result.is_error == Some(true) {
        fail(format!("{tool}({args}) failed: {}", text(&result)));
    }
    eprintln!("e2e: {tool} -> {}", short(&text(&result), 600));
    result.structured_content.unwrap_or(Value::Null)
}

/// Calls a tool that must fail; returns (error object, text).
pub async fn err(client: &Client, tool: &str, args: Value) -> (Value, String) {
    let result = call(client, tool, args.clone()).await;
    if result.is_error != Some(true) {
        fail(format!(
            "{tool}({args}) unexpectedly succeeded: {}",
            text(&result)
        ));
    }
    let error = result
        .structured_content
        .as_ref()
        .and_then(|v| v.get("error").cloned())
        .unwrap_or(Value::Null);
    (error, text(&result))
}
