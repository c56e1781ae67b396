//! Scenario 1, the fleet round: the master (an rmcp client of `intercomm
//! mcp`) spawns two real Claude Code workers in worktrees; spawn clears the
//! real trust and MCP-approval dialogs and wakes each once its own intercomm
//! MCP server is connected (so the wake turn has the intercomm tools from its
//! first request, without WaitForMcpServers); each worker registers
//! under its session name, reads its contract, commits a file on its own
//! branch with Bash and reports `done`; the master checks the branches with
//! git, records them and tears everything down.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::*;

const REGISTER: &str = "mcp__intercomm__intercomm_register";

fn rules() -> Value {
    json!({"rules": [
        {
            "name": "wake",
            "when": "You are worker (?P<id>worker-\\d+)\\.",
            "steps": [
                {"tool": REGISTER, "input": {}},
                {"tool": "mcp__intercomm__intercomm_read", "input": {}}
            ],
            "final": "E2E {{id}}: registered, waiting for a task."
        },
        {
            "name": "task",
            "when": "New task from the master",
            "vars": {"id": "You are worker (worker-\\d+)\\.", "sha": "\\b([0-9a-f]{40})\\b"},
            "steps": [
                {"tool": "mcp__intercomm__intercomm_read", "input": {}},
                {"tool": "Bash", "input": {
                    "command": "git switch -c e2e/{{id}} && echo {{id}} > {{id}}.txt && git add {{id}}.txt && git -c user.name=e2e -c user.email=e2e@example.com commit -q -m '{{id}}: add {{id}}.txt' && git rev-parse HEAD",
                    "description": "Commit the task's file on a new branch"
                }},
                {"tool": "mcp__intercomm__intercomm_send", "input": {
                    "to": "master", "type": "done", "message": "branch=e2e/{{id}} commit={{sha}}"
                }}
            ],
            "final": "E2E {{id}}: done."
        }
    ]})
}

/// What a turn did because intercomm's tools were not there yet: called
/// WaitForMcpServers (2.1.197 offers it while MCP servers connect), or gave
/// up on a tool (2.1.330 has no such tool; the stand-in model then says it
/// cannot call it). Empty when the tools were there from the first request.
fn waits_for_mcp(turn: &[Value]) -> Vec<String> {
    turn.iter()
        .flat_map(|r| {
            r["reply"]["content"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|b| match b["type"].as_str() {
            Some("tool_use") if b["name"] == "WaitForMcpServers" => {
                Some(format!("called WaitForMcpServers {}", b["input"]))
            }
            Some("text") => b["text"]
                .as_str()
                .filter(|t| t.starts_with("STAND-IN: cannot call"))
                .map(str::to_owned),
            _ => None,
        })
        .collect()
}

/// The register result says `id`: as intercomm's text, or as its
/// structuredContent JSON (which is what Claude Code 2.1.197 hands the model).
fn registered_as(result: &str, id: &str) -> bool {
    match serde_json::from_str::<Value>(result) {
        Ok(v) => v["id"] == id && v["role"] == "worker",
        Err(_) => result.contains(&format!("Registered as \"{id}\"")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_round_two_workers_commit_report_and_are_torn_down() {
    let world = World::new("fleet_round", rules());
    let master = world.master(&[]).await;
    let ids = ["worker-1", "worker-2"];
    let worktree = |id: &str| -> PathBuf { world.dir.join(".intercomm-worktrees/repo").join(id) };

    let out = ok(
        &master,
        "intercomm_spawn",
        json!({"count": 2, "worktrees": true, "perm_mode": "acceptEdits",
               "claude_cmd": world.claude.display().to_string(), "ready_timeout": 90}),
    )
    .await;
    for id in ids {
        let w = spawned(&out, id);
        world.check(
            w["worktree"] == worktree(id).display().to_string().as_str(),
            format!(
                "{id}: worktree {} (want {})",
                w["worktree"],
                worktree(id).display()
            ),
        );
        world.check(
            w["mcp_connected"] == true,
            format!("{id}: spawn woke it without its intercomm MCP server connected: {w}"),
        );
        let cleared = w["dialogs_cleared"].to_string();
        world.check(
            cleared.contains("mcp_approval"),
            format!("{id}: the MCP approval dialog was not cleared by spawn: {cleared}"),
        );
    }
    // Folder trust is remembered per repository (Claude Code records a
    // worktree's trust under its main checkout), so at least the first
    // worker met the trust dialog; both launched before either answered it.
    world.check(
        ids.iter().any(|id| {
            spawned(&out, id)["dialogs_cleared"]
                .to_string()
                .contains("trust")
        }),
        format!("no worker cleared the trust dialog: {out}"),
    );

    // Each wake turn: the prompt arrived once, the worker registered as its
    // session name.
    for id in ids {
        let done = world
            .turn_done(&worktree(id), &format!("You are worker {id}."), 90)
            .await;
        check_spawned(&world, &out, id, &worktree(id)).await;
        let results = done["result_texts"].as_array().cloned().unwrap_or_default();
        let reg = results.iter().find(|r| r["tool"] == REGISTER);
        world.check(
            reg.is_some_and(|r| {
                r["is_error"] == false && registered_as(r["text"].as_str().unwrap_or(""), id)
            }),
            format!(
                "{id}: intercomm_register in its wake turn did not register it as {id}: {reg:?}"
            ),
        );
        if let Some(r) = reg
            && serde_json::from_str::<Value>(r["text"].as_str().unwrap_or("")).is_ok()
        {
            world.note(format!(
                "{id}: Claude Code handed the model intercomm_register's structuredContent JSON, not its text (what the model read: {})",
                short(r["text"].as_str().unwrap_or(""), 120)
            ));
        }
        let wake_turn: Vec<Value> = world
            .turns(&worktree(id))
            .into_iter()
            .filter(|r| {
                r["prompt"]
                    .as_str()
                    .is_some_and(|p| p.contains(&format!("You are worker {id}.")))
            })
            .collect();
        let waited = waits_for_mcp(&wake_turn);
        world.check(
            waited.is_empty(),
            format!(
                "{id}: its wake prompt was submitted before Claude Code had connected the intercomm MCP server \
                 (spawn reported mcp_connected={}): {waited:?}",
                spawned(&out, id)["mcp_connected"]
            ),
        );
        world.check(
            world.turns(&worktree(id)).iter().any(|r| r["instructions"] == true),
            format!("{id}: intercomm's protocol never reached the model as the `# MCP Server Instructions` system entry"),
        );
    }
    let status = ok(&master, "intercomm_status", json!({})).await;
    for id in ids {
        let row = status["instances"]
            .as_array()
            .and_then(|a| a.iter().find(|i| i["id"] == id).cloned())
            .unwrap_or(Value::Null);
        world.check(
            row["alive"] == true,
            format!("{id}: not alive on the bus: {row}"),
        );
        world.check(
            row["worktree"] == worktree(id).display().to_string().as_str(),
            format!("{id}: status shows worktree {} ", row["worktree"]),
        );
    }

    // The contracts: one per worker, each rung with the task doorbell.
    for id in ids {
        world.idle(id, 30).await;
        let assigned = ok(
            &master,
            "intercomm_assign",
            json!({"worker": id, "target_type": "task", "target_slug": format!("task-e2e-{id}"),
                   "role_instructions": format!("Create {id}.txt on branch e2e/{id}, commit it, report done with branch and commit.")}),
        )
        .await;
        world.check(
            assigned["woke"] == true,
            format!("{id}: assign did not wake it: {assigned}"),
        );
    }

    // The master collects both `done` reports.
    let mut reports: Vec<Value> = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while reports.len() < 2 {
        let read = ok(&master, "intercomm_read", json!({})).await;
        reports.extend(
            read["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|m| m["type"] == "done")
                .cloned(),
        );
        if std::time::Instant::now() > deadline {
            fail(format!(
                "timed out waiting for two done messages; got {reports:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for id in ids {
        let report = reports
            .iter()
            .find(|m| m["from"] == id)
            .unwrap_or_else(|| fail(format!("no done message from {id}: {reports:?}")));
        let content = report["content"].as_str().unwrap_or_default();
        let field = |k: &str| {
            content
                .split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{k}=")))
                .unwrap_or_default()
                .to_owned()
        };
        let (branch, commit) = (field("branch"), field("commit"));
        world.check(
            branch == format!("e2e/{id}"),
            format!("{id}: reported branch {branch:?}"),
        );
        // Verify with git, as the protocol asks of the master.
        let head = world
            .git(&["rev-parse", &format!("refs/heads/{branch}")])
            .unwrap_or_default();
        world.check(
            head.trim() == commit,
            format!("{id}: branch {branch} is at {head:?}, reported {commit}"),
        );
        let file = world
            .git(&["show", &format!("{commit}:{id}.txt")])
            .unwrap_or_default();
        world.check(
            file.trim() == id,
            format!("{id}: {id}.txt in {commit} holds {file:?}"),
        );
        let wt_branch = world
            .git_in(&worktree(id), &["rev-parse", "--abbrev-ref", "HEAD"])
            .unwrap_or_default();
        world.check(
            wt_branch.trim() == branch,
            format!("{id}: its worktree is on {wt_branch:?}"),
        );
        let set = ok(
            &master,
            "intercomm_worktree_set_status",
            json!({"worker_id": id, "status": "done", "branch": branch}),
        )
        .await;
        world.check(
            set["commit"] == commit.as_str(),
            format!("{id}: set_status recorded {set}"),
        );
    }

    // Teardown: sessions, worktrees, processes.
    let down = ok(&master, "intercomm_teardown", json!({"worktrees": true})).await;
    let mut killed: Vec<String> = down["killed"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    killed.sort();
    world.check(killed == ids, format!("teardown killed {killed:?}"));
    for kept in down["worktrees_kept"].as_array().into_iter().flatten() {
        // Claude Code writes <worktree>/.claude/settings.local.json when the
        // MCP approval is answered "Use this MCP server": teardown then sees
        // an untracked file and keeps the worktree. The master has verified
        // the work is committed, so it removes the worktree with force.
        let id = kept[0].as_str().unwrap_or_default().to_owned();
        let dirt = world
            .git_in(
                &worktree(&id),
                &["status", "--porcelain", "--untracked-files=all"],
            )
            .unwrap_or_default();
        world.note(format!(
            "teardown(worktrees: true) kept {id}'s worktree ({}); its only changes: {:?}",
            kept[1],
            dirt.trim()
        ));
        world.check(
            dirt.trim() == "?? .claude/settings.local.json",
            format!("{id}: unexpected changes left in its worktree: {dirt:?}"),
        );
        ok(
            &master,
            "intercomm_worktree_remove",
            json!({"worker_id": id, "force": true}),
        )
        .await;
    }
    for id in ids {
        world.check(
            !worktree(id).exists(),
            format!("{id}: worktree folder still exists"),
        );
    }
    let listed = world
        .git(&["worktree", "list", "--porcelain"])
        .unwrap_or_default();
    world.check(
        listed.matches("worktree ").count() == 1,
        format!("git still lists linked worktrees:\n{listed}"),
    );
    world.check(
        world.sessions() == ["e2e-home"],
        format!("tmux sessions left: {:?}", world.sessions()),
    );
    let mut left: Vec<Proc> = Vec::new();
    for _ in 0..150 {
        left = world
            .processes()
            .into_iter()
            .filter(|p| p.worker_id.is_some() || p.cmdline.contains("claude"))
            .collect();
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    world.check(
        left.is_empty(),
        format!("processes left 15 s after teardown: {left:?}"),
    );
    let after = ok(&master, "intercomm_status", json!({})).await;
    for id in ids {
        let alive = after["instances"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|i| i["id"] == id && i["alive"] == true);
        world.check(
            !alive,
            format!("{id}: still alive on the bus after teardown"),
        );
    }
    let _ = master.cancel().await;
    world.finish();
}
