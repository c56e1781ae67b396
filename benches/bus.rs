//! Benchmarks of `intercomm mcp`, the stdio MCP server over one SQLite bus.
//!
//! ```text
//! cargo bench --bench bus                  # full run (well under a minute here)
//! BENCH_QUICK=1 cargo bench --bench bus    # CI smoke (a few seconds; no 1M-message bus)
//! INTERCOMM_BENCH_BIN=PATH cargo bench --bench bus   # measure another intercomm binary
//! BENCH_ONLY=fan-in,latency cargo bench --bench bus  # some scenarios only
//! ```
//!
//! The client is std only: one JSON-RPC request line written to the server's
//! stdin, one reply line read from its stdout with `BufReader::read_line`,
//! timed before the reply is parsed. Unlike `scripts/bench` (Python), the
//! figures carry almost no client overhead.
//!
//! Scenarios, each on a fresh bus in a temporary folder:
//! 1. cold start: spawn → initialize + initialized + tools/list (one write) →
//!    the tools/list reply line;
//! 2. peak RSS (VmHWM) of a master server after 1,000 tool calls;
//! 3. send + read round trip between two servers, per call and per pair;
//! 4. fan-in: 16 worker servers send to one master at once, verified, beside
//!    the raw limit of the same inserts through the library on one connection;
//! 5. read latency on buses pre-filled with 10k, 100k and 1M messages.
//!
//! `BENCH_ONLY` takes a comma-separated list of `cold`, `rss`, `latency`,
//! `fan-in` and `read`; unset, every scenario runs.
//!
//! Every figure is the median of several runs, with min and max; ratios are
//! taken between measurements of the same run.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use intercomm::bus::messages::{self, MessageType, NewMessage};
use intercomm::bus::{Bus, BusError};
use intercomm::location::BusPaths;
use serde_json::{Value, json};
use tempfile::TempDir;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type R<T = ()> = Result<T, BoxError>;

/// The binary under test: `INTERCOMM_BENCH_BIN` if set (e.g. a build with
/// symbols, for a profiler), else the one cargo built with the bench profile.
fn bin() -> String {
    std::env::var("INTERCOMM_BENCH_BIN")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_intercomm").to_owned())
}
const PROTOCOL_VERSION: &str = "2025-06-18";
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

// ---------------------------------------------------------------------------
// configuration

struct Config {
    quick: bool,
    /// Scenarios to run (`BENCH_ONLY`); empty = all.
    only: Vec<String>,
    cold_runs: usize,
    rss_runs: usize,
    rss_calls: usize,
    lat_runs: usize,
    lat_iters: usize,
    lat_warmup: usize,
    fan_runs: usize,
    fan_workers: usize,
    fan_per_worker: usize,
    read_sizes: Vec<usize>,
    read_rounds: usize,
    read_calls: usize,
    read_warmup: usize,
}

impl Config {
    fn from_env() -> Self {
        let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let only: Vec<String> = std::env::var("BENCH_ONLY")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        if quick {
            Self {
                quick,
                only,
                cold_runs: 10,
                rss_runs: 1,
                rss_calls: 1_000,
                lat_runs: 1,
                lat_iters: 500,
                lat_warmup: 50,
                fan_runs: 1,
                fan_workers: 16,
                fan_per_worker: 100,
                read_sizes: vec![10_000, 100_000],
                read_rounds: 1,
                read_calls: 100,
                read_warmup: 20,
            }
        } else {
            Self {
                quick,
                only,
                cold_runs: 30,
                rss_runs: 3,
                rss_calls: 1_000,
                lat_runs: 3,
                lat_iters: 3_000,
                lat_warmup: 200,
                fan_runs: 3,
                fan_workers: 16,
                fan_per_worker: 300,
                read_sizes: vec![10_000, 100_000, 1_000_000],
                read_rounds: 3,
                read_calls: 500,
                read_warmup: 50,
            }
        }
    }
}

/// The scenario names `BENCH_ONLY` accepts.
const SCENARIOS: [&str; 5] = ["cold", "rss", "latency", "fan-in", "read"];

impl Config {
    /// Whether scenario `name` runs.
    fn selected(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == name)
    }
}

// ---------------------------------------------------------------------------
// child processes

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
fn watchdog(limit: Duration) {
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
struct Server {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    line: String,
    next_id: u64,
    errlog: PathBuf,
    /// The bus instance id once registered.
    id: String,
}

impl Server {
    /// `intercomm mcp` on `root`'s bus.
    fn start(root: &Path, name: &str) -> R<Self> {
        Self::start_argv(root, name, &bin(), &["mcp"])
    }

    fn start_argv(root: &Path, name: &str, program: &str, args: &[&str]) -> R<Self> {
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

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn write(&mut self, data: &str) -> R {
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
    fn next_line(&mut self) -> R {
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
    fn recv_raw(&mut self, id: u64) -> R<(Instant, String)> {
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
    fn wait_reply(&mut self, id: u64) -> R<Value> {
        let (_, line) = self.recv_raw(id)?;
        rpc_result(&self.name, id, &line)
    }

    fn initialize(&mut self) -> R<Value> {
        self.write(&format!("{}\n{INITIALIZED}\n", initialize_request(0)?))?;
        self.wait_reply(0)
    }

    /// A pre-encoded `tools/call` line and its id.
    fn tool_request(&mut self, tool: &str, args: &Value) -> R<(u64, String)> {
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
    fn call(&mut self, tool: &str, args: &Value) -> R<Value> {
        let (id, req) = self.tool_request(tool, args)?;
        self.write(&req)?;
        let result = self.wait_reply(id)?;
        tool_content(&self.name, tool, result)
    }

    fn register(&mut self, role: Option<&str>) -> R<String> {
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
    fn vm_kib(&self, field: &str) -> R<u64> {
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

fn initialize_request(id: u64) -> R<String> {
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
fn rpc_result(who: &str, id: u64, line: &str) -> R<Value> {
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
fn tool_content(who: &str, tool: &str, mut result: Value) -> R<Value> {
    if result["isError"] == json!(true) {
        return Err(format!("{who}: {tool} failed: {}", result["content"][0]["text"]).into());
    }
    match result.get_mut("structuredContent") {
        Some(sc) => Ok(sc.take()),
        None => Err(format!("{who}: {tool} returned no structuredContent").into()),
    }
}

/// A fresh bus root in a temporary folder, removed on drop.
struct TempBus {
    _dir: TempDir,
    root: PathBuf,
}

impl TempBus {
    /// With `init`, the bus file is created by `intercomm --root DIR init`.
    fn new(init: bool) -> R<Self> {
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

    fn paths(&self) -> BusPaths {
        BusPaths::new(&self.root, &self.root)
    }
}

// ---------------------------------------------------------------------------
// statistics

/// Nearest-rank percentile of an unsorted sample.
fn pct(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

// ---------------------------------------------------------------------------
// report

enum Cell {
    /// One value per run.
    Runs(Vec<f64>),
    /// A verification result.
    Check(bool, String),
}

struct Row {
    metric: String,
    unit: &'static str,
    cell: Cell,
    digits: usize,
    target: &'static str,
    original: &'static str,
    ok: Option<fn(f64) -> bool>,
}

impl Row {
    fn info(
        metric: impl Into<String>,
        unit: &'static str,
        values: Vec<f64>,
        digits: usize,
    ) -> Self {
        Self {
            metric: metric.into(),
            unit,
            cell: Cell::Runs(values),
            digits,
            target: "",
            original: "",
            ok: None,
        }
    }

    fn goal(
        metric: impl Into<String>,
        unit: &'static str,
        values: Vec<f64>,
        digits: usize,
        target: &'static str,
        original: &'static str,
        ok: fn(f64) -> bool,
    ) -> Self {
        Self {
            target,
            original,
            ok: Some(ok),
            ..Self::info(metric, unit, values, digits)
        }
    }

    fn check(metric: impl Into<String>, passed: bool, detail: String) -> Self {
        Self {
            metric: metric.into(),
            unit: "",
            cell: Cell::Check(passed, detail),
            digits: 0,
            target: "",
            original: "",
            ok: None,
        }
    }
}

fn render(rows: &[Row]) -> String {
    let mut out = vec![
        "| Metric | Unit | Median | Min | Max | Runs | Target | Original | OK |".to_owned(),
        "|---|---|---:|---:|---:|---:|---:|---:|:-:|".to_owned(),
    ];
    for row in rows {
        match &row.cell {
            Cell::Check(passed, detail) => out.push(format!(
                "| {} | | {detail} | | | | | | {} |",
                row.metric,
                if *passed { "✓" } else { "✗" }
            )),
            Cell::Runs(values) => {
                let d = row.digits;
                let med = median(values);
                let mark = row.ok.map_or("", |ok| if ok(med) { "✓" } else { "✗" });
                out.push(format!(
                    "| {} | {} | {med:.d$} | {:.d$} | {:.d$} | {} | {} | {} | {mark} |",
                    row.metric,
                    row.unit,
                    min(values),
                    max(values),
                    values.len(),
                    row.target,
                    row.original,
                ));
            }
        }
    }
    out.join("\n")
}

// ---------------------------------------------------------------------------
// 1. cold start

/// The 19 tools of intercomm-aimfp 1.0.2, which tools/list must include.
const ORIGINAL_TOOLS: [&str; 19] = [
    "intercomm_register",
    "intercomm_send",
    "intercomm_broadcast",
    "intercomm_read",
    "intercomm_status",
    "intercomm_signoff",
    "intercomm_get_protocol",
    "intercomm_clear",
    "intercomm_assign",
    "intercomm_worktree_add",
    "intercomm_worktree_list",
    "intercomm_worktree_set_status",
    "intercomm_worktree_remove",
    "intercomm_spawn",
    "intercomm_wake",
    "intercomm_escalate",
    "intercomm_scan",
    "intercomm_approve",
    "intercomm_teardown",
];

struct Cold {
    ms: Vec<f64>,
    floor_ms: Vec<f64>,
    /// Names tools/list returned.
    tools: Vec<String>,
}

fn cold_start(cfg: &Config) -> R<Cold> {
    let bus = TempBus::new(true)?;
    let payload = format!(
        "{}\n{INITIALIZED}\n{}\n",
        initialize_request(0)?,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#
    );
    let mut cold = Cold {
        ms: Vec::new(),
        floor_ms: Vec::new(),
        tools: Vec::new(),
    };
    // The first run of each warms the page cache and is dropped.
    for i in 0..=cfg.cold_runs {
        let t0 = Instant::now();
        let mut s = Server::start(&bus.root, "cold")?;
        s.write(&payload)?;
        let (at, line) = s.recv_raw(1)?;
        let ms = (at - t0).as_secs_f64() * 1e3;
        let result = rpc_result(&s.name, 1, &line)?;
        cold.tools = result["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["name"].as_str().map(str::to_owned))
            .collect();
        drop(s);
        if i > 0 {
            cold.ms.push(ms);
        }
    }
    for i in 0..=cfg.cold_runs {
        let t0 = Instant::now();
        let mut s = Server::start_argv(&bus.root, "cat", "cat", &[])?;
        s.write(&payload)?;
        s.next_line()?;
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        drop(s);
        if i > 0 {
            cold.floor_ms.push(ms);
        }
    }
    Ok(cold)
}

// ---------------------------------------------------------------------------
// 2. peak RSS

struct Rss {
    idle_mib: Vec<f64>,
    after_mib: Vec<f64>,
    worker_mib: Vec<f64>,
}

fn peak_rss(cfg: &Config) -> R<Rss> {
    let mut rss = Rss {
        idle_mib: Vec::new(),
        after_mib: Vec::new(),
        worker_mib: Vec::new(),
    };
    for _ in 0..cfg.rss_runs {
        let bus = TempBus::new(true)?;
        let mut m = Server::start(&bus.root, "master")?;
        let mut w = Server::start(&bus.root, "worker")?;
        m.initialize()?;
        w.initialize()?;
        rss.idle_mib.push(m.vm_kib("VmHWM")? as f64 / 1024.0);
        m.register(Some("master"))?;
        let wid = w.register(None)?;
        let mut sent = 0;
        // The registration counts as the first of the calls.
        for i in 0..cfg.rss_calls - 1 {
            if i % 2 == 0 {
                let msg = format!("rss probe {i}: a status line of ordinary length");
                m.call("intercomm_send", &json!({"to": wid, "message": msg}))?;
                sent += 1;
            } else {
                m.call("intercomm_status", &json!({}))?;
            }
        }
        rss.after_mib.push(m.vm_kib("VmHWM")? as f64 / 1024.0);
        let got = w.call("intercomm_read", &json!({"limit": 500}))?;
        let want = sent.min(500);
        if got["count"] != json!(want) {
            return Err(format!("rss: worker read {} of {want} messages", got["count"]).into());
        }
        rss.worker_mib.push(w.vm_kib("VmHWM")? as f64 / 1024.0);
    }
    Ok(rss)
}

// ---------------------------------------------------------------------------
// 3. send + read round trip

#[derive(Default)]
struct LatencyRun {
    pair_us: Vec<f64>,
    send_us: Vec<f64>,
    read_us: Vec<f64>,
    status_us: Vec<f64>,
    /// intercomm_status before any message was sent.
    status_empty_us: Vec<f64>,
    /// CPU time of both servers per send+read pair.
    cpu_per_pair_us: f64,
}

fn latency(cfg: &Config) -> R<Vec<LatencyRun>> {
    let mut runs = Vec::new();
    for _ in 0..cfg.lat_runs {
        let bus = TempBus::new(true)?;
        let mut a = Server::start(&bus.root, "master")?;
        let mut b = Server::start(&bus.root, "worker")?;
        a.initialize()?;
        b.initialize()?;
        a.register(Some("master"))?;
        let bid = b.register(None)?;
        let send_args = json!({"to": bid, "message": "ping"});
        let read_args = json!({"limit": 10});
        let mut run = LatencyRun {
            status_empty_us: timed_status(&mut a, cfg.lat_warmup, cfg.lat_iters.min(1_000))?,
            ..LatencyRun::default()
        };
        let pids = [a.pid(), b.pid()];
        let mut ticks = 0;
        for i in 0..cfg.lat_warmup + cfg.lat_iters {
            let (ida, req_a) = a.tool_request("intercomm_send", &send_args)?;
            let (idb, req_b) = b.tool_request("intercomm_read", &read_args)?;
            let t0 = Instant::now();
            a.write(&req_a)?;
            let (t1, line_a) = a.recv_raw(ida)?;
            b.write(&req_b)?;
            let (t2, line_b) = b.recv_raw(idb)?;
            tool_content(
                &a.name,
                "intercomm_send",
                rpc_result(&a.name, ida, &line_a)?,
            )?;
            let read = tool_content(
                &b.name,
                "intercomm_read",
                rpc_result(&b.name, idb, &line_b)?,
            )?;
            if read["count"] != json!(1) {
                return Err(format!(
                    "latency: read returned {} messages, expected 1",
                    read["count"]
                )
                .into());
            }
            if i + 1 == cfg.lat_warmup {
                ticks = cpu_ticks(&pids)?;
            }
            if i >= cfg.lat_warmup {
                run.pair_us.push(micros(t2 - t0));
                run.send_us.push(micros(t1 - t0));
                run.read_us.push(micros(t2 - t1));
            }
        }
        run.cpu_per_pair_us =
            (cpu_ticks(&pids)? - ticks) as f64 / CLOCK_TICKS * 1e6 / cfg.lat_iters as f64;
        run.status_us = timed_status(&mut a, cfg.lat_warmup, cfg.lat_iters)?;
        runs.push(run);
    }
    Ok(runs)
}

/// `iters` timed intercomm_status calls after `warmup` untimed ones.
fn timed_status(s: &mut Server, warmup: usize, iters: usize) -> R<Vec<f64>> {
    let mut out = Vec::with_capacity(iters);
    for i in 0..warmup + iters {
        let (id, req) = s.tool_request("intercomm_status", &json!({}))?;
        let t0 = Instant::now();
        s.write(&req)?;
        let (t1, line) = s.recv_raw(id)?;
        tool_content(&s.name, "intercomm_status", rpc_result(&s.name, id, &line)?)?;
        if i >= warmup {
            out.push(micros(t1 - t0));
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// 4. fan-in

struct FanRun {
    msgs_per_s: f64,
    raw_per_s: f64,
    send_p50_us: f64,
    send_p99_us: f64,
    send_max_ms: f64,
    read_all_ms: f64,
    /// CPU time of all servers per message sent.
    server_cpu_us: f64,
    /// CPU time of this client (its sender threads) per message sent.
    client_cpu_us: f64,
    /// Share of all CPUs busy with servers and client during the fan-in.
    busy_pct: f64,
    problems: Vec<String>,
}

struct WorkerOut {
    server: Server,
    /// message id → n, in send order.
    sent: Vec<(String, usize)>,
    lat_us: Vec<f64>,
    end: Instant,
}

fn fan_in(cfg: &Config) -> R<Vec<FanRun>> {
    let mut runs = Vec::new();
    for _ in 0..cfg.fan_runs {
        let mut run = fan_in_once(cfg)?;
        // The limit is the best of three fresh buses: other load on the
        // machine only ever lowers it.
        let total = cfg.fan_workers * cfg.fan_per_worker;
        run.raw_per_s = (0..3)
            .map(|_| raw_inserts(total))
            .collect::<R<Vec<f64>>>()?
            .into_iter()
            .fold(0.0, f64::max);
        runs.push(run);
    }
    Ok(runs)
}

fn fan_in_once(cfg: &Config) -> R<FanRun> {
    let n = cfg.fan_per_worker;
    let total = cfg.fan_workers * n;
    let bus = TempBus::new(true)?;
    let mut m = Server::start(&bus.root, "master")?;
    let mut ws: Vec<Server> = (0..cfg.fan_workers)
        .map(|i| Server::start(&bus.root, &format!("worker{i}")))
        .collect::<R<_>>()?;
    // Initialize all at once, then collect the replies.
    let init = format!("{}\n{INITIALIZED}\n", initialize_request(0)?);
    for s in std::iter::once(&mut m).chain(ws.iter_mut()) {
        s.write(&init)?;
    }
    for s in std::iter::once(&mut m).chain(ws.iter_mut()) {
        s.wait_reply(0)?;
    }
    m.register(Some("master"))?;
    for w in &mut ws {
        w.register(None)?;
    }
    let ids: HashSet<String> = ws.iter().map(|w| w.id.clone()).collect();
    if ids.len() != cfg.fan_workers {
        return Err(format!("fan-in: duplicate worker ids: {ids:?}").into());
    }

    let pids: Vec<u32> = std::iter::once(m.pid())
        .chain(ws.iter().map(Server::pid))
        .collect();
    let servers_before = cpu_ticks(&pids)?;
    let client_before = cpu_ticks_of("self")?;
    let barrier = Arc::new(Barrier::new(cfg.fan_workers + 1));
    let handles: Vec<_> = ws
        .into_iter()
        .map(|mut w| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || -> R<WorkerOut> {
                let me = w.id.clone();
                let mut sent = Vec::with_capacity(n);
                let mut lat_us = Vec::with_capacity(n);
                barrier.wait();
                for k in 0..n {
                    let args = json!({"to": "master", "message": format!("{me} {k}")});
                    let (id, req) = w.tool_request("intercomm_send", &args)?;
                    let t0 = Instant::now();
                    w.write(&req)?;
                    let (t1, line) = w.recv_raw(id)?;
                    lat_us.push(micros(t1 - t0));
                    let sc =
                        tool_content(&w.name, "intercomm_send", rpc_result(&w.name, id, &line)?)?;
                    let mid = sc["message_id"]
                        .as_str()
                        .ok_or("send returned no message_id")?;
                    sent.push((mid.to_owned(), k));
                }
                Ok(WorkerOut {
                    server: w,
                    sent,
                    lat_us,
                    end: Instant::now(),
                })
            })
        })
        .collect();
    barrier.wait();
    let t0 = Instant::now();
    let mut outs = Vec::new();
    let mut failures = Vec::new();
    for h in handles {
        match h.join() {
            Ok(Ok(out)) => outs.push(out),
            Ok(Err(e)) => failures.push(e.to_string()),
            Err(_) => failures.push("a sender thread panicked".to_owned()),
        }
    }
    if !failures.is_empty() {
        return Err(format!("fan-in: {}", failures.join("; ")).into());
    }
    let last = outs.iter().map(|o| o.end).max().ok_or("no senders")?;
    let wall = last.duration_since(t0).as_secs_f64();
    let server_s = (cpu_ticks(&pids)? - servers_before) as f64 / CLOCK_TICKS;
    let client_s = (cpu_ticks_of("self")? - client_before) as f64 / CLOCK_TICKS;
    let lat: Vec<f64> = outs.iter().flat_map(|o| o.lat_us.iter().copied()).collect();

    // The master reads everything, 500 at a time.
    let t1 = Instant::now();
    let mut got: Vec<Value> = Vec::with_capacity(total);
    loop {
        let mut r = m.call("intercomm_read", &json!({"limit": 500}))?;
        let count = r["count"].as_u64().unwrap_or(0);
        if let Some(Value::Array(msgs)) = r.get_mut("messages").map(Value::take) {
            got.extend(msgs);
        }
        if count == 0 || r["remaining"] == json!(0) {
            break;
        }
    }
    let read_all_ms = t1.elapsed().as_secs_f64() * 1e3;

    let sent: HashMap<String, (String, usize)> = outs
        .iter()
        .flat_map(|o| {
            o.sent
                .iter()
                .map(|(mid, k)| (mid.clone(), (o.server.id.clone(), *k)))
        })
        .collect();
    let mut problems = Vec::new();
    if got.len() != total {
        problems.push(format!(
            "master read {} messages, expected {total}",
            got.len()
        ));
    }
    let got_ids: Vec<&str> = got.iter().filter_map(|g| g["id"].as_str()).collect();
    let unique: HashSet<&str> = got_ids.iter().copied().collect();
    if unique.len() != got_ids.len() {
        problems.push(format!("{} duplicate ids", got_ids.len() - unique.len()));
    }
    let missing = sent.keys().filter(|k| !unique.contains(k.as_str())).count();
    let unexpected = unique.iter().filter(|k| !sent.contains_key(**k)).count();
    if missing + unexpected > 0 {
        problems.push(format!(
            "read ids differ from the ids the sends returned ({missing} missing, {unexpected} unexpected)"
        ));
    }
    let mut next: HashMap<String, usize> = HashMap::new();
    let mut last_seq = 0;
    for g in &got {
        let from = g["from"].as_str().unwrap_or_default();
        let content = g["content"].as_str().unwrap_or_default();
        let mut words = content.split_whitespace();
        let (Some(who), Some(k)) = (
            words.next(),
            words.next().and_then(|k| k.parse::<usize>().ok()),
        ) else {
            problems.push(format!("unparsable body {content:?}"));
            break;
        };
        if who != from {
            problems.push(format!("body names {who} but the message is from {from}"));
            break;
        }
        let want = next.entry(from.to_owned()).or_insert(0);
        if k != *want {
            problems.push(format!(
                "order broken for {from}: {k} after {}",
                *want as i64 - 1
            ));
            break;
        }
        *want += 1;
        let seq = g["seq"].as_i64().unwrap_or(0);
        if seq <= last_seq {
            problems.push("bus seq numbers not increasing in read order".to_owned());
            break;
        }
        last_seq = seq;
    }
    if problems.is_empty() && ids.iter().any(|id| next.get(id) != Some(&n)) {
        problems.push("some sender's messages are incomplete".to_owned());
    }
    drop(outs);
    drop(m);
    Ok(FanRun {
        msgs_per_s: total as f64 / wall,
        raw_per_s: 0.0,
        send_p50_us: pct(&lat, 50.0),
        send_p99_us: pct(&lat, 99.0),
        send_max_ms: max(&lat) / 1e3,
        read_all_ms,
        server_cpu_us: server_s * 1e6 / total as f64,
        client_cpu_us: client_s * 1e6 / total as f64,
        busy_pct: 100.0 * (server_s + client_s) / (wall * cpu_count() as f64),
        problems,
    })
}

/// `USER_HZ`, the unit of `/proc/<pid>/stat` CPU times (100 on Linux).
const CLOCK_TICKS: f64 = 100.0;

/// User + system CPU time of `/proc/<pid>` (`self` for this process), in ticks.
fn cpu_ticks_of(pid: &str) -> R<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which may hold spaces: state is the 3rd
    // field, utime the 14th and stime the 15th.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or("unexpected /proc/<pid>/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| -> R<u64> {
        Ok(fields
            .get(i)
            .ok_or("short /proc/<pid>/stat")?
            .parse::<u64>()?)
    };
    Ok(field(11)? + field(12)?)
}

fn cpu_ticks(pids: &[u32]) -> R<u64> {
    pids.iter().map(|p| cpu_ticks_of(&p.to_string())).sum()
}

/// The same inserts by one connection through the library, one transaction
/// per message as a send does, on a fresh bus: messages per second.
fn raw_inserts(total: usize) -> R<f64> {
    let bus = TempBus::new(false)?;
    let mut conn = Bus::open_or_create(&bus.paths())?;
    let senders: Vec<String> = (1..=16).map(|i| format!("worker-{i}")).collect();
    let t0 = Instant::now();
    for k in 0..total {
        let id = intercomm::ops::messaging::new_message_id();
        let from = &senders[k % senders.len()];
        let content = format!("{from} {}", k / senders.len());
        let now = intercomm::clock::now_ms();
        conn.write(|tx| {
            messages::insert(
                tx,
                &NewMessage {
                    id: &id,
                    from,
                    to: "master",
                    kind: MessageType::Status,
                    content: &content,
                    sent_at_ms: now,
                    in_reply_to: None,
                },
            )
            .map_err(BusError::from)
        })?;
    }
    Ok(total as f64 / t0.elapsed().as_secs_f64())
}

// ---------------------------------------------------------------------------
// 5. read latency vs bus size

struct SizedBus {
    size: usize,
    _bus: TempBus,
    master: Server,
    reader: Server,
    prefill_s: f64,
    db_mib: f64,
}

/// Fills a fresh bus with `n` messages between other instances (49 workers
/// and broadcasts), in big transactions.
fn prefill(bus: &TempBus, n: usize) -> R<f64> {
    let t0 = Instant::now();
    let mut conn = Bus::open_or_create(&bus.paths())?;
    conn.conn().pragma_update(None, "cache_size", -262_144)?;
    let recipients: Vec<String> = std::iter::once("all".to_owned())
        .chain((100..149).map(|i| format!("worker-{i}")))
        .collect();
    let senders: Vec<String> = (200..207).map(|i| format!("worker-{i}")).collect();
    let now = intercomm::clock::now_ms();
    const CHUNK: usize = 100_000;
    let mut start = 0;
    while start < n {
        let end = (start + CHUNK).min(n);
        conn.write(|tx| {
            for i in start..end {
                let id = intercomm::ops::messaging::new_message_id();
                let content =
                    format!("prefill {i}: progress on the parser, tests green, nothing to do");
                messages::insert(
                    tx,
                    &NewMessage {
                        id: &id,
                        from: &senders[i % senders.len()],
                        to: &recipients[i % recipients.len()],
                        kind: MessageType::Status,
                        content: &content,
                        sent_at_ms: now - (n - i) as i64,
                        in_reply_to: None,
                    },
                )
                .map_err(BusError::from)?;
            }
            Ok::<(), BusError>(())
        })?;
        start = end;
    }
    conn.conn()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
    Ok(t0.elapsed().as_secs_f64())
}

fn sized_bus(size: usize) -> R<SizedBus> {
    let bus = TempBus::new(false)?;
    let prefill_s = prefill(&bus, size)?;
    let db_mib = std::fs::metadata(bus.paths().db())?.len() as f64 / (1 << 20) as f64;
    let mut master = Server::start(&bus.root, "master")?;
    let mut reader = Server::start(&bus.root, "reader")?;
    master.initialize()?;
    reader.initialize()?;
    master.register(Some("master"))?;
    let rid = reader.register(None)?;
    // A few unread messages, read once (untimed).
    for i in 0..3 {
        master.call(
            "intercomm_send",
            &json!({"to": rid, "message": format!("hello {i}")}),
        )?;
    }
    let first = reader.call("intercomm_read", &json!({}))?;
    if first["count"] != json!(3) {
        return Err(format!("read vs size: first read returned {} of 3", first["count"]).into());
    }
    Ok(SizedBus {
        size,
        _bus: bus,
        master,
        reader,
        prefill_s,
        db_mib,
    })
}

/// `calls` timed reads, each after one untimed send, so each returns 1.
fn timed_reads(b: &mut SizedBus, calls: usize) -> R<Vec<f64>> {
    let send_args = json!({"to": b.reader.id, "message": "one more thing"});
    let read_args = json!({});
    let mut out = Vec::with_capacity(calls);
    for _ in 0..calls {
        b.master.call("intercomm_send", &send_args)?;
        let (id, req) = b.reader.tool_request("intercomm_read", &read_args)?;
        let t0 = Instant::now();
        b.reader.write(&req)?;
        let (t1, line) = b.reader.recv_raw(id)?;
        let r = tool_content(
            &b.reader.name,
            "intercomm_read",
            rpc_result(&b.reader.name, id, &line)?,
        )?;
        if r["count"] != json!(1) {
            return Err(format!(
                "read vs size: a read returned {} messages, expected 1",
                r["count"]
            )
            .into());
        }
        out.push(micros(t1 - t0));
    }
    Ok(out)
}

/// One bus size's reads: a p50 and a p99 per round.
struct SizeResult {
    size: usize,
    p50: Vec<f64>,
    p99: Vec<f64>,
    prefill_s: f64,
    db_mib: f64,
}

fn read_vs_size(cfg: &Config) -> R<Vec<SizeResult>> {
    let mut buses = Vec::new();
    for &size in &cfg.read_sizes {
        eprintln!("  pre-filling a bus with {size} messages ...");
        buses.push(sized_bus(size)?);
    }
    for b in &mut buses {
        timed_reads(b, cfg.read_warmup)?;
    }
    let mut p50: Vec<Vec<f64>> = vec![Vec::new(); buses.len()];
    let mut p99: Vec<Vec<f64>> = vec![Vec::new(); buses.len()];
    // Rounds interleave the sizes so drift hits them alike.
    for _ in 0..cfg.read_rounds {
        for (i, b) in buses.iter_mut().enumerate() {
            let t = timed_reads(b, cfg.read_calls)?;
            p50[i].push(pct(&t, 50.0));
            p99[i].push(pct(&t, 99.0));
        }
    }
    Ok(buses
        .iter()
        .zip(p50.into_iter().zip(p99))
        .map(|(b, (p50, p99))| SizeResult {
            size: b.size,
            p50,
            p99,
            prefill_s: b.prefill_s,
            db_mib: b.db_mib,
        })
        .collect())
}

// ---------------------------------------------------------------------------

fn human(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(0, usize::from)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

fn main() -> R {
    if !cfg!(target_os = "linux") {
        return Err("the bus bench needs Linux (/proc/<pid>/status)".into());
    }
    let cfg = Config::from_env();
    if let Some(bad) = cfg.only.iter().find(|o| !SCENARIOS.contains(&o.as_str())) {
        return Err(format!("BENCH_ONLY: unknown scenario {bad:?} (one of {SCENARIOS:?})").into());
    }
    watchdog(Duration::from_secs(if cfg.quick { 120 } else { 600 }));
    let started = Instant::now();
    let load_before = loadavg();
    let mut rows = Vec::new();
    let mut notes = Vec::new();

    let mut verified = true;
    if cfg.selected("cold") {
        eprintln!("cold start: {} runs ...", cfg.cold_runs);
        let cold = cold_start(&cfg)?;
        rows.push(Row::goal(
            "Cold start: spawn → tools/list reply",
            "ms",
            cold.ms,
            2,
            "< 15",
            "322",
            |v| v < 15.0,
        ));
        rows.push(Row::info(
            "  floor: spawn `cat` → first line echoed",
            "ms",
            cold.floor_ms,
            2,
        ));
        let missing: Vec<&str> = ORIGINAL_TOOLS
            .iter()
            .copied()
            .filter(|t| !cold.tools.iter().any(|n| n == t))
            .collect();
        rows.push(Row::check(
            "  tools/list",
            missing.is_empty(),
            if missing.is_empty() {
                format!("{} tools, the original's 19 included", cold.tools.len())
            } else {
                format!("{} tools; missing {}", cold.tools.len(), missing.join(", "))
            },
        ));
    }

    if cfg.selected("rss") {
        eprintln!(
            "peak RSS: {} runs of {} calls ...",
            cfg.rss_runs, cfg.rss_calls
        );
        let rss = peak_rss(&cfg)?;
        rows.push(Row::goal(
            format!("Peak RSS (VmHWM), master after {} calls", cfg.rss_calls),
            "MiB",
            rss.after_mib,
            2,
            "< 10",
            "98.5",
            |v| v < 10.0,
        ));
        rows.push(Row::info(
            "  VmHWM idle, after initialize",
            "MiB",
            rss.idle_mib,
            2,
        ));
        rows.push(Row::info(
            "  VmHWM worker after one 500-message read",
            "MiB",
            rss.worker_mib,
            2,
        ));
    }

    if cfg.selected("latency") {
        eprintln!(
            "latency: {} runs of {} send+read pairs after {} warm-up ...",
            cfg.lat_runs, cfg.lat_iters, cfg.lat_warmup
        );
        let lat = latency(&cfg)?;
        let per = |f: fn(&LatencyRun) -> &Vec<f64>, p: f64, scale: f64| -> Vec<f64> {
            lat.iter().map(|r| pct(f(r), p) * scale).collect()
        };
        rows.push(Row::goal(
            "Per tool call p50 (send+read pair / 2)",
            "µs",
            per(|r| &r.pair_us, 50.0, 0.5),
            0,
            "< 200",
            "474",
            |v| v < 200.0,
        ));
        rows.push(Row::goal(
            "Per tool call p99 (send+read pair / 2)",
            "µs",
            per(|r| &r.pair_us, 99.0, 0.5),
            0,
            "< 1000",
            "3,900",
            |v| v < 1000.0,
        ));
        rows.push(Row::info(
            "  send+read pair p50",
            "µs",
            per(|r| &r.pair_us, 50.0, 1.0),
            0,
        ));
        rows.push(Row::info(
            "  send+read pair p99",
            "µs",
            per(|r| &r.pair_us, 99.0, 1.0),
            0,
        ));
        rows.push(Row::info(
            "  intercomm_send p50",
            "µs",
            per(|r| &r.send_us, 50.0, 1.0),
            0,
        ));
        rows.push(Row::info(
            "  intercomm_send p99",
            "µs",
            per(|r| &r.send_us, 99.0, 1.0),
            0,
        ));
        rows.push(Row::info(
            "  intercomm_read p50",
            "µs",
            per(|r| &r.read_us, 50.0, 1.0),
            0,
        ));
        rows.push(Row::info(
            "  intercomm_read p99",
            "µs",
            per(|r| &r.read_us, 99.0, 1.0),
            0,
        ));
        rows.push(Row::info(
            "  CPU of both servers per send+read pair",
            "µs",
            lat.iter().map(|r| r.cpu_per_pair_us).collect(),
            0,
        ));
        rows.push(Row::info(
            "  intercomm_status p50, no messages sent yet",
            "µs",
            per(|r| &r.status_empty_us, 50.0, 1.0),
            0,
        ));
        rows.push(Row::info(
            "  intercomm_status p50, after the pairs",
            "µs",
            per(|r| &r.status_us, 50.0, 1.0),
            0,
        ));
        rows.push(Row::info(
            "  intercomm_status p99, after the pairs",
            "µs",
            per(|r| &r.status_us, 99.0, 1.0),
            0,
        ));
    }

    if cfg.selected("fan-in") {
        eprintln!(
            "fan-in: {} runs, {} workers × {} messages, and the raw insert limit ...",
            cfg.fan_runs, cfg.fan_workers, cfg.fan_per_worker
        );
        let fan = fan_in(&cfg)?;
        rows.push(Row::goal(
            format!(
                "Fan-in {} workers × {} msgs → master",
                cfg.fan_workers, cfg.fan_per_worker
            ),
            "msgs/s",
            fan.iter().map(|r| r.msgs_per_s).collect(),
            0,
            "> 12,000",
            "3,655",
            |v| v > 12_000.0,
        ));
        rows.push(Row::info(
            "  raw limit: same inserts, 1 connection, 1 txn each (best of 3)",
            "msgs/s",
            fan.iter().map(|r| r.raw_per_s).collect(),
            0,
        ));
        rows.push(Row::goal(
            "  fan-in / raw limit (same run)",
            "%",
            fan.iter()
                .map(|r| 100.0 * r.msgs_per_s / r.raw_per_s)
                .collect(),
            1,
            "≥ 30",
            "",
            |v| v >= 30.0,
        ));
        rows.push(Row::info(
            "  one sender's call p50 under load",
            "µs",
            fan.iter().map(|r| r.send_p50_us).collect(),
            0,
        ));
        rows.push(Row::info(
            "  one sender's call p99 under load",
            "µs",
            fan.iter().map(|r| r.send_p99_us).collect(),
            0,
        ));
        rows.push(Row::info(
            "  one sender's call max under load",
            "ms",
            fan.iter().map(|r| r.send_max_ms).collect(),
            1,
        ));
        rows.push(Row::info(
            "  master reads all (limit 500 pages)",
            "ms",
            fan.iter().map(|r| r.read_all_ms).collect(),
            1,
        ));
        rows.push(Row::info(
            format!("  CPU per message: all {} servers", cfg.fan_workers + 1),
            "µs",
            fan.iter().map(|r| r.server_cpu_us).collect(),
            0,
        ));
        rows.push(Row::info(
            format!(
                "  CPU per message: this client's {} sender threads",
                cfg.fan_workers
            ),
            "µs",
            fan.iter().map(|r| r.client_cpu_us).collect(),
            0,
        ));
        rows.push(Row::info(
            format!("  CPUs busy (servers + client) of {}", cpu_count()),
            "%",
            fan.iter().map(|r| r.busy_pct).collect(),
            0,
        ));
        verified = fan.iter().all(|r| r.problems.is_empty());
        rows.push(Row::check(
            format!("  delivery check ({} runs)", fan.len()),
            verified,
            if verified {
                format!(
                    "all {} delivered once, in order",
                    cfg.fan_workers * cfg.fan_per_worker
                )
            } else {
                "FAILED".to_owned()
            },
        ));
        for (i, r) in fan.iter().enumerate() {
            if !r.problems.is_empty() {
                notes.push(format!(
                    "Fan-in run {} FAILED: {}",
                    i + 1,
                    r.problems.join("; ")
                ));
            }
        }
    }

    if cfg.selected("read") {
        eprintln!(
            "read latency vs bus size: {} ...",
            cfg.read_sizes
                .iter()
                .map(|&s| human(s))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let rvs = read_vs_size(&cfg)?;
        for r in &rvs {
            rows.push(Row::info(
                format!("intercomm_read p50, bus of {} messages", human(r.size)),
                "µs",
                r.p50.clone(),
                0,
            ));
            rows.push(Row::info(
                format!("  p99, bus of {} messages", human(r.size)),
                "µs",
                r.p99.clone(),
                0,
            ));
            notes.push(format!(
                "Bus of {}: pre-filled through the library in {:.1} s ({:.0} msgs/s), file {:.0} MiB.",
                human(r.size),
                r.prefill_s,
                r.size as f64 / r.prefill_s,
                r.db_mib,
            ));
        }
        if let (Some(small), Some(big)) = (rvs.first(), rvs.last())
            && rvs.len() > 1
        {
            let ratio: Vec<f64> = small.p50.iter().zip(&big.p50).map(|(s, b)| b / s).collect();
            rows.push(Row::goal(
                format!(
                    "Read p50 ratio, {} / {} bus (same round)",
                    human(big.size),
                    human(small.size)
                ),
                "×",
                ratio,
                2,
                "≤ 2",
                "",
                |v| v <= 2.0,
            ));
        }
    }

    println!();
    println!("{}", render(&rows));
    println!();
    println!(
        "- Median/min/max are over runs; a latency run's value is its percentile over its samples."
    );
    println!(
        "- Latency: {} timed iterations per run after {} warm-up; \"per tool call\" = one send+read pair / 2.",
        cfg.lat_iters, cfg.lat_warmup
    );
    println!(
        "- Read vs size: {} rounds of {} reads per bus, the sizes interleaved; each read returns 1 message.",
        cfg.read_rounds, cfg.read_calls
    );
    println!(
        "- Client: Rust std, one line written and one line read per call; times stop when the reply line arrives."
    );
    for n in notes {
        println!("- {n}");
    }
    if cfg.quick {
        println!("- BENCH_QUICK: reduced runs and sizes; figures are indicative only.");
    }
    println!(
        "- Total {:.1} s; {} CPUs; load average {} before, {} after.",
        started.elapsed().as_secs_f64(),
        cpu_count(),
        load_before,
        loadavg()
    );
    if !verified {
        return Err("fan-in delivery check failed".into());
    }
    Ok(())
}
