//! The MCP surface, in process: schemas, results, and each defect of the
//! original that lives in the message and identity tools.

use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn tools_list_is_snapshotted() -> TestResult {
    let project = Project::plain()?;
    let client = project.client().await?;
    let mut tools = client.list_all_tools().await?;
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    let mut expected = all_tools()?;
    expected.sort_unstable();
    assert_eq!(names, expected);
    insta::assert_json_snapshot!("tools_list", tools);
    Ok(())
}

/// Every parameter of the original keeps its name, type, default, enum and
/// required-ness (reference tool-schemas.json); new parameters are optional.
#[tokio::test]
async fn schemas_keep_the_original_contract() -> TestResult {
    let reference: Value =
        serde_json::from_str(include_str!("../fixtures/reference/tool-schemas.json"))?;
    let project = Project::plain()?;
    let client = project.client().await?;
    let tools = client.list_all_tools().await?;
    for old in reference["tools"].as_array().into_iter().flatten() {
        let name = old["name"].as_str().unwrap_or_default();
        let new = tools
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| format!("tool {name} missing"))?;
        let new_schema = Value::Object((*new.input_schema).clone());
        let old_props = old["inputSchema"]["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (param, old_p) in &old_props {
            let new_p = &new_schema["properties"][param];
            for key in ["type", "default", "enum", "items"] {
                assert_eq!(new_p[key], old_p[key], "{name}.{param}.{key}");
            }
            if let Some(min) = old_p
                .get("minimum")
                .filter(|m| m.as_f64() != Some(-9007199254740991.0))
            {
                assert_eq!(&new_p["minimum"], min, "{name}.{param}.minimum");
            }
            if let Some(len) = old_p.get("minLength") {
                assert_eq!(&new_p["minLength"], len, "{name}.{param}.minLength");
            }
        }
        let required = |s: &Value| -> Vec<String> {
            let mut r: Vec<String> = s["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            r.sort();
            r
        };
        assert_eq!(
            required(&new_schema),
            required(&old["inputSchema"]),
            "{name} required"
        );
    }
    Ok(())
}

#[tokio::test]
async fn instructions_and_get_protocol_serve_the_protocol() -> TestResult {
    let project = Project::plain()?;
    let client = project.client().await?;
    let info = client.peer_info().ok_or("no server info")?;
    assert_eq!(
        info.instructions.as_deref(),
        Some(intercomm::protocol::PROTOCOL)
    );
    let result = call(&client, "intercomm_get_protocol", json!({})).await?;
    assert_eq!(text(&result), intercomm::protocol::PROTOCOL);
    assert!(intercomm::protocol::PROTOCOL.contains("intercomm_escalate"));
    Ok(())
}

/// S4: starting a server and asking for status creates nothing.
#[tokio::test]
async fn read_only_calls_on_a_missing_bus_create_nothing() -> TestResult {
    let project = Project::plain()?;
    let client = project.client().await?;
    let result = call(&client, "intercomm_status", json!({})).await?;
    assert_eq!(text(&result), "No instances registered.");
    ok(&client, "intercomm_worktree_list", json!({})).await?;
    let e = err(&client, "intercomm_read", json!({})).await?;
    assert_eq!(e["code"], "not_registered");
    assert!(!project.root.join(".intercomm-aimfp").exists());
    let opened = intercomm::bus::Bus::open_existing(&project.paths())?;
    assert!(opened.is_none(), "a bus exists before any registration");
    register(&client, "worker").await?;
    if project.bus.is_some() {
        assert!(project.bus().is_ok(), "registration made no bus");
    } else {
        assert!(project.paths().db().exists());
    }
    Ok(())
}

#[tokio::test]
async fn a_round_of_assign_read_done_and_broadcast() -> TestResult {
    let project = Project::plain()?;
    let master = project.client().await?;
    assert_eq!(register(&master, "master").await?, "master");
    let mut workers = Vec::new();
    for n in 1..=3 {
        let w = project.client().await?;
        assert_eq!(register(&w, "worker").await?, format!("worker-{n}"));
        workers.push(w);
    }
    for (i, _) in workers.iter().enumerate() {
        let a = ok(
            &master,
            "intercomm_assign",
            json!({"worker": format!("worker-{}", i + 1), "role_instructions": "build it",
                   "target_type": "task", "target_slug": format!("  slug-{i}  ")}),
        )
        .await?;
        assert_eq!(a["contract"]["aimfp_target"]["slug"], format!("slug-{i}"));
        assert_eq!(a["woke"], false);
    }
    ok(
        &master,
        "intercomm_broadcast",
        json!({"message": "base is main"}),
    )
    .await?;
    for (i, w) in workers.iter().enumerate() {
        let r = ok(w, "intercomm_read", json!({})).await?;
        assert_eq!(r["count"], 2, "worker {i} got {r}");
        assert_eq!(r["messages"][0]["type"], "task");
        assert_eq!(
            r["messages"][0]["contract"]["aimfp_target"]["slug"],
            format!("slug-{i}")
        );
        assert_eq!(
            r["messages"][0]["contract"]["reportBack"],
            json!(["branch", "commit"])
        );
        assert_eq!(r["messages"][1]["to"], "all");
        let again = ok(w, "intercomm_read", json!({})).await?;
        assert_eq!(again["count"], 0);
        ok(
            w,
            "intercomm_send",
            json!({"to": "master", "type": "done", "message": format!("branch=b{i}")}),
        )
        .await?;
    }
    let r = ok(&master, "intercomm_read", json!({})).await?;
    let froms: Vec<&str> = r["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["from"].as_str())
        .collect();
    assert_eq!(
        froms,
        ["worker-1", "worker-2", "worker-3"],
        "broadcast must not echo to its sender"
    );
    let text = text(&call(&master, "intercomm_read", json!({"all": true})).await?);
    assert!(
        text.contains("(done) worker-2 → master [msg_id: ") && text.contains("\n│ branch=b1\n"),
        "{text}"
    );
    Ok(())
}

/// B3: takeover needs a dead master or force; the old master loses powers at
/// once; workers are never deactivated.
#[tokio::test]
async fn master_takeover_is_guarded_and_revokes_the_old_master() -> TestResult {
    let project = Project::plain()?;
    let old = project.client().await?;
    register(&old, "master").await?;
    let worker = project.client().await?;
    register(&worker, "worker").await?;
    let new = project.client().await?;
    let e = err(&new, "intercomm_register", json!({"role": "master"})).await?;
    assert_eq!(e["code"], "master_alive");
    assert!(e["hint"].as_str().unwrap_or_default().contains("force"));
    let taken = ok(
        &new,
        "intercomm_register",
        json!({"role": "master", "force": true}),
    )
    .await?;
    assert_eq!(taken["displaced_master_pid"], std::process::id());
    let e = err(&old, "intercomm_clear", json!({})).await?;
    assert_eq!(e["code"], "identity_lost");
    assert!(
        e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("master powers are revoked")
    );
    let status = ok(&new, "intercomm_status", json!({})).await?;
    let w = status["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["id"] == "worker-1")
        .cloned();
    assert_eq!(w.map(|w| w["alive"].clone()), Some(json!(true)));
    ok(
        &worker,
        "intercomm_send",
        json!({"to": "master", "message": "still here"}),
    )
    .await?;
    let r = ok(&new, "intercomm_read", json!({})).await?;
    assert_eq!(r["messages"][0]["content"], "still here");
    Ok(())
}

/// B3 (second half): a registered worker becomes master without restarting.
#[tokio::test]
async fn a_worker_can_become_master_when_the_master_is_gone() -> TestResult {
    let project = Project::plain()?;
    let w = project.client().await?;
    register(&w, "worker").await?;
    let r = ok(&w, "intercomm_register", json!({"role": "master"})).await?;
    assert_eq!(r["id"], "master");
    assert_eq!(r["previous_id"], "worker-1");
    ok(&w, "intercomm_clear", json!({})).await?;
    let e = err(&w, "intercomm_register", json!({})).await?;
    assert_eq!(e["code"], "already_registered");
    Ok(())
}

/// B16: only the master sends tasks, and only valid contracts.
#[tokio::test]
async fn tasks_are_master_only_and_always_valid() -> TestResult {
    let project = Project::plain()?;
    let master = project.client().await?;
    register(&master, "master").await?;
    let worker = project.client().await?;
    register(&worker, "worker").await?;
    let e = err(
        &worker,
        "intercomm_send",
        json!({"to": "master", "type": "task", "message": "{}"}),
    )
    .await?;
    assert!(
        e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("only the master")
    );
    let e = err(
        &master,
        "intercomm_send",
        json!({"to": "worker-1", "type": "task", "message": "{}"}),
    )
    .await?;
    assert!(
        e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("content is not a task contract")
    );
    for blank in ["   ", "\u{3000}"] {
        let e = err(
            &master,
            "intercomm_assign",
            json!({"worker": "worker-1", "role_instructions": blank, "target_type": "task", "target_id": 1}),
        )
        .await?;
        assert!(
            e["message"]
                .as_str()
                .unwrap_or_default()
                .contains("role_instructions must be a non-empty string"),
            "{e}"
        );
    }
    let e = err(
        &master,
        "intercomm_assign",
        json!({"worker": "worker-1", "role": " ", "role_instructions": "x", "target_type": "task", "target_id": 1}),
    )
    .await?;
    assert!(
        e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("role must be")
    );
    let e = err(
        &master,
        "intercomm_assign",
        json!({"worker": "worker-1", "role_instructions": "x", "target_type": "task", "target_slug": "  "}),
    )
    .await?;
    assert!(
        e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Provide target_id and/or target_slug")
    );
    let r = ok(&worker, "intercomm_read", json!({})).await?;
    assert_eq!(r["count"], 0, "nothing invalid may reach the worker");
    Ok(())
}

#[tokio::test]
async fn bad_arguments_name_the_field() -> TestResult {
    let project = Project::plain()?;
    let master = project.client().await?;
    register(&master, "master").await?;
    let cases = [
        ("intercomm_send", json!({"message": "x"}), "`to`"),
        (
            "intercomm_send",
            json!({"to": "master", "message": 5}),
            "`message`",
        ),
        (
            "intercomm_send",
            json!({"to": "../x", "message": "x"}),
            "`to`",
        ),
        (
            "intercomm_send",
            json!({"to": "master", "message": "x"}),
            "yourself",
        ),
        (
            "intercomm_send",
            json!({"to": "all", "message": "x"}),
            "intercomm_broadcast",
        ),
        (
            "intercomm_send",
            json!({"to": "nobody", "message": "x"}),
            "No instance registered",
        ),
        (
            "intercomm_send",
            json!({"to": "master", "message": "x", "type": "memo"}),
            "`type`",
        ),
        ("intercomm_clear", json!({"keep": -1}), "`keep`"),
        ("intercomm_clear", json!({"keep": "x"}), "`keep`"),
        ("intercomm_read", json!({"limit": 0}), "`limit`"),
        ("intercomm_register", json!({"role": "boss"}), "`role`"),
        (
            "intercomm_worktree_add",
            json!({"worker_id": "a/../b"}),
            "`worker_id`",
        ),
        (
            "intercomm_assign",
            json!({"worker": "w", "role_instructions": "x", "target_type": "epic"}),
            "`target_type`",
        ),
        ("intercomm_spawn", json!({"count": 0}), "`count`"),
        (
            "intercomm_spawn",
            json!({"count": 1, "claude_cmd": "claude 'open"}),
            "`claude_cmd`",
        ),
        (
            "intercomm_spawn",
            json!({"count": 1, "prefix": "a:b"}),
            "`prefix`",
        ),
        (
            "intercomm_approve",
            json!({"worker": "w", "choice": "maybe"}),
            "`choice`",
        ),
    ];
    for (tool, args, needle) in cases {
        let e = err(&master, tool, args.clone()).await?;
        let msg = e["message"].as_str().unwrap_or_default().to_owned()
            + e["hint"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{tool} {args}: {msg}");
    }
    let big = "x".repeat((1 << 20) + 1);
    let worker = project.client().await?;
    register(&worker, "worker").await?;
    let e = err(
        &worker,
        "intercomm_send",
        json!({"to": "master", "message": big}),
    )
    .await?;
    assert!(e["message"].as_str().unwrap_or_default().contains("1 MiB"));
    let exact = "y".repeat(1 << 20);
    ok(
        &worker,
        "intercomm_send",
        json!({"to": "master", "message": exact}),
    )
    .await?;
    let r = ok(&master, "intercomm_read", json!({})).await?;
    // Stored whole; a page shows the first 64 KiB and where the rest is.
    assert_eq!(r["messages"][0]["partial"]["total"], 1 << 20);
    assert_eq!(
        r["messages"][0]["content"].as_str().map(str::len),
        Some(64 * 1024)
    );
    Ok(())
}

/// B7: clear(keep 0) then send delivers; clear never deletes unread mail.
#[tokio::test]
async fn clear_keeps_unread_mail_and_never_reuses_sequence_numbers() -> TestResult {
    let project = Project::plain()?;
    let (master, worker) = master_and_worker(&project).await?;
    for n in 0..5 {
        ok(
            &worker,
            "intercomm_send",
            json!({"to": "master", "message": format!("m{n}")}),
        )
        .await?;
    }
    ok(
        &master,
        "intercomm_send",
        json!({"to": "worker-1", "message": "unread by worker"}),
    )
    .await?;
    ok(&master, "intercomm_read", json!({})).await?;
    let c = ok(&master, "intercomm_clear", json!({"keep": 0})).await?;
    assert_eq!(c["deleted"], 5, "{c}");
    assert_eq!(c["remaining"], 1);
    let sent = ok(
        &worker,
        "intercomm_send",
        json!({"to": "master", "message": "after clear"}),
    )
    .await?;
    assert!(sent["seq"].as_i64() > Some(6));
    let r = ok(&master, "intercomm_read", json!({})).await?;
    assert_eq!(r["messages"][0]["content"], "after clear");
    let r = ok(&worker, "intercomm_read", json!({})).await?;
    assert_eq!(r["messages"][0]["content"], "unread by worker");
    Ok(())
}

#[tokio::test]
async fn reads_page_in_bus_order() -> TestResult {
    let project = Project::plain()?;
    let master = project.client().await?;
    register(&master, "master").await?;
    let worker = project.client().await?;
    register(&worker, "worker").await?;
    for n in 0..7 {
        ok(
            &worker,
            "intercomm_send",
            json!({"to": "master", "message": format!("m{n}")}),
        )
        .await?;
    }
    let r = ok(&master, "intercomm_read", json!({"limit": 5})).await?;
    assert_eq!(r["count"], 5);
    assert_eq!(r["remaining"], 2);
    let r = ok(&master, "intercomm_read", json!({"limit": 5})).await?;
    let contents: Vec<&str> = r["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(contents, ["m5", "m6"]);
    Ok(())
}

#[tokio::test]
async fn escalation_persists_first_and_reports_the_master() -> TestResult {
    let project = Project::plain()?;
    let worker = project.client().await?;
    register(&worker, "worker").await?;
    // No master yet: the question still lands, addressed to `master`.
    let e = ok(
        &worker,
        "intercomm_escalate",
        json!({"message": "which base?", "kind": "decision", "needs_user": true}),
    )
    .await?;
    assert_eq!(e["persisted"], true);
    assert_eq!(e["master_alive"], false);
    let master = project.client().await?;
    register(&master, "master").await?;
    let r = ok(&master, "intercomm_read", json!({})).await?;
    assert_eq!(
        r["messages"][0]["content"],
        "[escalation kind=decision needs_user] which base?"
    );
    assert_eq!(r["messages"][0]["type"], "question");
    let e = ok(&worker, "intercomm_escalate", json!({"message": "again"})).await?;
    assert_eq!(e["master_alive"], true);
    let e = err(&master, "intercomm_escalate", json!({"message": "x"})).await?;
    assert_eq!(e["code"], "worker_only");
    let e = err(&worker, "intercomm_escalate", json!({"message": "  "})).await?;
    assert!(
        e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("`message`")
    );
    Ok(())
}

#[tokio::test]
async fn signoff_frees_the_process_to_register_again() -> TestResult {
    let project = Project::plain()?;
    let w = project.client().await?;
    register(&w, "worker").await?;
    let s = ok(&w, "intercomm_signoff", json!({})).await?;
    assert_eq!(s["id"], "worker-1");
    err(&w, "intercomm_signoff", json!({})).await?;
    let status = ok(&w, "intercomm_status", json!({})).await?;
    assert_eq!(status["instances"][0]["state"], "signed_off");
    assert_eq!(register(&w, "worker").await?, "worker-1");
    Ok(())
}

/// B1: an idle master is alive however long it has been idle, so an
/// escalation still finds it (the original called it stale after 30 s).
#[tokio::test]
async fn an_idle_master_stays_alive_and_reachable() -> TestResult {
    let project = Project::plain()?;
    let (master, worker) = master_and_worker(&project).await?;
    project.bus()?.conn().execute(
        "UPDATE instances SET last_active = last_active - 3600000 WHERE id = 'master'",
        &[],
    )?;
    let status = ok(&worker, "intercomm_status", json!({})).await?;
    let m = instance(&status, "master")?;
    assert_eq!(m["state"], "alive");
    assert!(m["idle_ms"].as_i64() >= Some(3_600_000));
    let e = ok(&worker, "intercomm_escalate", json!({"message": "stuck"})).await?;
    assert_eq!(e["master_alive"], true);
    ok(&master, "intercomm_clear", json!({})).await?;
    Ok(())
}

/// B6: status shows each instance's own worktree, joined by its id.
#[tokio::test]
async fn status_shows_each_workers_own_worktree() -> TestResult {
    let project = Project::git()?;
    let (master, _worker) = master_and_worker(&project).await?;
    ok(
        &master,
        "intercomm_worktree_add",
        json!({"worker_id": "worker-2"}),
    )
    .await?;
    ok(
        &master,
        "intercomm_worktree_add",
        json!({"worker_id": "worker-1", "branch": "w1"}),
    )
    .await?;
    let status = ok(&master, "intercomm_status", json!({})).await?;
    let w1 = instance(&status, "worker-1")?;
    assert_eq!(
        w1["worktree"],
        project
            .paths()
            .worktree_path("worker-1")
            .display()
            .to_string()
    );
    assert_eq!(w1["branch"], "w1");
    Ok(())
}
