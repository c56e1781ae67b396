//! Wake without typing, and contracts that survive compaction, through the
//! plugin's hooks: an idle worker whose `asyncRewake` wake hook is armed
//! (scan shows `wake_hook`) is woken by the master's intercomm_assign with
//! no key sent to its pane (the master's own tmux call log); its model
//! reads the hook's notice and calls intercomm_read; the assign result says
//! the hook path was used and verified. Then the user compacts the worker
//! (`/compact`, answered by the stand-in model): the next model request
//! carries the worker's task contract, restored by the SessionStart hook.

use serde_json::{Value, json};

use crate::harness::*;

const SLUG: &str = "task-hooks-contract-marker";

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
            "when": "\\[intercomm\\] 1 new message\\(s\\) for (?P<id>worker-\\d+) from master \\(task\\)",
            "steps": [{"tool": tool("intercomm_read"), "input": {}}],
            "final": "E2E {{id}}: read the task."
        },
        {
            "name": "after",
            "when": "HOOKS-AFTER",
            "steps": [],
            "final": "E2E: carried on after compaction."
        }
    ]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_wake_by_assign_and_contract_after_compact() {
    let world = World::new("hooks_wake", rules());
    install_plugin(&world);
    let master = world.master(&[]).await;
    let out = ok(
        &master,
        "intercomm_spawn",
        json!({"count": 1, "worktrees": true, "perm_mode": "default",
               "claude_cmd": world.claude.display().to_string(), "ready_timeout": 90}),
    )
    .await;
    let pane = spawned(&out, "worker-1")["pane"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let tree = world.dir.join(".intercomm-worktrees/repo/worker-1");
    world.turn_done(&tree, "You are worker worker-1.", 90).await;
    world.idle("worker-1", 30).await;
    // Armed by the Stop hook of the registration turn, moments after it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let view = scan_until(&master, "worker-1", "ready", 30).await;
        if view["wake_hook"] == true {
            break;
        }
        if std::time::Instant::now() > deadline {
            fail(format!("worker-1's wake hook was never armed: {view}"));
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let mark = world.tmux_log_mark();

    let assigned = ok(
        &master,
        "intercomm_assign",
        json!({"worker": "worker-1", "target_type": "task", "target_slug": SLUG,
               "role_instructions": "Run the hooks scenario."}),
    )
    .await;
    world.check(
        assigned["woke"] == true
            && assigned["note"]
                .as_str()
                .is_some_and(|n| n.contains("through its hook") && n.contains("verified")),
        format!("assign woke the worker through its hook, verified: {assigned}"),
    );
    let read = world
        .turn_done(&tree, "new message(s) for worker-1 from master (task)", 60)
        .await;
    world.check(
        read["result_texts"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["text"].as_str().is_some_and(|t| t.contains(SLUG))),
        format!(
            "the woken model read its contract: {}",
            read["result_texts"]
        ),
    );
    let sent = world.keys_sent(&pane, mark);
    world.check(
        world.tmux_calls() > 0,
        "the master's tmux call log is empty",
    );
    world.check(
        sent.is_empty(),
        format!("keys were sent to worker-1's pane after boot: {sent:?}"),
    );

    // Compaction: the user compacts; the next request carries the contract.
    world.idle("worker-1", 30).await;
    world.submit("worker-1", "/compact").await;
    world.idle("worker-1", 60).await;
    world.submit("worker-1", "HOOKS-AFTER: carry on").await;
    world.turn_done(&tree, "HOOKS-AFTER", 60).await;
    let bodies = std::fs::read_to_string(world.dir.join("bodies.jsonl")).unwrap_or_default();
    let after = bodies
        .lines()
        .rfind(|l| l.contains("HOOKS-AFTER"))
        .unwrap_or_default();
    world.check(
        after.contains("intercomm restored after this conversation was compacted")
            && after.contains(SLUG),
        "the first request after /compact does not carry the worker's contract",
    );

    ok(
        &master,
        "intercomm_teardown",
        json!({"worktrees": true, "force": true}),
    )
    .await;
    let _ = master.cancel().await;
    world.finish();
}
