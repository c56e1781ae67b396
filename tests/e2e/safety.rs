//! Scenario 3, safety: after the user types /exit in a worker's pane, the pane
//! shows a shell (the worker runs `sh -c '<claude> "$@"; exec sh' sh`);
//! intercomm_scan reports it exited, intercomm_wake refuses it, and nothing
//! typed reaches that shell (the doorbell would create a file if a shell
//! ran it, and the screen must not change).

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::*;

fn rules() -> Value {
    json!({"rules": [
        register_rule()
    ]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wake_refuses_a_pane_whose_claude_exited() {
    let world = World::new("safety", rules());
    let master = world.master(&[]).await;
    let claude_cmd = format!("sh -c '{} \"$@\"; exec sh' sh", world.claude.display());
    let out = ok(
        &master,
        "intercomm_spawn",
        json!({"count": 1, "perm_mode": "default", "claude_cmd": claude_cmd, "ready_timeout": 90}),
    )
    .await;
    world
        .turn_done(&world.repo, "You are worker worker-1.", 90)
        .await;
    check_spawned(&world, &out, "worker-1", &world.repo).await;
    world.idle("worker-1", 30).await;

    // The user leaves Claude Code in the worker's pane.
    world.submit("worker-1", "/exit").await;
    let exited = world
        .until(30, "the shell after /exit", || {
            let s = world.capture("worker-1");
            is_shell_prompt(&s).then_some(s)
        })
        .await;
    world.check(
        exited.contains("Resume this session with") && exited.contains(" --resume "),
        format!("no resume hint above the shell after /exit:\n{exited}"),
    );
    let pane = scan_until(&master, "worker-1", "exited", 30).await;
    world.check(
        pane["attention"]
            .as_str()
            .is_some_and(|a| a.contains("exited")),
        format!("scan: attention {}", pane["attention"]),
    );

    // A doorbell that a shell would run: `[intercomm] x; touch <marker>`.
    let marker = world.dir.join("INJECTED-BY-WAKE");
    let before = world.capture("worker-1");
    let requests_before = world.requests().len();
    let (error, message) = err(
        &master,
        "intercomm_wake",
        json!({"worker": "worker-1", "message": format!("x; touch {}", marker.display())}),
    )
    .await;
    world.check(
        error["code"] == "wake_refused",
        format!("wake failed with {error} (want wake_refused)"),
    );
    world.check(
        message.contains("exited"),
        format!("wake's refusal does not say Claude exited: {message:?}"),
    );

    // assign stores the contract but must not ring a shell either.
    let assigned = ok(
        &master,
        "intercomm_assign",
        json!({"worker": "worker-1", "target_type": "task", "target_slug": "task-e2e-safety",
               "role_instructions": format!("x; touch {}", marker.display())}),
    )
    .await;
    world.check(
        assigned["woke"] == false,
        format!("assign rang an exited pane: {assigned}"),
    );

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = world.capture("worker-1");
    world.check(
        after == before,
        format!("the shell's screen changed:\n--- before\n{before}\n--- after\n{after}"),
    );
    let shell_part = after.rsplit(" --resume ").next().unwrap_or_default();
    world.check(
        !shell_part.contains("intercomm"),
        format!("the doorbell reached the shell: {shell_part:?}"),
    );
    world.check(
        !marker.exists(),
        "a shell ran the doorbell: the marker file exists",
    );
    world.check(
        world.requests().len() == requests_before,
        "the model was called after Claude exited",
    );
    // The shell itself is alive and takes input (so a typed doorbell would
    // have run): prove it with our own command.
    let proof = world.dir.join("shell-alive");
    let _ = world.tmux(&[
        "send-keys",
        "-t",
        "=worker-1:",
        "-l",
        &format!("touch {}", proof.display()),
    ]);
    let _ = world.tmux(&["send-keys", "-t", "=worker-1:", "Enter"]);
    world
        .until(10, "the shell to run a typed command", || {
            proof.exists().then_some(())
        })
        .await;

    ok(&master, "intercomm_teardown", json!({})).await;
    world.check_torn_down(&[]).await;
    let _ = master.cancel().await;
    world.finish();
}
