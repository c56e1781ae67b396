//! The whole loop with the real AIMFP (PyPI `aimfp`, run from its own venv,
//! see harness::aimfp), a real Claude Code master and real Claude Code
//! workers, every model the stand-in following system-prompt.md.
//!
//! The project is an AIMFP project (initialised by the user beforehand). The
//! master is a Claude Code in the main checkout with both MCP servers
//! (intercomm from the project's `.mcp.json`, AIMFP as a user-scope server),
//! driven by the stand-in model through §2, §8 and §9 step by step, in three
//! turns the user starts: it registers, runs AIMFP, creates a completion
//! path, a milestone and two tasks, reads their slugs back, sees
//! `verify_fanout_ready` refuse the uncommitted `project.db`, commits it,
//! sees it ready, adds a worktree for a hand-registered worker-3, spawns two
//! workers with worktrees and confirms with `intercomm_status`; then assigns
//! each a contract pointing at its task by slug; then reads both `done`
//! reports, checks the branches, records `done`, looks at the radar, and
//! merges each branch through the intake gate (`get_merge_history`,
//! `export_state_changeset`), `merge_worker_branch`, a commit after each and
//! the statuses `queued → merging → verifying → merged`; worker-3's branch,
//! made by the test to conflict, ends as `conflict` and is abandoned; then
//! it tears the fleet down. Each worker follows §10 step by step:
//! `aimfp_run`, the isolation check, the slug lookup, `create_user_branch`,
//! an Edit of the shared file, the task's status, a commit of code and
//! `project.db`, the completion gate and `done`. Both workers edit
//! src/calc.py (different lines): the merge radar reports that overlap before
//! the merge, and tells the master once. Every `name(` the protocol tells a
//! model to call must be among the master's offered tools.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::harness::*;

const CALC: &str = "\"\"\"A calculator.\"\"\"\n\n\ndef add(a, b):\n    return a + b\n\n\n# multiply goes here\n\n\ndef negate(a):\n    return -a\n\n\n# subtract goes here\n";

fn ic(tool: &str) -> String {
    format!("mcp__intercomm__{tool}")
}

fn am(tool: &str) -> String {
    format!("mcp__aimfp__{tool}")
}

/// The workers' script: §10 of system-prompt.md, one step per instruction.
fn rules() -> Value {
    let bash = |command: &str, description: &str| json!({"tool": "Bash", "input": {"command": command, "description": description}});
    json!({"rules": [
        {
            "name": "wake",
            "when": "You are worker (?P<id>worker-\\d+)\\.",
            "steps": [
                {"tool": ic("intercomm_register"), "input": {}},
                {"tool": ic("intercomm_read"), "input": {}}
            ],
            "final": "E2E {{id}}: registered, waiting for a task."
        },
        {
            "name": "task",
            "when": "New task from the master",
            "vars": {
                "id": "You are worker (worker-\\d+)\\.",
                "slug": "\\b(task-[a-z0-9-]+-[0-9a-f]{8})\\b",
                "user": "AIMFP user: (worker-\\d+)",
                "wt": "Worktree: (/[^\\s\"\\\\]+)",
                "fn": "Implement (\\w+) in src/calc\\.py",
                "op": "as a ([*-]) b",
                "tid": "\"id\": (\\d+), \"slug\": \"task-",
                "branch": "\\b(aimfp-worker-\\d+-\\d{3})\\b",
                "commit": "commit=([0-9a-f]{40})",
                "base": "(?m)^([0-9a-f]{40})$"
            },
            "steps": [
                // 2. Read the contract.
                {"tool": ic("intercomm_read"), "input": {}},
                // 3. Start AIMFP.
                {"tool": am("aimfp_run"), "input": {"is_new_session": true}},
                // 4. Isolation check.
                {"tool": am("get_project_root"), "input": {}},
                {"tool": am("get_source_directory"), "input": {}},
                // 5. Find the target by slug, then its context.
                {"tool": am("get_from_project_where"), "input": {"table": "tasks", "conditions": {"slug": "{{slug}}"}}},
                {"tool": am("get_task_context"), "input": {"task_id": "{{tid}}"}},
                // 6. Acknowledge.
                {"tool": ic("intercomm_send"), "input": {"to": "master", "type": "status", "message": "started task {{slug}} in {{wt}}"}},
                {"tool": ic("intercomm_set_summary"), "input": {"text": "implementing {{fn}} ({{slug}})"}},
                // 7. Branch, and confirm it.
                {"tool": am("create_user_branch"), "input": {"user": "{{user}}", "purpose": "implement {{fn}}"}},
                bash("git rev-parse --abbrev-ref HEAD", "Confirm the branch AIMFP created"),
                // 8. Work, validate, keep AIMFP's tracking up to date.
                {"tool": am("update_task"), "input": {"id": "{{tid}}", "status": "in_progress"}},
                {"tool": "Read", "input": {"file_path": "{{wt}}/src/calc.py"}},
                {"tool": "Edit", "input": {"file_path": "{{wt}}/src/calc.py", "old_string": "# {{fn}} goes here", "new_string": "def {{fn}}(a, b):\n    return a {{op}} b"}},
                bash("python3 -c \"import ast; ast.parse(open('src/calc.py').read())\"", "Validate: src/calc.py parses"),
                {"tool": am("update_task"), "input": {"id": "{{tid}}", "status": "completed"}},
                // 9. Commit source and project.db on the branch.
                bash("git add src/calc.py .aimfp-project/project.db && git -c user.name=e2e -c user.email=e2e@example.com commit -q -m 'Implement {{fn}}' && git log -1 --format=commit=%H", "Commit the code and AIMFP's project.db"),
                // 11. Completion gate, then done.
                bash("git merge-base main HEAD", "The branch point, for the completion gate"),
                {"tool": am("export_state_changeset"), "input": {"base_commit": "{{base}}", "branch": "{{branch}}", "worker_id": "{{id}}"}},
                {"tool": ic("intercomm_send"), "input": {"to": "master", "type": "done", "message": "branch={{branch}} commit={{commit}}"}}
            ],
            "final": "E2E {{id}}: done, {{branch}} at {{commit}}."
        }
    ]})
}

/// The project: src/calc.py, the hooks the radar needs (PostToolUse and a
/// Stop hook without mail delivery, which this scenario does not exercise),
/// and permissions for both MCP servers and the commands the script runs.
fn make_project(world: &World) {
    let bin = env!("CARGO_BIN_EXE_intercomm");
    let hook = |event: &str| {
        json!([{"hooks": [{"type": "command",
            "command": format!("INTERCOMM_HOOK_MAIL=0 '{bin}' hook {event}"), "timeout": 10}]}])
    };
    let mut post = hook("PostToolUse");
    post[0]["matcher"] = json!("Edit|Write|MultiEdit|NotebookEdit");
    let settings = json!({
        "permissions": {"allow": [
            "mcp__intercomm", "mcp__aimfp", "Bash(git:*)", "Bash(echo:*)", "Bash(python3:*)"
        ]},
        "hooks": {"PostToolUse": post, "Stop": hook("Stop")},
    });
    let written = std::fs::create_dir_all(world.repo.join("src"))
        .and_then(|()| std::fs::write(world.repo.join("src/calc.py"), CALC))
        .and_then(|()| {
            std::fs::write(
                world.repo.join(".claude/settings.json"),
                format!("{settings:#}\n"),
            )
        })
        .and_then(|()| {
            std::fs::write(
                world.repo.join(".gitignore"),
                ".intercomm-aimfp/\n.aimfp-project/changesets/\n.aimfp-project/watchdog/\n",
            )
        });
    if let Err(e) = written {
        fail(format!("cannot write the project: {e}"));
    }
    // merge_worker_branch runs `git merge`, which needs a committer identity
    // even though it does not commit (aimfp 1.69.0); the world's HOME has none.
    let identity = world
        .git(&["config", "user.name", "e2e"])
        .and_then(|_| world.git(&["config", "user.email", "e2e@example.com"]));
    if let Err(e) = identity {
        fail(format!("cannot set the repository's git identity: {e}"));
    }
    if let Err(e) = world.commit_all("calculator") {
        fail(format!("cannot commit the project: {e}"));
    }
}

/// Every `name(` call in system-prompt.md.
fn protocol_calls() -> Vec<String> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("system-prompt.md"))
            .unwrap_or_else(|e| fail(format!("system-prompt.md: {e}")));
    let mut names: Vec<String> = text
        .split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|code| {
            let (name, _) = code.split_once('(')?;
            (name.len() > 3
                && name.contains('_')
                && name.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .then(|| name.to_owned())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The master's script: §2, §8 and §9 of system-prompt.md, one step per
/// instruction, in three turns the user starts (plan and spawn; assign
/// once the workers are up; merge once both reported `done`). A worker's
/// worktree is read from spawn's result, as a model would.
fn master_rules(claude: &str) -> Vec<Value> {
    let bash = |command: String, description: &str| json!({"tool": "Bash", "input": {"command": command, "description": description}});
    let status = |id: &str, status: &str, branch: Option<&str>| {
        let mut input = json!({"worker_id": id, "status": status});
        if let Some(b) = branch {
            input["branch"] = json!(b);
        }
        json!({"tool": ic("intercomm_worktree_set_status"), "input": input})
    };
    let contract = |fname: &str, op: &str, id: &str, wt: &str| {
        format!(
            "Implement {fname} in src/calc.py as a {op} b, replacing the line `# {fname} goes here`. \
             You own that line only. AIMFP user: {id}. Worktree: {wt} (work only there). \
             Validate: src/calc.py must parse."
        )
    };
    // §9, per branch: intake gate, merge, commit, verify, record.
    let merge = |id: &str| -> Vec<Value> {
        let branch = format!("aimfp-{id}-001");
        vec![
            json!({"tool": am("get_merge_history"), "input": {"branch": branch}}),
            bash(
                format!("git merge-base main {branch}"),
                "The branch point, for the intake gate",
            ),
            json!({"tool": am("export_state_changeset"), "input": {"base_commit": "{{base}}", "branch": branch, "worker_id": id}}),
            status(id, "queued", None),
            status(id, "merging", None),
            json!({"tool": am("merge_worker_branch"), "input": {"branch": branch, "worker_id": id}}),
            bash(
                format!(
                    "git add src .aimfp-project/project.db && git commit -q -m 'Merge {branch}'"
                ),
                "Commit the merge before the next one",
            ),
            status(id, "verifying", None),
            bash(
                "python3 -c \"import ast; ast.parse(open('src/calc.py').read())\"".to_owned(),
                "Verify: src/calc.py parses",
            ),
            status(id, "merged", Some(&branch)),
        ]
    };
    let mut merge_steps = vec![
        // §8.6/8.8: read, check the branches, record done.
        json!({"tool": ic("intercomm_read"), "input": {}}),
        bash(
            "git rev-parse --verify aimfp-worker-1-001".to_owned(),
            "worker-1's branch exists",
        ),
        bash(
            "git rev-parse --verify aimfp-worker-2-001".to_owned(),
            "worker-2's branch exists",
        ),
        status("worker-1", "done", Some("aimfp-worker-1-001")),
        status("worker-2", "done", Some("aimfp-worker-2-001")),
        // §8.5/8.9: the radar and its merge order, before any merge.
        json!({"tool": ic("intercomm_worktree_list"), "input": {}}),
    ];
    merge_steps.extend(merge("worker-1"));
    merge_steps.extend(merge("worker-2"));
    merge_steps.extend([
        // The third branch: it conflicts; recorded, then abandoned.
        status("worker-3", "merging", None),
        json!({"tool": am("merge_worker_branch"), "input": {"branch": "aimfp-worker-3-001", "worker_id": "worker-3"}}),
        status("worker-3", "conflict", Some("aimfp-worker-3-001")),
        bash(
            "git merge --abort && git checkout HEAD -- .".to_owned(),
            "Abandon the conflicting merge",
        ),
        // §9 step 6.
        json!({"tool": am("aimfp_status"), "input": {}}),
        json!({"tool": am("sync_git_state"), "input": {}}),
        bash(
            "git add .aimfp-project/project.db && git commit -q -m 'AIMFP: git state synced'".to_owned(),
            "Commit the project.db sync_git_state wrote",
        ),
        json!({"tool": ic("intercomm_worktree_list"), "input": {}}),
        // §8.10.
        json!({"tool": ic("intercomm_teardown"), "input": {"worktrees": true, "force": true}}),
    ]);
    vec![
        json!({
            "name": "plan",
            "when": "AIMFP-PLAN",
            "vars": {
                "pid": "\"id\": (\\d+), \"error\": null, \"return_statements\": \\[\"THEMES: a completion path",
                "mid": "\"id\": (\\d+), \"error\": null, \"return_statements\": \\[\"FLOWS: a milestone",
                "tid": "\"id\": (\\d+), \"error\": null, \"return_statements\": \\[\"BEFORE STARTING WORK"
            },
            "steps": [
                // §2: register, look at the bus, start AIMFP.
                {"tool": ic("intercomm_register"), "input": {"role": "master"}},
                {"tool": ic("intercomm_status"), "input": {}},
                {"tool": am("aimfp_run"), "input": {"is_new_session": true}},
                // §8.1 and §9 Partitioning: the plan, slugs read back.
                {"tool": am("add_completion_path"), "input": {"name": "Core"}},
                {"tool": am("add_milestone"), "input": {"completion_path_id": "{{pid}}", "name": "Calculator core"}},
                {"tool": am("add_task"), "input": {"milestone_id": "{{mid}}", "name": "Implement multiply", "description": "multiply(a, b) in src/calc.py"}},
                {"tool": am("get_from_project_where"), "input": {"table": "tasks", "conditions": {"id": "{{tid}}"}}},
                {"tool": am("add_task"), "input": {"milestone_id": "{{mid}}", "name": "Implement subtract", "description": "subtract(a, b) in src/calc.py"}},
                {"tool": am("get_from_project_where"), "input": {"table": "tasks", "conditions": {"id": "{{tid}}"}}},
                {"tool": am("verify_fanout_ready"), "input": {}},
                bash("git add .aimfp-project/project.db && git commit -q -m 'AIMFP plan: milestone and two tasks'".to_owned(), "Commit project.db on main before the fan-out"),
                {"tool": am("verify_fanout_ready"), "input": {}},
                // A branch for a worker registered by hand (§8.2); the test
                // makes it conflict.
                {"tool": ic("intercomm_worktree_add"), "input": {"worker_id": "worker-3", "branch": "aimfp-worker-3-001"}},
                // §8.2–3: spawn with worktrees, confirm.
                {"tool": ic("intercomm_spawn"), "input": {
                    "count": 2, "worktrees": true, "perm_mode": "acceptEdits",
                    "claude_cmd": claude, "ready_timeout": 90}}
            ],
            "final": "E2E master: planned and spawned."
        }),
        json!({
            "name": "assign",
            "when": "AIMFP-ASSIGN",
            "vars": {
                "s1": "\\b(task-implement-multiply-[0-9a-f]{8})\\b",
                "s2": "\\b(task-implement-subtract-[0-9a-f]{8})\\b",
                "wt1": "\"worktree\":\\s*\"(/[^\"]*/worker-1)\"",
                "wt2": "\"worktree\":\\s*\"(/[^\"]*/worker-2)\""
            },
            // §8.3: confirm (each worker registered in its first turn);
            // §8.4: one contract per worker, by slug.
            "steps": [
                {"tool": ic("intercomm_status"), "input": {}},
                {"tool": ic("intercomm_assign"), "input": {"worker": "worker-1", "target_type": "task",
                    "target_slug": "{{s1}}", "role_instructions": contract("multiply", "*", "worker-1", "{{wt1}}")}},
                {"tool": ic("intercomm_assign"), "input": {"worker": "worker-2", "target_type": "task",
                    "target_slug": "{{s2}}", "role_instructions": contract("subtract", "-", "worker-2", "{{wt2}}")}}
            ],
            "final": "E2E master: assigned."
        }),
        json!({
            "name": "merge",
            "when": "AIMFP-MERGE",
            "vars": {"base": "(?m)^([0-9a-f]{40})$"},
            "steps": merge_steps,
            "final": "E2E master: merged, recorded, torn down."
        }),
    ]
}

/// The results of `tool` in a finished turn, in order, parsed as JSON
/// (a text that is not JSON becomes `{"text": …}`), each with `is_error`.
fn results_of(turn: &Value, tool: &str) -> Vec<Value> {
    turn["result_texts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["tool"] == tool)
        .map(|r| {
            let text = r["text"].as_str().unwrap_or_default();
            let mut v: Value = serde_json::from_str(text).unwrap_or_else(|_| json!({"text": text}));
            if let Some(o) = v.as_object_mut() {
                o.insert("is_error".into(), r["is_error"].clone());
            }
            v
        })
        .collect()
}

/// Whether the bus holds a `done` message from `id` to the master (read
/// straight from the database, so nothing is marked read).
fn done_on_bus(world: &World, id: &str) -> bool {
    let Ok(conn) = rusqlite::Connection::open(world.repo.join(".intercomm-aimfp/intercomm.db"))
    else {
        return false;
    };
    conn.query_row(
        "SELECT COUNT(*) FROM messages WHERE from_id = ?1 AND to_id = 'master' AND type = 'done'",
        [id],
        |r| r.get::<_, i64>(0),
    )
    .is_ok_and(|n| n > 0)
}

fn field(content: &str, key: &str) -> String {
    content
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aimfp_round_tasks_in_branches_merged_through_the_bridge() {
    let python = aimfp_python();
    let claude = claude_bin().display().to_string();
    let worktree =
        |dir: &Path, id: &str| -> PathBuf { dir.join(".intercomm-worktrees/repo").join(id) };
    let mut script = rules();
    if let Some(all) = script["rules"].as_array_mut() {
        all.extend(master_rules(&claude));
    }
    let world = World::new("aimfp_round", script);
    let ids = ["worker-1", "worker-2"];
    let wt = |id: &str| worktree(&world.dir, id);
    world.add_aimfp_to_claude(&python);
    make_project(&world);

    // The project under the fleet is an AIMFP project (the user's, before
    // the fleet): initialised and committed, with no plan yet.
    let aimfp_main = world.aimfp_client(&python, &world.repo).await;
    aimfp(
        &aimfp_main,
        "aimfp_init",
        json!({"project_root": world.repo.display().to_string()}),
    )
    .await;
    aimfp(
        &aimfp_main,
        "create_project",
        json!({"name": "calc", "purpose": "A calculator", "goals": ["multiply", "subtract"]}),
    )
    .await;
    world
        .commit_all("AIMFP project")
        .unwrap_or_else(|e| fail(e));
    let _ = aimfp_main.cancel().await;

    // The master: a real Claude Code in the main checkout, driven by the
    // stand-in model; the user trusts the folder and its MCP server.
    world
        .start_master(&[&claude, "--permission-mode", "acceptEdits"], true)
        .await;

    // Turn 1: plan and spawn.
    world
        .submit(
            "master",
            "AIMFP-PLAN: you are the master. Plan multiply and subtract as AIMFP tasks and spawn two workers.",
        )
        .await;
    let plan = world.turn_done(&world.repo, "AIMFP-PLAN", 300).await;
    eprintln!(
        "e2e: the master's plan turn: {}",
        short(&plan["reply"].to_string(), 300)
    );
    world.check(
        plan["rule"] == "plan"
            && plan["reply"]["stop_reason"] == "end_turn"
            && plan["reply"].to_string().contains("planned and spawned"),
        format!(
            "the master's plan turn did not finish its steps: {}",
            plan["reply"]
        ),
    );
    // §2 preflight, checked against what the master was offered: every
    // `name(` the protocol tells a model to call is one of its tools.
    let offered: Vec<String> = plan["mcp_tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str())
        .filter_map(|t| t.rsplit("__").next().map(str::to_owned))
        .collect();
    for name in protocol_calls() {
        world.check(
            offered.contains(&name),
            format!("system-prompt.md calls `{name}(…)`, which the master (AIMFP {AIMFP_VERSION} and intercomm) is not offered"),
        );
    }
    for r in plan["result_texts"].as_array().into_iter().flatten() {
        world.check(
            r["is_error"] == false,
            format!("the master's plan step failed: {r}"),
        );
    }
    let run = results_of(&plan, &am("aimfp_run"));
    world.check(
        run.first()
            .is_some_and(|r| r.to_string().contains("INTERCOMMAIMFP DETECTED")),
        "the master's aimfp_run carries no InterComm note although the bus exists",
    );
    let fanout = results_of(&plan, &am("verify_fanout_ready"));
    world.check(
        fanout.len() == 2
            && fanout[0]["data"]["ready"] == false
            && fanout[1]["data"]["ready"] == true,
        format!(
            "verify_fanout_ready should say not ready, then ready after the commit: {fanout:?}"
        ),
    );
    let slugs: Vec<String> = results_of(&plan, &am("get_from_project_where"))
        .iter()
        .filter_map(|r| r["records"][0]["slug"].as_str().map(str::to_owned))
        .collect();
    if slugs.len() != 2 || !slugs.iter().all(|s| s.starts_with("task-implement-")) {
        fail(format!("the master read back no two task slugs: {slugs:?}"));
    }
    let out = results_of(&plan, &ic("intercomm_spawn"))
        .pop()
        .unwrap_or_else(|| fail("the master did not spawn"));

    // A third branch, cut from the same base, made to conflict: it writes
    // multiply differently on the line worker-1 changes.
    let w3 = wt("worker-3");
    std::fs::write(
        w3.join("src/calc.py"),
        CALC.replace(
            "# multiply goes here",
            "def multiply(a, b):\n    return b * a  # worker-3",
        ),
    )
    .unwrap_or_else(|e| fail(e));
    world
        .git_in(&w3, &["add", "src/calc.py"])
        .and_then(|_| {
            world.git_in(
                &w3,
                &[
                    "-c",
                    "user.name=e2e",
                    "-c",
                    "user.email=e2e@example.com",
                    "commit",
                    "-q",
                    "-m",
                    "worker-3: multiply, differently",
                ],
            )
        })
        .unwrap_or_else(|e| fail(e));

    for id in ids {
        let woken = spawned(&out, id)["woken"] == true;
        if !woken {
            // Seen on a loaded machine: spawn could not see its pasted wake
            // text in time and pressed no Enter. Do what a person would.
            world.note(format!(
                "{id}: spawn could not see its wake submitted: {}",
                spawned(&out, id)
            ));
            let probe = format!("You are worker {id}.");
            if prompt_box(&world.capture(id)).is_some_and(|b| b.contains(&probe)) {
                let _ = world.tmux(&["send-keys", "-t", &format!("={id}:"), "Enter"]);
            } else {
                world.submit(id, &wake_prompt(id)).await;
            }
        }
        world
            .turn_done(&wt(id), &format!("You are worker {id}."), 120)
            .await;
        if woken {
            check_spawned(&world, &out, id, &wt(id)).await;
        }
        world.idle(id, 30).await;
    }

    // Turn 2: one contract per worker.
    world.idle("master", 30).await;
    world
        .submit(
            "master",
            "AIMFP-ASSIGN: the workers are up; give each its task.",
        )
        .await;
    let assign = world.turn_done(&world.repo, "AIMFP-ASSIGN", 120).await;
    let confirmed = results_of(&assign, &ic("intercomm_status"))
        .pop()
        .unwrap_or(Value::Null)
        .to_string();
    world.check(
        ids.iter()
            .all(|id| confirmed.contains(&format!("\"{id}\""))),
        format!(
            "the master's intercomm_status does not show both workers: {}",
            short(&confirmed, 600)
        ),
    );
    let assigned = results_of(&assign, &ic("intercomm_assign"));
    world.check(
        assigned.len() == 2 && assigned.iter().all(|a| a["woke"] == true),
        format!("assign did not wake both workers: {assigned:?}"),
    );

    // The workers run their contracts (§10); the user waits for both
    // `done` reports to be on the bus.
    world
        .until(300, "both workers' done messages on the bus", || {
            ids.iter().all(|id| done_on_bus(&world, id)).then_some(())
        })
        .await;
    for (i, id) in ids.iter().enumerate() {
        let turn = world
            .turn_done(&wt(id), "New task from the master", 60)
            .await;
        let results = turn["result_texts"].as_array().cloned().unwrap_or_default();
        let root = results
            .iter()
            .find(|r| r["tool"] == am("get_project_root"))
            .map(|r| r["text"].to_string())
            .unwrap_or_default();
        world.check(
            root.contains(&wt(id).display().to_string()),
            format!("{id}: get_project_root is not its worktree: {root}"),
        );
        for r in &results {
            let tolerated = r["tool"] == am("get_source_directory");
            world.check(
                r["is_error"] == false || tolerated,
                format!("{id}: a protocol step failed: {r}"),
            );
        }
        let export = results
            .iter()
            .find(|r| r["tool"] == am("export_state_changeset"))
            .map(|r| r["text"].to_string())
            .unwrap_or_default();
        world.check(
            export.contains(&slugs[i]),
            format!("{id}: its completion gate's changeset does not carry its task: {export}"),
        );
        let done = results
            .iter()
            .filter(|r| r["tool"] == ic("intercomm_send"))
            .filter_map(|r| r["text"].as_str())
            .count();
        world.check(
            done == 2,
            format!("{id}: sent {done} message(s), want 2 (started, done)"),
        );
        let branch = format!("aimfp-{id}-001");
        let changed = world
            .git(&["diff", "--name-only", &format!("main..{branch}")])
            .unwrap_or_default();
        world.check(
            changed.lines().any(|l| l == "src/calc.py")
                && changed.lines().any(|l| l == ".aimfp-project/project.db"),
            format!("{id}: its branch should change src/calc.py and project.db: {changed:?}"),
        );
    }

    // Turn 3: collect, look at the radar, merge one branch at a time.
    world.idle("master", 30).await;
    world
        .submit(
            "master",
            "AIMFP-MERGE: both workers reported done; merge their branches.",
        )
        .await;
    let merged = world.turn_done(&world.repo, "AIMFP-MERGE", 600).await;
    world.check(
        merged["rule"] == "merge"
            && merged["reply"]
                .to_string()
                .contains("merged, recorded, torn down"),
        format!(
            "the master's merge turn did not finish its steps: {}",
            merged["reply"]
        ),
    );

    // What the master read: both reports with branch and commit, and the
    // radar's notice about src/calc.py, once.
    let read = results_of(&merged, &ic("intercomm_read"));
    let messages: Vec<Value> = read
        .iter()
        .flat_map(|r| r["messages"].as_array().cloned().unwrap_or_default())
        .collect();
    for id in ids {
        let report = messages
            .iter()
            .find(|m| m["from"] == id && m["type"] == "done")
            .unwrap_or_else(|| {
                fail(format!(
                    "the master read no done message from {id}: {messages:?}"
                ))
            });
        let content = report["content"].as_str().unwrap_or_default();
        let (branch, commit) = (field(content, "branch"), field(content, "commit"));
        world.check(
            branch == format!("aimfp-{id}-001"),
            format!("{id}: reported branch {branch:?} (create_user_branch names aimfp-<user>-001)"),
        );
        let head = world
            .git(&["rev-parse", &format!("refs/heads/{branch}")])
            .unwrap_or_default();
        world.check(
            head.trim() == commit,
            format!("{id}: branch {branch} is at {head:?}, reported {commit}"),
        );
    }
    let radar_notes: Vec<&str> = messages
        .iter()
        .filter_map(|m| m["content"].as_str())
        .filter(|c| c.starts_with("merge radar:") && c.contains("src/calc.py"))
        .collect();
    world.check(
        radar_notes.len() == 1,
        format!("the master should be told once about src/calc.py, was told: {radar_notes:?}"),
    );

    // The radar the master looked at before any merge.
    let lists = results_of(&merged, &ic("intercomm_worktree_list"));
    let before = lists.first().cloned().unwrap_or(Value::Null);
    eprintln!("e2e: radar before the merge: {}", before["radar"]);
    let overlap = before["radar"]["overlaps"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["path"] == "src/calc.py").cloned())
        .unwrap_or(Value::Null);
    world.check(
        overlap["workers"] == json!(["worker-1", "worker-2", "worker-3"])
            || overlap["workers"] == json!(["worker-1", "worker-2"]),
        format!(
            "the radar does not show worker-1 and worker-2 on src/calc.py: {}",
            before["radar"]
        ),
    );
    world.check(
        before["radar"]["overlaps"]
            .as_array()
            .is_some_and(|o| o.iter().all(|o| o["path"] != ".aimfp-project/project.db")),
        format!("project.db counted as an overlap: {}", before["radar"]),
    );

    // Each merge: the intake gate's changeset is not empty, the bridge
    // merged (§9 step 5: a project.db-only "conflict" is clean), every
    // status step was accepted.
    let changesets = results_of(&merged, &am("export_state_changeset"));
    world.check(
        changesets.len() == 2
            && changesets.iter().all(|cs| {
                cs["data"]["entities"]
                    .as_array()
                    .is_some_and(|e| !e.is_empty())
            }),
        format!("an empty changeset at the intake gate: {changesets:?}"),
    );
    let merges = results_of(&merged, &am("merge_worker_branch"));
    for (i, m) in merges.iter().take(2).enumerate() {
        let data = &m["data"];
        let source: Vec<String> = data["source_merge"]["conflicts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect();
        let db_conflicts = data["conflicts"].as_array().map_or(0, Vec::len);
        let clean = data["status"] == "merged"
            || (db_conflicts == 0 && source == [".aimfp-project/project.db"]);
        world.check(
            clean,
            format!(
                "{}: merge_worker_branch reported a real conflict: {m}",
                ids[i]
            ),
        );
        if data["status"] != "merged" {
            world.note(format!(
                "{}: AIMFP said status={} with source conflicts {source:?} and no DB conflict; recorded merged as §9 says",
                ids[i], data["status"]
            ));
        }
    }
    let third = merges.get(2).cloned().unwrap_or(Value::Null);
    world.check(
        third["data"]["status"] == "conflict"
            && third["data"]["source_merge"]["conflicts"]
                .to_string()
                .contains("src/calc.py"),
        format!("aimfp-worker-3-001 should conflict on src/calc.py: {third}"),
    );
    for r in results_of(&merged, &ic("intercomm_worktree_set_status")) {
        world.check(
            r["is_error"] == false,
            format!("a status step was refused: {r}"),
        );
    }
    let after = lists.get(1).cloned().unwrap_or(Value::Null);
    for (id, want) in [
        ("worker-1", "merged"),
        ("worker-2", "merged"),
        ("worker-3", "conflict"),
    ] {
        let row = after["worktrees"]
            .as_array()
            .and_then(|ws| ws.iter().find(|w| w["worker_id"] == id).cloned())
            .unwrap_or(Value::Null);
        world.check(
            row["status"] == want,
            format!("{id}: status {} (want {want})", row["status"]),
        );
    }

    // Main holds both workers' code, committed, and both tasks completed.
    let calc = world.git(&["show", "HEAD:src/calc.py"]).unwrap_or_default();
    world.check(
        calc.contains("return a * b")
            && calc.contains("return a - b")
            && !calc.contains("worker-3"),
        format!("main does not hold both workers' code (and only theirs):\n{calc}"),
    );
    let status = world
        .git(&[
            "status",
            "--porcelain",
            "--",
            "src",
            ".aimfp-project/project.db",
        ])
        .unwrap_or_default();
    world.check(
        status.trim().is_empty(),
        format!("main's code or project.db is left uncommitted: {status}"),
    );
    let check = world.aimfp_client(&python, &world.repo).await;
    aimfp(&check, "aimfp_run", json!({"is_new_session": true})).await;
    for slug in &slugs {
        let rows = aimfp(
            &check,
            "get_from_project_where",
            json!({"table": "tasks", "conditions": {"slug": slug}}),
        )
        .await;
        world.check(
            rows["records"][0]["status"] == "completed",
            format!("{slug}: main's task is not completed after the merge: {rows}"),
        );
    }
    let _ = check.cancel().await;

    // §8.10: the master tore the fleet down, worktrees included.
    for id in ids {
        world.check(
            !wt(id).exists(),
            format!("{id}: worktree left after the master's teardown"),
        );
    }
    world.check_torn_down(&["master"]).await;
    world.finish();
}
