//! The loop on the command line: `intercomm worktree add|list|status|remove`
//! and `intercomm assign`, over the same operations as the MCP tools.

use predicates::str::contains;
use serde_json::Value;

use crate::support::*;

fn json_out(out: &assert_cmd::assert::Assert) -> Value {
    serde_json::from_slice(&out.get_output().stdout).unwrap_or(Value::Null)
}

#[test]
fn worktree_commands_and_assign_drive_the_loop() -> TestResult {
    let project = Project::git()?;
    project.register_master_and_worker();

    let added = project
        .cli()
        .args(["--json", "worktree", "add", "worker-1"])
        .assert()
        .success();
    let added = json_out(&added);
    let path = project.paths().worktree_path("worker-1");
    assert_eq!(added["path"], path.display().to_string().as_str());
    assert!(path.join("README.md").exists(), "{added}");
    project
        .cli()
        .args(["worktree", "list"])
        .assert()
        .success()
        .stdout(contains("worker-1 [active]"));

    // A branch the worker made and committed on.
    let wt = git2::Repository::open(&path)?;
    let head = wt.head()?.peel_to_commit()?;
    wt.branch("aimfp-worker-1-001", &head, false)?;
    project
        .cli()
        .args([
            "worktree",
            "status",
            "worker-1",
            "done",
            "--branch",
            "aimfp-worker-1-001",
        ])
        .assert()
        .success()
        .stdout(contains(
            "Worktree worker-1 → done, branch=aimfp-worker-1-001",
        ));
    let bad = project
        .cli()
        .args(["worktree", "status", "worker-1", "finished"])
        .assert()
        .code(1);
    assert!(String::from_utf8_lossy(&bad.get_output().stderr).contains("status"));
    project
        .cli()
        .args([
            "worktree", "status", "worker-1", "merged", "--branch", "no-such",
        ])
        .assert()
        .code(1)
        .stderr(contains("no-such"));

    // assign: the contract lands in the worker's inbox as a valid v2 contract.
    let assigned = project
        .cli()
        .args([
            "--json",
            "assign",
            "worker-1",
            "--slug",
            "task-x-1234",
            "--no-wake",
            "Own",
            "src/a.rs",
            "only.",
        ])
        .assert()
        .success();
    let assigned = json_out(&assigned);
    assert_eq!(assigned["contract"]["aimfp_target"]["slug"], "task-x-1234");
    assert_eq!(
        assigned["contract"]["role_instructions"],
        "Own src/a.rs only."
    );
    assert_eq!(
        assigned["contract"]["reportBack"],
        serde_json::json!(["branch", "commit"])
    );
    project
        .cli()
        .args(["read", "--id", "worker-1"])
        .assert()
        .success()
        .stdout(contains("task contract"))
        .stdout(contains("task-x-1234"));
    project
        .cli()
        .args([
            "assign", "worker-1", "--type", "epic", "--slug", "x", "do it",
        ])
        .assert()
        .code(1)
        .stderr(contains("--type"));
    project
        .cli()
        .args(["assign", "worker-1", "do it"])
        .assert()
        .code(1)
        .stderr(contains("target_slug"));

    // remove: refuses a dirty worktree unless forced.
    std::fs::write(path.join("wip.txt"), "unsaved")?;
    project
        .cli()
        .args(["worktree", "remove", "worker-1"])
        .assert()
        .code(1)
        .stderr(contains("uncommitted"));
    project
        .cli()
        .args(["worktree", "remove", "worker-1", "--force"])
        .assert()
        .success()
        .stdout(contains("removed"));
    assert!(!path.exists());
    project
        .cli()
        .args(["worktree", "list"])
        .assert()
        .success()
        .stdout(contains("worker-1 [removed]"));
    Ok(())
}
