//! An idle Claude master woken by a worker's escalation through its wake
//! hook, with nothing typed into its pane: a real Claude Code master (the
//! plugin installed) in a pane registers and spawns one worker; once both
//! are idle and the master's `asyncRewake` hook is armed, the user makes the
//! worker escalate a question; the escalation result says the hook path
//! was used; the master's model is woken by the hook's notice (senders and
//! types only), reads the question and replies; no doorbell text ever
//! reached the master's model (its conversation's typed prompts).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::*;

const QUESTION: &str = "HOOKS-QUESTION: which port?";
const ANSWER: &str = "HOOKS-ANSWER: 8080";

fn rules(claude: &str) -> Value {
    json!({"rules": [
        {
            "name": "master",
            "when": "HOOKS-MASTER",
            "steps": [
                {"tool": tool("intercomm_register"), "input": {"role": "master"}},
                {"tool": tool("intercomm_spawn"), "input": {
                    "count": 1, "worktrees": true, "perm_mode": "default",
                    "claude_cmd": claude, "ready_timeout": 90}}
            ],
            "final": "E2E master: worker-1 spawned."
        },
        {
            "name": "woken",
            "when": "\\[intercomm\\] 1 new message\\(s\\) for master from worker-1 \\(question\\)",
            "vars": {"qid": "(?:HOOKS-QUESTION[^{}\\n]*?\"id\":\"|\\[msg_id: (?=[0-9a-f-]{36}\\][^\\n]*\\n│ [^\\n]*HOOKS-QUESTION))([0-9a-f-]{36})"},
            "steps": [
                {"tool": tool("intercomm_read"), "input": {}},
                {"tool": tool("intercomm_reply"), "input": {"message_id": "{{qid}}", "message": ANSWER}}
            ],
            "final": "E2E master: answered."
        },
        {
            "name": "wake",
            "when": "You are worker (?P<id>worker-\\d+)\\.",
            "steps": [{"tool": tool("intercomm_register"), "input": {}}],
            "final": "E2E {{id}}: registered."
        },
        {
            "name": "escalate",
            "when": "HOOKS-ESCALATE",
            "steps": [{"tool": tool("intercomm_escalate"), "input": {"message": QUESTION, "kind": "question"}}],
            "final": "E2E worker: escalated."
        }
    ]})
}

/// The master's wake hook is armed (its row on the bus, not expired).
fn master_armed(world: &World) -> bool {
    let Ok(conn) = rusqlite::Connection::open(world.repo.join(".intercomm-aimfp/intercomm.db"))
    else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    conn.query_row(
        "SELECT expires_at > ?1 FROM wake_hooks WHERE id = 'master'",
        [now],
        |r| r.get::<_, bool>(0),
    )
    .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_master_woken_by_escalation() {
    let claude = claude_bin().display().to_string();
    let world = World::new("hooks_master", rules(&claude));
    install_plugin(&world);
    world
        .start_master(&[&claude, "--permission-mode", "acceptEdits"], false)
        .await;
    world
        .submit(
            "master",
            "HOOKS-MASTER: you are the master; spawn one worker.",
        )
        .await;
    world.turn_done(&world.repo, "HOOKS-MASTER", 150).await;
    let tree = world.dir.join(".intercomm-worktrees/repo/worker-1");
    world.turn_done(&tree, "You are worker worker-1.", 90).await;
    world.idle("worker-1", 30).await;
    world.idle("master", 30).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !master_armed(&world) {
        if Instant::now() > deadline {
            fail("the master's wake hook was never armed");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    world
        .submit("worker-1", "HOOKS-ESCALATE: ask the master")
        .await;
    let asked = world.turn_done(&tree, "HOOKS-ESCALATE", 60).await;
    let esc = asked["result_texts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["tool"] == tool("intercomm_escalate").as_str())
        .and_then(|r| serde_json::from_str::<Value>(r["text"].as_str().unwrap_or("")).ok())
        .unwrap_or(Value::Null);
    world.check(
        esc["woke"] == true
            && esc["reason"]
                .as_str()
                .is_some_and(|r| r.contains("through its hook")),
        format!("the escalation rang the master through its hook: {esc}"),
    );
    let answered = world
        .turn_done(&world.repo, "new message(s) for master from worker-1", 60)
        .await;
    world.check(
        answered["result_texts"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["tool"] == tool("intercomm_reply").as_str() && r["is_error"] == false),
        format!("the woken master replied: {}", answered["result_texts"]),
    );
    let typed: Vec<Value> = answered["typed"].as_array().cloned().unwrap_or_default();
    world.check(
        typed
            .iter()
            .all(|t| t.as_str().is_some_and(|t| !t.contains("[intercomm]"))),
        format!("a doorbell was typed into the master's pane: {typed:?}"),
    );
    world.check(
        !answered["prompt"].as_str().unwrap_or("").contains(QUESTION),
        "the hook's notice relayed the question's content",
    );
    world.finish();
}
