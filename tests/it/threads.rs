//! Beyond the original: replies, ask, summaries, respawn, inbox hygiene.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::stand_in::Fleet;
use crate::support::*;

#[tokio::test]
async fn replies_go_to_the_sender_with_a_thread_link() -> TestResult {
    let project = Project::plain()?;
    let master = project.client().await?;
    register(&master, "master").await?;
    let w1 = project.client().await?;
    register(&w1, "worker").await?;
    let w2 = project.client().await?;
    register(&w2, "worker").await?;

    let q = ok(
        &master,
        "intercomm_send",
        json!({"to": "worker-1", "type": "question", "message": "which base?"}),
    )
    .await?;
    let qid = q["message_id"].as_str().ok_or("id")?;
    let r = ok(
        &w1,
        "intercomm_reply",
        json!({"message_id": qid, "message": "main"}),
    )
    .await?;
    assert_eq!(r["to"], "master");
    assert_eq!(r["type"], "answer");
    let got = ok(&master, "intercomm_read", json!({})).await?;
    assert_eq!(got["messages"][0]["in_reply_to"], qid);
    assert_eq!(got["messages"][0]["content"], "main");
    let shown = text(&call(&master, "intercomm_read", json!({"all": true})).await?);
    assert!(shown.contains(&format!("[in_reply_to: {qid}]")), "{shown}");

    let b = ok(
        &master,
        "intercomm_broadcast",
        json!({"message": "freeze at 5pm"}),
    )
    .await?;
    let bid = b["message_id"].as_str().ok_or("id")?;
    let r = ok(
        &w2,
        "intercomm_reply",
        json!({"message_id": bid, "message": "ack", "type": "status"}),
    )
    .await?;
    assert_eq!(
        r["to"], "master",
        "a reply to a broadcast goes to its sender"
    );

    let e = err(
        &w2,
        "intercomm_reply",
        json!({"message_id": qid, "message": "me too"}),
    )
    .await?;
    assert!(
        e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("not to you"),
        "{e}"
    );
    let e = err(
        &w2,
        "intercomm_reply",
        json!({"message_id": "nope", "message": "x"}),
    )
    .await?;
    assert!(
        e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("`message_id`"),
        "{e}"
    );
    Ok(())
}

/// ask blocks until the answer arrives, across processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_returns_the_answer_in_time() -> TestResult {
    let project = Project::plain()?;
    let master = project.process().await?;
    register(&master, "master").await?;
    let worker = project.process().await?;
    register(&worker, "worker").await?;
    let answerer = async {
        for _ in 0..100 {
            let r = ok(&worker, "intercomm_read", json!({})).await?;
            if let Some(m) = r["messages"].as_array().and_then(|a| a.first()).cloned() {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let id = m["id"].as_str().ok_or("id")?.to_owned();
                ok(
                    &worker,
                    "intercomm_reply",
                    json!({"message_id": id, "message": "use main"}),
                )
                .await?;
                return TestResult::Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err("the question never arrived".into())
    };
    let started = Instant::now();
    let (asked, answered) = tokio::join!(
        ok(
            &master,
            "intercomm_ask",
            json!({"to": "worker-1", "question": "which base?", "wait_seconds": 20})
        ),
        answerer
    );
    answered?;
    let asked = asked?;
    assert_eq!(asked["answered"], true, "{asked}");
    assert_eq!(asked["answer"]["content"], "use main");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "returned soon after the reply"
    );
    Ok(())
}

#[tokio::test]
async fn an_unanswered_ask_times_out_and_the_late_answer_is_readable() -> TestResult {
    let project = Project::plain()?;
    let (master, worker) = master_and_worker(&project).await?;
    let asked = ok(
        &master,
        "intercomm_ask",
        json!({"to": "worker-1", "question": "still there?", "wait_seconds": 1}),
    )
    .await?;
    assert_eq!(asked["answered"], false);
    let qid = asked["question_id"].as_str().ok_or("id")?.to_owned();
    assert!(text(&call(&master, "intercomm_status", json!({})).await?).contains("worker-1"));
    ok(
        &worker,
        "intercomm_reply",
        json!({"message_id": qid, "message": "yes"}),
    )
    .await?;
    let r = ok(&master, "intercomm_read", json!({})).await?;
    assert_eq!(r["messages"][0]["in_reply_to"], qid);
    let e = err(
        &master,
        "intercomm_ask",
        json!({"to": "worker-1", "question": "x", "wait_seconds": 601}),
    )
    .await?;
    assert!(
        e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("`wait_seconds`")
    );
    Ok(())
}

#[tokio::test]
async fn summaries_show_in_status_and_fall_back_to_the_task() -> TestResult {
    let project = Project::plain()?;
    let master = project.client().await?;
    register(&master, "master").await?;
    let w1 = project.client().await?;
    register(&w1, "worker").await?;
    let w2 = project.client().await?;
    register(&w2, "worker").await?;
    ok(
        &w1,
        "intercomm_set_summary",
        json!({"text": "porting the  parser\nto nom"}),
    )
    .await?;
    ok(&master, "intercomm_assign", json!({"worker": "worker-2", "role_instructions": "x", "target_type": "task", "target_slug": "task-lexer"})).await?;
    let status = ok(&master, "intercomm_status", json!({})).await?;
    let summary = |id: &str| -> Value {
        status["instances"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| i["id"] == id)
            .map(|i| i["summary"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(summary("worker-1"), "porting the parser to nom");
    assert_eq!(summary("worker-2"), "task: slug=task-lexer");
    let e = err(
        &w1,
        "intercomm_set_summary",
        json!({"text": "x".repeat(201)}),
    )
    .await?;
    assert!(e["message"].as_str().unwrap_or_default().contains("200"));
    Ok(())
}

/// A recipient that does not read cannot pile up mail without bound.
#[tokio::test]
async fn a_full_inbox_refuses_more_mail() -> TestResult {
    let project = Project::plain()?;
    let master = project.client().await?;
    register(&master, "master").await?;
    let worker = project
        .process_with(&[("INTERCOMM_MAX_BACKLOG", "5")])
        .await?;
    register(&worker, "worker").await?;
    for n in 0..5 {
        ok(
            &worker,
            "intercomm_send",
            json!({"to": "master", "message": format!("m{n}")}),
        )
        .await?;
    }
    let e = err(
        &worker,
        "intercomm_send",
        json!({"to": "master", "message": "one too many"}),
    )
    .await?;
    assert_eq!(e["code"], "backlog_full");
    ok(&master, "intercomm_read", json!({})).await?;
    ok(
        &worker,
        "intercomm_send",
        json!({"to": "master", "message": "room again"}),
    )
    .await?;
    Ok(())
}

/// Read mail past the retention age goes at the next registration; unread
/// mail of an active instance stays, however old.
#[tokio::test]
async fn old_read_mail_is_pruned_and_unread_mail_kept() -> TestResult {
    let project = Project::plain()?;
    let (master, worker) = master_and_worker(&project).await?;
    for n in 0..3 {
        ok(
            &worker,
            "intercomm_send",
            json!({"to": "master", "message": format!("old {n}")}),
        )
        .await?;
    }
    ok(&master, "intercomm_read", json!({})).await?;
    ok(
        &master,
        "intercomm_send",
        json!({"to": "worker-1", "message": "old but unread"}),
    )
    .await?;
    project.bus()?.conn().execute(
        "UPDATE messages SET ts = ts - CAST(30 AS BIGINT) * 86400000",
        &[],
    )?;
    let late = project.client().await?;
    register(&late, "worker").await?;
    let left: Vec<String> =
        project
            .bus()?
            .conn()
            .query("SELECT content FROM messages ORDER BY seq", &[], |r| {
                r.get(0)
            })?;
    assert_eq!(left, ["old but unread"]);
    Ok(())
}

/// Respawn keeps the worker's id and worktree, resumes its Claude session,
/// wakes it once its new intercomm MCP server is connected, and refuses
/// while Claude still runs.
#[tokio::test]
async fn respawn_restarts_a_dead_worker_under_its_id() -> TestResult {
    let (f, r, argv) = respawn_after_session("0b9a0e4c-1d2e-4f3a-8b5c-6d7e8f9a0b1c").await?;
    assert_eq!(r["id"], "worker-1");
    assert_eq!(r["resumed"], "0b9a0e4c-1d2e-4f3a-8b5c-6d7e8f9a0b1c");
    assert_eq!(r["state"], "ready", "{r}");
    assert_eq!(r["woken"], true);
    assert_eq!(r["unread"], 1);
    assert_eq!(
        argv.last().and_then(Value::as_str),
        Some("--resume=0b9a0e4c-1d2e-4f3a-8b5c-6d7e8f9a0b1c"),
        "{argv:?}"
    );
    let log = f.logs().join("worker-1.jsonl");
    let starts: Vec<Value> = fake_log(&log)
        .into_iter()
        .filter(|e| e["event"] == "start")
        .collect();
    assert_eq!(
        starts[1]["cwd"],
        f.project
            .paths()
            .worktree_path("worker-1")
            .display()
            .to_string()
    );
    assert_eq!(starts[1]["env"]["INTERCOMM_WORKER_ID"], "worker-1");
    assert!(
        submitted(&log)
            .iter()
            .any(|t| t.contains("restarted as worker worker-1"))
    );
    Ok(())
}

/// Finding 2 of #14: a session id from a hook payload that is not a UUID
/// (here, a flag) never reaches Claude's argv; the worker starts a new
/// conversation instead.
#[tokio::test]
async fn respawn_never_passes_a_hook_session_id_as_a_flag() -> TestResult {
    let (_f, r, argv) = respawn_after_session("--permission-mode=bypassPermissions").await?;
    assert_eq!(r["resumed"], Value::Null, "{r}");
    assert!(
        !argv.iter().any(|a| a
            .as_str()
            .is_some_and(|a| a.contains("bypassPermissions") || a.starts_with("--resume"))),
        "{argv:?}"
    );
    Ok(())
}

/// Spawns worker-1, records `session` as its Claude session id through the
/// SessionStart hook, leaves one message for it, makes Claude exit, and
/// respawns it: the fleet, the respawn result, and the second start's argv.
async fn respawn_after_session(session: &str) -> TestResult<(Fleet, Value, Vec<Value>)> {
    let f = Fleet::new().await?;
    let fake = f.fake("");
    let cmd = format!(
        "sh -c {}",
        shell_words::quote(&format!("{fake} \"$@\"; exec sh"))
    );
    let cmd = format!("{cmd} sh");
    let out = f
        .spawn(json!({"count": 1, "worktrees": true, "wake": false, "claude_cmd": cmd}))
        .await?;
    let pane = out["workers"][0]["pane"].as_str().ok_or("pane")?.to_owned();
    let e = err(
        &f.master,
        "intercomm_respawn",
        json!({"worker": "worker-1"}),
    )
    .await?;
    assert_eq!(e["code"], "worker_alive", "Claude still runs: {e}");

    // Claude's SessionStart hook told the bus its session id; then Claude exits.
    f.project
        .cli()
        .args(["hook", "SessionStart"])
        .env("INTERCOMM_WORKER_ID", "worker-1")
        .write_stdin(json!({"session_id": session, "hook_event_name": "SessionStart"}).to_string())
        .assert()
        .success();
    ok(
        &f.master,
        "intercomm_send",
        json!({"to": "worker-1", "message": "waiting for you"}),
    )
    .await?;
    f.server.run(&["send-keys", "-t", &pane, "-l", "/exit"])?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    f.server.run(&["send-keys", "-t", &pane, "Enter"])?;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let r = ok(
        &f.master,
        "intercomm_respawn",
        json!({"worker": "worker-1"}),
    )
    .await?;
    let log = f.logs().join("worker-1.jsonl");
    let starts: Vec<Value> = fake_log(&log)
        .into_iter()
        .filter(|e| e["event"] == "start")
        .collect();
    assert_eq!(starts.len(), 2);
    let argv = starts[1]["argv"].as_array().cloned().unwrap_or_default();
    Ok((f, r, argv))
}
