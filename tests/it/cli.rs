//! The command line: same validation as the tools (B15), exit codes, and
//! the operator acting as registered instances.

use predicates::str::contains;

use crate::support::*;

#[test]
fn every_subcommand_has_help() -> TestResult {
    let project = Project::plain()?;
    for sub in [
        "mcp",
        "status",
        "register",
        "send",
        "broadcast",
        "read",
        "clear",
        "init",
        "doctor",
        "assign",
        "worktree",
    ] {
        project
            .cli()
            .args([sub, "--help"])
            .assert()
            .success()
            .stdout(contains("Usage: intercomm"));
    }
    Ok(())
}

/// B15: unknown types, senders and recipients are one-line errors, exit 1.
#[test]
fn bad_input_is_one_line_and_exit_one() -> TestResult {
    let project = Project::plain()?;
    let id = project
        .cli()
        .args(["register", "master"])
        .assert()
        .success();
    assert!(String::from_utf8_lossy(&id.get_output().stdout).contains("Registered as \"master\""));
    project
        .cli()
        .args(["register"])
        .assert()
        .success()
        .stdout(contains("worker-1"));
    let cases: [&[&str]; 5] = [
        &[
            "send", "--from", "master", "--type", "memo", "worker-1", "hi",
        ],
        &["send", "--from", "ghost", "worker-1", "hi"],
        &["send", "--from", "master", "nobody", "hi"],
        &[
            "send", "--from", "worker-1", "--type", "task", "master", "{}",
        ],
        &["clear", "--from", "worker-1"],
    ];
    for args in cases {
        let out = project.cli().args(args).assert().code(1);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(stderr.starts_with("intercomm: "), "{args:?}: {stderr}");
        assert!(stderr.lines().count() <= 2, "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}");
    }
    Ok(())
}

/// B15: `read --id` looks without stealing; `clear --keep 0` means 0.
#[test]
fn read_does_not_steal_and_clear_honours_zero() -> TestResult {
    let project = Project::plain()?;
    project.register_master();
    project.cli().args(["register"]).assert().success();
    project
        .cli()
        .args(["send", "--from", "worker-1", "master", "-dash", "first"])
        .assert()
        .success();
    for _ in 0..2 {
        project
            .cli()
            .args(["read", "--id", "master"])
            .assert()
            .success()
            .stdout(contains("-dash first"));
    }
    project
        .cli()
        .args(["--json", "read", "--id", "master", "--mark-read"])
        .assert()
        .success()
        .stdout(contains("\"count\": 1"));
    project
        .cli()
        .args(["read", "--id", "master"])
        .assert()
        .success()
        .stdout(contains("No new messages."));
    project
        .cli()
        .args(["clear", "--keep", "0"])
        .assert()
        .success()
        .stdout(contains("Cleared 1 old messages"));
    Ok(())
}

#[test]
fn init_creates_the_bus_and_doctor_checks_it() -> TestResult {
    let project = Project::git()?;
    let tools = tempfile::tempdir()?;
    let path = crate::first_run::system_path(Some(&crate::first_run::claude_bin(tools.path())?));
    let doctor = || {
        let mut cmd = project.cli();
        cmd.arg("doctor")
            .env("PATH", &path)
            .env("HOME", tools.path());
        cmd
    };
    doctor()
        .assert()
        .success()
        .stdout(contains("does not exist yet"));
    project
        .cli()
        .arg("init")
        .assert()
        .success()
        .stdout(contains("Bus ready"));
    let version = if project.bus.is_some() {
        intercomm::bus::pg_schema::PG_SCHEMA_VERSION
    } else {
        intercomm::bus::SCHEMA_VERSION
    };
    doctor()
        .assert()
        .success()
        .stdout(contains(format!("(schema {version}")));
    assert_cmd::Command::new(bin())
        .args(["--root", "/nonexistent/x", "doctor"])
        .assert()
        .code(1)
        .stderr(contains("--root /nonexistent/x does not exist"));
    Ok(())
}
