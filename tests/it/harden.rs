//! The hardening issue (#14): each test here failed on the behaviour it
//! names before the fix, whatever the wording of the fix.

use rusqlite::Connection;
use serde_json::json;

use crate::stand_in::Fleet;
use crate::support::*;

/// Finding 4: a spawned worker that has not registered yet keeps its name
/// (another registrant gets another id) and its contract (clear spares it).
#[tokio::test]
async fn a_spawned_workers_name_and_contract_wait_for_it() -> TestResult {
    let f = Fleet::new().await?;
    let cmd = f.fake("");
    f.spawn(json!({"count": 1, "wake": false, "claude_cmd": cmd}))
        .await?;
    ok(
        &f.master,
        "intercomm_assign",
        json!({"worker": "worker-1", "role_instructions": "x", "target_type": "task", "target_slug": "task-a", "wake": false}),
    )
    .await?;
    let other = f.project.client().await?;
    let id = register(&other, "worker").await?;
    assert_ne!(id, "worker-1", "a spawned worker's name went to another");
    ok(&f.master, "intercomm_clear", json!({"keep": 0})).await?;
    let waiting: i64 = f.project.bus()?.conn().query_one(
        "SELECT COUNT(*) FROM messages WHERE to_id = 'worker-1' AND type = 'task'",
        &[],
        |r| r.get(0),
    )?;
    assert_eq!(waiting, 1, "clear deleted the contract of a spawned worker");
    Ok(())
}

/// Finding 5: a reader holding an old snapshot while the WAL is past its
/// bound (16,000 frames) must not stall writers: 12 concurrent sends, each
/// its own process, all succeed, and the stuck reader (this process) is
/// named in the log. Their speed is in `cargo bench --bench bus` (stuck
/// reader scenario).
#[test]
fn a_stuck_reader_does_not_stall_writers() -> TestResult {
    if on_postgres() {
        return Ok(()); // a test of the SQLite file; tests/it/pg.rs has PostgreSQL's
    }
    let project = Project::plain()?;
    project.register_master_and_worker();
    let db = project.paths().db();
    let reader = Connection::open(&db)?;
    reader.execute_batch("BEGIN")?;
    reader.query_row("SELECT COUNT(*) FROM messages", [], |r| r.get::<_, i64>(0))?;
    // Past the bound: ~17,400 frames of 1 KiB pages, in one transaction of
    // another connection with no checkpoint of its own.
    let filler = Connection::open(&db)?;
    filler.pragma_update(None, "wal_autocheckpoint", 0)?;
    filler.execute_batch("BEGIN")?;
    for i in 0..17 {
        filler.execute(
            "INSERT INTO messages (id, from_id, to_id, type, content, ts)
             VALUES (?1, 'master', 'nobody', 'status', ?2, 0)",
            (format!("filler-{i}"), "x".repeat(1 << 20)),
        )?;
    }
    filler.execute_batch("COMMIT")?;
    let (log, copied): (i64, i64) = filler.query_row("PRAGMA wal_checkpoint(NOOP)", [], |r| {
        Ok((r.get(1)?, r.get(2)?))
    })?;
    assert!(
        log >= 16_000 && copied < log,
        "WAL {log} frames, {copied} copied"
    );
    let sends: Vec<_> = (0..12)
        .map(|i| {
            let mut cmd = project.cli();
            cmd.args(["send", "--from", "master", "worker-1", &format!("send {i}")])
                .env("INTERCOMM_LOG", "warn")
                .timeout(std::time::Duration::from_secs(60));
            std::thread::spawn(move || cmd.output())
        })
        .collect();
    let mut logs = String::new();
    for (i, send) in sends.into_iter().enumerate() {
        let out = send.join().map_err(|_| "send thread panicked")??;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "send {i} failed: {stderr}");
        logs.push_str(&stderr);
    }
    assert!(
        logs.contains(&std::process::id().to_string()),
        "the stuck reader (pid {}) is not named: {logs}",
        std::process::id()
    );
    reader.execute_batch("COMMIT")?;
    Ok(())
}

/// Finding 6: a symlinked bus folder or database is refused with the fix,
/// and nothing outside the project is touched (no chmod, no WAL, no write).
#[test]
fn a_symlinked_bus_folder_or_file_is_refused() -> TestResult {
    if on_postgres() {
        return Ok(()); // a test of the SQLite file; tests/it/pg.rs has PostgreSQL's
    }
    use std::os::unix::fs::{PermissionsExt, symlink};
    for linked in ["folder", "file"] {
        let project = Project::plain()?;
        let outside = tempfile::tempdir()?;
        let victim = outside.path().join("victim.db");
        std::fs::write(&victim, "")?;
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644))?;
        let dir = project.paths().dir();
        if linked == "folder" {
            std::fs::create_dir(outside.path().join("bus"))?;
            std::fs::rename(&victim, outside.path().join("bus/intercomm.db"))?;
            symlink(outside.path().join("bus"), &dir)?;
        } else {
            std::fs::create_dir(&dir)?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
            symlink(&victim, project.paths().db())?;
        }
        let target = if linked == "folder" {
            outside.path().join("bus/intercomm.db")
        } else {
            victim.clone()
        };
        for args in [&["register", "master"][..], &["status"][..], &["init"][..]] {
            project
                .cli()
                .args(args)
                .assert()
                .code(1)
                .stderr(predicates::str::contains("symbolic link"))
                .stderr(predicates::str::contains("hint:"));
        }
        let meta = std::fs::metadata(&target)?;
        assert_eq!(meta.len(), 0, "{linked}: the file outside was written");
        assert_eq!(meta.permissions().mode() & 0o777, 0o644, "{linked}: chmod");
        assert!(
            !target.with_extension("db-wal").exists(),
            "{linked}: a WAL was made outside"
        );
    }
    Ok(())
}

/// Finding 6: a bus folder writable by other users is refused, not used
/// with a warning.
#[test]
fn a_bus_folder_writable_by_others_is_refused() -> TestResult {
    if on_postgres() {
        return Ok(()); // a test of the SQLite file; tests/it/pg.rs has PostgreSQL's
    }
    use std::os::unix::fs::PermissionsExt;
    let project = Project::plain()?;
    project.cli().arg("init").assert().success();
    let dir = project.paths().dir();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))?;
    project
        .cli()
        .args(["register", "master"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("writable by other users"))
        .stderr(predicates::str::contains("chmod 700"));
    Ok(())
}

/// Finding 6: a bus folder owned by another user is refused. As root (this
/// project's CI container), the folder is given to user 65534. Otherwise the
/// CLI runs as root of a user namespace of its own (`unshare --user
/// --map-root-user --mount`, no privilege needed) with `/usr` mounted over
/// the bus folder: `/usr`'s owner, the real root, is not mapped there, so
/// the folder belongs to the overflow user id 65534 while the CLI is user 0.
/// A machine that allows neither says SKIPPED on stderr.
#[test]
fn a_bus_folder_owned_by_another_user_is_refused() -> TestResult {
    if on_postgres() {
        return Ok(()); // a test of the SQLite file; tests/it/pg.rs has PostgreSQL's
    }
    let project = Project::plain()?;
    project.cli().arg("init").assert().success();
    let dir = project.paths().dir();
    let out = if rustix::process::geteuid().is_root() {
        std::os::unix::fs::chown(&dir, Some(65534), None)?;
        project.cli().args(["register", "master"]).output()?
    } else {
        let in_namespace = |then: &str| {
            std::process::Command::new("unshare")
                .args(["--user", "--map-root-user", "--mount", "sh", "-c"])
                .arg(format!("mount --rbind /usr \"$1\" && {then}"))
                .arg("sh")
                .arg(&dir)
                .arg(bin())
                .arg(&project.root)
                .env_remove("INTERCOMM_DB_ROOT")
                .bus_env(&project)
                .output()
        };
        match in_namespace("true") {
            Ok(probe) if probe.status.success() => {}
            other => {
                eprintln!(
                    "SKIPPED: not root, and no user namespace to own the bus folder from ({other:?})"
                );
                return Ok(());
            }
        }
        in_namespace("exec \"$2\" --root \"$3\" register master")?
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr.contains("belongs to user id 65534"), "{stderr}");
    Ok(())
}

/// A fleet whose master runs in a spawned pane (a stand-in Claude at its
/// prompt), the way a displaced master is found: the fleet and the master's
/// client.
async fn master_in_a_pane() -> TestResult<(Fleet, Client)> {
    let f = Fleet::new().await?;
    let cmd = f.fake("");
    let out = f
        .spawn(json!({"count": 1, "wake": false, "claude_cmd": cmd}))
        .await?;
    let pane = out["workers"][0]["pane"].as_str().ok_or("pane")?.to_owned();
    let old = f.project.client_on(&f.server, Some(&pane)).await?;
    ok(
        &old,
        "intercomm_register",
        json!({"role": "master", "force": true}),
    )
    .await?;
    Ok((f, old))
}

/// Finding 7: after a forced takeover the old master is told at once (its
/// pane, a Claude at its prompt, is rung) and its status no longer says it
/// is the master.
#[tokio::test]
async fn a_displaced_master_is_told_and_its_status_is_accurate() -> TestResult {
    let (f, old) = master_in_a_pane().await?;
    let new = f.project.client().await?;
    let r = ok(
        &new,
        "intercomm_register",
        json!({"role": "master", "force": true}),
    )
    .await?;
    assert!(
        r["displaced_master_told"]
            .as_str()
            .is_some_and(|t| t.contains("was rung")),
        "{r}"
    );
    assert!(
        submitted(&f.log("worker-1"))
            .iter()
            .any(|t| t.contains("no longer the master")),
        "the old master's pane was not rung"
    );
    let status = call(&old, "intercomm_status", json!({})).await?;
    let page = text(&status);
    assert!(!page.contains("You are: master"), "{page}");
    assert!(page.contains("no longer holds"), "{page}");
    let sc = status.structured_content.ok_or("no structuredContent")?;
    assert_eq!(sc["you"], serde_json::Value::Null, "{sc}");
    Ok(())
}

/// Finding 8: a read and the Stop hook are bounded by bytes, not only by
/// count; a message larger than a page is shown in part, with the way to
/// the rest, and nothing is lost or skipped.
#[tokio::test]
async fn reads_are_bounded_by_bytes_and_big_messages_come_in_parts() -> TestResult {
    let project = Project::plain()?;
    let (master, worker) = master_and_worker(&project).await?;
    let big: Vec<String> = (0..3).map(|i| format!("{i}é").repeat(300_000)).collect();
    for content in &big {
        ok(
            &master,
            "intercomm_send",
            json!({"to": "worker-1", "message": content}),
        )
        .await?;
    }
    // The Stop hook hands over one bounded page.
    let out = project
        .cli()
        .args(["hook", "Stop"])
        .env("INTERCOMM_WORKER_ID", "worker-1")
        .env_remove("TMUX_PANE")
        .env_remove("INTERCOMM_HOOK_MAIL")
        .write_stdin(r#"{"session_id":"s","hook_event_name":"Stop","stop_hook_active":false}"#)
        .assert()
        .success();
    assert!(
        out.get_output().stdout.len() < 256 * 1024,
        "Stop hook answer of {} bytes",
        out.get_output().stdout.len()
    );
    // What the hook delivered is read; read the rest of its message, then
    // the next ones through intercomm_read.
    let mut got = vec![String::new(); 3];
    let first: serde_json::Value =
        serde_json::from_slice(&out.get_output().stdout).unwrap_or_default();
    assert!(
        first["reason"]
            .as_str()
            .is_some_and(|r| r.contains("offset: ")),
        "no way to the rest in the hook's mail"
    );
    let mut pending: Vec<serde_json::Value> = Vec::new();
    let all = ok(
        &worker,
        "intercomm_read",
        json!({"all": true, "limit": 500}),
    )
    .await?;
    // Re-reading from the start pages too: one message per page here.
    assert_eq!(all["count"], 1, "{}", all["remaining"]);
    assert_eq!(all["remaining"], 2);
    pending.push(all["messages"][0].clone());
    for _ in 0..2 {
        let page = call(&worker, "intercomm_read", json!({})).await?;
        assert!(text(&page).len() < 256 * 1024);
        let sc = page.structured_content.ok_or("no structuredContent")?;
        assert_eq!(sc["count"], 1, "one big message per page");
        pending.push(sc["messages"][0].clone());
    }
    for (i, m) in pending.iter().enumerate() {
        let id = m["id"].as_str().ok_or("id")?;
        let mut part = m.clone();
        loop {
            got[i].push_str(part["content"].as_str().ok_or("content")?);
            let end = part["partial"]["end"].as_u64().ok_or("not partial")?;
            if end == part["partial"]["total"].as_u64().ok_or("total")? {
                break;
            }
            let r = ok(
                &worker,
                "intercomm_read",
                json!({"message_id": id, "offset": end}),
            )
            .await?;
            part = r["messages"][0].clone();
        }
    }
    assert_eq!(got, big, "the parts put together are the messages");
    let none = ok(&worker, "intercomm_read", json!({})).await?;
    assert_eq!(none["count"], 0);
    Ok(())
}

/// Lower list: a bus whose `PRAGMA user_version` is below 0 is refused, not
/// taken as up to date.
#[test]
fn a_negative_schema_version_is_refused() -> TestResult {
    if on_postgres() {
        return Ok(()); // a test of the SQLite file; tests/it/pg.rs has PostgreSQL's
    }
    let project = Project::plain()?;
    project.cli().arg("init").assert().success();
    Connection::open(project.paths().db())?.pragma_update(None, "user_version", -1)?;
    project
        .cli()
        .args(["register", "master"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("schema version -1"));
    Ok(())
}

/// The recorded Stop payload of Claude Code 2.1.197, with
/// `stop_hook_active` set as given.
fn stop_payload(active: bool) -> TestResult<String> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hooks/Stop.json");
    let mut p: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    p["stop_hook_active"] = json!(active);
    Ok(p.to_string())
}

/// Runs `intercomm hook EVENT` from this test process, claiming `id`.
fn hook_as(project: &Project, id: &str, event: &str, input: &str) -> std::process::Output {
    project
        .cli()
        .args(["hook", event])
        .env("INTERCOMM_WORKER_ID", id)
        .env("INTERCOMM_REWAKE_WAIT", "5")
        .env_remove("TMUX_PANE")
        .env_remove("INTERCOMM_HOOK_MAIL")
        .write_stdin(input.to_owned())
        .output()
        .unwrap_or_else(|e| panic!("intercomm hook {event}: {e}"))
}

/// A shell of its own (not this test's descendant nor ancestor) that
/// registered as the master through the CLI and lives on; killed on drop.
struct OtherShell(std::process::Child);

impl OtherShell {
    fn master(project: &Project) -> TestResult<Self> {
        Self::master_with(project, "")
    }

    /// As [`Self::master`], with `flags` (e.g. `--force`) for `register`.
    fn master_with(project: &Project, flags: &str) -> TestResult<Self> {
        let child = std::process::Command::new("sh")
            .arg("-c")
            .arg("\"$0\" --root \"$1\" register master $2 >/dev/null && exec sleep 600")
            .arg(bin())
            .arg(&project.root)
            .arg(flags)
            .env_remove("INTERCOMM_DB_ROOT")
            .env_remove("TMUX_PANE")
            .bus_env(project)
            .spawn()?;
        let holder = Self(child);
        let pid = i64::from(holder.0.id());
        for _ in 0..600 {
            let holder_pid = project.bus().ok().and_then(|b| {
                b.conn()
                    .scalar("SELECT pid FROM instances WHERE id = 'master'", &[])
                    .ok()
                    .flatten()
            });
            if holder_pid == Some(pid) {
                return Ok(holder);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Err("the other shell did not register the master".into())
    }
}

impl Drop for OtherShell {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Finding 3: a hook run with `INTERCOMM_WORKER_ID=master` from a process
/// that is not the live master's (here: this test, while another shell
/// holds the master id) takes none of its mail and records no state for
/// it; the holder's own line still can.
#[test]
fn a_hook_acts_only_for_its_own_instance() -> TestResult {
    let project = Project::plain()?;
    project
        .cli()
        .args(["register", "--id", "worker-1"])
        .assert()
        .success();
    let _master = OtherShell::master(&project)?;
    project
        .cli()
        .args([
            "send", "--from", "worker-1", "--type", "question", "master", "secret?",
        ])
        .assert()
        .success();
    let stop = hook_as(&project, "master", "Stop", &stop_payload(false)?);
    assert!(stop.status.success());
    let out = String::from_utf8_lossy(&stop.stdout);
    assert!(
        !out.contains("secret?"),
        "a foreign hook took the master's mail: {out}"
    );
    assert!(
        String::from_utf8_lossy(&stop.stderr).contains("not this hook's"),
        "{stop:?}"
    );
    let submit = hook_as(&project, "master", "UserPromptSubmit", "{}");
    assert!(submit.status.success());
    let states: i64 = project.bus()?.conn().query_one(
        "SELECT COUNT(*) FROM hook_states WHERE id = 'master'",
        &[],
        |r| r.get(0),
    )?;
    assert_eq!(states, 0, "a foreign hook recorded the master's state");
    project
        .cli()
        .args(["read", "--id", "master"])
        .assert()
        .success()
        .stdout(predicates::str::contains("secret?"));
    // The hook of this test's own instance still works.
    project
        .cli()
        .args([
            "send", "--from", "master", "--type", "answer", "worker-1", "mine",
        ])
        .assert()
        .success();
    let own = hook_as(&project, "worker-1", "Stop", &stop_payload(false)?);
    assert!(
        String::from_utf8_lossy(&own.stdout).contains("mine"),
        "{own:?}"
    );
    Ok(())
}

/// Lower finding: a Stop ending a turn that a Stop hook continued
/// (`stop_hook_active`) delivers nothing, so a sender writing at each stop
/// cannot keep the turn going; the wake waiter armed at that Stop rings
/// for the mail once the session is idle instead.
#[test]
fn stop_hook_active_ends_the_turn_and_the_waiter_rings() -> TestResult {
    let project = Project::plain()?;
    project.register_master_and_worker();
    project
        .cli()
        .args([
            "send", "--from", "master", "--type", "question", "worker-1", "again",
        ])
        .assert()
        .success();
    let stop = hook_as(&project, "worker-1", "Stop", &stop_payload(true)?);
    assert!(stop.status.success());
    assert!(
        stop.stdout.is_empty(),
        "a continued turn was continued again: {}",
        String::from_utf8_lossy(&stop.stdout)
    );
    let rewake = hook_as(&project, "worker-1", "Rewake", &stop_payload(true)?);
    assert_eq!(
        rewake.status.code(),
        Some(2),
        "the waiter did not ring: {rewake:?}"
    );
    assert!(
        String::from_utf8_lossy(&rewake.stderr).contains("master (question)"),
        "{rewake:?}"
    );
    project
        .cli()
        .args(["read", "--id", "worker-1"])
        .assert()
        .success()
        .stdout(predicates::str::contains("again"));
    Ok(())
}

/// Lower finding: the backlog bound holds for broadcast, escalate and
/// reply as it does for send: a master with a full inbox (bound 3 here)
/// gets no more mail by any of them.
#[tokio::test]
async fn the_backlog_bound_holds_for_every_way_to_send() -> TestResult {
    let project = Project::plain()?;
    let master = project.client().await?;
    register(&master, "master").await?;
    let worker = project
        .process_with(&[("INTERCOMM_MAX_BACKLOG", "3")])
        .await?;
    register(&worker, "worker").await?;
    let asked = ok(
        &master,
        "intercomm_send",
        json!({"to": "worker-1", "type": "question", "message": "which base?"}),
    )
    .await?;
    let asked_id = asked["message_id"].as_str().ok_or("message_id")?.to_owned();
    for n in 0..3 {
        ok(
            &worker,
            "intercomm_send",
            json!({"to": "master", "message": format!("m{n}")}),
        )
        .await?;
    }
    for (tool, args) in [
        ("intercomm_broadcast", json!({"message": "to all"})),
        ("intercomm_escalate", json!({"message": "help?"})),
        (
            "intercomm_reply",
            json!({"message_id": asked_id, "message": "main"}),
        ),
    ] {
        let e = err(&worker, tool, args).await?;
        assert_eq!(e["code"], "backlog_full", "{tool}: {e}");
    }
    ok(&master, "intercomm_read", json!({})).await?;
    ok(
        &worker,
        "intercomm_broadcast",
        json!({"message": "room again"}),
    )
    .await?;
    Ok(())
}

/// Lower finding: a project folder whose name ends in a space is the same
/// root through `INTERCOMM_DB_ROOT` (what spawn gives each worker) as
/// through `--root`: a worker finds the master's bus.
#[test]
fn a_root_with_a_trailing_space_is_one_root_everywhere() -> TestResult {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("proj ");
    std::fs::create_dir(&root)?;
    assert_cmd::Command::new(bin())
        .args(["register", "master"])
        .env("INTERCOMM_DB_ROOT", &root)
        .current_dir(dir.path())
        .assert()
        .success();
    assert_cmd::Command::new(bin())
        .arg("--root")
        .arg(&root)
        .arg("status")
        .env_remove("INTERCOMM_DB_ROOT")
        .assert()
        .success()
        .stdout(predicates::str::contains("master [master]"));
    assert!(!dir.path().join("proj").exists(), "a second root was made");
    Ok(())
}

/// Lower finding: a spawn prefix whose ids (`<prefix>-N`) would be longer
/// than an id may be is refused up front, naming the prefix; the longest
/// prefix that leaves room is accepted as an id by every other command.
#[tokio::test]
async fn a_spawn_prefix_never_makes_ids_other_commands_refuse() -> TestResult {
    let project = Project::git()?;
    let master = project.client().await?;
    register(&master, "master").await?;
    let long = "p".repeat(intercomm::names::MAX_ID_LEN);
    let e = err(
        &master,
        "intercomm_spawn",
        json!({"count": 1, "prefix": long, "claude_cmd": "true"}),
    )
    .await?;
    assert_eq!(e["code"], "invalid_argument", "{e}");
    assert!(
        e["message"].as_str().unwrap_or_default().contains("prefix"),
        "{e}"
    );
    let room = intercomm::names::MAX_ID_LEN - 1 - intercomm::names::PREFIX_NUMBER_DIGITS;
    let id = format!("{}-9999", "p".repeat(room));
    assert!(intercomm::names::check_id("to", &id).is_ok());
    Ok(())
}

/// Lower finding: `worktree add` refuses a folder inside `.git`, and when
/// libgit2 refuses a folder (a name too long for the filesystem) nothing is
/// left behind: no admin folder under `.git/worktrees`, no branch.
#[test]
fn worktree_add_refuses_git_folders_and_leaves_nothing_when_git_refuses() -> TestResult {
    let project = Project::git()?;
    project.register_master();
    let inside = project.root.join(".git").join("inside");
    project
        .cli()
        .args(["worktree", "add", "w1", "--path"])
        .arg(&inside)
        .assert()
        .code(1)
        .stderr(predicates::str::contains("inside a git folder"));
    assert!(!inside.exists());
    let too_long = project
        .root
        .parent()
        .ok_or("no parent")?
        .join("x".repeat(300));
    for (id, branch) in [("w2", Some("b2")), ("w3", None)] {
        let mut cmd = project.cli();
        cmd.args(["worktree", "add", id, "--path"]).arg(&too_long);
        if let Some(b) = branch {
            cmd.args(["--branch", b]);
        }
        cmd.assert().failure();
    }
    let repo = git2::Repository::open(&project.root)?;
    assert!(
        repo.worktrees()?.is_empty(),
        "git admin data left behind: {:?}",
        repo.worktrees()?.iter().collect::<Vec<_>>()
    );
    let branches: Vec<String> = repo
        .branches(Some(git2::BranchType::Local))?
        .filter_map(|b| b.ok()?.0.name().ok().flatten().map(str::to_owned))
        .collect();
    assert_eq!(branches, vec!["main".to_owned()]);
    assert!(
        !project
            .root
            .join(".git")
            .join("worktrees")
            .join("w2")
            .exists()
    );
    Ok(())
}

/// Takeover gap: a displaced master that is not in tmux (no pane to ring)
/// is told through its wake waiter (the asyncRewake hook), at once.
#[test]
fn a_displaced_master_without_a_pane_is_told_by_its_waiter() -> TestResult {
    let project = Project::plain()?;
    project.register_master();
    let mut waiter = project
        .command(&["hook", "Rewake"])
        .env("INTERCOMM_WORKER_ID", "master")
        .env("INTERCOMM_REWAKE_WAIT", "20")
        .env_remove("INTERCOMM_HOOK_MAIL")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    {
        use std::io::Write;
        let mut stdin = waiter.stdin.take().ok_or("stdin")?;
        stdin.write_all(stop_payload(false)?.as_bytes())?;
    }
    // The waiter arms before the takeover.
    let bus = project.bus()?;
    for _ in 0..600 {
        let armed: i64 = bus.conn().query_one(
            "SELECT COUNT(*) FROM wake_hooks WHERE id = 'master'",
            &[],
            |r| r.get(0),
        )?;
        if armed == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _new = OtherShell::master_with(&project, "--force")?;
    let out = waiter.wait_with_output()?;
    assert_eq!(
        out.status.code(),
        Some(2),
        "the waiter did not wake it: {out:?}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("You are no longer the master"),
        "{out:?}"
    );
    Ok(())
}

/// Takeover gap: `intercomm register master --force` at the command line
/// rings the displaced master's pane, as intercomm_register does.
#[tokio::test]
async fn cli_register_force_rings_the_displaced_master() -> TestResult {
    let (f, _old) = master_in_a_pane().await?;
    f.project
        .cli()
        .args(["register", "master", "--force"])
        .env_remove("TMUX_PANE")
        .env_remove("TMUX")
        .assert()
        .success()
        .stdout(predicates::str::contains("was rung"));
    assert!(
        submitted(&f.log("worker-1"))
            .iter()
            .any(|t| t.contains("no longer the master")),
        "the old master's pane was not rung"
    );
    Ok(())
}

/// Lower finding: malformed JSON-RPC gets the answers the specification
/// gives (rmcp alone dropped these lines and the client waited forever):
/// invalid JSON -32700, JSON nested 100k deep -32600, a line over 16 MiB
/// -32600, and a request reusing the id of one still in flight -32600 with
/// that id, while the first one still gets its own answer (and then frees
/// the id).
#[test]
fn malformed_json_rpc_gets_answers() -> TestResult {
    use std::io::{BufRead, Write};
    let project = Project::plain()?;
    project.register_master();
    let mut server = project
        .command(&["mcp"])
        .env("INTERCOMM_WORKER_ID", "worker-1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let mut stdin = server.stdin.take().ok_or("stdin")?;
    let stdout = server.stdout.take().ok_or("stdout")?;
    let (tx, rx) = std::sync::mpsc::channel::<serde_json::Value>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Ok(v) = serde_json::from_str(&line)
                && tx.send(v).is_err()
            {
                break;
            }
        }
    });
    let next = || rx.recv_timeout(std::time::Duration::from_secs(60));
    let mut send = |line: &str| -> std::io::Result<()> {
        stdin.write_all(line.as_bytes())?;
        stdin.write_all(b"\n")?;
        stdin.flush()
    };
    send(
        r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
    )?;
    assert_eq!(next()?["id"], 0);
    send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)?;
    send(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"intercomm_register","arguments":{}}}"#,
    )?;
    assert_eq!(next()?["id"], 1);
    send("this is not json")?;
    let a = next()?;
    assert_eq!(
        (a["error"]["code"].clone(), a["id"].clone()),
        (json!(-32700), json!(null)),
        "{a}"
    );
    send(&format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)))?;
    let a = next()?;
    assert_eq!(a["error"]["code"], -32600, "{a}");
    send(&format!("{{\"pad\":\"{}\"}}", "x".repeat(17 << 20)))?;
    let a = next()?;
    assert_eq!(a["error"]["code"], -32600, "{a}");
    // A question to the master that waits for its answer (in flight), then
    // another request with the same id.
    send(
        r#"{"jsonrpc":"2.0","id":"q","method":"tools/call","params":{"name":"intercomm_ask","arguments":{"to":"master","question":"base?","wait_seconds":3}}}"#,
    )?;
    send(r#"{"jsonrpc":"2.0","id":"q","method":"tools/list"}"#)?;
    let a = next()?;
    assert_eq!(
        (a["error"]["code"].clone(), a["id"].clone()),
        (json!(-32600), json!("q")),
        "{a}"
    );
    let a = next()?;
    assert_eq!(a["id"], "q", "{a}");
    assert!(
        a.get("result").is_some(),
        "the first request lost its answer: {a}"
    );
    // Answered, its id is free again (read from the answer's head).
    send(r#"{"jsonrpc":"2.0","id":"q","method":"tools/list"}"#)?;
    let a = next()?;
    assert!(a["id"] == "q" && a.get("result").is_some(), "{a}");
    // Still serving.
    send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#)?;
    assert_eq!(next()?["id"], 2);
    drop(stdin);
    server.wait()?;
    Ok(())
}
