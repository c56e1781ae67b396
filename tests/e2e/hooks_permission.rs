//! Permissions as data, through the plugin's PermissionRequest hook: a
//! worker's Bash commands wait on the bus and the master's intercomm_approve
//! answers them, with no key sent to the worker's pane after boot (read from
//! the master's own tmux call log):
//! (a) `yes` runs the command; (b) `always` runs it and adds Claude Code's
//! suggested rule (to the local settings), so the
//! same command runs again without asking; (c) `no`
//! with a reason denies it, and the model reads the reason as the tool's
//! error result. Every decision is listed by `intercomm decisions`.
//! (d) The fallback: a second worker whose hook waits 3 s
//! (INTERCOMM_PERMISSION_WAIT) gets no decision in time; its dialog stays on
//! screen and approve answers it with keys, recorded as such.

use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::harness::*;

const ONCE: &str = "touch hooks-once.txt";
/// Not a file command: Claude Code suggests a permission rule for it (for
/// `touch` it suggests a mode switch to acceptEdits, which `always` skips).
const ALWAYS: &str = "node -e \"require('fs').writeFileSync('hooks-always.txt', 'x')\"";
const DENIED: &str = "rm -f hooks-once.txt";
const FALLBACK: &str = "touch hooks-fallback.txt";
const REASON: &str = "HOOKS-REASON: keep that file, the reviewer needs it";

fn bash(command: &str) -> Value {
    json!({"tool": "Bash", "input": {"command": command, "description": "Run a step"}})
}

fn rules() -> Value {
    json!({"rules": [
        {
            "name": "wake",
            "when": "You are worker (?P<id>worker-\\d+)\\.",
            "steps": [{"tool": tool("intercomm_register"), "input": {}}],
            "final": "E2E {{id}}: registered."
        },
        {
            "name": "perm",
            "when": "HOOKS-PERM",
            "steps": [bash(ONCE), bash(ALWAYS), bash(ALWAYS), bash(DENIED)],
            "final": "E2E: permission steps done."
        },
        {
            "name": "fallback",
            "when": "HOOKS-FALLBACK",
            "steps": [bash(FALLBACK)],
            "final": "E2E: fallback done."
        }
    ]})
}

async fn spawn_one(master: &Client, claude_cmd: &str) -> Value {
    ok(
        master,
        "intercomm_spawn",
        json!({"count": 1, "worktrees": true, "perm_mode": "default",
               "claude_cmd": claude_cmd, "ready_timeout": 90}),
    )
    .await
    .get("workers")
    .and_then(|w| w.get(0))
    .cloned()
    .unwrap_or_else(|| fail("spawn reported no worker"))
}

/// Waits for `id`'s request for `command` to wait on the bus; returns the
/// scan's view of it.
async fn waiting_for(master: &Client, id: &str, command: &str) -> Value {
    let pane = scan_until(master, id, "waiting", 60).await;
    let input = &pane["permission"]["input"]["command"];
    if input != command {
        fail(format!("{id} waits on {input}, not {command:?}: {pane}"));
    }
    pane
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_permission_answered_through_the_hook() {
    let world = World::new("hooks_permission", rules());
    install_plugin(&world);
    let master = world.master(&[]).await;
    let w1 = spawn_one(&master, &world.claude.display().to_string()).await;
    let tree1 = world.dir.join(".intercomm-worktrees/repo/worker-1");
    world
        .turn_done(&tree1, "You are worker worker-1.", 90)
        .await;
    world.idle("worker-1", 30).await;
    let pane1 = w1["pane"].as_str().unwrap_or_default().to_owned();
    let mark = world.tmux_log_mark();

    world.submit("worker-1", "HOOKS-PERM: run the steps").await;
    // (a) yes
    let seen = waiting_for(&master, "worker-1", ONCE).await;
    world.check(
        seen["permission"]["tool"] == "Bash"
            && seen["attention"].as_str().is_some_and(|a| a.contains(ONCE)),
        format!("scan shows the exact tool and input: {seen}"),
    );
    let status = ok(&master, "intercomm_status", json!({})).await;
    world.check(
        status["permission_requests"][0]["input"]["command"] == ONCE,
        format!("intercomm_status lists the pending request: {status}"),
    );
    let yes = ok(
        &master,
        "intercomm_approve",
        json!({"worker": "worker-1", "choice": "yes"}),
    )
    .await;
    world.check(
        yes["via"] == "hook" && yes["cleared"] == true,
        format!("approve yes went through the hook: {yes}"),
    );
    // (b) always
    let asked = waiting_for(&master, "worker-1", ALWAYS).await;
    eprintln!(
        "e2e hooks: suggestions for {ALWAYS}: {}",
        asked["permission"]["suggestions"]
    );
    let always = ok(
        &master,
        "intercomm_approve",
        json!({"worker": "worker-1", "choice": "always"}),
    )
    .await;
    world.check(
        always["via"] == "hook" && always["cleared"] == true,
        format!("approve always went through the hook: {always}"),
    );
    // (c) no, with a reason; the repeated ALWAYS command must not ask.
    let seen = waiting_for(&master, "worker-1", DENIED).await;
    let no = ok(
        &master,
        "intercomm_approve",
        json!({"worker": "worker-1", "choice": "no", "reason": REASON,
               "request_id": seen["permission"]["id"]}),
    )
    .await;
    world.check(
        no["via"] == "hook" && no["cleared"] == true,
        format!("approve no went through the hook: {no}"),
    );
    let done = world.turn_done(&tree1, "HOOKS-PERM", 60).await;
    let denied = done["result_texts"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| r["is_error"] == true && r["text"].as_str().is_some_and(|t| t.contains(REASON)));
    world.check(
        denied,
        format!(
            "the model read the reason as the tool's error: {}",
            done["result_texts"]
        ),
    );
    world.check(
        tree1.join("hooks-once.txt").exists(),
        "yes: the command did not run, or no: it ran",
    );
    world.check(
        tree1.join("hooks-always.txt").exists(),
        "always: the command did not run",
    );
    // Where the rule lands: the worktree's local settings (2.1.197), or the
    // main checkout's (2.1.332 wrote no worktree file; not yet located). That the repeated command ran
    // without asking is checked below (three requests for four calls).
    let local: String = [
        tree1.join(".claude/settings.local.json"),
        world.repo.join(".claude/settings.local.json"),
    ]
    .iter()
    .filter_map(|p| std::fs::read_to_string(p).ok())
    .collect();
    world.check(
        local.contains("Bash(node"),
        format!("always: no rule was added to the local settings: {local}"),
    );
    let sent = world.keys_sent(&pane1, mark);
    world.check(
        world.tmux_calls() > 0,
        "the master's tmux call log is empty",
    );
    world.check(
        sent.is_empty(),
        format!("keys were sent to worker-1's pane after boot: {sent:?}"),
    );

    // (d) the fallback: no decision within 3 s leaves the dialog on screen.
    let cmd2 = format!("env INTERCOMM_PERMISSION_WAIT=3 {}", world.claude.display());
    spawn_one(&master, &cmd2).await;
    let tree2 = world.dir.join(".intercomm-worktrees/repo/worker-2");
    world
        .turn_done(&tree2, "You are worker worker-2.", 90)
        .await;
    world.idle("worker-2", 30).await;
    world.submit("worker-2", "HOOKS-FALLBACK: run it").await;
    waiting_for(&master, "worker-2", FALLBACK).await;
    let blocked = scan_until(&master, "worker-2", "blocked", 30).await;
    world.check(
        blocked["permission"].is_null() && blocked["detail"] == FALLBACK,
        format!("after the wait, the dialog is on screen: {blocked}"),
    );
    let keys = ok(
        &master,
        "intercomm_approve",
        json!({"worker": "worker-2", "choice": "yes"}),
    )
    .await;
    world.check(
        keys["via"] == "keys" && keys["cleared"] == true,
        format!("approve answered the dialog with keys: {keys}"),
    );
    world.turn_done(&tree2, "HOOKS-FALLBACK", 60).await;
    world.check(
        tree2.join("hooks-fallback.txt").exists(),
        "fallback: the command did not run",
    );

    let listed = decisions(&world);
    let statuses: Vec<(String, String)> = listed
        .iter()
        .map(|r| {
            (
                r["status"].as_str().unwrap_or("").to_owned(),
                r["decision"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    world.check(
        statuses
            == [
                ("keys".to_owned(), "yes".to_owned()),
                ("delivered".to_owned(), "no".to_owned()),
                ("delivered".to_owned(), "always".to_owned()),
                ("delivered".to_owned(), "yes".to_owned()),
            ]
            && listed.iter().all(|r| r["decided_by"] == "master"),
        format!("intercomm decisions: {listed:?}"),
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

/// `intercomm decisions --json`, run against the world's bus.
fn decisions(world: &World) -> Vec<Value> {
    let out = Command::new(intercomm_bin())
        .args(["--json", "decisions"])
        .env("INTERCOMM_DB_ROOT", &world.repo)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| fail(format!("intercomm decisions: {e}")));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    v["requests"].as_array().cloned().unwrap_or_default()
}
