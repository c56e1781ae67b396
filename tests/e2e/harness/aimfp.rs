//! AIMFP next to intercomm: the real AIMFP MCP server (PyPI `aimfp`, pinned
//! [`AIMFP_VERSION`]) run from its own venv as an external program (its
//! licence forbids vendoring it; scripts/aimfp-setup installs it when
//! missing), as a user-scope MCP server of every Claude Code in the world,
//! and as an rmcp client for the master's side.

use std::path::{Path, PathBuf};
use std::process::Command;

use rmcp::ServiceExt;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};

use super::host::crate_root;
use super::{Client, World, call, fail, short, text};

/// The AIMFP release the tests pin (INTERCOMM_E2E_AIMFP_VERSION overrides).
pub const AIMFP_VERSION: &str = "1.69.0";

/// The venv's python with AIMFP installed, installing it first when missing
/// or another version (scripts/aimfp-setup prints the path).
pub fn aimfp_python() -> PathBuf {
    let version = std::env::var("INTERCOMM_E2E_AIMFP_VERSION")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| AIMFP_VERSION.to_owned());
    let setup = crate_root().join("scripts/aimfp-setup");
    let out = Command::new(&setup)
        .env("INTERCOMM_E2E_AIMFP_VERSION", &version)
        .output()
        .unwrap_or_else(|e| fail(format!("cannot run {}: {e}", setup.display())));
    if !out.status.success() {
        fail(format!(
            "{} failed ({}): {}",
            setup.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

impl World {
    /// Adds AIMFP as a user-scope stdio MCP server (`aimfp`) to the world's
    /// `~/.claude.json`, so every Claude Code started here runs its own AIMFP
    /// process in its own directory (a worker's binds to its worktree). Call
    /// before any Claude Code starts.
    pub fn add_aimfp_to_claude(&self, python: &Path) {
        let path = self.home.join(".claude.json");
        let mut config: Value = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_else(|| json!({}));
        config["mcpServers"]["aimfp"] = json!({
            "type": "stdio",
            "command": python.display().to_string(),
            "args": ["-m", "aimfp", "--no-watchdog"],
        });
        if let Err(e) = std::fs::write(&path, config.to_string()) {
            fail(format!("cannot write {}: {e}", path.display()));
        }
    }

    /// Starts `python -m aimfp --no-watchdog` in the namespace with its
    /// working directory `cwd` (AIMFP binds its project root to it), and
    /// connects an rmcp client to it.
    pub async fn aimfp_client(&self, python: &Path, cwd: &Path) -> Client {
        let err = std::fs::File::create(self.dir.join("aimfp-master.err"))
            .unwrap_or_else(|e| fail(format!("aimfp-master.err: {e}")));
        let mut cmd = tokio::process::Command::new("ip");
        cmd.args(["netns", "exec", &self.ns])
            .arg(python)
            .args(["-m", "aimfp", "--no-watchdog"])
            .current_dir(cwd)
            .env_clear()
            .envs(self.base_env());
        let transport = TokioChildProcess::builder(cmd)
            .stderr(err)
            .spawn()
            .map(|(t, _)| t)
            .unwrap_or_else(|e| fail(format!("cannot start AIMFP: {e}")));
        match ().serve(transport).await {
            Ok(client) => client,
            Err(e) => fail(format!("cannot connect to AIMFP: {e}")),
        }
    }
}

/// Calls an AIMFP tool that must succeed; returns the JSON its one text
/// item holds (AIMFP answers `{success, data|records|id…, error,
/// return_statements}`).
pub async fn aimfp(client: &Client, tool: &str, args: Value) -> Value {
    let (is_error, value) = aimfp_any(client, tool, args.clone()).await;
    if is_error || value["success"] == false {
        fail(format!("AIMFP {tool}({args}) failed: {value}"));
    }
    value
}

/// Calls an AIMFP tool; returns whether it was an error and its JSON.
pub async fn aimfp_any(client: &Client, tool: &str, args: Value) -> (bool, Value) {
    let result = call(client, tool, args).await;
    let body = text(&result);
    eprintln!("e2e: AIMFP {tool} -> {}", short(&body, 400));
    let value = serde_json::from_str(&body)
        .unwrap_or_else(|_| fail(format!("AIMFP {tool} did not answer JSON: {body}")));
    (result.is_error == Some(true), value)
}
