//! Benchmarks of the hook paths with the REAL Claude Code (the e2e harness:
//! tests/e2e/harness, stand-in model on loopback in a network namespace,
//! the plugin installed for real), one worker in `default` mode:
//!
//! 1. wake: the master sends a question to the idle worker (its wake hook
//!    armed); latency from just before `intercomm_send` to the model's
//!    first request of the woken turn (the stand-in model's request log);
//!    target under 1 s;
//! 2. permission round trip: the worker's Bash call (the model's reply
//!    carrying the tool_use) → the request recorded on the bus by its hook
//!    (`hook`), then the master's `intercomm_approve` → the command's file
//!    exists (`approve`); the time the master takes to notice and decide is
//!    excluded; target: their sum under 2 s.
//!
//! ```text
//! flock /tmp/intercomm-e2e.lock cargo bench --bench hooks        # 5 runs each
//! BENCH_RUNS=10 INTERCOMM_E2E_CLAUDE_VERSION=2.1.332 flock … cargo bench --bench hooks
//! ```
//!
//! Needs what the e2e tests need (root for `ip netns`, tmux, git, python3,
//! node, Claude Code under ~/.cache/intercomm/claude-code).

#[path = "common/mod.rs"]
mod common;
#[allow(dead_code, unused_imports)]
#[path = "../tests/e2e/harness/mod.rs"]
mod harness;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use common::{R, max, median, min, pct};
use harness::*;

fn rules() -> Value {
    json!({"rules": [
        {
            "name": "wake",
            "when": "You are worker (?P<id>worker-\\d+)\\.",
            "steps": [{"tool": tool("intercomm_register"), "input": {}}],
            "final": "E2E {{id}}: registered."
        },
        {
            "name": "mail",
            "when": "\\[intercomm\\] 1 new message\\(s\\) for worker-1",
            "steps": [{"tool": tool("intercomm_read"), "input": {}}],
            "final": "BENCH: read."
        },
        {
            "name": "perm",
            "when": "BENCH-PERM (?P<n>\\d+)",
            "steps": [{"tool": "Bash", "input": {"command": "touch bench-perm-{{n}}.txt", "description": "Bench step"}}],
            "final": "BENCH: ran."
        }
    ]})
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

async fn pane(master: &Client) -> Value {
    let scan = call(master, "intercomm_scan", json!({})).await;
    scan.structured_content.unwrap_or(Value::Null)["panes"][0].clone()
}

/// Polls intercomm_scan until `want` holds for the worker (60 s at most).
async fn until_pane(master: &Client, what: &str, want: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let p = pane(master).await;
        if want(&p) {
            return p;
        }
        if Instant::now() > deadline {
            fail(format!("the worker never showed {what}: {p}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn stats(name: &str, ms: &[f64], target: f64) {
    println!(
        "{name:<28} n={:<3} median {:>7.0} ms  min {:>7.0}  p90 {:>7.0}  max {:>7.0}  (target < {target:.0} ms)",
        ms.len(),
        median(ms),
        min(ms),
        pct(ms, 90.0),
        max(ms)
    );
}

async fn run() -> R {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let world = World::new("bench_hooks", rules());
    install_plugin(&world);
    let master = world.master(&[]).await;
    ok(
        &master,
        "intercomm_spawn",
        json!({"count": 1, "worktrees": true, "perm_mode": "default",
               "claude_cmd": world.claude.display().to_string(), "ready_timeout": 90}),
    )
    .await;
    let tree = world.dir.join(".intercomm-worktrees/repo/worker-1");
    world.turn_done(&tree, "You are worker worker-1.", 90).await;

    let mut wakes = Vec::new();
    for i in 0..runs {
        until_pane(&master, "idle with its wake hook armed", |p| {
            p["state"] == "ready" && p["wake_hook"] == true
        })
        .await;
        let before = world.requests().len();
        let sent_at = now_s();
        ok(
            &master,
            "intercomm_send",
            json!({"to": "worker-1", "type": "question", "message": format!("BENCH-WAKE {i}")}),
        )
        .await;
        let woke_at = world
            .until(30, "the woken turn's first request", || {
                world.requests()[before..]
                    .iter()
                    .find(|r| {
                        r["tools"] == true
                            && r["prompt"]
                                .as_str()
                                .is_some_and(|p| p.contains("new message(s) for worker-1"))
                    })
                    .and_then(|r| r["t"].as_f64())
            })
            .await;
        wakes.push((woke_at - sent_at) * 1000.0);
        world
            .turn_done(&tree, "new message(s) for worker-1", 30)
            .await;
    }

    let (mut hook, mut approve, mut total) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..runs {
        until_pane(&master, "idle", |p| p["state"] == "ready").await;
        let before = world.requests().len();
        world.submit("worker-1", &format!("BENCH-PERM {i}")).await;
        let waiting = until_pane(&master, "waiting", |p| p["state"] == "waiting").await;
        let asked_ms = waiting["permission"]["asked_at"]
            .as_f64()
            .unwrap_or(f64::NAN);
        let called = world.requests()[before..]
            .iter()
            .find(|r| r["rule"] == "perm" && r["results"] == 0)
            .and_then(|r| r["t"].as_f64())
            .unwrap_or(f64::NAN);
        let file = tree.join(format!("bench-perm-{i}.txt"));
        let started = Instant::now();
        ok(
            &master,
            "intercomm_approve",
            json!({"worker": "worker-1", "choice": "yes"}),
        )
        .await;
        while !file.exists() {
            if started.elapsed() > Duration::from_secs(30) {
                fail(format!("{} never appeared", file.display()));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let a = asked_ms - called * 1000.0;
        let b = started.elapsed().as_secs_f64() * 1000.0;
        hook.push(a);
        approve.push(b);
        total.push(a + b);
        world.turn_done(&tree, &format!("BENCH-PERM {i}"), 30).await;
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "hooks bench, Claude Code {}, load average {}",
        world.version,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    stats("wake (send → woken request)", &wakes, 1000.0);
    stats("permission: call → on bus", &hook, f64::INFINITY);
    stats("permission: approve → ran", &approve, f64::INFINITY);
    stats("permission round trip", &total, 2000.0);
    ok(
        &master,
        "intercomm_teardown",
        json!({"worktrees": true, "force": true}),
    )
    .await;
    let _ = master.cancel().await;
    world.finish();
    Ok(())
}

fn main() -> R {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run())
}
