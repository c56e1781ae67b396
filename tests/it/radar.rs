//! The merge radar end to end through the binary: PostToolUse and Stop hooks
//! of two workers in real worktrees record what they write; the master is
//! told once about a shared path; status, worktree list (and so scan) show
//! the overlap and a merge order.

use serde_json::{Value, json};

use crate::support::*;

fn hook(project: &Project, id: &str, event: &str, input: &Value) {
    project
        .cli()
        .args(["hook", event])
        .env("INTERCOMM_WORKER_ID", id)
        .env_remove("TMUX_PANE")
        .env("INTERCOMM_HOOK_MAIL", "0")
        .write_stdin(input.to_string())
        .assert()
        .success()
        .stderr("");
}

fn json_of(project: &Project, args: &[&str]) -> TestResult<Value> {
    let out = project.cli().arg("--json").args(args).assert().success();
    Ok(serde_json::from_slice(&out.get_output().stdout)?)
}

fn radar_notices(project: &Project) -> TestResult<Vec<String>> {
    let read = json_of(project, &["read", "--id", "master", "--all"])?;
    Ok(read["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["content"].as_str())
        .filter(|c| c.starts_with("merge radar:"))
        .map(str::to_owned)
        .collect())
}

#[test]
fn hooks_feed_the_radar_and_the_master_is_told_once() -> TestResult {
    let project = Project::git()?;
    project.register_master();
    let mut wt = Vec::new();
    for id in ["worker-1", "worker-2"] {
        project
            .cli()
            .args(["register", "--id", id])
            .assert()
            .success();
        project
            .cli()
            .args(["worktree", "add", id])
            .assert()
            .success();
        wt.push(project.paths().worktree_path(id));
    }
    let write = |path: &std::path::Path| {
        json!({"hook_event_name": "PostToolUse", "tool_name": "Write",
               "tool_input": {"file_path": path.display().to_string(), "content": "x"},
               "tool_response": {"type": "create"}})
    };
    // worker-1 writes src/calc.py and its own file; a Read is not a write.
    std::fs::create_dir_all(wt[0].join("src"))?;
    std::fs::write(wt[0].join("src/calc.py"), "one\n")?;
    hook(
        &project,
        "worker-1",
        "PostToolUse",
        &write(&wt[0].join("src/calc.py")),
    );
    hook(
        &project,
        "worker-1",
        "PostToolUse",
        &write(&wt[0].join("src/one.py")),
    );
    hook(
        &project,
        "worker-1",
        "PostToolUse",
        &json!({"tool_name": "Read", "tool_input": {"file_path": wt[0].join("README.md")}}),
    );
    assert!(radar_notices(&project)?.is_empty());
    // worker-2 edits the same path (relative to its own worktree).
    std::fs::create_dir_all(wt[1].join("src"))?;
    let edit = json!({"tool_name": "Edit",
        "tool_input": {"file_path": wt[1].join("src/calc.py"), "old_string": "a", "new_string": "b"}});
    hook(&project, "worker-2", "PostToolUse", &edit);
    hook(&project, "worker-2", "PostToolUse", &edit);
    let notices = radar_notices(&project)?;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].contains("worker-2 changed src/calc.py that worker-1 changed too"));

    // A file worker-2 made with Bash shows up at Stop (git status).
    std::fs::write(wt[1].join("made_by_bash.txt"), "b")?;
    hook(
        &project,
        "worker-2",
        "Stop",
        &json!({"hook_event_name": "Stop"}),
    );

    let list = json_of(&project, &["worktree", "list"])?;
    let radar = &list["radar"];
    assert_eq!(
        radar["overlaps"],
        json!([{"path": "src/calc.py", "workers": ["worker-1", "worker-2"]}]),
        "{radar}"
    );
    let w2 = &radar["workers"][1];
    assert_eq!(w2["worker"], "worker-2");
    assert!(
        w2["files"]
            .as_array()
            .is_some_and(|f| f.contains(&json!("made_by_bash.txt"))),
        "{w2}"
    );
    assert_eq!(w2["overlaps_with"], json!(["worker-1"]));
    let status = json_of(&project, &["status"])?;
    assert_eq!(status["radar"]["overlaps"], radar["overlaps"]);
    let text = project.cli().args(["worktree", "list"]).assert().success();
    let text = String::from_utf8_lossy(&text.get_output().stdout).into_owned();
    assert!(text.contains("--- merge radar ---"), "{text}");
    assert!(text.contains("overlaps worker-1 on src/calc.py"), "{text}");

    // A merged worktree leaves the radar.
    project
        .cli()
        .args(["worktree", "status", "worker-1", "merged"])
        .assert()
        .success();
    let list = json_of(&project, &["worktree", "list"])?;
    assert_eq!(list["radar"]["overlaps"], json!([]));
    Ok(())
}

/// `intercomm top` for real (a pane of a private tmux server) shows the
/// radar once two workers changed the same path: the shared path with both
/// workers, and the merge order.
#[tokio::test]
async fn top_shows_the_radar() -> TestResult {
    let project = Project::git()?;
    project.register_master();
    for id in ["worker-1", "worker-2"] {
        project
            .cli()
            .args(["register", "--id", id])
            .assert()
            .success();
        project
            .cli()
            .args(["worktree", "add", id])
            .assert()
            .success();
        let wt = project.paths().worktree_path(id);
        std::fs::create_dir_all(wt.join("src"))?;
        std::fs::write(wt.join("src/calc.py"), format!("{id}\n"))?;
        hook(
            &project,
            id,
            "PostToolUse",
            &json!({"tool_name": "Write",
                    "tool_input": {"file_path": wt.join("src/calc.py"), "content": id}}),
        );
    }
    let server = TmuxServer::new()?;
    let socket = server.socket.display().to_string();
    let root = project.root.display().to_string();
    let bin = bin().display().to_string();
    let mut argv: Vec<&str> = vec![&bin, "--root", &root];
    if let Some(url) = &project.bus {
        argv.extend(["--bus", url]);
    }
    argv.push("top");
    let pane = server.session(
        "top",
        &project.root,
        &[("INTERCOMM_TMUX_SOCKET", &socket)],
        &argv,
    )?;
    let screen = || {
        server
            .run(&["capture-pane", "-p", "-t", &pane])
            .unwrap_or_default()
    };
    let shown = eventually(30, || {
        let s = screen();
        s.contains("merge radar: 1 shared path(s)")
            && s.contains("src/calc.py changed by worker-1, worker-2")
            && s.contains("merge order worker-1 → worker-2")
    })
    .await;
    assert!(shown, "top shows the radar:\n{}", screen());
    server.run(&["send-keys", "-t", &pane, "q"])?;
    Ok(())
}
