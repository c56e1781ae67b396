//! Workers played by the stand-in Claude TUI (tests/support/fake_claude.py):
//! the claude_cmd that runs it, its per-worker logs, and [`Fleet`], a master
//! ready to spawn such workers on a private tmux server.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::*;

/// A claude_cmd that runs the stand-in, logging to `<logs>/<worker id>.jsonl`,
/// with `intercomm mcp` as its MCP server (started as Claude Code starts it).
pub fn fake_cmd(logs: &Path, extra: &str) -> String {
    let server = format!("{} mcp", shell_words::quote(&bin().display().to_string()));
    format!(
        "python3 {} --log {} --boot-delay 0.2 --mcp-server {} {extra}",
        shell_words::quote(&fake_claude().display().to_string()),
        shell_words::quote(&logs.join("{id}.jsonl").display().to_string()),
        shell_words::quote(&server),
    )
}

/// The log [`fake_cmd`] writes for worker `id`.
pub fn log_of(logs: &Path, id: &str) -> PathBuf {
    logs.join(format!("{id}.jsonl"))
}

/// The `workers` array of a spawn result (empty when missing).
pub fn workers(v: &Value) -> Vec<Value> {
    v["workers"].as_array().cloned().unwrap_or_default()
}

/// A registered master on `project` whose tmux is `server`.
pub async fn master_on(project: &Project, server: &TmuxServer) -> TestResult<Client> {
    let master = project.client_on(server, None).await?;
    register(&master, "master").await?;
    Ok(master)
}

/// A git project, a private tmux server, and a registered master on both;
/// the stand-ins it spawns log into the server's folder.
pub struct Fleet {
    // Fields drop in this order: the master's server process goes first.
    pub master: Client,
    pub server: TmuxServer,
    pub project: Project,
}

impl Fleet {
    pub async fn new() -> TestResult<Self> {
        let project = Project::git()?;
        let server = TmuxServer::new()?;
        let master = master_on(&project, &server).await?;
        Ok(Self {
            master,
            server,
            project,
        })
    }

    /// Where the stand-ins log.
    pub fn logs(&self) -> &Path {
        self.server.dir()
    }

    /// [`fake_cmd`] with `extra` arguments for the stand-in.
    pub fn fake(&self, extra: &str) -> String {
        fake_cmd(self.logs(), extra)
    }

    /// Worker `id`'s stand-in log.
    pub fn log(&self, id: &str) -> PathBuf {
        log_of(self.logs(), id)
    }

    /// The events of worker `id`'s stand-in log.
    pub fn events(&self, id: &str) -> Vec<Value> {
        fake_log(&self.log(id))
    }

    /// `intercomm_spawn` with `args`, which must succeed; its structured result.
    pub async fn spawn(&self, args: Value) -> TestResult<Value> {
        ok(&self.master, "intercomm_spawn", args).await
    }
}
