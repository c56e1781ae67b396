//! Scenario 5, escalation: a second real Claude Code is the master, in a pane
//! of the private tmux server. Told so by the test (typing as the user), its
//! model registers it as master, spawns a worker and assigns it a task; the
//! worker's model escalates a question; the master's pane receives the
//! escalation doorbell exactly once (proved by the model's request log), and
//! its model reads the question and replies.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::*;

const QUESTION: &str = "E2E-QUESTION: which port should the server listen on?";
const ANSWER: &str = "E2E-ANSWER: 8080";

fn rules(claude: &str) -> Value {
    json!({"rules": [
        {
            "name": "master",
            "when": "E2E-MASTER",
            "steps": [
                {"tool": "mcp__intercomm__intercomm_register", "input": {"role": "master"}},
                {"tool": "mcp__intercomm__intercomm_spawn", "input": {
                    "count": 1, "worktrees": true, "perm_mode": "acceptEdits",
                    "claude_cmd": claude, "ready_timeout": 90}},
                {"tool": "mcp__intercomm__intercomm_assign", "input": {
                    "worker": "worker-1", "target_type": "task", "target_slug": "task-e2e-escalation",
                    "role_instructions": "Ask the master which port to use before you start."}}
            ],
            "final": "E2E master: worker-1 spawned and assigned."
        },
        {
            "name": "escalation",
            "when": "Escalation from (?P<w>worker-\\d+)",
            "vars": {"qid": "(?:E2E-QUESTION[^{}\\n]*?\"id\":\"|\\[msg_id: (?=[0-9a-f-]{36}\\][^\\n]*\\n│ [^\\n]*E2E-QUESTION))([0-9a-f-]{36})"},
            "steps": [
                {"tool": "mcp__intercomm__intercomm_read", "input": {}},
                {"tool": "mcp__intercomm__intercomm_reply", "input": {"message_id": "{{qid}}", "message": ANSWER}}
            ],
            "final": "E2E master: answered {{w}}."
        },
        {
            "name": "teardown",
            "when": "E2E-TEARDOWN",
            "steps": [
                {"tool": "mcp__intercomm__intercomm_teardown", "input": {"worktrees": true, "force": true}}
            ],
            "final": "E2E master: fleet torn down."
        },
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
            "name": "task",
            "when": "New task from the master",
            "steps": [
                {"tool": "mcp__intercomm__intercomm_read", "input": {}},
                {"tool": "mcp__intercomm__intercomm_escalate", "input": {"message": QUESTION, "kind": "question"}}
            ],
            "final": "E2E worker: escalated; waiting for the master."
        }
    ]})
}

/// A tool's result in a finished turn, parsed as JSON when it is JSON.
fn result_of(turn: &Value, tool: &str) -> Value {
    let r = turn["result_texts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["tool"] == tool)
        .cloned()
        .unwrap_or(Value::Null);
    let text = r["text"].as_str().unwrap_or_default();
    serde_json::from_str(text).unwrap_or_else(|_| json!({"text": text, "is_error": r["is_error"]}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalation_rings_a_real_claude_master_once() {
    let claude = claude_bin().display().to_string();
    let world = World::new("escalation", rules(&claude));
    world
        .start_master(&[&claude, "--permission-mode", "acceptEdits"], true)
        .await;
    world
        .submit(
            "master",
            "E2E-MASTER: you are the master. Spawn one worker and give it its task.",
        )
        .await;

    let setup = world.turn_done(&world.repo, "E2E-MASTER", 120).await;
    let reg = result_of(&setup, "mcp__intercomm__intercomm_register");
    world.check(
        reg["id"] == "master",
        format!("the Claude master did not register as master: {reg}"),
    );
    world.check(
        reg["pane"].is_string(),
        format!("the master registered without its pane: {reg}"),
    );
    let spawn = result_of(&setup, "mcp__intercomm__intercomm_spawn");
    let worktree = world.dir.join(".intercomm-worktrees/repo/worker-1");
    let worker = spawn["workers"]
        .as_array()
        .and_then(|w| w.first())
        .cloned()
        .unwrap_or(Value::Null);
    world.check(
        worker["id"] == "worker-1",
        format!("the master's spawn: {spawn}"),
    );
    let assign = result_of(&setup, "mcp__intercomm__intercomm_assign");
    world.check(
        assign["worker"] == "worker-1",
        format!("the master's assign: {assign}"),
    );

    world
        .turn_done(&worktree, "You are worker worker-1.", 90)
        .await;
    if worker.is_object() {
        check_spawned(&world, &spawn, "worker-1", &worktree).await;
    }
    let task = world
        .turn_done(&worktree, "New task from the master", 90)
        .await;
    let esc = result_of(&task, "mcp__intercomm__intercomm_escalate");
    world.check(
        esc["woke"] == true,
        format!("escalate did not ring the master: {esc}"),
    );

    // The master's pane got the doorbell, exactly once, and its model
    // answered the question.
    let bell = "[intercomm] Escalation from worker-1 (question): call intercomm_read, answer with intercomm_send, then intercomm_wake it.";
    let answered = world
        .turn_done(&world.repo, "Escalation from worker-1", 90)
        .await;
    let reply = result_of(&answered, "mcp__intercomm__intercomm_reply");
    world.check(
        reply["to"] == "worker-1",
        format!("the master's reply: {reply}"),
    );
    world.idle("master", 30).await;
    tokio::time::sleep(Duration::from_secs(2)).await; // room for a duplicate to show
    let starts = world.turn_starts(&world.repo, "Escalation from");
    world.check(
        starts.len() == 1,
        format!(
            "the escalation doorbell started {} turns of the master",
            starts.len()
        ),
    );
    world.check(
        starts.iter().all(|s| s["prompt"] == bell),
        format!(
            "the master's model received {:?} (want {bell:?})",
            starts
                .iter()
                .map(|s| s["prompt"].clone())
                .collect::<Vec<_>>()
        ),
    );
    let last = world.turns(&world.repo).pop().unwrap_or(Value::Null);
    let copies = last["typed"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t.as_str().is_some_and(|t| t.contains("Escalation from")))
        .count();
    world.check(
        copies == 1,
        format!("the master's conversation holds the doorbell {copies} times"),
    );

    // The Claude master tears its fleet down.
    world
        .submit(
            "master",
            "E2E-TEARDOWN: stop the workers and remove their worktrees.",
        )
        .await;
    let down = world.turn_done(&world.repo, "E2E-TEARDOWN", 60).await;
    let torn = result_of(&down, "mcp__intercomm__intercomm_teardown");
    world.check(
        torn["killed"] == json!(["worker-1"]),
        format!("the master's teardown: {torn}"),
    );
    world.check(!worktree.exists(), "worker-1's worktree is still there");
    world.check_torn_down(&["master"]).await;
    world.finish();
}
