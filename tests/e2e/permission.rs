//! Scenario 2, a permission prompt: a worker in `default` mode runs a Bash
//! command that no allow rule covers; Claude Code asks; intercomm_scan
//! reports the worker blocked with that command; intercomm_approve(yes)
//! answers it; the command ran.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::*;

const COMMAND: &str = "touch approved-by-master.txt";

fn rules() -> Value {
    json!({"rules": [
        register_rule(),
        {
            "name": "permission",
            "when": "PERMISSION-CHECK",
            "steps": [{"tool": "Bash", "input": {"command": COMMAND, "description": "Create the marker file"}}],
            "final": "E2E: the command ran."
        }
    ]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_prompt_is_scanned_and_approved() {
    let world = World::new("permission", rules());
    let master = world.master(&[]).await;
    let worktree = world.dir.join(".intercomm-worktrees/repo/worker-1");
    let out = ok(
        &master,
        "intercomm_spawn",
        json!({"count": 1, "worktrees": true, "perm_mode": "default",
               "claude_cmd": world.claude.display().to_string(), "ready_timeout": 90}),
    )
    .await;
    world
        .turn_done(&worktree, "You are worker worker-1.", 90)
        .await;
    check_spawned(&world, &out, "worker-1", &worktree).await;
    world.idle("worker-1", 30).await;

    let marker = worktree.join("approved-by-master.txt");
    let rung = ok(
        &master,
        "intercomm_wake",
        json!({"worker": "worker-1", "message": "PERMISSION-CHECK: create the marker file"}),
    )
    .await;
    // Claude Code must now wait on the Bash prompt until the master answers.
    // If the command runs first, something else answered the prompt.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let pane = loop {
        let scan = call(&master, "intercomm_scan", json!({})).await;
        let pane = scan.structured_content.clone().unwrap_or(Value::Null)["panes"][0].clone();
        if pane["state"] == "blocked" {
            eprintln!("e2e: intercomm_scan -> {}", short(&text(&scan), 400));
            break pane;
        }
        let ran = world.turns(&worktree).iter().any(|r| {
            r["prompt"]
                .as_str()
                .is_some_and(|p| p.contains("PERMISSION-CHECK"))
                && r["result_texts"].to_string().contains("\"tool\":\"Bash\"")
        });
        if ran || marker.exists() {
            world.check(
                false,
                format!(
                    "the Bash permission prompt was answered before intercomm_scan ever saw worker-1 \
                     blocked: the command ran without the master's approval (intercomm_wake: {} Enter(s), \
                     {} ms; a retry Enter lands on a prompt that appeared meanwhile, whose default is Yes)",
                    rung["enters"], rung["millis"]
                ),
            );
            world.finish();
        }
        if std::time::Instant::now() > deadline {
            fail(format!(
                "timed out waiting for intercomm_scan to show worker-1 blocked: {}",
                text(&scan)
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    world.check(
        pane["tool"] == "Bash",
        format!("scan: blocked on tool {} (want Bash)", pane["tool"]),
    );
    world.check(
        pane["detail"] == COMMAND,
        format!("scan: blocked on {} (want {COMMAND:?})", pane["detail"]),
    );
    let attention = pane["attention"].as_str().unwrap_or_default();
    world.check(
        attention.contains("blocked") && attention.contains(COMMAND),
        format!("scan: attention {attention:?} does not name the command"),
    );
    let labels: Vec<&str> = pane["options"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["label"].as_str())
        .collect();
    world.check(
        labels.first() == Some(&"Yes") && labels.iter().any(|l| l.starts_with("No")),
        format!("scan: options {labels:?}"),
    );
    world.check(!marker.exists(), "the command ran before it was approved");

    let approved = ok(
        &master,
        "intercomm_approve",
        json!({"worker": "worker-1", "choice": "yes"}),
    )
    .await;
    world.check(
        approved["before"] == "blocked",
        format!("approve: before {}", approved["before"]),
    );
    world.check(
        approved["cleared"] == true,
        format!("approve did not clear the prompt: {approved}"),
    );
    world.check(
        approved["option"] == "Yes",
        format!("approve chose {}", approved["option"]),
    );
    world.check(
        approved["detail"] == COMMAND,
        format!("approve: detail {}", approved["detail"]),
    );

    let done = world.turn_done(&worktree, "PERMISSION-CHECK", 60).await;
    let bash = done["result_texts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["tool"] == "Bash")
        .cloned();
    world.check(
        bash.as_ref().is_some_and(|r| r["is_error"] == false),
        format!("the Bash tool result was an error or missing: {bash:?}"),
    );
    world
        .until(10, "the marker file", || marker.exists().then_some(()))
        .await;
    let starts = world.turn_starts(&worktree, "PERMISSION-CHECK");
    world.check(
        starts.len() == 1,
        format!("the wake started {} turns", starts.len()),
    );
    world.idle("worker-1", 30).await;
    let after = scan_until(&master, "worker-1", "ready", 30).await;
    world.check(
        after["attention"].is_null(),
        format!("after approval scan still wants attention: {after}"),
    );

    let down = ok(
        &master,
        "intercomm_teardown",
        json!({"worktrees": true, "force": true}),
    )
    .await;
    world.check(
        down["killed"] == json!(["worker-1"]),
        format!("teardown: {down}"),
    );
    world.check_torn_down(&[]).await;
    let _ = master.cancel().await;
    world.finish();
}
