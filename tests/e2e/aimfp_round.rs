//! The whole loop with the real AIMFP (PyPI `aimfp`, run from its own venv,
//! see harness::aimfp) and real Claude Code workers.
//!
//! The project is an AIMFP project. The master's side runs through real MCP
//! clients of both servers (intercomm's `intercomm mcp` and AIMFP's
//! `python -m aimfp` in the main checkout), step by step as system-prompt.md
//! §8–§9 says: it creates a milestone and two tasks, reads their slugs
//! back, commits `project.db`, checks `verify_fanout_ready`, spawns two
//! workers with worktrees and assigns each a contract pointing at its task
//! by slug. Each worker is a real Claude Code with both MCP servers (AIMFP
//! as a user-scope server, so each worker's AIMFP binds to its worktree),
//! scripted to follow §10 step by step: `aimfp_run`, the isolation check,
//! the slug lookup, `create_user_branch`, an Edit of the shared file, the
//! task's status, a commit of code and `project.db`, the completion gate and
//! `done`. Both workers edit src/calc.py (different lines): the merge radar
//! must report that overlap before the merge, and tell the master once. The
//! master then merges each branch with `merge_worker_branch`, commits after
//! each and records `merged`; a third branch, made to conflict, ends as
//! `conflict`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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

async fn tool_names(client: &Client) -> Vec<String> {
    match client.list_all_tools().await {
        Ok(tools) => tools.into_iter().map(|t| t.name.to_string()).collect(),
        Err(e) => fail(format!("tools/list failed: {e}")),
    }
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
    let world = World::new("aimfp_round", rules());
    world.add_aimfp_to_claude(&python);
    make_project(&world);
    let master = world.master(&[]).await;
    let aimfp_main = world.aimfp_client(&python, &world.repo).await;
    let ids = ["worker-1", "worker-2"];
    let worktree = |id: &str| -> PathBuf { world.dir.join(".intercomm-worktrees/repo").join(id) };

    // §2 master preflight, and the protocol's names checked against both
    // real tools/lists: every `name(` it tells a model to call exists.
    let aimfp_tools = tool_names(&aimfp_main).await;
    let intercomm_tools = tool_names(&master).await;
    for name in protocol_calls() {
        world.check(
            aimfp_tools.contains(&name) || intercomm_tools.contains(&name),
            format!("system-prompt.md calls `{name}(…)`, which neither AIMFP {AIMFP_VERSION} nor intercomm offers"),
        );
    }

    // The AIMFP project, its plan, committed before the fan-out.
    aimfp(
        &aimfp_main,
        "aimfp_init",
        json!({"project_root": world.repo.display().to_string()}),
    )
    .await;
    let run = aimfp(&aimfp_main, "aimfp_run", json!({"is_new_session": true})).await;
    world.check(
        run.to_string().contains("INTERCOMMAIMFP DETECTED"),
        "the master's aimfp_run carries no InterComm note although the bus exists",
    );
    aimfp(
        &aimfp_main,
        "create_project",
        json!({"name": "calc", "purpose": "A calculator", "goals": ["multiply", "subtract"]}),
    )
    .await;
    let path = aimfp(&aimfp_main, "add_completion_path", json!({"name": "Core"})).await;
    let milestone = aimfp(
        &aimfp_main,
        "add_milestone",
        json!({"completion_path_id": path["id"], "name": "Calculator core"}),
    )
    .await;
    let mut slugs = Vec::new();
    for (name, description) in [
        ("Implement multiply", "multiply(a, b) in src/calc.py"),
        ("Implement subtract", "subtract(a, b) in src/calc.py"),
    ] {
        let task = aimfp(
            &aimfp_main,
            "add_task",
            json!({"milestone_id": milestone["id"], "name": name, "description": description}),
        )
        .await;
        // §9: add tools return only an id; read the slug back.
        let rows = aimfp(
            &aimfp_main,
            "get_from_project_where",
            json!({"table": "tasks", "conditions": {"id": task["id"]}}),
        )
        .await;
        let slug = rows["records"][0]["slug"].as_str().unwrap_or_default();
        if !slug.starts_with("task-implement-") {
            fail(format!("no slug read back for {name}: {rows}"));
        }
        slugs.push(slug.to_owned());
    }
    let early = aimfp(&aimfp_main, "verify_fanout_ready", json!({})).await;
    world.check(
        early["data"]["ready"] == false,
        format!("verify_fanout_ready was ready with project.db uncommitted: {early}"),
    );
    world
        .commit_all("AIMFP project: milestone and two tasks")
        .unwrap_or_else(|e| fail(e));
    let ready = aimfp(&aimfp_main, "verify_fanout_ready", json!({})).await;
    if ready["data"]["ready"] != true {
        fail(format!("verify_fanout_ready after the commit: {ready}"));
    }

    // A third branch, cut now from the same base, that will conflict: it
    // writes multiply differently on the line worker-1 changes.
    ok(
        &master,
        "intercomm_worktree_add",
        json!({"worker_id": "worker-3", "branch": "aimfp-worker-3-001"}),
    )
    .await;
    let w3 = worktree("worker-3");
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

    // §8.2–3: spawn with worktrees, confirm.
    let out = ok(
        &master,
        "intercomm_spawn",
        json!({"count": 2, "worktrees": true, "perm_mode": "acceptEdits",
               "claude_cmd": world.claude.display().to_string(), "ready_timeout": 90}),
    )
    .await;
    for id in ids {
        let woken = spawned(&out, id)["woken"] == true;
        if !woken {
            // Seen on a loaded machine (load average > 10 on 2 cores): the
            // pasted wake text did not show within spawn's window, so spawn
            // pressed no Enter. Do what a person would: submit what the box
            // holds, or type the wake prompt. (Spawn's wake is fleet_round's
            // subject; this scenario is about the AIMFP loop.)
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
            .turn_done(&worktree(id), &format!("You are worker {id}."), 120)
            .await;
        if woken {
            check_spawned(&world, &out, id, &worktree(id)).await;
        }
    }

    // §8.4: one contract per worker, by slug.
    for (i, id) in ids.iter().enumerate() {
        let (fname, op) = if i == 0 {
            ("multiply", "*")
        } else {
            ("subtract", "-")
        };
        world.idle(id, 30).await;
        let assigned = ok(
            &master,
            "intercomm_assign",
            json!({"worker": id, "target_type": "task", "target_slug": slugs[i],
                   "role_instructions": format!(
                       "Implement {fname} in src/calc.py as a {op} b, replacing the line `# {fname} goes here`. \
                        You own that line only. AIMFP user: {id}. Worktree: {} (work only there). \
                        Validate: src/calc.py must parse.",
                       worktree(id).display())}),
        )
        .await;
        world.check(
            assigned["woke"] == true,
            format!("{id}: assign did not wake it: {assigned}"),
        );
    }

    // §8.6/8.8: collect `done`; the radar's notice arrives on the way.
    let mut reports: Vec<Value> = Vec::new();
    let mut radar_notes: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    while reports.len() < 2 {
        let read = ok(&master, "intercomm_read", json!({})).await;
        for m in read["messages"].as_array().into_iter().flatten() {
            let content = m["content"].as_str().unwrap_or_default();
            if m["type"] == "done" {
                reports.push(m.clone());
            } else if content.starts_with("merge radar:") {
                radar_notes.push(content.to_owned());
            }
        }
        if Instant::now() > deadline {
            fail(format!(
                "timed out waiting for two done messages; got {reports:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut branches = Vec::new();
    for id in ids {
        let report = reports
            .iter()
            .find(|m| m["from"] == id)
            .unwrap_or_else(|| fail(format!("no done message from {id}: {reports:?}")));
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
        let changed = world
            .git(&["diff", "--name-only", &format!("main..{commit}")])
            .unwrap_or_default();
        world.check(
            changed.lines().any(|l| l == "src/calc.py")
                && changed.lines().any(|l| l == ".aimfp-project/project.db"),
            format!("{id}: its commit should change src/calc.py and project.db: {changed:?}"),
        );
        // Each worker's own AIMFP bound to its worktree (§10.4).
        let turn = world
            .turn_done(&worktree(id), "New task from the master", 60)
            .await;
        let results = turn["result_texts"].as_array().cloned().unwrap_or_default();
        let root = results
            .iter()
            .find(|r| r["tool"] == am("get_project_root"))
            .map(|r| r["text"].to_string())
            .unwrap_or_default();
        world.check(
            root.contains(&worktree(id).display().to_string()),
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
            export.contains(&slugs[ids.iter().position(|i| *i == id).unwrap_or(0)]),
            format!("{id}: its completion gate's changeset does not carry its task: {export}"),
        );
        ok(
            &master,
            "intercomm_worktree_set_status",
            json!({"worker_id": id, "status": "done", "branch": branch}),
        )
        .await;
        branches.push(branch);
    }

    // The radar, before any merge: both workers changed src/calc.py.
    let list = ok(&master, "intercomm_worktree_list", json!({})).await;
    let overlap = list["radar"]["overlaps"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["path"] == "src/calc.py").cloned())
        .unwrap_or(Value::Null);
    world.check(
        overlap["workers"] == json!(["worker-1", "worker-2", "worker-3"])
            || overlap["workers"] == json!(["worker-1", "worker-2"]),
        format!(
            "the radar does not show worker-1 and worker-2 on src/calc.py: {}",
            list["radar"]
        ),
    );
    world.check(
        list["radar"]["overlaps"]
            .as_array()
            .is_some_and(|o| o.iter().all(|o| o["path"] != ".aimfp-project/project.db")),
        format!("project.db counted as an overlap: {}", list["radar"]),
    );
    let scan = ok(&master, "intercomm_scan", json!({})).await;
    world.check(
        scan["radar"]["overlaps"] == list["radar"]["overlaps"],
        format!("scan's radar differs: {}", scan["radar"]),
    );
    let read = ok(&master, "intercomm_read", json!({})).await;
    radar_notes.extend(
        read["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["content"].as_str())
            .filter(|c| c.starts_with("merge radar:"))
            .map(str::to_owned),
    );
    let calc_notes: Vec<&String> = radar_notes
        .iter()
        .filter(|n| n.contains("src/calc.py"))
        .collect();
    world.check(
        calc_notes.len() == 1,
        format!("the master should be told once about src/calc.py, was told: {radar_notes:?}"),
    );
    eprintln!("e2e: radar before the merge: {}", list["radar"]);

    // §9: intake gate, then merge one branch at a time, commit after each.
    for (id, branch) in ids.iter().zip(&branches) {
        let history = aimfp(&aimfp_main, "get_merge_history", json!({"branch": branch})).await;
        world.check(
            history["data"]["already_merged"] != true,
            format!("{branch}: already merged before its merge: {history}"),
        );
        let base = world
            .git(&["merge-base", "main", branch])
            .unwrap_or_default()
            .trim()
            .to_owned();
        let cs = aimfp(
            &aimfp_main,
            "export_state_changeset",
            json!({"base_commit": base, "branch": branch, "worker_id": id}),
        )
        .await;
        world.check(
            cs["data"]["entities"]
                .as_array()
                .is_some_and(|e| !e.is_empty()),
            format!("{branch}: empty changeset at the intake gate: {cs}"),
        );
        ok(
            &master,
            "intercomm_worktree_set_status",
            json!({"worker_id": id, "status": "queued"}),
        )
        .await;
        ok(
            &master,
            "intercomm_worktree_set_status",
            json!({"worker_id": id, "status": "merging"}),
        )
        .await;
        let merged = aimfp(
            &aimfp_main,
            "merge_worker_branch",
            json!({"branch": branch, "worker_id": id}),
        )
        .await;
        let data = &merged["data"];
        let source_conflicts: Vec<String> = data["source_merge"]["conflicts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect();
        let db_conflicts = data["conflicts"].as_array().map_or(0, Vec::len);
        // §9 step 5: a project.db-only "conflict" is a clean merge.
        let status = if data["status"] == "merged"
            || (db_conflicts == 0 && source_conflicts == [".aimfp-project/project.db"])
        {
            "merged"
        } else {
            "conflict"
        };
        world.check(
            status == "merged",
            format!("{branch}: merge_worker_branch reported a real conflict: {merged}"),
        );
        if data["status"] != "merged" {
            world.note(format!(
                "{branch}: AIMFP said status={} with source conflicts {source_conflicts:?} and no DB conflict; recorded merged as §9 says",
                data["status"]
            ));
        }
        // §9 step 4: commit before the next merge.
        world
            .git(&["add", "src", ".aimfp-project/project.db"])
            .and_then(|_| {
                world.git(&[
                    "-c",
                    "user.name=e2e",
                    "-c",
                    "user.email=e2e@example.com",
                    "commit",
                    "-q",
                    "-m",
                    &format!("Merge {branch}"),
                ])
            })
            .unwrap_or_else(|e| fail(format!("{branch}: cannot commit the merge: {e}")));
        ok(
            &master,
            "intercomm_worktree_set_status",
            json!({"worker_id": id, "status": "verifying"}),
        )
        .await;
        let calc = std::fs::read_to_string(world.repo.join("src/calc.py")).unwrap_or_default();
        let wanted = if *id == "worker-1" {
            "def multiply(a, b):"
        } else {
            "def subtract(a, b):"
        };
        world.check(
            calc.contains(wanted),
            format!("{branch}: main's src/calc.py lacks {wanted:?}:\n{calc}"),
        );
        ok(
            &master,
            "intercomm_worktree_set_status",
            json!({"worker_id": id, "status": "merged", "branch": branch}),
        )
        .await;
    }
    let calc = std::fs::read_to_string(world.repo.join("src/calc.py")).unwrap_or_default();
    world.check(
        calc.contains("return a * b") && calc.contains("return a - b"),
        format!("main does not hold both workers' code:\n{calc}"),
    );
    // Both tasks reached main's project.db through the changesets.
    for slug in &slugs {
        let rows = aimfp(
            &aimfp_main,
            "get_from_project_where",
            json!({"table": "tasks", "conditions": {"slug": slug}}),
        )
        .await;
        world.check(
            rows["records"][0]["status"] == "completed",
            format!("{slug}: main's task is not completed after the merge: {rows}"),
        );
    }

    // The third branch conflicts on src/calc.py.
    ok(
        &master,
        "intercomm_worktree_set_status",
        json!({"worker_id": "worker-3", "status": "merging"}),
    )
    .await;
    let (_, third) = aimfp_any(
        &aimfp_main,
        "merge_worker_branch",
        json!({"branch": "aimfp-worker-3-001", "worker_id": "worker-3"}),
    )
    .await;
    let conflicts = third["data"]["source_merge"]["conflicts"].to_string();
    world.check(
        third["data"]["status"] == "conflict" && conflicts.contains("src/calc.py"),
        format!("aimfp-worker-3-001 should conflict on src/calc.py: {third}"),
    );
    ok(
        &master,
        "intercomm_worktree_set_status",
        json!({"worker_id": "worker-3", "status": "conflict", "branch": "aimfp-worker-3-001"}),
    )
    .await;
    // Abandon it: main back to its last commit.
    world
        .git(&["merge", "--abort"])
        .and_then(|_| world.git(&["checkout", "HEAD", "--", "."]))
        .unwrap_or_else(|e| fail(format!("cannot abort the conflicting merge: {e}")));

    let list = ok(&master, "intercomm_worktree_list", json!({})).await;
    for (id, want) in [
        ("worker-1", "merged"),
        ("worker-2", "merged"),
        ("worker-3", "conflict"),
    ] {
        let row = list["worktrees"]
            .as_array()
            .and_then(|ws| ws.iter().find(|w| w["worker_id"] == id).cloned())
            .unwrap_or(Value::Null);
        world.check(
            row["status"] == want,
            format!("{id}: status {} (want {want})", row["status"]),
        );
    }

    // §8.10: teardown with worktrees; the kept ones go with force.
    let down = ok(
        &master,
        "intercomm_teardown",
        json!({"worktrees": true, "force": true}),
    )
    .await;
    for id in ["worker-1", "worker-2"] {
        world.check(
            !worktree(id).exists(),
            format!("{id}: worktree left after teardown: {down}"),
        );
    }
    world.check_torn_down(&[]).await;
    let _ = aimfp_main.cancel().await;
    let _ = master.cancel().await;
    world.finish();
}
