//! Benchmarks of workers on another host: a scan of 16 panes and a verified
//! wake through the host agent (over the kept ssh link), against the same
//! on the master's own machine, in one run so the ratio is fair.
//!
//! ```text
//! flock /tmp/intercomm-e2e.lock cargo bench --bench hosts   # root: netns, sshd, a throwaway user
//! BENCH_QUICK=1 …                                          # fewer samples
//! ```
//!
//! The lab is the hosts suite's (tests/hosts/lab.rs): one network namespace
//! with its own sshd joined by a veth pair (its RTT is ~0, so a LAN adds
//! one RTT per request), the master's `intercomm mcp` run as the lab's user
//! with `INTERCOMM_SSH_CONFIG`. 16 stand-in Claude TUIs run on the host and
//! 16 on the master's own tmux server; each sample is one MCP tool call
//! (`intercomm_scan`, `intercomm_wake`) timed at the client, remote and
//! local interleaved. Targets (issue #18): remote scan of 16 within 2x of
//! local; remote wake under 300 ms.

#[path = "common/mod.rs"]
mod common;
#[allow(dead_code)]
#[path = "../tests/hosts/lab.rs"]
mod lab;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::{R, max, median, min, pct};
use lab::{Lab, ok};

const PANES: i64 = 16;

fn main() -> R {
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut lab = Lab::new(1)?;
    let outcome = runtime.block_on(run(&mut lab, quick));
    if outcome.is_err() {
        eprintln!("{}", lab.diagnostics());
    }
    outcome
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

async fn spawn(lab: &Lab, m: usize, args: Value) -> R {
    let out = ok(lab.client(m), "intercomm_spawn", args).await?;
    let failed: Vec<&Value> = out["workers"]
        .as_array()
        .map(|w| w.iter().filter(|w| w["error"] != Value::Null).collect())
        .unwrap_or_default();
    if !failed.is_empty() {
        return Err(format!("spawn failed: {failed:?}").into());
    }
    Ok(())
}

/// Times `n` calls of `tool` with `args`, in ms; checks each with `check`.
async fn timed(
    lab: &Lab,
    m: usize,
    tool: &str,
    args: &Value,
    check: impl Fn(&Value) -> bool,
) -> R<f64> {
    let started = Instant::now();
    let out = ok(lab.client(m), tool, args.clone()).await?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if !check(&out) {
        return Err(format!("{tool} {args}: unexpected {out}").into());
    }
    Ok(ms)
}

fn line(name: &str, v: &[f64]) -> String {
    format!(
        "{name:<28} p50 {:>7.1} ms   p90 {:>7.1} ms   min {:>7.1}   max {:>7.1}   n={}",
        median(v),
        pct(v, 90.0),
        min(v),
        max(v),
        v.len()
    )
}

async fn run(lab: &mut Lab, quick: bool) -> R {
    let (scans, wakes) = if quick { (10, 6) } else { (40, 20) };
    let m = lab.master_with_hosts().await?;
    let cmd = lab.fake_cmd_with("--busy-seconds 0.1");
    let base = json!({"count": PANES, "claude_cmd": cmd, "wake": false, "ready_timeout": 180});
    let mut remote = base.clone();
    remote["prefix"] = json!("remote");
    remote["host"] = json!("h1");
    let mut local = base;
    local["prefix"] = json!("local");
    println!("load before spawn: {}", load());
    spawn(lab, m, remote).await?;
    spawn(lab, m, local).await?;
    let full = |v: &Value| {
        v["panes"].as_array().map(Vec::len) == Some(PANES as usize)
            && v["panes"]
                .as_array()
                .is_some_and(|p| p.iter().all(|p| p["state"] != Value::Null))
    };
    let (scan_r, scan_l) = (json!({"prefix": "remote"}), json!({"prefix": "local"}));
    // Warm-up: the link is open and both servers have run a capture.
    timed(lab, m, "intercomm_scan", &scan_r, full).await?;
    timed(lab, m, "intercomm_scan", &scan_l, full).await?;
    let load_at = load();
    let (mut r, mut l) = (Vec::new(), Vec::new());
    for _ in 0..scans {
        r.push(timed(lab, m, "intercomm_scan", &scan_r, full).await?);
        l.push(timed(lab, m, "intercomm_scan", &scan_l, full).await?);
    }
    let delivered = |v: &Value| v["delivered"] == json!(true);
    let (mut wr, mut wl) = (Vec::new(), Vec::new());
    for i in 0..wakes {
        let who = 1 + i % 4;
        let msg = format!("bench ping {i}");
        let args = json!({"worker": format!("remote-{who}"), "message": msg});
        wr.push(timed(lab, m, "intercomm_wake", &args, delivered).await?);
        let args = json!({"worker": format!("local-{who}"), "message": msg});
        wl.push(timed(lab, m, "intercomm_wake", &args, delivered).await?);
        // Let the stand-ins' busy phase (0.1 s) end: each wake finds a prompt.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    println!(
        "hosts bench: {PANES} panes per side, load during samples {load_at}, after {}",
        load()
    );
    println!("{}", line("scan of 16, remote host", &r));
    println!("{}", line("scan of 16, local", &l));
    println!(
        "scan ratio remote/local (p50): {:.2}  (target <= 2)",
        median(&r) / median(&l)
    );
    println!("{}", line("verified wake, remote host", &wr));
    println!("{}", line("verified wake, local", &wl));
    println!(
        "remote wake p50 {:.1} ms, p90 {:.1} ms  (target < 300 ms)",
        median(&wr),
        pct(&wr, 90.0)
    );
    ok(
        lab.client(m),
        "intercomm_teardown",
        json!({"prefix": "remote"}),
    )
    .await?;
    ok(
        lab.client(m),
        "intercomm_teardown",
        json!({"prefix": "local"}),
    )
    .await?;
    Ok(())
}
