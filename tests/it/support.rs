//! Shared test support: throwaway projects (git repositories made with
//! git2), MCP clients for in-process servers (over a duplex pipe) and for
//! real `intercomm mcp` child processes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use intercomm::location::BusPaths;
use intercomm::mcp::IntercommServer;
use intercomm::ops::Ctx;
use intercomm::process::ProcessId;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;
use tempfile::TempDir;

#[path = "../support/original_tools.rs"]
mod original_tools;
#[path = "../support/tmux_session.rs"]
mod tmux_session;

pub type Client = RunningService<RoleClient, ()>;
pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A temporary project directory, removed on drop.
pub struct Project {
    _dir: TempDir,
    /// The project root (the bus root).
    pub root: PathBuf,
    /// The PostgreSQL bus of this test (see [`test_bus`]), or `None` for the
    /// SQLite file under the root.
    pub bus: Option<String>,
}

/// Which store the suite runs against: `INTERCOMM_TEST_BUS=postgres` runs it
/// on the PostgreSQL server at `INTERCOMM_TEST_PG` (scripts/pg-test-cluster
/// start), each test in a schema of its own so that tests run in parallel;
/// unset or `sqlite`, on the SQLite file.
pub fn test_bus() -> TestResult<Option<String>> {
    match std::env::var("INTERCOMM_TEST_BUS").as_deref() {
        Err(_) | Ok("" | "sqlite") => Ok(None),
        Ok("postgres") => {
            let base = std::env::var("INTERCOMM_TEST_PG").map_err(|_| {
                "INTERCOMM_TEST_BUS=postgres needs INTERCOMM_TEST_PG (eval $(scripts/pg-test-cluster start))"
            })?;
            let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
            let sep = if base.contains('?') { '&' } else { '?' };
            Ok(Some(format!("{base}{sep}schema={schema}")))
        }
        Ok(other) => Err(format!("INTERCOMM_TEST_BUS={other:?}: sqlite or postgres").into()),
    }
}

/// Whether the suite runs on PostgreSQL (tests of the SQLite file itself
/// return early there).
pub fn on_postgres() -> bool {
    std::env::var("INTERCOMM_TEST_BUS").as_deref() == Ok("postgres")
}

/// Points a child process at a project's bus: `INTERCOMM_BUS` set to its
/// PostgreSQL bus, or removed (never the developer's own).
pub trait BusEnv {
    fn bus_env(&mut self, project: &Project) -> &mut Self;
}

impl BusEnv for std::process::Command {
    fn bus_env(&mut self, project: &Project) -> &mut Self {
        match &project.bus {
            Some(url) => self.env("INTERCOMM_BUS", url),
            None => self.env_remove("INTERCOMM_BUS"),
        }
    }
}

impl BusEnv for assert_cmd::Command {
    fn bus_env(&mut self, project: &Project) -> &mut Self {
        match &project.bus {
            Some(url) => self.env("INTERCOMM_BUS", url),
            None => self.env_remove("INTERCOMM_BUS"),
        }
    }
}

impl Project {
    /// A git repository on branch `main` with one commit (README.md).
    pub fn git() -> TestResult<Self> {
        let dir = tempfile::tempdir()?;
        let root = dir.path().join("repo");
        std::fs::create_dir(&root)?;
        init_repo(&root)?;
        Ok(Self {
            _dir: dir,
            root,
            bus: test_bus()?,
        })
    }

    /// A plain directory, not a repository.
    pub fn plain() -> TestResult<Self> {
        let dir = tempfile::tempdir()?;
        let root = dir.path().join("plain");
        std::fs::create_dir(&root)?;
        Ok(Self {
            _dir: dir,
            root,
            bus: test_bus()?,
        })
    }

    /// This project's bus, opened in this process (for checks and fixtures
    /// that reach under the tools, on either store).
    pub fn bus(&self) -> TestResult<intercomm::bus::Bus> {
        Ok(intercomm::bus::Bus::open_existing(&self.paths())?.ok_or("no bus yet")?)
    }

    pub fn paths(&self) -> BusPaths {
        let url = self
            .bus
            .as_deref()
            .map(intercomm::bus::BusUrl::parse)
            .transpose()
            .unwrap_or_else(|e| panic!("test bus URL: {e}"));
        BusPaths::new(&self.root, &self.root).with_bus(url)
    }

    /// An in-process context acting as this test process. Its tmux client
    /// points at a socket no server listens on, so a test can never reach
    /// the developer's own tmux server.
    pub fn ctx(&self) -> Ctx {
        let mut ctx = Ctx::new(self.paths(), ProcessId::current(), None);
        let socket = self.root.with_extension("no-tmux.sock");
        ctx.tmux = intercomm::tmux::Tmux::new(intercomm::tmux::Socket::Path(socket));
        ctx
    }

    /// An in-process MCP server for a new context, and a client of it.
    pub async fn client(&self) -> TestResult<Client> {
        client_of(self.ctx()).await
    }

    /// A raw `intercomm` child process on this project, for a test that
    /// needs its pipes or its lifetime (an MCP server, a hook, `watch`):
    /// `args` after the binary, run in the root with the root as
    /// `INTERCOMM_DB_ROOT` (what spawn gives a worker and its hooks), this
    /// test's bus ([`BusEnv`]), a tmux socket no server listens on, and no
    /// `INTERCOMM_WORKER_ID`, `TMUX` or `TMUX_PANE` of the test's own. The
    /// caller adds the rest (a worker id, limits, pipes).
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(bin());
        cmd.args(args)
            .current_dir(&self.root)
            .env("INTERCOMM_DB_ROOT", &self.root)
            .env_remove("INTERCOMM_WORKER_ID")
            .env(
                "INTERCOMM_TMUX_SOCKET",
                self.root.with_extension("no-tmux.sock"),
            )
            .env_remove("TMUX")
            .env_remove("TMUX_PANE")
            .bus_env(self);
        cmd
    }

    /// A real `intercomm mcp` process on this bus, and a client of it.
    pub async fn process(&self) -> TestResult<Client> {
        self.process_with(&[]).await
    }

    /// [`Project::process`] with `env` added (e.g. `INTERCOMM_MAX_BACKLOG`).
    pub async fn process_with(&self, env: &[(&str, &str)]) -> TestResult<Client> {
        let mut cmd = self.command(&["mcp"]);
        cmd.envs(env.iter().copied());
        Ok(
            ().serve(TokioChildProcess::new(tokio::process::Command::from(cmd))?)
                .await?,
        )
    }

    /// Runs the CLI with `--root` set to this project.
    pub fn cli(&self) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::new(bin());
        cmd.arg("--root")
            .arg(&self.root)
            .env_remove("INTERCOMM_DB_ROOT")
            .bus_env(self);
        cmd
    }

    /// Registers `master` through the CLI (it lives as long as the test
    /// process, the CLI's calling shell).
    pub fn register_master(&self) {
        self.cli().args(["register", "master"]).assert().success();
    }

    /// Registers `master` and `worker-1` through the CLI (each lives as
    /// long as the test process, the CLI's calling shell).
    pub fn register_master_and_worker(&self) {
        self.register_master();
        self.cli()
            .args(["register", "--id", "worker-1"])
            .assert()
            .success();
    }
}

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_intercomm"))
}

/// Makes `root` a repository on `main` with one commit.
pub fn init_repo(root: &Path) -> TestResult<git2::Repository> {
    let mut opts = git2::RepositoryInitOptions::new();
    opts.initial_head("main");
    let repo = git2::Repository::init_opts(root, &opts)?;
    std::fs::write(root.join("README.md"), "test project\n")?;
    commit_all(&repo, "initial")?;
    Ok(repo)
}

/// Stages everything and commits on HEAD; returns the commit id.
pub fn commit_all(repo: &git2::Repository, message: &str) -> TestResult<String> {
    let mut index = repo.index()?;
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None)?;
    index.write()?;
    let tree = repo.find_tree(index.write_tree()?)?;
    let sig = git2::Signature::now("test", "test@example.com")?;
    let parents: Vec<git2::Commit<'_>> = match repo.head() {
        Ok(head) => vec![head.peel_to_commit()?],
        Err(_) => Vec::new(),
    };
    let parent_refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
    let id = repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parent_refs)?;
    Ok(id.to_string())
}

/// An MCP client of an in-process server acting for `ctx`.
pub async fn client_of(ctx: Ctx) -> TestResult<Client> {
    let (client_io, server_io) = tokio::io::duplex(1 << 22);
    let server = IntercommServer::new(ctx);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    Ok(().serve(client_io).await?)
}

/// Calls a tool with JSON arguments.
pub async fn call(client: &Client, tool: &str, args: Value) -> TestResult<CallToolResult> {
    let mut params = CallToolRequestParams::new(tool.to_owned());
    if let Value::Object(map) = args {
        params = params.with_arguments(map);
    }
    match tokio::time::timeout(CALL_TIMEOUT, client.call_tool(params)).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(format!("{tool}: no reply within {CALL_TIMEOUT:?}").into()),
    }
}

/// How long [`call`] waits for a reply. A server that never answers is a
/// failure to report, not a test that hangs: under load, rmcp's client was
/// once seen waiting forever on a request to a server killed with SIGKILL
/// mid-call (tests/it/faults.rs), its pipes already closed.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Calls a tool that must succeed; returns its structured content.
pub async fn ok(client: &Client, tool: &str, args: Value) -> TestResult<Value> {
    let result = call(client, tool, args).await?;
    if result.is_error == Some(true) {
        return Err(format!("{tool} failed: {}", text(&result)).into());
    }
    Ok(result.structured_content.unwrap_or(Value::Null))
}

/// Calls a tool that must fail; returns its error object (`code`, `message`, `hint`).
pub async fn err(client: &Client, tool: &str, args: Value) -> TestResult<Value> {
    let result = call(client, tool, args).await?;
    if result.is_error != Some(true) {
        return Err(format!("{tool} unexpectedly succeeded: {}", text(&result)).into());
    }
    Ok(result
        .structured_content
        .and_then(|v| v.get("error").cloned())
        .unwrap_or(Value::Null))
}

/// The messages of a read whose contents are `"<sender> <n>"`: each
/// sender's `n`s in the order read. Asserts that no message id comes twice.
pub fn numbers_by_sender(
    messages: &[Value],
) -> TestResult<std::collections::HashMap<String, Vec<u32>>> {
    let mut ids = std::collections::BTreeSet::new();
    let mut by_sender: std::collections::HashMap<String, Vec<u32>> = Default::default();
    for m in messages {
        assert!(
            ids.insert(m["id"].as_str().unwrap_or_default().to_owned()),
            "delivered twice: {m}"
        );
        let (from, n) = m["content"]
            .as_str()
            .unwrap_or_default()
            .split_once(' ')
            .ok_or("content")?;
        by_sender
            .entry(from.to_owned())
            .or_default()
            .push(n.parse()?);
    }
    Ok(by_sender)
}

/// The row of instance `id` in an `intercomm_status` result.
pub fn instance(status: &Value, id: &str) -> TestResult<Value> {
    Ok(status["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["id"] == id)
        .cloned()
        .ok_or(format!("{id} not in {status}"))?)
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

/// Registers a client; returns its id.
pub async fn register(client: &Client, role: &str) -> TestResult<String> {
    let v = ok(
        client,
        "intercomm_register",
        serde_json::json!({ "role": role }),
    )
    .await?;
    Ok(v["id"].as_str().unwrap_or_default().to_owned())
}

/// A private tmux server for one test, killed when dropped. Never the
/// user's server: it lives on a socket in a temporary folder.
pub struct TmuxServer {
    dir: TempDir,
    pub socket: PathBuf,
}

impl TmuxServer {
    pub fn new() -> TestResult<Self> {
        let dir = tempfile::tempdir()?;
        let socket = dir.path().join("tmux.sock");
        Ok(Self { dir, socket })
    }

    /// A client of this server.
    pub fn tmux(&self) -> intercomm::tmux::Tmux {
        intercomm::tmux::Tmux::new(intercomm::tmux::Socket::Path(self.socket.clone()))
    }

    /// Runs a tmux command on this server; returns stdout.
    pub fn run(&self, args: &[&str]) -> TestResult<String> {
        let out = std::process::Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()?;
        if !out.status.success() {
            return Err(format!("tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts a detached session running `argv` in `dir`; returns its pane id.
    pub fn session(
        &self,
        name: &str,
        dir: &Path,
        env: &[(&str, &str)],
        argv: &[&str],
    ) -> TestResult<String> {
        let args = tmux_session::new_session_args(name, dir, (120, 40), env, argv);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Ok(self.run(&args)?.trim().to_owned())
    }

    /// Session names on this server.
    pub fn sessions(&self) -> Vec<String> {
        self.run(&["list-sessions", "-F", "#{session_name}"])
            .map(|o| o.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// A scratch folder beside the socket.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TmuxServer {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

/// The stand-in Claude Code TUI.
pub fn fake_claude() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/fake_claude.py")
}

/// The JSON lines of a stand-in's log (empty if it has none yet).
pub fn fake_log(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The prompts a stand-in saw submitted.
pub fn submitted(path: &Path) -> Vec<String> {
    fake_log(path)
        .into_iter()
        .filter(|e| e["event"] == "submit")
        .filter_map(|e| e["text"].as_str().map(str::to_owned))
        .collect()
}

/// Polls `cond` every 50 ms for up to `secs` seconds.
pub async fn eventually(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    cond()
}

impl Project {
    /// An in-process MCP client acting on `server`'s tmux, optionally
    /// registered from a pane of it.
    pub async fn client_on(&self, server: &TmuxServer, pane: Option<&str>) -> TestResult<Client> {
        let mut ctx = self.ctx();
        ctx.tmux = server.tmux();
        ctx.pane = pane.map(|p| intercomm::ops::PaneRef {
            pane: p.to_owned(),
            socket: server.socket.display().to_string(),
        });
        client_of(ctx).await
    }
}

/// The tools intercomm adds beyond the original's.
pub const NEW_TOOLS: [&str; 4] = [
    "intercomm_reply",
    "intercomm_ask",
    "intercomm_set_summary",
    "intercomm_respawn",
];

/// Every tool: the original's 19 (their names read from
/// tests/fixtures/reference/tool-schemas.json), then [`NEW_TOOLS`].
pub fn all_tools() -> TestResult<Vec<String>> {
    let mut all = original_tools::original_tools()?;
    all.extend(NEW_TOOLS.map(str::to_owned));
    Ok(all)
}

/// A registered master and a registered worker (`worker-1`), in process.
pub async fn master_and_worker(project: &Project) -> TestResult<(Client, Client)> {
    let master = project.client().await?;
    register(&master, "master").await?;
    let worker = project.client().await?;
    register(&worker, "worker").await?;
    Ok((master, worker))
}

/// Reads a client's whole inbox, page by page.
pub async fn read_all(client: &Client) -> TestResult<Vec<Value>> {
    let mut all = Vec::new();
    loop {
        let r = ok(client, "intercomm_read", serde_json::json!({"limit": 500})).await?;
        all.extend(r["messages"].as_array().cloned().unwrap_or_default());
        if r["remaining"] == 0 {
            return Ok(all);
        }
    }
}
