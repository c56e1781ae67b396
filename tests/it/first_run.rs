//! What a new user meets first on the command line: a `--root` that is
//! wrong, spawn without Claude Code or with a failed worker, error hints
//! that name commands, `doctor`'s checks of the Claude Code setup, and
//! worktrees in a repository without `main` or beside another project.

use std::path::{Path, PathBuf};

use predicates::str::contains;
use serde_json::json;

use crate::support::*;

/// A folder holding a stand-in `claude` that prints a version, for PATH.
pub fn claude_bin(dir: &Path) -> TestResult<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin)?;
    let claude = bin.join("claude");
    std::fs::write(&claude, "#!/bin/sh\necho '2.1.332 (Claude Code)'\n")?;
    std::fs::set_permissions(&claude, std::fs::Permissions::from_mode(0o755))?;
    Ok(bin)
}

/// PATH with only the system folders (tmux, git, sh), and `extra` first.
pub fn system_path(extra: Option<&Path>) -> String {
    let base = "/usr/local/bin:/usr/bin:/bin";
    match extra {
        Some(dir) => format!("{}:{base}", dir.display()),
        None => base.to_owned(),
    }
}

#[test]
fn a_root_that_is_missing_or_a_file_is_exit_one_with_the_fix() -> TestResult {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("file");
    std::fs::write(&file, "x")?;
    for (root, problem) in [
        (dir.path().join("missing"), "does not exist"),
        (file, "is not a directory"),
    ] {
        for sub in ["status", "doctor", "init"] {
            let out = assert_cmd::Command::new(bin())
                .arg("--root")
                .arg(&root)
                .arg(sub)
                .env_remove("INTERCOMM_DB_ROOT")
                .assert()
                .code(1)
                .stderr(contains(problem))
                .stderr(contains("hint: pass the project's folder"));
            assert!(out.get_output().stdout.is_empty(), "{sub}");
        }
        assert!(!root.join(".intercomm-aimfp").exists());
    }
    Ok(())
}

#[test]
fn errors_name_commands_not_tools() -> TestResult {
    let project = Project::plain()?;
    project.register_master();
    let out = project
        .cli()
        .args(["send", "--from", "master", "all", "hi"])
        .assert()
        .code(1)
        .stderr(contains(
            "hint: use `intercomm broadcast` to message every instance",
        ));
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(!stderr.contains("intercomm_"), "{stderr}");
    Ok(())
}

#[test]
fn spawn_without_claude_says_claude_not_found() -> TestResult {
    let project = Project::git()?;
    let socket = project.root.with_extension("tmux.sock");
    project.register_master();
    project
        .cli()
        .args(["spawn", "1"])
        .env("PATH", system_path(None))
        .env("INTERCOMM_TMUX_SOCKET", &socket)
        .assert()
        .code(1)
        .stderr(contains(
            "claude not found: `claude` is not an executable on PATH",
        ))
        .stderr(contains("npm install -g @anthropic-ai/claude-code"));
    assert!(!socket.exists(), "nothing was started");
    Ok(())
}

#[test]
fn spawn_exits_one_when_a_worker_failed() -> TestResult {
    let project = Project::git()?;
    let server = TmuxServer::new()?;
    project.register_master();
    let out = project
        .cli()
        .args([
            "spawn",
            "1",
            "--worktrees",
            "--worktree-base",
            "no-such-branch",
            "--claude-cmd",
            "sleep 60",
        ])
        .env("INTERCOMM_TMUX_SOCKET", &server.socket)
        .assert()
        .code(1)
        .stdout(contains("Spawned 0 of 1"));
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(stdout.contains("no-such-branch"), "{stdout}");
    assert!(server.sessions().is_empty());
    Ok(())
}

/// The settings `claude plugin install intercomm@intercomm` writes
/// (Claude Code 2.1.332), in a HOME of its own.
fn home_with_plugin(dir: &Path) -> TestResult<PathBuf> {
    let home = dir.join("home");
    std::fs::create_dir_all(home.join(".claude"))?;
    std::fs::write(
        home.join(".claude/settings.json"),
        json!({"enabledPlugins": {"intercomm@intercomm": true}}).to_string(),
    )?;
    Ok(home)
}

#[test]
fn doctor_checks_claude_registration_and_permissions() -> TestResult {
    let project = Project::git()?;
    let tools = tempfile::tempdir()?;
    let claude = claude_bin(tools.path())?;
    let home = home_with_plugin(tools.path())?;
    let doctor = |path: String| {
        let mut cmd = project.cli();
        cmd.arg("doctor").env("PATH", path).env("HOME", &home);
        cmd
    };

    // Claude Code missing: a failure, with the command that installs it.
    doctor(system_path(None))
        .assert()
        .code(1)
        .stdout(contains("[FAIL] claude: claude not found on PATH"))
        .stdout(contains("npm install -g @anthropic-ai/claude-code"));

    // The plugin and a project server: registered twice.
    std::fs::write(
        project.root.join(".mcp.json"),
        json!({"mcpServers": {"intercomm": {"command": "intercomm", "args": ["mcp"]}}}).to_string(),
    )?;
    doctor(system_path(Some(&claude)))
        .assert()
        .code(1)
        .stdout(contains(
            "[FAIL] registration: intercomm is registered 2 times",
        ));

    // The plugin alone, without the allow entry: a warning that says it.
    std::fs::remove_file(project.root.join(".mcp.json"))?;
    doctor(system_path(Some(&claude)))
        .assert()
        .success()
        .stdout(contains("[ok  ] registration: the plugin"))
        .stdout(contains(
            "[warn] permissions: mcp__plugin_intercomm_intercomm is not in permissions.allow",
        ));

    std::fs::create_dir_all(project.root.join(".claude"))?;
    std::fs::write(
        project.root.join(".claude/settings.json"),
        json!({"permissions": {"allow": ["mcp__plugin_intercomm_intercomm"]}}).to_string(),
    )?;
    doctor(system_path(Some(&claude)))
        .assert()
        .success()
        .stdout(contains(
            "[ok  ] permissions: mcp__plugin_intercomm_intercomm allowed",
        ))
        .stdout(contains("[ok  ] worktree base: main"));
    Ok(())
}

/// A repository whose only branch is `trunk`: the default base is it.
#[tokio::test]
async fn without_main_worktrees_start_from_the_current_branch() -> TestResult {
    let project = Project::git()?;
    let repo = git2::Repository::open(&project.root)?;
    repo.find_branch("main", git2::BranchType::Local)?
        .rename("trunk", false)?;
    repo.set_head("refs/heads/trunk")?;
    let tools = tempfile::tempdir()?;
    let claude = claude_bin(tools.path())?;
    project
        .cli()
        .arg("doctor")
        .env("PATH", system_path(Some(&claude)))
        .env("HOME", tools.path())
        .assert()
        .stdout(contains(
            "worktree base: main does not exist; worktrees start from the current branch, trunk",
        ));

    let master = project.client().await?;
    register(&master, "master").await?;
    let added = ok(
        &master,
        "intercomm_worktree_add",
        json!({"worker_id": "worker-1"}),
    )
    .await?;
    assert_eq!(added["base"], "trunk", "{added}");
    let head = repo.head()?.peel_to_commit()?.id().to_string();
    assert_eq!(added["commit"], head.as_str());
    Ok(())
}

/// Two projects in one folder each get their own `worker-2`.
#[tokio::test]
async fn projects_beside_each_other_never_share_a_worktree_folder() -> TestResult {
    let parent = tempfile::tempdir()?;
    let mut paths = Vec::new();
    for name in ["alpha", "beta"] {
        let root = parent.path().join(name);
        std::fs::create_dir(&root)?;
        init_repo(&root)?;
        let mut ctx = intercomm::ops::Ctx::new(
            intercomm::location::BusPaths::new(&root, &root),
            intercomm::process::ProcessId::current(),
            None,
        );
        ctx.tmux = intercomm::tmux::Tmux::new(intercomm::tmux::Socket::Path(
            root.with_extension("no-tmux.sock"),
        ));
        let master = client_of(ctx).await?;
        register(&master, "master").await?;
        let added = ok(
            &master,
            "intercomm_worktree_add",
            json!({"worker_id": "worker-2"}),
        )
        .await?;
        let path = PathBuf::from(added["path"].as_str().ok_or("no path")?);
        assert_eq!(
            path,
            parent
                .path()
                .join(".intercomm-worktrees")
                .join(name)
                .join("worker-2")
        );
        assert!(path.join("README.md").is_file());
        paths.push(path);
    }
    assert_ne!(paths[0], paths[1]);
    Ok(())
}
