//! Benchmarks of the fleet layer (spawn, scan, wake) on a private tmux
//! server, with the stand-in Claude TUI (tests/support/fake_claude.py) as
//! every worker.
//!
//! ```text
//! cargo bench --bench fleet                 # full run (under a minute); needs tmux and python3
//! BENCH_QUICK=1 cargo bench --bench fleet   # CI smoke: fewer panes, samples and runs
//! BENCH_ONLY=spawn cargo bench --bench fleet   # the spawn scenario only
//! INTERCOMM_LOG=fleet.boot=debug,tmux.cmd=debug BENCH_QUICK=1 cargo bench --bench fleet
//!                                           # with timestamps of each boot step and tmux call
//! ```
//!
//! The library is driven in-process, as `intercomm mcp` drives it: one
//! [`Ctx`] (registered as the master of a bus in a temporary git repository)
//! whose tmux client points at a server on a socket in a temporary folder.
//! That server, never the user's, is killed at the end, on error too.
//!
//! 1. scan: `fleet::scan` over 8, 16 and 32 ready panes, 50 times each;
//! 2. wake: `fleet::wake::wake` on a ready worker, 30 times, delivery
//!    checked by intercomm and by the stand-in's own log of submits;
//! 3. spawn: `fleet::spawn` of 1, 4 and 8 workers whose stand-in boots in
//!    1 s, with and without the trust and MCP approval dialogs, woken.

#[path = "common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use intercomm::bus::instances::Role;
use intercomm::fleet::spawn::{self, PermMode, SpawnRequest, Spawned};
use intercomm::fleet::{scan, teardown, wake};
use intercomm::location::BusPaths;
use intercomm::ops::Ctx;
use intercomm::ops::identity::{self, RegisterRequest};
use intercomm::process::ProcessId;
use intercomm::screen::{self, PaneState};
use intercomm::tmux::{Socket, Tmux};
use serde_json::Value;
use tempfile::TempDir;

use common::{R, max, median, min, pct};

const PREFIX: &str = "worker";
/// The stand-in's busy phase after a submitted prompt.
const BUSY_SECONDS: f64 = 0.2;
/// The stand-in's boot time in the spawn scenario.
const SPAWN_BOOT_SECONDS: f64 = 1.0;

struct Config {
    quick: bool,
    /// The Python interpreter that runs the stand-in.
    python: String,
    scan_sizes: Vec<i64>,
    scans: usize,
    wakes: usize,
    spawn_sizes: Vec<i64>,
    spawn_runs: usize,
    /// `BENCH_ONLY=spawn`: skip scan and wake (quick A/B runs of spawn).
    spawn_only: bool,
}

impl Config {
    fn from_env() -> Self {
        let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let mut cfg = if quick {
            Self {
                quick,
                python: String::new(),
                scan_sizes: vec![16],
                scans: 20,
                wakes: 10,
                spawn_sizes: vec![1, 4],
                spawn_runs: 1,
                spawn_only: false,
            }
        } else {
            Self {
                quick,
                python: String::new(),
                scan_sizes: vec![8, 16, 32],
                scans: 50,
                wakes: 30,
                spawn_sizes: vec![1, 4, 8],
                spawn_runs: 3,
                spawn_only: false,
            }
        };
        cfg.spawn_only = std::env::var("BENCH_ONLY").is_ok_and(|v| v.trim() == "spawn");
        cfg
    }
}

// ---------------------------------------------------------------------------
// the private tmux server and the project

/// A tmux server on a socket in a temporary folder, killed on drop.
struct PrivateTmux {
    dir: TempDir,
    socket: PathBuf,
}

impl PrivateTmux {
    fn new() -> R<Self> {
        let dir = tempfile::Builder::new()
            .prefix("intercomm-fleet-bench-")
            .tempdir()?;
        let socket = dir.path().join("tmux.sock");
        Ok(Self { dir, socket })
    }

    /// Starts the server with a placeholder session, as a master's own
    /// session would keep it alive: without one, the server exits when
    /// teardown kills the last worker, and a `list-panes` racing that exit
    /// fails with "server exited unexpectedly".
    fn start(&self) -> R {
        let out = std::process::Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args([
                "new-session",
                "-d",
                "-s",
                "bench-keepalive",
                "--",
                "sleep",
                "86400",
            ])
            .output()?;
        if !out.status.success() {
            return Err(format!(
                "cannot start the private tmux server: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )
            .into());
        }
        Ok(())
    }

    fn client(&self) -> Tmux {
        Tmux::new(Socket::Path(self.socket.clone()))
    }

    fn kill(socket: &Path) {
        let _ = std::process::Command::new("tmux")
            .arg("-S")
            .arg(socket)
            .arg("kill-server")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

impl Drop for PrivateTmux {
    fn drop(&mut self) {
        Self::kill(&self.socket);
    }
}

/// Kills the private server and exits if the run hangs.
fn watchdog(socket: PathBuf, limit: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!(
            "bench: still running after {} s; killing the private tmux server",
            limit.as_secs()
        );
        PrivateTmux::kill(&socket);
        std::process::exit(2);
    });
}

/// A repository on `main` with one commit, made with git2.
fn init_repo(root: &Path) -> R {
    let mut opts = git2::RepositoryInitOptions::new();
    opts.initial_head("main");
    let repo = git2::Repository::init_opts(root, &opts)?;
    std::fs::write(root.join("README.md"), "fleet bench project\n")?;
    let mut index = repo.index()?;
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None)?;
    index.write()?;
    let tree = repo.find_tree(index.write_tree()?)?;
    let sig = git2::Signature::now("bench", "bench@example.com")?;
    repo.commit(Some("HEAD"), &sig, &sig, "initial", &tree, &[])?;
    Ok(())
}

/// Checks tmux, and returns the real path of the Python interpreter: a
/// version-manager shim (pyenv's `python3` is a shell script) would add its
/// own start-up to every stand-in's boot.
fn check_tools() -> R<String> {
    let tmux = std::process::Command::new("tmux")
        .arg("-V")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !tmux {
        return Err("the fleet bench needs tmux on PATH".into());
    }
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .map_err(|e| format!("the fleet bench needs python3 on PATH: {e}"))?;
    let python = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || python.is_empty() {
        return Err("the fleet bench needs python3 on PATH".into());
    }
    Ok(python)
}

/// The stand-in's command line: `flow` "" goes straight to the prompt. It
/// starts `intercomm mcp` as Claude Code does (spawn wakes a worker only
/// once that server is connected).
fn stand_in(python: &str, logs: &Path, flow: &str, boot_delay: f64) -> String {
    let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/fake_claude.py");
    let server = format!(
        "{} mcp",
        shell_words::quote(env!("CARGO_BIN_EXE_intercomm"))
    );
    format!(
        "{} -S {} --flow {} --boot-delay {boot_delay} --busy-seconds {BUSY_SECONDS} --log {} --mcp-server {}",
        shell_words::quote(python),
        shell_words::quote(&fake.display().to_string()),
        shell_words::quote(flow),
        shell_words::quote(&logs.join("{id}.jsonl").display().to_string()),
        shell_words::quote(&server),
    )
}

fn request(count: i64, claude_cmd: String, wake: bool) -> SpawnRequest {
    SpawnRequest {
        host: None,
        count,
        prefix: PREFIX.to_owned(),
        perm_mode: PermMode::AcceptEdits,
        claude_cmd,
        worktrees: false,
        worktree_base: "main".to_owned(),
        bootstrap: None,
        ready_timeout_secs: 30,
        wake,
        accept_api_key: false,
    }
}

/// Every worker started, reached its prompt, and (if asked) was woken.
fn check_spawned(out: &Spawned, count: i64, woken: bool, dialogs: &[PaneState]) -> R {
    if out.workers.len() as i64 != count {
        return Err(format!("spawn started {} of {count} workers", out.workers.len()).into());
    }
    for w in &out.workers {
        if let Some(e) = &w.error {
            return Err(format!("spawn: {}: {e}", w.id).into());
        }
        if w.state != Some(PaneState::Ready) {
            return Err(format!("spawn: {} ended in state {:?}", w.id, w.state).into());
        }
        if w.woken != woken {
            return Err(format!("spawn: {} woken={} (expected {woken})", w.id, w.woken).into());
        }
        if w.dialogs_cleared != dialogs {
            return Err(format!(
                "spawn: {} cleared {:?}, expected {dialogs:?}",
                w.id, w.dialogs_cleared
            )
            .into());
        }
    }
    Ok(())
}

/// The prompts a stand-in saw submitted, from its log.
fn submits(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == "submit")
        .count()
}

/// Waits until `pane` shows Claude's prompt, empty.
async fn wait_ready(tmux: &Tmux, pane: &str, timeout: Duration) -> R {
    let deadline = Instant::now() + timeout;
    loop {
        let s = screen::classify(&tmux.capture(pane).await?);
        if s.state == PaneState::Ready && s.input.as_deref() == Some("") {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("pane {pane} not ready after {timeout:?}: {:?}", s.state).into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Spawns, timestamping each progress line (ms since the call).
async fn spawn_noted(ctx: &Mutex<Ctx>, req: SpawnRequest) -> R<(Spawned, Vec<(f64, String)>)> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let t0 = Instant::now();
    let collect = async move {
        let mut notes = Vec::new();
        while let Some(line) = rx.recv().await {
            notes.push((ms(t0.elapsed()), line));
        }
        notes
    };
    let (out, notes) = tokio::join!(spawn::spawn(ctx, req, Some(tx)), collect);
    Ok((out?, notes))
}

/// A stand-in's own clock (seconds, monotonic): when it started, first
/// showed its prompt, and saw the first prompt submitted; and the wall clock
/// (seconds since the epoch) when it started.
struct StandInTimes {
    /// Wall clock (Unix seconds) of the process's exec.
    wall_exec: f64,
    /// Monotonic seconds (the stand-in's clock) of: its exec, its log's
    /// start (Python up), its first screen after the blank boot, its prompt,
    /// and the wake's submit.
    exec: f64,
    start: f64,
    booted: f64,
    prompt: f64,
    submit: f64,
}

fn stand_in_times(log: &Path) -> R<StandInTimes> {
    let text = std::fs::read_to_string(log)?;
    let events: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let first = |pred: &dyn Fn(&Value) -> bool| {
        events
            .iter()
            .find(|e| pred(e))
            .and_then(|e| e["t"].as_f64())
            .ok_or_else(|| format!("{}: an event is missing", log.display()))
    };
    let start = events
        .iter()
        .find(|e| e["event"] == "start")
        .ok_or_else(|| format!("{}: no start event", log.display()))?;
    let (Some(wall), Some(age), Some(t_start)) = (
        start["wall"].as_f64(),
        start["age"].as_f64(),
        start["t"].as_f64(),
    ) else {
        return Err(format!("{}: no time, wall time or age at start", log.display()).into());
    };
    Ok(StandInTimes {
        wall_exec: wall - age,
        exec: t_start - age,
        start: t_start,
        booted: first(&|e| e["event"] == "screen" && e["state"] != "boot")?,
        prompt: first(&|e| e["event"] == "screen" && e["state"] == "ready")?,
        submit: first(&|e| e["event"] == "submit")?,
    })
}

async fn teardown_all(ctx: &Mutex<Ctx>) -> R {
    teardown::teardown(ctx, PREFIX, false, false).await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// statistics and report

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Row {
    metric: String,
    unit: &'static str,
    value: String,
    detail: String,
    n: usize,
    target: &'static str,
    original: &'static str,
    ok: Option<bool>,
}

impl Row {
    fn new(metric: impl Into<String>, unit: &'static str, value: f64, digits: usize) -> Self {
        Self {
            metric: metric.into(),
            unit,
            value: format!("{value:.digits$}"),
            detail: String::new(),
            n: 0,
            target: "",
            original: "",
            ok: None,
        }
    }

    /// The median of per-run values, with min–max as the detail.
    fn runs(metric: impl Into<String>, unit: &'static str, values: &[f64], digits: usize) -> Self {
        Self {
            detail: format!("min {:.digits$}, max {:.digits$}", min(values), max(values)),
            n: values.len(),
            ..Self::new(metric, unit, median(values), digits)
        }
    }

    fn n(mut self, n: usize) -> Self {
        self.n = n;
        self
    }

    fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    fn goal(mut self, target: &'static str, original: &'static str, ok: bool) -> Self {
        self.target = target;
        self.original = original;
        self.ok = Some(ok);
        self
    }
}

fn render(rows: &[Row]) -> String {
    let mut out = vec![
        "| Metric | Unit | Value | Detail | n | Target | Original | OK |".to_owned(),
        "|---|---|---:|---|---:|---:|---:|:-:|".to_owned(),
    ];
    for r in rows {
        out.push(format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.metric,
            r.unit,
            r.value,
            r.detail,
            if r.n == 0 {
                String::new()
            } else {
                r.n.to_string()
            },
            r.target,
            r.original,
            match r.ok {
                Some(true) => "✓",
                Some(false) => "✗",
                None => "",
            }
        ));
    }
    out.join("\n")
}

// ---------------------------------------------------------------------------
// scenarios

/// Scan over 8, 16 then 32 ready panes (spawned with no dialogs, not woken).
async fn bench_scan(ctx: &Mutex<Ctx>, cfg: &Config, logs: &Path, rows: &mut Vec<Row>) -> R<String> {
    let cmd = stand_in(&cfg.python, logs, "", 0.0);
    let mut running = 0;
    let mut first_pane = String::new();
    for &size in &cfg.scan_sizes {
        let started = Instant::now();
        let out = spawn::spawn(ctx, request(size - running, cmd.clone(), false), None).await?;
        check_spawned(&out, size - running, false, &[])?;
        eprintln!(
            "  {} more panes ready in {:.1} s",
            size - running,
            started.elapsed().as_secs_f64()
        );
        if first_pane.is_empty() {
            first_pane = out
                .workers
                .first()
                .and_then(|w| w.pane.clone())
                .ok_or("spawn reported no pane")?;
        }
        running = size;
        let mut times = Vec::with_capacity(cfg.scans);
        for i in 0..cfg.scans + 3 {
            let t0 = Instant::now();
            let scanned = scan::scan(ctx, PREFIX).await?;
            let t = ms(t0.elapsed());
            if scanned.panes.len() as i64 != size {
                return Err(
                    format!("scan saw {} panes, expected {size}", scanned.panes.len()).into(),
                );
            }
            if let Some(p) = scanned
                .panes
                .iter()
                .find(|p| p.state != Some(PaneState::Ready))
            {
                return Err(format!("scan: {} is {:?}, expected ready", p.id, p.state).into());
            }
            if i >= 3 {
                times.push(t);
            }
        }
        let (target, ok): (&'static str, fn(f64) -> bool) = match size {
            16 => ("< 14", |v| v < 14.0),
            32 => ("< 30", |v| v < 30.0),
            _ => ("", |_| true),
        };
        let original = if size == 16 { "72" } else { "" };
        let p50 = pct(&times, 50.0);
        rows.push(
            Row::new(format!("Scan, {size} ready panes, p50"), "ms", p50, 1)
                .n(times.len())
                .detail(format!("max {:.1}", max(&times)))
                .goal(target, original, ok(p50)),
        );
        rows.push(
            Row::new(
                format!("  scan, {size} panes, p99"),
                "ms",
                pct(&times, 99.0),
                1,
            )
            .n(times.len()),
        );
    }
    Ok(first_pane)
}

/// Wakes worker-1 repeatedly, waiting for its prompt between wakes.
async fn bench_wake(
    ctx: &Mutex<Ctx>,
    tmux: &Tmux,
    cfg: &Config,
    pane: &str,
    logs: &Path,
    rows: &mut Vec<Row>,
) -> R {
    let worker = format!("{PREFIX}-1");
    let log = logs.join(format!("{worker}.jsonl"));
    let before = submits(&log);
    let mut wall = Vec::with_capacity(cfg.wakes);
    let mut rung_ms = Vec::with_capacity(cfg.wakes);
    let mut delivered = 0;
    let mut enters = 0;
    for i in 0..cfg.wakes {
        wait_ready(tmux, pane, Duration::from_secs(5)).await?;
        let t0 = Instant::now();
        let rung = wake::wake(
            ctx,
            &worker,
            &format!("bench ping {i}: call intercomm_read"),
        )
        .await?;
        wall.push(ms(t0.elapsed()));
        rung_ms.push(rung.millis as f64);
        delivered += usize::from(rung.delivered && !rung.queued);
        enters += rung.enters;
        // The stand-in goes busy at the submit and back to its prompt after
        // BUSY_SECONDS; the next wake waits for that prompt.
        tokio::time::sleep(Duration::from_secs_f64(BUSY_SECONDS)).await;
    }
    wait_ready(tmux, pane, Duration::from_secs(5)).await?;
    let seen = submits(&log) - before;
    let n = cfg.wakes;
    let p50 = pct(&wall, 50.0);
    rows.push(
        Row::new("Wake (fleet::wake::wake), p50", "ms", p50, 1)
            .n(n)
            .goal("< 200", "830", p50 < 200.0),
    );
    rows.push(Row::new("  wake p99", "ms", pct(&wall, 99.0), 1).n(n));
    rows.push(Row::new("  wake max", "ms", max(&wall), 1).n(n));
    rows.push(
        Row::new(
            "  Rung.millis p50 (first capture → verified)",
            "ms",
            pct(&rung_ms, 50.0),
            1,
        )
        .n(n),
    );
    let all = delivered == n && seen == n;
    rows.push(Row {
        value: format!("{delivered}/{n}"),
        detail: format!(
            "delivered (not queued); the stand-in logged {seen} submits; {enters} Enter presses"
        ),
        ..Row::new("  wakes verified", "", 0.0, 0).goal("all", "unverified", all)
    });
    Ok(())
}

/// Spawns of 1, 4, 8 workers booting in 1 s, woken, torn down after each.
async fn bench_spawn(ctx: &Mutex<Ctx>, cfg: &Config, logs: &Path, rows: &mut Vec<Row>) -> R {
    let flows: [(&str, &str, &[PaneState]); 2] = [
        (
            "trust,mcp_approval",
            "boot dialogs",
            &[PaneState::Trust, PaneState::McpApproval],
        ),
        ("", "no dialogs", &[]),
    ];
    for (flow, label, dialogs) in flows {
        // walls[size index][run]
        let mut walls: Vec<Vec<f64>> = vec![Vec::new(); cfg.spawn_sizes.len()];
        // phases[size index][run], ms: last launched (since the call),
        // first and last exec (since the call), slowest Python start-up,
        // slowest exec → first screen (the boot), slowest first screen →
        // prompt (the dialogs), slowest prompt → wake submitted.
        let mut phases: Vec<Vec<[f64; 7]>> = vec![Vec::new(); cfg.spawn_sizes.len()];
        for run in 0..cfg.spawn_runs {
            for (k, &count) in cfg.spawn_sizes.iter().enumerate() {
                let dir = logs.join(format!(
                    "spawn-{}-{count}-{run}",
                    if flow.is_empty() { "none" } else { "dialogs" }
                ));
                std::fs::create_dir_all(&dir)?;
                let cmd = stand_in(&cfg.python, &dir, flow, SPAWN_BOOT_SECONDS);
                let t0 = Instant::now();
                let wall0 = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)?
                    .as_secs_f64();
                let (out, notes) = spawn_noted(ctx, request(count, cmd, true)).await?;
                let wall = ms(t0.elapsed());
                check_spawned(&out, count, true, dialogs)?;
                let mut stand_ins = Vec::new();
                for w in &out.workers {
                    let log = dir.join(format!("{}.jsonl", w.id));
                    let got = submits(&log);
                    if got != 1 {
                        return Err(
                            format!("spawn: {} saw {got} wake prompts, expected 1", w.id).into(),
                        );
                    }
                    stand_ins.push(stand_in_times(&log)?);
                }
                walls[k].push(wall);
                let launched = notes
                    .iter()
                    .filter(|(_, n)| n.contains(": launched in "))
                    .map(|(t, _)| *t)
                    .fold(0.0, f64::max);
                let execs: Vec<f64> = stand_ins
                    .iter()
                    .map(|t| (t.wall_exec - wall0) * 1e3)
                    .collect();
                let slowest = |f: &dyn Fn(&StandInTimes) -> f64| {
                    stand_ins.iter().map(|t| f(t) * 1e3).fold(0.0, f64::max)
                };
                phases[k].push([
                    launched,
                    min(&execs),
                    max(&execs),
                    slowest(&|t| t.start - t.exec),
                    slowest(&|t| t.booted - t.exec),
                    slowest(&|t| t.prompt - t.booted),
                    slowest(&|t| t.submit - t.prompt),
                ]);
                teardown_all(ctx).await?;
            }
        }
        let one = cfg.spawn_sizes.iter().position(|&c| c == 1);
        for (k, &count) in cfg.spawn_sizes.iter().enumerate() {
            let phase = |i: usize| median(&phases[k].iter().map(|p| p[i]).collect::<Vec<_>>());
            rows.push(Row::runs(
                format!("Spawn {count} worker(s), {label}, woken: wall"),
                "ms",
                &walls[k],
                0,
            ));
            rows.push(
                Row::new(
                    format!("  phases ({count}, {label}), medians"),
                    "ms",
                    phase(0),
                    0,
                )
                .detail(format!(
                    "value = last tmux launch; stand-ins exec'd at {:.0}–{:.0}; slowest: Python up {:.0} after exec, exec → first screen {:.0} (the boot), first screen → prompt {:.0} (dialogs), prompt → wake submitted {:.0}",
                    phase(1),
                    phase(2),
                    phase(3),
                    phase(4),
                    phase(5),
                    phase(6)
                )),
            );
            if let Some(one) = one
                && count > 1
            {
                let ratio: Vec<f64> = walls[k]
                    .iter()
                    .zip(&walls[one])
                    .map(|(n, o)| n / o)
                    .collect();
                let row = Row::runs(
                    format!("  spawn {count} / spawn 1 wall ({label}, same run)"),
                    "×",
                    &ratio,
                    2,
                );
                let med = median(&ratio);
                rows.push(if count == 8 {
                    row.goal("< 1.2", "≈ 8 (sequential)", med < 1.2)
                } else {
                    row
                });
            }
        }
    }
    Ok(())
}

async fn run(cfg: &Config, server: &PrivateTmux, rows: &mut Vec<Row>) -> R {
    let root = server.dir.path().join("repo");
    std::fs::create_dir(&root)?;
    init_repo(&root)?;
    let logs = server.dir.path().join("logs");
    std::fs::create_dir(&logs)?;
    let mut ctx = Ctx::new(BusPaths::new(&root, &root), ProcessId::current(), None);
    ctx.tmux = server.client();
    identity::register(
        &mut ctx,
        RegisterRequest {
            role: Role::Master,
            force: false,
            requested_id: None,
        },
    )?;
    let ctx = Mutex::new(ctx);
    let tmux = server.client();

    if !cfg.spawn_only {
        eprintln!(
            "scan: {:?} panes, {} scans each ...",
            cfg.scan_sizes, cfg.scans
        );
        let pane = bench_scan(&ctx, cfg, &logs, rows).await?;
        eprintln!("wake: {} wakes of worker-1 ...", cfg.wakes);
        bench_wake(&ctx, &tmux, cfg, &pane, &logs, rows).await?;
        teardown_all(&ctx).await?;
    }
    eprintln!(
        "spawn: {:?} workers booting in {SPAWN_BOOT_SECONDS} s, {} runs, with and without dialogs ...",
        cfg.spawn_sizes, cfg.spawn_runs
    );
    bench_spawn(&ctx, cfg, &logs, rows).await?;
    Ok(())
}

fn main() -> R {
    // INTERCOMM_LOG=fleet.boot=debug,tmux.cmd=debug shows where spawn's time goes.
    intercomm::logging::init();
    let mut cfg = Config::from_env();
    cfg.python = check_tools()?;
    let server = PrivateTmux::new()?;
    watchdog(
        server.socket.clone(),
        Duration::from_secs(if cfg.quick { 120 } else { 600 }),
    );
    server.start()?;
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut rows = Vec::new();
    let outcome = rt.block_on(run(&cfg, &server, &mut rows));
    drop(server);
    outcome?;

    println!();
    println!("{}", render(&rows));
    println!();
    println!(
        "- Library calls in-process (current-thread tokio runtime), private tmux server, stand-in Claude TUI (tests/support/fake_claude.py run by {}, busy {BUSY_SECONDS} s after a submit).",
        cfg.python
    );
    println!(
        "- Scan and wake: panes spawned with `--flow \"\" --boot-delay 0`, not woken; {} timed scans after 3 warm-up, each checked: every pane ready.",
        cfg.scans
    );
    println!(
        "- Wake: each wake starts on an empty, ready prompt; \"wall\" is the whole call (gate, resolve, ring); verified = intercomm saw it submitted and the stand-in logged the submit."
    );
    println!(
        "- Spawn: stand-in boots in {SPAWN_BOOT_SECONDS} s counted from its exec (its Python start-up, run with -S, inside that second); \"boot dialogs\" = trust then MCP approval answered by label; every worker woken and its one wake prompt checked in the stand-in's log; teardown between spawns."
    );
    if cfg.quick {
        println!("- BENCH_QUICK: fewer panes, samples and runs; figures are indicative only.");
    }
    println!(
        "- Total {:.1} s; {} CPUs.",
        started.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    Ok(())
}
