//! Benchmarks of seeing the fleet, against the targets of `intercomm top`:
//! a bus change shows within 200 ms, and an idle view uses under 1% of a CPU.
//!
//! ```text
//! cargo bench --bench view                # ~1 minute; needs tmux
//! BENCH_QUICK=1 cargo bench --bench view  # CI smoke: fewer sends, shorter idle
//! ```
//!
//! 1. latency: `intercomm watch` (the same feed `top` draws from) runs as a
//!    child; the bench sends a message through the library and times until
//!    the watch prints it, 40 times, 50-350 ms apart (so some sends find the
//!    watcher at its longest pause).
//! 2. idle CPU: the real `intercomm top` in a 80x24 pane of a private tmux
//!    server (never the user's) and `intercomm watch`, on a bus with a
//!    master and two workers, left alone; CPU time from /proc/<pid>/stat
//!    (utime + stime) over the idle period, as a share of one CPU.

#[path = "common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use intercomm::bus::instances::Role;
use intercomm::bus::messages::MessageType;
use intercomm::location::BusPaths;
use intercomm::ops::identity::{self, RegisterRequest};
use intercomm::ops::{Ctx, messaging};
use intercomm::process::ProcessId;
use tempfile::TempDir;

use common::{R, max, median, min, pct};

const LATENCY_TARGET_MS: f64 = 200.0;
const IDLE_TARGET_PCT: f64 = 1.0;

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_intercomm"))
}

fn registered(root: &Path, role: Role, id: Option<&str>) -> R<Ctx> {
    let mut ctx = Ctx::new(BusPaths::new(root, root), ProcessId::current(), None);
    identity::register(
        &mut ctx,
        RegisterRequest {
            role,
            force: false,
            requested_id: id.map(str::to_owned),
        },
    )?;
    Ok(ctx)
}

/// CPU seconds (user + system) a process used so far.
fn cpu_secs(pid: u32) -> R<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat.rsplit_once(')').ok_or("bad stat")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks / 100.0)
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() -> R {
    let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let (sends, idle_secs) = if quick { (10, 5) } else { (40, 20) };
    let dir = TempDir::new()?;
    let root = dir.path().join("repo");
    std::fs::create_dir(&root)?;
    let no_tmux = dir.path().join("no-tmux.sock");
    let _master = registered(&root, Role::Master, None)?;
    let mut w1 = registered(&root, Role::Worker, None)?;
    let _w2 = registered(&root, Role::Worker, None)?;

    // 1. latency through `intercomm watch`.
    let mut child = Command::new(bin())
        .arg("--root")
        .arg(&root)
        .arg("watch")
        .env("INTERCOMM_TMUX_SOCKET", &no_tmux)
        .env_remove("TMUX")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let watch = Killed(child);
    let (tx, rx) = mpsc::channel::<(Instant, String)>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send((Instant::now(), line)).is_err() {
                return;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    while rx.try_recv().is_ok() {}
    let mut lat = Vec::new();
    for i in 0..sends {
        std::thread::sleep(Duration::from_millis(50 + (i * 73 % 300) as u64));
        let text = format!("bench {i}");
        let sent = Instant::now();
        messaging::send(&mut w1, "master", &text, MessageType::Status)?;
        loop {
            let (at, line) = rx.recv_timeout(Duration::from_secs(5))?;
            if line.contains(&format!("\"text\":\"{text}\"")) {
                lat.push(at.duration_since(sent).as_secs_f64() * 1000.0);
                break;
            }
        }
    }
    println!(
        "view latency (bus change -> watch line), {sends} sends: min {:.1} ms, median {:.1} ms, p90 {:.1} ms, max {:.1} ms (target < {LATENCY_TARGET_MS} ms) {}",
        min(&lat),
        median(&lat),
        pct(&lat, 90.0),
        max(&lat),
        if max(&lat) < LATENCY_TARGET_MS {
            "OK"
        } else {
            "OVER"
        }
    );

    // 2. idle CPU of top (in a private tmux pane) and of watch.
    let socket = dir.path().join("tmux.sock");
    let tmux = |args: &[&str]| -> R<String> {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&socket)
            .args(args)
            .output()?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let root_s = root.display().to_string();
    let bin_s = bin().display().to_string();
    let sock_s = socket.display().to_string();
    let pid: u32 = tmux(&[
        "new-session",
        "-d",
        "-s",
        "top",
        "-x",
        "80",
        "-y",
        "24",
        "-e",
        &format!("INTERCOMM_TMUX_SOCKET={sock_s}"),
        "-P",
        "-F",
        "#{pane_pid}",
        "--",
        &bin_s,
        "--root",
        &root_s,
        "top",
    ])?
    .parse()?;
    let outcome = (|| -> R {
        std::thread::sleep(Duration::from_secs(2));
        let screen = tmux(&["capture-pane", "-p", "-t", "top"])?;
        if !screen.contains("in fleet") {
            return Err(format!("top did not start:\n{screen}").into());
        }
        let (top0, watch0, t0) = (cpu_secs(pid)?, cpu_secs(watch.0.id())?, Instant::now());
        std::thread::sleep(Duration::from_secs(idle_secs));
        let wall = t0.elapsed().as_secs_f64();
        let top_pct = (cpu_secs(pid)? - top0) / wall * 100.0;
        let watch_pct = (cpu_secs(watch.0.id())? - watch0) / wall * 100.0;
        for (what, p) in [("top", top_pct), ("watch", watch_pct)] {
            println!(
                "{what} idle CPU over {wall:.0} s: {p:.2}% of one CPU (target < {IDLE_TARGET_PCT}%) {}",
                if p < IDLE_TARGET_PCT { "OK" } else { "OVER" }
            );
        }
        Ok(())
    })();
    let _ = tmux(&["kill-server"]);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    drop(watch);
    outcome
}
