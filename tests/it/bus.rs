//! The bus file: migration from intercomm-aimfp 1.0.2, versions, modes, and
//! concurrent first opens.

use std::os::unix::fs::PermissionsExt;

use intercomm::bus::{Bus, BusError, SCHEMA_VERSION};
use rusqlite::Connection;
use serde_json::json;

use crate::support::*;

/// A bus as intercomm-aimfp 1.0.2 leaves it (reference §2.2), with the
/// older millisecond cursor `last_read_ts` (§2.3). Times are a second ago
/// plus 100, 200, 200, 300 ms (recent, so retention keeps them).
fn legacy_bus(project: &Project, cursor_column: &str) -> TestResult<()> {
    let t = intercomm::clock::now_ms() - 1000;
    let dir = project.paths().dir();
    std::fs::create_dir_all(&dir)?;
    let conn = Connection::open(project.paths().db())?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE instances (id TEXT PRIMARY KEY, role TEXT NOT NULL CHECK(role IN ('master','worker')),
            active INTEGER NOT NULL DEFAULT 1, last_active INTEGER NOT NULL, registered_at INTEGER NOT NULL,
            session_id TEXT NOT NULL DEFAULT '', tmux_target TEXT NOT NULL DEFAULT '');
         CREATE TABLE messages (id TEXT PRIMARY KEY, from_id TEXT NOT NULL, to_id TEXT NOT NULL,
            type TEXT NOT NULL CHECK(type IN ('task','status','question','answer','announce','done','identity-request','identity-response')),
            content TEXT NOT NULL, ts INTEGER NOT NULL);
         CREATE TABLE read_cursors (instance_id TEXT NOT NULL PRIMARY KEY, {cursor_column} INTEGER NOT NULL DEFAULT 0);
         CREATE TABLE worktrees (worker_id TEXT PRIMARY KEY, branch TEXT NOT NULL DEFAULT '', path TEXT NOT NULL,
            base TEXT NOT NULL DEFAULT 'main', status TEXT NOT NULL DEFAULT 'active' CHECK(status IN
            ('active','done','queued','merging','verifying','merged','conflict','failed','removed')),
            created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
         INSERT INTO instances VALUES ('master','master',1,1000,1000,'aaaa-old','main:0.0');
         INSERT INTO instances VALUES ('worker-1','worker',1,1000,1000,'bbbb-old','worker-1:0.0');
         INSERT INTO messages VALUES ('m1','worker-1','master','status','one',{t1});
         INSERT INTO messages VALUES ('m2','worker-1','master','status','two',{t2});
         INSERT INTO messages VALUES ('m3','worker-1','master','identity-request','three',{t2});
         INSERT INTO messages VALUES ('m4','worker-1','master','done','four',{t3});
         INSERT INTO read_cursors VALUES ('master', {t2});
         INSERT INTO worktrees VALUES ('worker-1','aimfp-a-1','/tmp/wt','main','done',5,6);",
        t1 = t + 100,
        t2 = t + 200,
        t3 = t + 300,
    ))?;
    Ok(())
}

/// A master registered on a migrated bus reads exactly what it had not read.
#[tokio::test]
async fn a_legacy_bus_with_a_millisecond_cursor_migrates_without_loss() -> TestResult {
    if on_postgres() {
        return Ok(()); // a test of the SQLite file; tests/it/pg.rs has PostgreSQL's
    }
    let project = Project::plain()?;
    legacy_bus(&project, "last_read_ts")?;
    let mut bus = Bus::open_existing(&project.paths())?.ok_or("bus missing")?;
    let conn = bus.conn().sqlite().ok_or("not a SQLite bus")?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    assert_eq!(version, SCHEMA_VERSION);
    let seqs: Vec<(i64, String)> = conn
        .prepare("SELECT seq, id FROM messages ORDER BY seq")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    assert_eq!(
        seqs,
        [
            (1, "m1".into()),
            (2, "m2".into()),
            (3, "m3".into()),
            (4, "m4".into())
        ]
    );
    let cursor: i64 = conn.query_row(
        "SELECT last_read_seq FROM read_cursors WHERE instance_id='master'",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(cursor, 3, "ts 200 covers rows 1..=3");
    let wt: String = conn.query_row("SELECT branch FROM worktrees", [], |r| r.get(0))?;
    assert_eq!(wt, "aimfp-a-1");
    bus.write(|_| Ok::<_, BusError>(()))?;

    // The old master process is gone (its row has no pid and went stale), so
    // a new master takes over and gets the unread remainder.
    let master = project.client().await?;
    register(&master, "master").await?;
    let r = ok(&master, "intercomm_read", json!({})).await?;
    assert_eq!(r["count"], 1);
    assert_eq!(r["messages"][0]["content"], "four");
    let all = ok(&master, "intercomm_read", json!({"all": true})).await?;
    assert_eq!(
        all["messages"][2]["type"], "identity-request",
        "retired types survive"
    );
    Ok(())
}

/// A cursor left past the end by the original's rowid reuse (B7) cannot hide
/// new mail after migration.
#[tokio::test]
async fn a_cursor_past_the_end_cannot_hide_new_mail() -> TestResult {
    if on_postgres() {
        return Ok(()); // a test of the SQLite file; tests/it/pg.rs has PostgreSQL's
    }
    let project = Project::plain()?;
    legacy_bus(&project, "last_read_seq")?;
    let conn = Connection::open(project.paths().db())?;
    conn.execute(
        "UPDATE read_cursors SET last_read_seq = 40 WHERE instance_id = 'master'",
        [],
    )?;
    drop(conn);
    let master = project.client().await?;
    register(&master, "master").await?;
    let worker = project.client().await?;
    register(&worker, "worker").await?;
    ok(
        &worker,
        "intercomm_send",
        json!({"to": "master", "message": "new"}),
    )
    .await?;
    let r = ok(&master, "intercomm_read", json!({})).await?;
    assert_eq!(r["messages"][0]["content"], "new");
    assert!(r["messages"][0]["seq"].as_i64() > Some(40));
    Ok(())
}

#[test]
fn a_newer_bus_is_refused_with_a_clear_error() -> TestResult {
    if on_postgres() {
        return Ok(()); // a test of the SQLite file; tests/it/pg.rs has PostgreSQL's
    }
    let project = Project::plain()?;
    Bus::open_or_create(&project.paths())?;
    let conn = Connection::open(project.paths().db())?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)?;
    drop(conn);
    let err = Bus::open_existing(&project.paths())
        .err()
        .ok_or("opened a newer bus")?;
    assert!(matches!(err, BusError::TooNew { .. }));
    let user: intercomm::error::Error = err.into();
    assert_eq!(user.code, "bus_too_new");
    assert!(user.message.contains("newer than this intercomm"));
    Ok(())
}

/// S3: the folder is private to the user, and so are the files SQLite makes.
#[test]
fn the_bus_is_private_to_its_user() -> TestResult {
    if on_postgres() {
        return Ok(()); // a test of the SQLite file; tests/it/pg.rs has PostgreSQL's
    }
    let project = Project::plain()?;
    let mut bus = Bus::open_or_create(&project.paths())?;
    bus.write(|tx| {
        tx.execute("CREATE TABLE t (x)", &[])?;
        tx.execute("INSERT INTO t VALUES (1)", &[])?;
        Ok::<_, BusError>(())
    })?;
    let mode = |p: &std::path::Path| -> TestResult<u32> {
        Ok(std::fs::metadata(p)?.permissions().mode() & 0o777)
    };
    assert_eq!(mode(&project.paths().dir())?, 0o700);
    let db = project.paths().db();
    assert_eq!(mode(&db)?, 0o600);
    for suffix in ["-wal", "-shm"] {
        let side = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
        assert!(side.exists(), "{suffix} missing");
        assert_eq!(mode(&side)?, 0o600, "{suffix}");
    }
    Ok(())
}

/// B13: many processes opening a new bus at once all succeed, and the schema
/// is migrated exactly once.
#[test]
fn concurrent_first_opens_all_succeed() -> TestResult {
    if on_postgres() {
        return Ok(()); // a test of the SQLite file; tests/it/pg.rs has PostgreSQL's
    }
    let project = Project::plain()?;
    let paths = project.paths();
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let paths = paths.clone();
            std::thread::spawn(move || Bus::open_or_create(&paths).map(|_| ()))
        })
        .collect();
    for h in handles {
        h.join().map_err(|_| "thread panicked")??;
    }
    let conn = Connection::open(paths.db())?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    assert_eq!(version, SCHEMA_VERSION);
    Ok(())
}
