//! Scenario 6, ask: the master (rmcp client) calls intercomm_ask to a real
//! worker; the ask rings the worker's pane; the model makes the worker read
//! the question and answer with intercomm_reply; the ask returns that answer
//! within its wait.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::*;

const ANSWER: &str = "E2E-ANSWER: forty-two";

fn rules() -> Value {
    json!({"rules": [
        {
            "name": "wake",
            "when": "You are worker (?P<id>worker-\\d+)\\.",
            "steps": [
                {"tool": "mcp__intercomm__intercomm_register", "input": {}},
                {"tool": "mcp__intercomm__intercomm_read", "input": {}}
            ],
            "final": "E2E {{id}}: registered."
        },
        {
            "name": "question",
            "when": "Question from master",
            // The question's id, from intercomm_read's result: its JSON
            // (what Claude Code shows the model) or its text form.
            "vars": {"qid": "(?:E2E-ASK[^{}\\n]*?\"id\":\"|\\[msg_id: (?=[0-9a-f-]{36}\\][^\\n]*\\n│ [^\\n]*E2E-ASK))([0-9a-f-]{36})"},
            "steps": [
                {"tool": "mcp__intercomm__intercomm_read", "input": {}},
                {"tool": "mcp__intercomm__intercomm_reply", "input": {"message_id": "{{qid}}", "message": ANSWER}}
            ],
            "final": "E2E: answered."
        }
    ]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_returns_the_workers_reply() {
    let world = World::new("ask", rules());
    let master = world.master(&[]).await;
    let worktree = world.dir.join(".intercomm-worktrees/repo/worker-1");
    let out = ok(
        &master,
        "intercomm_spawn",
        json!({"count": 1, "worktrees": true, "claude_cmd": world.claude.display().to_string(), "ready_timeout": 90}),
    )
    .await;
    world
        .turn_done(&worktree, "You are worker worker-1.", 90)
        .await;
    check_spawned(&world, &out, "worker-1", &worktree).await;
    world.idle("worker-1", 30).await;

    let started = std::time::Instant::now();
    let asked = ok(
        &master,
        "intercomm_ask",
        json!({"to": "worker-1", "question": "E2E-ASK: what is six times seven?", "wait_seconds": 60}),
    )
    .await;
    let took = started.elapsed();
    eprintln!(
        "e2e ask: answered in {:.1} s ({})",
        took.as_secs_f64(),
        asked["delivery"]
    );
    world.check(
        asked["answered"] == true,
        format!("no answer within the wait: {asked}"),
    );
    world.check(
        asked["answer"]["content"] == ANSWER,
        format!("answer {}", asked["answer"]),
    );
    world.check(
        asked["answer"]["from"] == "worker-1",
        format!("answer from {}", asked["answer"]["from"]),
    );
    world.check(
        asked["answer"]["in_reply_to"] == asked["question_id"],
        format!("answer not threaded to the question: {asked}"),
    );
    world.check(
        took < Duration::from_secs(60),
        format!("the ask took {took:?}"),
    );
    world.check(
        asked["delivery"]
            .as_str()
            .is_some_and(|d| d.starts_with("rang")),
        format!(
            "the ask did not ring the idle worker: {}",
            asked["delivery"]
        ),
    );
    let bell =
        "[intercomm] Question from master: call intercomm_read and answer with intercomm_reply.";
    let starts = world.turn_starts(&worktree, "Question from master");
    world.check(
        starts.len() == 1,
        format!("the question doorbell started {} turns", starts.len()),
    );
    world.check(
        starts.iter().all(|s| s["prompt"] == bell),
        format!(
            "the doorbell reached the model as {:?}",
            starts
                .iter()
                .map(|s| s["prompt"].clone())
                .collect::<Vec<_>>()
        ),
    );

    ok(
        &master,
        "intercomm_teardown",
        json!({"worktrees": true, "force": true}),
    )
    .await;
    world.check_torn_down(&[]).await;
    let _ = master.cancel().await;
    world.finish();
}
