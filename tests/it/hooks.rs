//! `intercomm hook <Event>` with the payloads Claude Code 2.1.197 sent
//! (tests/fixtures/hooks, recorded by scripts/capture-hooks), through the
//! real binary: states reach the bus, mail is delivered once at Stop, and
//! nothing a hook is given can break the session (always exit 0).

use std::path::Path;

use serde_json::Value;

use crate::support::*;

fn payload(event: &str) -> String {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/hooks/{event}.json"));
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The Claude Code session id of the recorded payloads.
fn recorded_session() -> TestResult<String> {
    let start: Value = serde_json::from_str(&payload("SessionStart"))?;
    let id = start["session_id"].as_str().ok_or("no session_id")?;
    for event in ["UserPromptSubmit", "PreToolUse", "Stop", "SessionEnd"] {
        let p: Value = serde_json::from_str(&payload(event))?;
        assert_eq!(p["session_id"], id, "{event} is from another session");
    }
    Ok(id.to_owned())
}

/// Runs the hook as worker `id` would (its id in the environment; a
/// PermissionRequest does not wait for the master here).
fn hook(project: &Project, id: &str, event: &str, input: &str) -> (Option<Value>, String) {
    let out = project
        .cli()
        .args(["hook", event])
        .env("INTERCOMM_WORKER_ID", id)
        .env("INTERCOMM_PERMISSION_WAIT", "0")
        .env_remove("TMUX_PANE")
        .env_remove("INTERCOMM_HOOK_MAIL")
        .write_stdin(input)
        .assert()
        .success();
    let o = out.get_output();
    let stdout = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    (
        serde_json::from_str(&stdout).ok(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn hook_state(project: &Project, id: &str) -> TestResult<(String, String, String)> {
    Ok(project.bus()?.conn().query_one(
        "SELECT state, detail, claude_session FROM hook_states WHERE id = ?1",
        intercomm::bus::store::args![id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?)
}

fn setup() -> TestResult<Project> {
    let project = Project::plain()?;
    project.register_master_and_worker();
    Ok(project)
}

#[test]
fn every_event_records_the_workers_state() -> TestResult {
    let project = setup()?;
    let session = recorded_session()?;
    let (out, _) = hook(
        &project,
        "worker-1",
        "SessionStart",
        &payload("SessionStart"),
    );
    let note = out
        .as_ref()
        .map(|v| v["hookSpecificOutput"]["additionalContext"].to_string())
        .unwrap_or_default();
    assert!(note.contains("intercomm_register"), "{out:?}");
    assert_eq!(hook_state(&project, "worker-1")?.0, "ready");
    assert_eq!(hook_state(&project, "worker-1")?.2, session);
    hook(
        &project,
        "worker-1",
        "UserPromptSubmit",
        &payload("UserPromptSubmit"),
    );
    assert_eq!(hook_state(&project, "worker-1")?.0, "running");
    hook(&project, "worker-1", "PreToolUse", &payload("PreToolUse"));
    assert_eq!(
        hook_state(&project, "worker-1")?,
        ("running".into(), "Bash".into(), session.clone())
    );
    let (out, _) = hook(
        &project,
        "worker-1",
        "PermissionRequest",
        &payload("PermissionRequest"),
    );
    assert_eq!(out, None, "the dialog is left alone");
    assert_eq!(
        hook_state(&project, "worker-1")?,
        ("blocked".into(), "Bash".into(), session.clone())
    );
    // 2.1.197's message names no tool: the one PermissionRequest named stays.
    hook(
        &project,
        "worker-1",
        "Notification",
        &payload("Notification"),
    );
    assert_eq!(
        hook_state(&project, "worker-1")?,
        ("blocked".into(), "Bash".into(), session.clone())
    );
    let (out, _) = hook(&project, "worker-1", "Stop", &payload("Stop"));
    assert_eq!(out, None, "no mail, no answer: Claude stops");
    assert_eq!(hook_state(&project, "worker-1")?.0, "ready");
    hook(&project, "worker-1", "SessionEnd", &payload("SessionEnd"));
    assert_eq!(hook_state(&project, "worker-1")?.0, "gone");
    Ok(())
}

/// A permission Notification right after PreToolUse (no PermissionRequest
/// hook, e.g. an older Claude Code) names the tool PreToolUse saw.
#[test]
fn a_permission_notification_keeps_the_tool_about_to_run() -> TestResult {
    let project = setup()?;
    hook(&project, "worker-1", "PreToolUse", &payload("PreToolUse"));
    hook(
        &project,
        "worker-1",
        "Notification",
        &payload("Notification"),
    );
    let (state, tool, _) = hook_state(&project, "worker-1")?;
    assert_eq!((state.as_str(), tool.as_str()), ("blocked", "Bash"));
    Ok(())
}

/// Mail reaches a worker at the end of its turn, once, and PreToolUse says
/// when urgent mail waits.
#[test]
fn stop_delivers_unread_mail_exactly_once() -> TestResult {
    let project = setup()?;
    project
        .cli()
        .args([
            "send", "--from", "master", "--type", "question", "worker-1", "which", "base?",
        ])
        .assert()
        .success();
    let (out, _) = hook(&project, "worker-1", "PreToolUse", &payload("PreToolUse"));
    let context = out
        .map(|v| v["hookSpecificOutput"]["additionalContext"].to_string())
        .unwrap_or_default();
    assert!(
        context.contains("1 unread message(s) from master"),
        "{context}"
    );
    let (out, _) = hook(&project, "worker-1", "Stop", &payload("Stop"));
    let out = out.ok_or("no answer at Stop")?;
    assert_eq!(out["decision"], "block");
    let reason = out["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("(question) master → worker-1 [msg_id: ")
            && reason.contains("\n│ which base?"),
        "{reason}"
    );
    let active = payload("Stop").replace("\"stop_hook_active\":false", "\"stop_hook_active\":true");
    assert_ne!(
        active,
        payload("Stop"),
        "the recorded Stop says stop_hook_active"
    );
    let (again, _) = hook(&project, "worker-1", "Stop", &active);
    assert_eq!(again, None, "delivered once");
    project
        .cli()
        .args(["read", "--id", "worker-1"])
        .assert()
        .success()
        .stdout(predicates::str::contains("No new messages."));
    Ok(())
}

#[test]
fn mail_delivery_can_be_turned_off() -> TestResult {
    let project = setup()?;
    project
        .cli()
        .args(["send", "--from", "master", "worker-1", "hello"])
        .assert()
        .success();
    let out = project
        .cli()
        .args(["hook", "Stop"])
        .env("INTERCOMM_WORKER_ID", "worker-1")
        .env("INTERCOMM_HOOK_MAIL", "0")
        .write_stdin(payload("Stop"))
        .assert()
        .success();
    assert!(out.get_output().stdout.is_empty());
    project
        .cli()
        .args(["read", "--id", "worker-1"])
        .assert()
        .success()
        .stdout(predicates::str::contains("hello"));
    Ok(())
}

/// A hook never breaks the session: bad input, unknown events, unknown
/// instances and a missing bus all exit 0, and a hook never creates the bus.
#[test]
fn hooks_never_break_the_session() -> TestResult {
    let project = setup()?;
    for bad in [
        "",
        "{",
        "null",
        "[1,2]",
        "\u{0}\u{1}garbage",
        "{\"session_id\": 5}",
    ] {
        let (out, stderr) = hook(&project, "worker-1", "Stop", bad);
        assert_eq!(out, None, "{bad:?}");
        assert!(stderr.contains("intercomm hook Stop"), "{bad:?}: {stderr}");
    }
    let (_, stderr) = hook(&project, "worker-1", "PostCompact", "{}");
    assert!(stderr.contains("unknown event"), "{stderr}");
    let (out, _) = hook(&project, "stranger", "Stop", &payload("Stop"));
    assert_eq!(out, None);

    let empty = Project::plain()?;
    let (out, _) = hook(&empty, "worker-1", "SessionStart", &payload("SessionStart"));
    assert!(
        out.is_some(),
        "the note is shown even before the bus exists"
    );
    hook(&empty, "worker-1", "Stop", &payload("Stop"));
    assert!(
        !empty.paths().dir().exists(),
        "a hook never creates the bus"
    );
    Ok(())
}

/// Runs `intercomm hook PermissionRequest` as worker-1 in the background.
fn permission_hook(project: &Project, wait: &str) -> TestResult<std::process::Child> {
    use std::io::Write;
    let mut child = project
        .command(&["hook", "PermissionRequest"])
        .env("INTERCOMM_WORKER_ID", "worker-1")
        .env("INTERCOMM_PERMISSION_WAIT", wait)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(payload("PermissionRequest").as_bytes())?;
    Ok(child)
}

fn decisions(project: &Project) -> TestResult<Vec<Value>> {
    let out = project
        .cli()
        .args(["--json", "decisions"])
        .assert()
        .success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout)?;
    Ok(v["requests"].as_array().cloned().unwrap_or_default())
}

/// Until worker-1's newest request has `status` (the hook records it).
fn until_status(project: &Project, status: &str) -> TestResult<Value> {
    for _ in 0..400 {
        if let Some(r) = decisions(project)?
            .first()
            .filter(|r| r["status"] == status)
        {
            return Ok(r.clone());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Err(format!("no request reached {status}: {:?}", decisions(project)?).into())
}

/// A worker's permission request waits on the bus; the master's `no` with a
/// reason comes back as Claude Code's deny, and the decision is listed.
#[test]
fn a_permission_request_is_decided_on_the_bus() -> TestResult {
    let project = setup()?;
    let child = permission_hook(&project, "60")?;
    let pending = until_status(&project, "pending")?;
    assert_eq!(pending["tool"], "Bash");
    assert_eq!(pending["input"]["command"], "touch plugin-marker.txt");
    project
        .cli()
        .args([
            "approve",
            "worker-1",
            "--choice",
            "no",
            "--reason",
            "not in this task",
        ])
        .assert()
        .success()
        .stdout(predicates::str::contains("through the hook (no key sent)"));
    let out = child.wait_with_output()?;
    assert!(out.status.success());
    let answer: Value = serde_json::from_slice(&out.stdout)?;
    let decision = &answer["hookSpecificOutput"]["decision"];
    assert_eq!(decision["behavior"], "deny");
    assert!(
        decision["message"]
            .as_str()
            .is_some_and(|m| m.contains("relayed as data: not in this task")),
        "{answer}"
    );
    let listed = until_status(&project, "delivered")?;
    assert_eq!(listed["decision"], "no");
    assert_eq!(listed["decided_by"], "master");
    Ok(())
}

/// No decision in time: the hook answers nothing (the dialog stays on
/// screen) and the request is marked expired; `0` never waits.
#[test]
fn an_undecided_permission_request_leaves_the_dialog() -> TestResult {
    let project = setup()?;
    let out = permission_hook(&project, "1")?.wait_with_output()?;
    assert!(out.status.success());
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    until_status(&project, "expired")?;
    let out = permission_hook(&project, "0")?.wait_with_output()?;
    assert!(out.stdout.is_empty());
    assert_eq!(decisions(&project)?.len(), 1, "a 0 wait records nothing");
    Ok(())
}

/// Whether `id` has a wake-hook row on the bus (armed now or earlier).
fn wake_row(project: &Project, id: &str) -> TestResult<bool> {
    let n: i64 = project.bus()?.conn().query_one(
        "SELECT COUNT(*) FROM wake_hooks WHERE id = ?1",
        intercomm::bus::store::args![id],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

/// The wake hook learns its Claude Code's version from `AI_AGENT` (as Claude
/// Code sets it): on a version without `asyncRewake` it does not arm (so a
/// wake falls back to the doorbell at once); on one with it, it arms.
#[test]
fn the_wake_hook_arms_only_where_claude_code_has_async_rewake() -> TestResult {
    let project = setup()?;
    let rewake = |agent: &str| {
        project
            .cli()
            .args(["hook", "Rewake"])
            .env("INTERCOMM_WORKER_ID", "worker-1")
            .env("INTERCOMM_REWAKE_WAIT", "1")
            .env("AI_AGENT", agent)
            .env_remove("INTERCOMM_HOOK_MAIL")
            .write_stdin(payload("Stop"))
            .assert()
            .success()
    };
    rewake("claude-code_2-1-100_harness");
    assert!(
        !wake_row(&project, "worker-1")?,
        "armed on a Claude Code without asyncRewake"
    );
    rewake("claude-code_2-1-332_harness");
    assert!(
        wake_row(&project, "worker-1")?,
        "not armed on a Claude Code with asyncRewake"
    );
    Ok(())
}
