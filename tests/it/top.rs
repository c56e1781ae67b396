//! `intercomm top` for real: started in a pane of a private tmux server
//! against a bus with a stand-in fleet, read with capture-pane, driven with
//! send-keys: a permission request shows up and is approved with `y`, the
//! view attaches to the worker's pane and comes back after a detach, and
//! `q` quits.

use serde_json::json;

use crate::stand_in::Fleet;
use crate::support::*;

/// The visible text of the pane running top.
fn screen(f: &Fleet, pane: &str) -> String {
    f.server
        .run(&["capture-pane", "-p", "-t", pane])
        .unwrap_or_default()
}

/// Waits (up to `secs`) until top's screen satisfies `cond`; the last
/// screen either way.
async fn until(f: &Fleet, pane: &str, secs: u64, cond: impl Fn(&str) -> bool) -> (bool, String) {
    let ok = eventually(secs, || cond(&screen(f, pane))).await;
    (ok, screen(f, pane))
}

fn keys(f: &Fleet, pane: &str, keys: &[&str]) -> TestResult {
    let mut args = vec!["send-keys", "-t", pane];
    args.extend_from_slice(keys);
    f.server.run(&args).map(drop)
}

#[tokio::test]
async fn top_shows_the_fleet_approves_attaches_and_quits() -> TestResult {
    let f = Fleet::new().await?;
    f.spawn(json!({"count": 1, "wake": false, "claude_cmd": f.fake("")}))
        .await?;
    let socket = f.server.socket.display().to_string();
    let root = f.project.root.display().to_string();
    let bin = bin().display().to_string();
    // On PostgreSQL the bus comes by the global flag (the pane's environment
    // has no INTERCOMM_BUS).
    let mut argv: Vec<&str> = vec![&bin, "--root", &root];
    if let Some(url) = &f.project.bus {
        argv.extend(["--bus", url]);
    }
    argv.push("top");
    let pane = f.server.session(
        "top",
        &f.project.root,
        &[("INTERCOMM_TMUX_SOCKET", &socket)],
        &argv,
    )?;

    let (shown, s) = until(&f, &pane, 30, |s| {
        s.contains("worker-1") && s.contains("in fleet") && s.contains("ready")
    })
    .await;
    assert!(shown, "top shows the ready worker:\n{s}");

    // A permission request appears in the pending decisions.
    ok(
        &f.master,
        "intercomm_wake",
        json!({"worker": "worker-1", "message": "RUNBASH touch approved.txt"}),
    )
    .await?;
    let (asked, s) = until(&f, &pane, 30, |s| {
        s.contains("worker-1 asks Bash touch approved.txt") && s.contains("blocked: Bash")
    })
    .await;
    assert!(asked, "the request is shown:\n{s}");
    assert!(!f.project.root.join("approved.txt").exists());

    keys(&f, &pane, &["y"])?;
    let (said, s) = until(&f, &pane, 30, |s| {
        s.contains("Approve worker-1: blocked ->")
    })
    .await;
    assert!(said, "the approval's outcome is shown:\n{s}");
    assert!(
        eventually(10, || f.project.root.join("approved.txt").exists()).await,
        "the approved command ran"
    );
    let (settled, s) = until(&f, &pane, 30, |s| !s.contains("asks Bash")).await;
    assert!(settled, "the decision is gone:\n{s}");

    // Attach to worker-1's pane (the second row, after the master), then
    // detach its client: the view comes back.
    keys(&f, &pane, &["j", "t"])?;
    let (attached, s) = until(&f, &pane, 30, |s| !s.contains("in fleet")).await;
    assert!(attached, "the pane shows the worker, not top:\n{s}");
    // The view leaves the screen before tmux attaches its client: under
    // load a capture can fall between the two (2 of 20 runs at load 15-18).
    let attached_client = eventually(30, || {
        f.server
            .run(&["list-clients", "-F", "#{session_name}"])
            .is_ok_and(|c| c.lines().any(|c| c == "worker-1"))
    })
    .await;
    assert!(attached_client, "no client attached to worker-1");
    f.server.run(&["detach-client", "-s", "worker-1"])?;
    let (back, s) = until(&f, &pane, 30, |s| {
        s.contains("in fleet") && s.contains("back from worker-1")
    })
    .await;
    assert!(back, "top is back after the detach:\n{s}");

    keys(&f, &pane, &["q"])?;
    assert!(
        eventually(10, || !f.server.sessions().contains(&"top".to_owned())).await,
        "q quits top (its session ends): {:?}",
        f.server.sessions()
    );
    Ok(())
}
