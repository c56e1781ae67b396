//! Worktrees through git2 against real repositories, and where the bus root
//! lies for linked worktrees and submodules (B6, B8, B12).

use std::path::Path;

use intercomm::location;
use serde_json::json;

use crate::support::*;

fn git_lists(root: &Path, path: &Path) -> TestResult<bool> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["worktree", "list", "--porcelain"])
        .output()?;
    let listing = String::from_utf8_lossy(&out.stdout);
    Ok(listing.contains(&format!("worktree {}", path.display())))
}

#[tokio::test]
async fn worktree_lifecycle_add_status_remove() -> TestResult {
    let project = Project::git()?;
    let master = project.client().await?;
    register(&master, "master").await?;
    let base = git2::Repository::open(&project.root)?
        .head()?
        .peel_to_commit()?
        .id()
        .to_string();

    let a = ok(
        &master,
        "intercomm_worktree_add",
        json!({"worker_id": "worker-1"}),
    )
    .await?;
    let path1 = project.paths().worktree_path("worker-1");
    assert_eq!(a["path"], path1.display().to_string());
    assert_eq!(a["commit"], base);
    assert_eq!(a["branch"], json!(null));
    let wt = git2::Repository::open(&path1)?;
    assert!(wt.head_detached()?, "detached HEAD");
    assert!(path1.join("README.md").exists());
    assert!(git_lists(&project.root, &path1)?);
    let branches: Vec<String> = git2::Repository::open(&project.root)?
        .branches(Some(git2::BranchType::Local))?
        .filter_map(|b| b.ok()?.0.name().ok().flatten().map(str::to_owned))
        .collect();
    assert_eq!(branches, ["main"], "no throwaway branch left behind");

    let b = ok(
        &master,
        "intercomm_worktree_add",
        json!({"worker_id": "worker-2", "branch": "feat-2"}),
    )
    .await?;
    assert_eq!(b["branch"], "feat-2");
    let wt2 = git2::Repository::open(project.paths().worktree_path("worker-2"))?;
    assert_eq!(wt2.head()?.shorthand().ok(), Some("feat-2"));

    // The worker commits on its own branch in its worktree.
    wt.set_head_detached(wt.head()?.peel_to_commit()?.id())?;
    let commit = wt.head()?.peel_to_commit()?;
    wt.branch("w1", &commit, false)?;
    wt.set_head("refs/heads/w1")?;
    std::fs::write(path1.join("work.txt"), "done\n")?;
    let sha = commit_all(&wt, "work")?;

    let s = ok(
        &master,
        "intercomm_worktree_set_status",
        json!({"worker_id": "worker-1", "status": "done", "branch": "w1"}),
    )
    .await?;
    assert_eq!(s["commit"], sha);
    let e = err(
        &master,
        "intercomm_worktree_set_status",
        json!({"worker_id": "worker-1", "status": "done", "branch": "nope"}),
    )
    .await?;
    assert!(
        e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("\"nope\" does not exist")
    );
    let list = ok(&master, "intercomm_worktree_list", json!({})).await?;
    assert_eq!(list["worktrees"][0]["status"], "done");
    assert_eq!(list["worktrees"][0]["head_commit"], sha);

    std::fs::write(path1.join("scratch.txt"), "untracked\n")?;
    let e = err(
        &master,
        "intercomm_worktree_remove",
        json!({"worker_id": "worker-1"}),
    )
    .await?;
    assert_eq!(e["code"], "worktree_dirty");
    assert!(path1.exists());
    ok(
        &master,
        "intercomm_worktree_remove",
        json!({"worker_id": "worker-1", "force": true}),
    )
    .await?;
    assert!(!path1.exists());
    assert!(!git_lists(&project.root, &path1)?);
    assert!(
        git2::Repository::open(&project.root)?
            .find_branch("w1", git2::BranchType::Local)
            .is_ok(),
        "branch kept"
    );
    let again = ok(
        &master,
        "intercomm_worktree_remove",
        json!({"worker_id": "worker-1"}),
    )
    .await?;
    assert_eq!(again["already"], true);

    // B8: a re-added worktree starts a new lifecycle.
    ok(
        &master,
        "intercomm_worktree_add",
        json!({"worker_id": "worker-1"}),
    )
    .await?;
    let list = ok(&master, "intercomm_worktree_list", json!({})).await?;
    let row = list["worktrees"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|w| w["worker_id"] == "worker-1")
        .cloned()
        .ok_or("row")?;
    assert_eq!(row["branch"], "");
    assert_eq!(row["status"], "active");
    Ok(())
}

/// B4-style failures are reported, and nothing is recorded.
#[tokio::test]
async fn git_refusals_are_clear_and_record_nothing() -> TestResult {
    let project = Project::git()?;
    let master = project.client().await?;
    register(&master, "master").await?;
    let e = err(
        &master,
        "intercomm_worktree_add",
        json!({"worker_id": "w", "base": "nosuchref"}),
    )
    .await?;
    assert!(
        e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("invalid reference \"nosuchref\""),
        "{e}"
    );
    let list = ok(&master, "intercomm_worktree_list", json!({})).await?;
    assert_eq!(list["worktrees"], json!([]));
    ok(&master, "intercomm_worktree_add", json!({"worker_id": "w"})).await?;
    let e = err(&master, "intercomm_worktree_add", json!({"worker_id": "w"})).await?;
    assert!(
        e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("already exists"),
        "{e}"
    );
    let e = err(
        &master,
        "intercomm_worktree_add",
        json!({"worker_id": "x", "branch": "main"}),
    )
    .await?;
    assert!(
        e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("already exists"),
        "{e}"
    );
    let e = err(
        &master,
        "intercomm_worktree_remove",
        json!({"worker_id": "ghost"}),
    )
    .await?;
    assert_eq!(e["code"], "unknown_worktree");
    Ok(())
}

/// B12: a relative path is taken from the bus root, never the process cwd;
/// ids that would escape are refused before anything touches the disk.
#[tokio::test]
async fn paths_resolve_against_the_root_and_ids_cannot_escape() -> TestResult {
    let project = Project::git()?;
    let master = project.client().await?;
    register(&master, "master").await?;
    let a = ok(
        &master,
        "intercomm_worktree_add",
        json!({"worker_id": "rel", "path": "../custom/rel"}),
    )
    .await?;
    let expected = project.root.parent().ok_or("parent")?.join("custom/rel");
    assert_eq!(a["path"], expected.display().to_string());
    assert!(expected.join("README.md").exists());
    for bad in ["../x", "/etc", "a/b", "a.b", "a b", ""] {
        let e = err(&master, "intercomm_worktree_add", json!({"worker_id": bad})).await?;
        assert_eq!(e["code"], "invalid_argument", "{bad:?}");
    }
    Ok(())
}

/// A worker in a linked worktree shares the main checkout's bus; a submodule
/// has its own (not `.git/modules`).
#[test]
fn bus_root_of_linked_worktrees_and_submodules() -> TestResult {
    let project = Project::git()?;
    let repo = git2::Repository::open(&project.root)?;
    let wt_path = project.root.parent().ok_or("parent")?.join("linked");
    let head = repo.head()?.peel_to_commit()?;
    let branch = repo.branch("linked-branch", &head, false)?;
    let mut opts = git2::WorktreeAddOptions::new();
    opts.reference(Some(branch.get()));
    repo.worktree("linked", &wt_path, Some(&opts))?;
    std::fs::create_dir(wt_path.join("sub"))?;
    let resolved = location::resolve_root(&wt_path.join("sub"), None, || {
        location::git_main_workdir(&wt_path.join("sub"))
    });
    assert_eq!(resolved, project.root);

    // A submodule: a repository whose .git is a file pointing into the
    // superproject's .git/modules.
    let sub = project.root.join("lib");
    std::fs::create_dir(&sub)?;
    let modules = project.root.join(".git/modules/lib");
    let mut opts = git2::RepositoryInitOptions::new();
    opts.workdir_path(&sub).initial_head("main");
    git2::Repository::init_opts(&modules, &opts)?;
    let resolved = location::resolve_root(&sub, None, || location::git_main_workdir(&sub));
    assert_eq!(resolved, sub);
    Ok(())
}
