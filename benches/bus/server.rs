//! The server processes under test and a std-only client for them: one
//! `intercomm mcp` child per [`Server`], spoken to with one JSON-RPC line
//! written to its stdin and one reply line read from its stdout, timed
//! before parsing; the watchdog that kills them if a run hangs; and the
//! fresh bus each scenario runs on ([`TempBus`]).

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use intercomm::location::BusPaths;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::common::R;

/// The binary under test: `INTERCOMM_BENCH_BIN` if set (e.g. a build with
/// symbols, for a profiler), else the one cargo built with the bench profile.
fn bin() -> String {
    std::env::var("INTERCOMM_BENCH_BIN")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_intercomm").to_owned())
}
const PROTOCOL_VERSION: &str = "2025-06-18";
pub const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

/// Pids of the servers this bench started and has not reaped yet.
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn track(pid: u32, alive: bool) {
    if let Ok(mut pids) = CHILDREN.lock() {
        if alive {
            pids.push(pid);
        } else {
            pids.retain(|&p| p != pid);
        }
    }
}

/// Kills this bench's own servers (by pid) and exits if the run hangs.
pub fn watchdog(limit: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!(
            "bench: still running after {} s; killing the servers it started",
            limit.as_secs()
        );
        let pids = CHILDREN.lock().map(|p| p.clone()).unwrap_or_default();
        for pid in pids {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
        std::process::exit(2);
    });
}

/// A command with an environment that points only at `root`'s bus and at no
/// tmux server.
fn command(program: &str, root: &Path) -> Command {
    let mut cmd = Command::new(program);
    match bench_bus(root) {
        Some(url) => cmd.env("INTERCOMM_BUS", url),
        None => cmd.env_remove("INTERCOMM_BUS"),
    };
    cmd.current_dir(root)
        .env("INTERCOMM_DB_ROOT", root)
        .env("INTERCOMM_TMUX_SOCKET", root.join("no-tmux.sock"))
        .env_remove("INTERCOMM_WORKER_ID")
        .env_remove("INTERCOMM_LOG")
        .env_remove("TMUX")
        .env_remove("TMUX_PANE");
    cmd
}

/// One child speaking line-delimited JSON-RPC on stdio.
pub struct Server {
    /// The name in error messages and in its stderr log file name.
    pub name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    line: String,
    next_id: u64,
    errlog: PathBuf,
    /// The bus instance id once registered.
    pub id: String,
}

impl Server {
    /// `intercomm mcp` on `root`'s bus.
    pub fn start(root: &Path, name: &str) -> R<Self> {
        Self::start_argv(root, name, &bin(), &["mcp"])
    }

    pub fn start_argv(root: &Path, name: &str, program: &str, args: &[&str]) -> R<Self> {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let errlog = root.join(format!("stderr-{name}-{n}.log"));
        let mut child = command(program, root)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(File::create(&errlog)?)
            .spawn()?;
        track(child.id(), true);
        let stdin = child.stdin.take().ok_or("child has no stdin")?;
        let stdout = child.stdout.take().ok_or("child has no stdout")?;
        Ok(Self {
            name: name.to_owned(),
            child,
            stdin: Some(stdin),
            stdout: BufReader::with_capacity(1 << 16, stdout),
            line: String::with_capacity(4096),
            next_id: 1,
            errlog,
            id: String::new(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn write(&mut self, data: &str) -> R {
        let stdin = self.stdin.as_mut().ok_or("stdin already closed")?;
        stdin.write_all(data.as_bytes())?;
        Ok(())
    }

    fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.errlog).unwrap_or_default();
        let tail: String = text
            .chars()
            .rev()
            .take(600)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if tail.trim().is_empty() {
            "(empty)".to_owned()
        } else {
            tail.trim().to_owned()
        }
    }

    /// Reads the next line into `self.line`.
    pub fn next_line(&mut self) -> R {
        self.line.clear();
        if self.stdout.read_line(&mut self.line)? == 0 {
            return Err(format!(
                "{} (pid {}) closed stdout; stderr: {}",
                self.name,
                self.pid(),
                self.stderr_tail()
            )
            .into());
        }
        Ok(())
    }

    /// The reply line of request `id`, and when it arrived (before parsing).
    /// Lines without that id (notifications) are skipped.
    pub fn recv_raw(&mut self, id: u64) -> R<(Instant, String)> {
        let short = format!("\"id\":{id},");
        let last = format!("\"id\":{id}}}");
        loop {
            self.next_line()?;
            let at = Instant::now();
            if self.line.contains(&short) || self.line.contains(&last) {
                return Ok((at, std::mem::take(&mut self.line)));
            }
        }
    }

    /// The `result` of request `id`.
    pub fn wait_reply(&mut self, id: u64) -> R<Value> {
        let (_, line) = self.recv_raw(id)?;
        rpc_result(&self.name, id, &line)
    }

    pub fn initialize(&mut self) -> R<Value> {
        self.write(&format!("{}\n{INITIALIZED}\n", initialize_request(0)?))?;
        self.wait_reply(0)
    }

    /// A pre-encoded `tools/call` line and its id.
    pub fn tool_request(&mut self, tool: &str, args: &Value) -> R<(u64, String)> {
        let id = self.next_id;
        self.next_id += 1;
        let mut line = serde_json::to_string(&json!({
            "jsonrpc": "2.0",
            "id": id,
            "method": "tools/call",
            "params": {"name": tool, "arguments": args},
        }))?;
        line.push('\n');
        Ok((id, line))
    }

    /// Calls a tool that must succeed; its structured content.
    pub fn call(&mut self, tool: &str, args: &Value) -> R<Value> {
        let (id, req) = self.tool_request(tool, args)?;
        self.write(&req)?;
        let result = self.wait_reply(id)?;
        tool_content(&self.name, tool, result)
    }

    pub fn register(&mut self, role: Option<&str>) -> R<String> {
        let args = match role {
            Some(r) => json!({ "role": r }),
            None => json!({}),
        };
        let sc = self.call("intercomm_register", &args)?;
        self.id = sc["id"]
            .as_str()
            .ok_or("register returned no id")?
            .to_owned();
        Ok(self.id.clone())
    }

    /// A `/proc/<pid>/status` field in KiB (VmHWM, VmRSS).
    pub fn vm_kib(&self, field: &str) -> R<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let prefix = format!("{field}:");
        status
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("no {field} in /proc/{}/status", self.pid()).into())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // EOF on stdin: the server marks its row inactive and exits.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
            }
        }
        track(self.child.id(), false);
    }
}

pub fn initialize_request(id: u64) -> R<String> {
    Ok(serde_json::to_string(&json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "intercomm-bench", "version": "1"},
        },
    }))?)
}

/// The `result` of a JSON-RPC reply line that must answer `id`.
pub fn rpc_result(who: &str, id: u64, line: &str) -> R<Value> {
    let mut msg: Value = serde_json::from_str(line)?;
    if msg["id"] != json!(id) {
        return Err(format!("{who}: reply to id {id} expected, got {line}").into());
    }
    if let Some(err) = msg.get("error") {
        return Err(format!("{who}: JSON-RPC error {err}").into());
    }
    Ok(msg["result"].take())
}

/// The structured content of a successful tool result.
pub fn tool_content(who: &str, tool: &str, mut result: Value) -> R<Value> {
    if result["isError"] == json!(true) {
        return Err(format!("{who}: {tool} failed: {}", result["content"][0]["text"]).into());
    }
    match result.get_mut("structuredContent") {
        Some(sc) => Ok(sc.take()),
        None => Err(format!("{who}: {tool} returned no structuredContent").into()),
    }
}

/// A fresh bus root in a temporary folder, removed on drop.
pub struct TempBus {
    _dir: TempDir,
    /// The bus root, `root` inside the temporary folder.
    pub root: PathBuf,
}

impl TempBus {
    /// With `init`, the bus file is created by `intercomm --root DIR init`.
    pub fn new(init: bool) -> R<Self> {
        let dir = tempfile::Builder::new()
            .prefix("intercomm-bench-")
            .tempdir()?;
        let root = dir.path().join("root");
        std::fs::create_dir(&root)?;
        if init {
            let out = command(&bin(), &root)
                .arg("--root")
                .arg(&root)
                .arg("init")
                .output()?;
            if !out.status.success() {
                return Err(format!(
                    "intercomm init failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                )
                .into());
            }
        }
        Ok(Self { _dir: dir, root })
    }

    pub fn paths(&self) -> BusPaths {
        let url = bench_bus(&self.root).and_then(|u| intercomm::bus::BusUrl::parse(&u).ok());
        BusPaths::new(&self.root, &self.root).with_bus(url)
    }
}

/// With `INTERCOMM_BENCH_PG=postgres://…` (a server of the bench's own, e.g.
/// `scripts/pg-test-cluster start --fsync`), the bus of the bench root
/// `root` on that server: a schema named after the root's temporary folder,
/// so every fresh bus is a fresh schema. `None`: the SQLite file.
pub fn bench_bus(root: &Path) -> Option<String> {
    let base = std::env::var("INTERCOMM_BENCH_PG")
        .ok()
        .filter(|s| !s.is_empty())?;
    let folder = root.parent()?.file_name()?.to_string_lossy().to_lowercase();
    let schema: String = folder
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}schema=b_{schema}"))
}
