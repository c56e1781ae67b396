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
    let conn = Connection::open(f.project.paths().db())?;
    let waiting: i64 = conn.query_row(
        "SELECT COUNT(*) FROM messages WHERE to_id = 'worker-1' AND type = 'task'",
        [],
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
    let project = Project::plain()?;
    project
        .cli()
        .args(["register", "master"])
        .assert()
        .success();
    project
        .cli()
        .args(["register", "--id", "worker-1"])
        .assert()
        .success();
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
