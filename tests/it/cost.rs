//! Cost from transcripts: the hooks record a session's transcript path, and
//! status counts its tokens and dollars (tests/fixtures/transcripts, whose
//! README gives the figures by hand); a worker over a cap is denied its
//! next tool call and the master is told once.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::*;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/transcripts/known-usage.jsonl")
}

fn setup() -> TestResult<(Project, PathBuf)> {
    let project = Project::plain()?;
    project.register_master_and_worker();
    // A copy, so that the test can append to it.
    let transcript = project.root.join("session.jsonl");
    std::fs::copy(fixture(), &transcript)?;
    Ok((project, transcript))
}

fn pre_tool_use(project: &Project, transcript: &Path, env: &[(&str, &str)]) -> Option<Value> {
    let payload = json!({
        "session_id": "5f0c2a9e-7d2b-4c1e-9a51-0a4c1b2d3e4f",
        "transcript_path": transcript,
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": "ls"},
    });
    let mut cmd = project.cli();
    cmd.args(["hook", "PreToolUse"])
        .env("INTERCOMM_WORKER_ID", "worker-1")
        .env_remove("TMUX_PANE")
        .env("INTERCOMM_HOOK_MAIL", "0");
    for name in intercomm::cost::caps::ENV {
        cmd.env_remove(name);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.write_stdin(payload.to_string()).assert().success();
    serde_json::from_slice(&out.get_output().stdout).ok()
}

fn status(project: &Project) -> TestResult<Value> {
    let out = project.cli().args(["--json", "status"]).assert().success();
    Ok(serde_json::from_slice(&out.get_output().stdout)?)
}

fn worker_cost(status: &Value) -> Value {
    status["instances"]
        .as_array()
        .and_then(|all| all.iter().find(|i| i["id"] == "worker-1"))
        .map(|i| i["cost"].clone())
        .unwrap_or(Value::Null)
}

#[test]
fn status_counts_a_transcripts_tokens_and_dollars() -> TestResult {
    let (project, transcript) = setup()?;
    assert_eq!(
        pre_tool_use(&project, &transcript, &[]),
        None,
        "no cap, no deny"
    );
    let s = status(&project)?;
    let cost = worker_cost(&s);
    assert_eq!(
        cost["tokens"],
        json!({"input": 1410, "cache_write_5m": 2000, "cache_write_1h": 500,
               "cache_read": 3000, "output": 350}),
        "{s}"
    );
    let dollars = cost["cost_usd"].as_f64().unwrap_or_default();
    assert!((dollars - 0.01958).abs() < 1e-9, "{dollars}");
    assert_eq!(cost.get("unpriced"), None, "<synthetic> used no tokens");
    assert_eq!(s["fleet_cost"], cost, "one worker is the whole fleet");

    // Lines appended later are counted too, without the hook running again.
    let more = r#"{"type":"assistant","message":{"id":"msg_05","model":"claude-haiku-4-5","usage":{"input_tokens":1000000,"output_tokens":0}}}"#;
    std::fs::write(
        &transcript,
        std::fs::read_to_string(&transcript)? + more + "\n",
    )?;
    let later = worker_cost(&status(&project)?);
    assert_eq!(later["tokens"]["input"], 1_001_410);
    let dollars = later["cost_usd"].as_f64().unwrap_or_default();
    assert!((dollars - 1.01958).abs() < 1e-9, "{dollars}");

    let text = project.cli().arg("status").assert().success();
    let text = String::from_utf8_lossy(&text.get_output().stdout).into_owned();
    assert!(text.contains("spent: 1.0M tok $1.02"), "{text}");
    assert!(text.contains("Fleet spent: 1.0M tok $1.02"), "{text}");
    Ok(())
}

#[test]
fn a_worker_over_its_cap_is_denied_and_the_master_told_once() -> TestResult {
    let (project, transcript) = setup()?;
    let under = [("INTERCOMM_CAP_WORKER_USD", "0.02")];
    assert_eq!(pre_tool_use(&project, &transcript, &under), None);
    let over = [("INTERCOMM_CAP_WORKER_USD", "0.019")];
    let deny = pre_tool_use(&project, &transcript, &over).ok_or("no deny printed")?;
    let out = &deny["hookSpecificOutput"];
    assert_eq!(out["hookEventName"], "PreToolUse");
    assert_eq!(out["permissionDecision"], "deny");
    let reason = out["permissionDecisionReason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("worker-1 has spent $0.02, at or over its cap of $0.02"),
        "{reason}"
    );
    assert!(
        pre_tool_use(&project, &transcript, &over).is_some(),
        "still stopped"
    );

    // The fleet cap, from caps.json, stops it too (the bus folder exists
    // only when the bus is the file there).
    std::fs::create_dir_all(project.paths().dir())?;
    std::fs::write(
        project.paths().dir().join("caps.json"),
        r#"{"fleet_tokens": 7000}"#,
    )?;
    let deny = pre_tool_use(&project, &transcript, &[]).ok_or("no fleet deny")?;
    let reason = deny["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .unwrap_or_default();
    assert!(
        reason.contains("the fleet has used 7260 tokens"),
        "{reason}"
    );

    let mail = project
        .cli()
        .args(["--json", "read", "--id", "master", "--all"])
        .assert()
        .success();
    let mail: Value = serde_json::from_slice(&mail.get_output().stdout)?;
    let notices: Vec<&Value> = mail["messages"]
        .as_array()
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    assert_eq!(notices.len(), 1, "told once: {mail}");
    assert_eq!(notices[0]["from"], "worker-1");
    assert!(
        notices[0]["content"]
            .as_str()
            .is_some_and(|c| c.starts_with("[intercomm cost cap] worker-1 has spent $0.02"))
    );
    Ok(())
}
