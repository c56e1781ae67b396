//! What only the PostgreSQL bus has to prove (INTERCOMM_TEST_BUS=postgres;
//! elsewhere these return at once): a cursor never passes a message that
//! commits late, even though a plain sequence would; 16 writer processes'
//! mail reaches a reading master exactly once and in order; a server
//! restart mid fan-in loses and duplicates nothing acknowledged; a second
//! master cannot take over while the first's connection lives. What a
//! server restart does to live processes is in `restart`, TLS in `tls`.

mod restart;
mod tls;

use std::collections::BTreeSet;
use std::sync::mpsc;
use std::time::Duration;

use intercomm::bus::messages::{self, MessageType, NewMessage};
use intercomm::bus::store::args;
use intercomm::bus::{Bus, BusError, BusUrl, pg};
use intercomm::location::BusPaths;
use serde_json::json;

use crate::support::*;

/// Whether this run is on PostgreSQL; the tests below return at once when not.
pub(super) fn skip() -> bool {
    !on_postgres()
}

pub(super) fn message<'a>(id: &'a str, from: &'a str, content: &'a str) -> NewMessage<'a> {
    NewMessage {
        id,
        from,
        to: "master",
        kind: MessageType::Status,
        content,
        sent_at_ms: 0,
        in_reply_to: None,
    }
}

/// The negative control: with a plain sequence (no fence), a row that takes
/// seq 1 but commits after seq 2 is never seen by a reader that follows the
/// highest seq it read. This is the loss the bus's seq fence prevents, and
/// it shows the exactly-once checks below can fail.
#[test]
fn a_plain_sequence_cursor_skips_a_late_commit() -> TestResult {
    if skip() {
        return Ok(());
    }
    let project = Project::plain()?;
    project.register_master_and_worker();
    let (a, b, reader) = (project.bus()?, project.bus()?, project.bus()?);
    reader.conn().execute(
        "CREATE TABLE plain (seq BIGSERIAL PRIMARY KEY, v TEXT NOT NULL)",
        &[],
    )?;
    let pa = a.conn().pg().ok_or("not PostgreSQL")?;
    pa.batch("BEGIN")?;
    pa.batch("INSERT INTO plain (v) VALUES ('late')")?;
    b.conn()
        .execute("INSERT INTO plain (v) VALUES ('early')", &[])?;
    let read = |after: i64| -> TestResult<Vec<(i64, String)>> {
        Ok(reader.conn().query(
            "SELECT seq, v FROM plain WHERE seq > ?1 ORDER BY seq",
            args![after],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    };
    let first = read(0)?;
    assert_eq!(first, [(2, "early".to_owned())]);
    let cursor = first.last().map_or(0, |r| r.0);
    pa.batch("COMMIT")?;
    assert!(
        read(cursor)?.is_empty(),
        "the late row is behind the cursor"
    );
    assert_eq!(read(0)?.len(), 2, "and yet it is stored: skipped forever");
    Ok(())
}

/// The same interleaving through the bus: neither send waits for the other
/// (no lock between them), and the fence keeps the reader behind the late
/// seq until it commits, so the reader sees seq 1 before (or with) seq 2.
#[test]
fn the_fence_keeps_a_late_commit_ahead_of_the_cursor() -> TestResult {
    if skip() {
        return Ok(());
    }
    let project = Project::plain()?;
    project.register_master_and_worker();
    let paths = project.paths();
    let (inserted_tx, inserted) = mpsc::channel();
    let (go_tx, go) = mpsc::channel::<()>();
    let first = std::thread::spawn(move || -> Result<i64, String> {
        let mut bus = Bus::open_or_create(&paths).map_err(|e| e.to_string())?;
        bus.write_send(|tx| {
            let seq = messages::insert(tx, &message("m-late", "worker-1", "late"))
                .map_err(BusError::from)?;
            let _ = inserted_tx.send(seq);
            let _ = go.recv();
            Ok::<_, BusError>(seq)
        })
        .map_err(|e| e.to_string())
    });
    let late_seq = inserted.recv_timeout(Duration::from_secs(30))?;
    let mut second = project.bus()?;
    let early_seq = second.write_send(|tx| {
        messages::insert(tx, &message("m-early", "worker-1", "early")).map_err(BusError::from)
    })?;
    assert!(early_seq > late_seq);
    let reader = project.bus()?;
    let committed: i64 = reader
        .conn()
        .query_one("SELECT COUNT(*) FROM messages", &[], |r| r.get(0))?;
    assert_eq!(committed, 1, "the early message is committed and visible");
    let before = messages::inbox(reader.conn(), "master", 0, 10)?;
    assert!(before.is_empty(), "read past the fence: {before:?}");
    assert!(
        messages::last_seq(reader.conn())? < late_seq,
        "a cursor set to the last seq would skip the late message"
    );
    go_tx.send(())?;
    assert_eq!(
        first.join().map_err(|_| "first writer panicked")??,
        late_seq
    );
    let after: Vec<String> = messages::inbox(reader.conn(), "master", 0, 10)?
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(after, ["late", "early"]);
    assert_eq!(messages::last_seq(reader.conn())?, early_seq);
    // A send rolled back holds the fence until then, and its rollback moves
    // the change counter, so a waiter looks again at once.
    let version = messages::data_version(reader.conn())?;
    let rolled_back = second.write_send(|tx| {
        messages::insert(tx, &message("m-void", "worker-1", "void")).map_err(BusError::from)?;
        Err::<(), _>(BusError::from(intercomm::bus::store::StoreError::Pg(
            "rolled back".to_owned(),
        )))
    });
    assert!(rolled_back.is_err());
    assert_ne!(messages::data_version(reader.conn())?, version);
    assert_eq!(messages::inbox(reader.conn(), "master", 0, 10)?.len(), 2);
    Ok(())
}

/// A process stuck half-way through a write (here: its closure never
/// returns) holds the write lock and the seq fence, and stalls no one for
/// long: another write gives up after the lock timeout with an error that
/// says why, and the server ends the stuck session after its idle time
/// inside the transaction, so the fence moves on and a reader gets the mail
/// sent meanwhile. Nothing of the stuck transaction is stored.
#[test]
fn a_stuck_writer_stalls_writers_and_readers_only_for_a_while() -> TestResult {
    if skip() {
        return Ok(());
    }
    let project = Project::plain()?;
    project.register_master_and_worker();
    let paths = project.paths();
    let (inside_tx, inside) = mpsc::channel();
    let (go_tx, go) = mpsc::channel::<()>();
    let stuck = std::thread::spawn(move || -> Result<(), String> {
        let mut bus = Bus::open_or_create(&paths).map_err(|e| e.to_string())?;
        bus.write(|tx| {
            messages::insert(tx, &message("m-stuck", "worker-1", "stuck"))
                .map_err(BusError::from)?;
            let _ = inside_tx.send(());
            let _ = go.recv_timeout(Duration::from_secs(60));
            Ok::<_, BusError>(())
        })
        .map_err(|e| e.to_string())
    });
    inside.recv_timeout(Duration::from_secs(30))?;
    let mut writer = project.bus()?;
    let started = std::time::Instant::now();
    let refused = writer
        .write(|tx| {
            messages::insert(tx, &message("m-locked", "worker-1", "locked")).map_err(BusError::from)
        })
        .err()
        .ok_or("a write went through while another held the write lock")?
        .to_string();
    assert!(
        refused.contains("stayed locked by another process"),
        "{refused}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(pg::LOCK_TIMEOUT_MS - 100),
        "it waited the lock timeout first"
    );
    writer.write_send(|tx| {
        messages::insert(tx, &message("m-sent", "worker-1", "sent")).map_err(BusError::from)
    })?;
    let reader = project.bus()?;
    assert!(
        messages::inbox(reader.conn(), "master", 0, 10)?.is_empty(),
        "read past the stuck writer's fence"
    );
    let mut delivered = Vec::new();
    for _ in 0..600 {
        delivered = messages::inbox(reader.conn(), "master", 0, 10)?;
        if !delivered.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let contents: Vec<&str> = delivered.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(
        contents,
        ["sent"],
        "the fence moved on once the server ended the stuck session"
    );
    let _ = go_tx.send(());
    let ended = stuck.join().map_err(|_| "stuck writer panicked")?;
    assert!(ended.is_err(), "the stuck transaction committed: {ended:?}");
    assert_eq!(messages::count(reader.conn())?, 1, "nothing of it stored");
    Ok(())
}

/// A bus left at schema version 2 with sends still queued in its outbox
/// (committed, never given a seq) delivers them after the upgrade, once
/// each, and its outbox is gone.
#[test]
fn an_upgrade_from_version_2_delivers_the_queued_sends() -> TestResult {
    if skip() {
        return Ok(());
    }
    let project = Project::plain()?;
    project.register_master_and_worker();
    let bus = project.bus()?;
    bus.conn().execute(
        "INSERT INTO messages (id, from_id, to_id, type, content) VALUES ('m-1', 'worker-1', 'master', 'status', 'stored')",
        &[],
    )?;
    // Version 2 as it was: the plain sequence default and the outbox.
    bus.conn().pg().ok_or("not PostgreSQL")?.batch(
        "ALTER TABLE messages ALTER COLUMN seq SET DEFAULT nextval('messages_seq_seq');
         DROP FUNCTION fenced_seq(); DROP FUNCTION bus_fence();
         CREATE TABLE outbox (ins BIGSERIAL PRIMARY KEY, id TEXT NOT NULL UNIQUE,
             from_id TEXT NOT NULL, to_id TEXT NOT NULL, type TEXT NOT NULL,
             content TEXT NOT NULL, ts BIGINT NOT NULL DEFAULT 0, in_reply_to TEXT);
         INSERT INTO outbox (id, from_id, to_id, type, content) VALUES
             ('m-2', 'worker-1', 'master', 'status', 'queued first'),
             ('m-1', 'worker-1', 'master', 'status', 'queued and stored'),
             ('m-3', 'worker-1', 'master', 'status', 'queued last');
         UPDATE schema_version SET version = 2;",
    )?;
    drop(bus);
    let mut reader = project.bus()?;
    let read = intercomm::ops::messaging::take_unread(&mut reader, "master", false, 10, true)?;
    let contents: Vec<&str> = read
        .messages
        .iter()
        .map(|m| m.message.content.as_str())
        .collect();
    assert_eq!(contents, ["stored", "queued first", "queued last"]);
    let outbox: Option<String> =
        reader
            .conn()
            .query_one("SELECT to_regclass('outbox')::TEXT", &[], |r| r.get(0))?;
    assert_eq!(outbox, None, "the outbox is dropped");
    Ok(())
}

/// The send's quick path stores only what the full path would: with the
/// sender's own token, to a registered recipient under its backlog bound,
/// with a new id. Anything else writes nothing and leaves the full path to
/// say what stood in the way.
#[test]
fn the_quick_send_stores_only_a_clear_send() -> TestResult {
    if skip() {
        return Ok(());
    }
    let project = Project::plain()?;
    project.register_master_and_worker();
    let bus = project.bus()?;
    let token: String = bus.conn().query_one(
        "SELECT session_id FROM instances WHERE id = 'worker-1'",
        &[],
        |r| r.get(0),
    )?;
    let send = |id: &str, to: &str, token: &str, limit: i64| -> TestResult<Option<i64>> {
        let m = NewMessage {
            to,
            ..message(id, "worker-1", id)
        };
        Ok(messages::insert_if_clear(bus.conn(), &m, token, limit)?.map(|(_, seq)| seq))
    };
    assert_eq!(
        send("m-token", "master", "not-its-token", 100)?,
        None,
        "a stale token"
    );
    assert_eq!(
        send("m-nobody", "worker-9", &token, 100)?,
        None,
        "an unknown recipient"
    );
    assert_eq!(messages::count(bus.conn())?, 0, "nothing written");
    let watcher = project.bus()?;
    let version = messages::data_version(watcher.conn())?;
    let seq = send("m-1", "master", &token, 100)?.ok_or("a clear send was refused")?;
    assert_eq!(messages::inbox(bus.conn(), "master", 0, 10)?[0].seq, seq);
    assert_ne!(
        messages::data_version(watcher.conn())?,
        version,
        "waiters are told of the send"
    );
    assert_eq!(
        send("m-1", "master", &token, 100)?,
        None,
        "an id already stored"
    );
    assert_eq!(
        send("m-full", "master", &token, 1)?,
        None,
        "a recipient at its bound"
    );
    assert_eq!(messages::count(bus.conn())?, 1);
    Ok(())
}

/// 16 writer processes × 300 messages while the master reads as they
/// arrive: each message exactly once, each sender's in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_writer_processes_reach_a_reading_master_exactly_once_in_order() -> TestResult {
    if skip() {
        return Ok(());
    }
    let (writers, per) = (16, 300u32);
    let project = Project::plain()?;
    let master = project.process().await?;
    register(&master, "master").await?;
    let mut procs = Vec::new();
    for _ in 0..writers {
        let c = project.process().await?;
        let id = register(&c, "worker").await?;
        procs.push((id, c));
    }
    let done = std::sync::atomic::AtomicUsize::new(0);
    let sends = procs.iter().map(|(id, c)| {
        let done = &done;
        async move {
            for n in 0..per {
                ok(
                    c,
                    "intercomm_send",
                    json!({"to": "master", "message": format!("{id} {n}")}),
                )
                .await?;
            }
            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            TestResult::Ok(())
        }
    });
    let reading = async {
        let mut got = Vec::new();
        loop {
            let finished = done.load(std::sync::atomic::Ordering::SeqCst) == writers;
            let page = read_all(&master).await?;
            let empty = page.is_empty();
            got.extend(page);
            if finished && empty {
                return TestResult::Ok(got);
            }
            if empty {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    let (sent, got) = tokio::join!(futures::future::try_join_all(sends), reading);
    sent?;
    let got = got?;
    let by_sender = numbers_by_sender(&got)?;
    assert_eq!(got.len(), writers * per as usize, "every message, once");
    for (id, _) in &procs {
        let seen = by_sender.get(id).cloned().unwrap_or_default();
        assert_eq!(seen, (0..per).collect::<Vec<_>>(), "{id}: in order");
    }
    Ok(())
}

/// The value of `key` in `pg-test-cluster start`'s output (`KEY=value` lines).
pub(super) fn printed(text: &str, key: &str) -> TestResult<String> {
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .map(str::to_owned)
        .ok_or(format!("no {key} in {text}"))?)
}

/// A cluster of this test's own (fsync on), stopped and removed on drop.
pub(super) struct OwnCluster {
    pub(super) url: String,
    pub(super) dir: String,
}

impl OwnCluster {
    pub(super) fn start() -> TestResult<Self> {
        Ok(Self::launch("--fsync")?.0)
    }

    /// `pg-test-cluster start <option>`: the cluster, and the lines the
    /// script printed (`KEY=value`, read with [`printed`]).
    pub(super) fn launch(option: &str) -> TestResult<(Self, String)> {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg-test-cluster");
        let out = std::process::Command::new(script)
            .args(["start", option])
            .output()?;
        if !out.status.success() {
            return Err(format!(
                "pg-test-cluster start {option}: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        let text = String::from_utf8(out.stdout)?;
        let cluster = Self {
            url: printed(&text, "INTERCOMM_TEST_PG")?,
            dir: printed(&text, "INTERCOMM_TEST_PG_DIR")?,
        };
        Ok((cluster, text))
    }

    pub(super) fn restart_immediate(&self) -> TestResult {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg-test-cluster");
        let status = std::process::Command::new(script)
            .args(["restart", &self.dir, "immediate"])
            .status()?;
        if !status.success() {
            return Err("pg_ctl restart -m immediate failed".into());
        }
        Ok(())
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg-test-cluster");
        let _ = std::process::Command::new(script)
            .args(["stop", &self.dir])
            .status();
    }
}

/// `pg_ctl restart -m immediate` (a crash, then WAL redo) while 4 writers
/// send: every send that returned is stored exactly once, in its sender's
/// order. A writer whose send failed reconnects and sends the same id again,
/// a no-op when the first attempt had committed (client-made id, ON
/// CONFLICT DO NOTHING).
#[test]
fn a_server_crash_mid_fan_in_loses_and_duplicates_nothing_acknowledged() -> TestResult {
    if skip() {
        return Ok(());
    }
    let cluster = OwnCluster::start()?;
    let dir = tempfile::tempdir()?;
    let url = BusUrl::parse(&format!("{}?schema=crash", cluster.url))?;
    let paths = BusPaths::new(dir.path(), dir.path()).with_bus(Some(url));
    Bus::open_or_create(&paths)?;
    let (writers, per) = (4, 150u32);
    let handles: Vec<_> = (0..writers)
        .map(|w| {
            let paths = paths.clone();
            std::thread::spawn(move || -> Result<(Vec<String>, u32), String> {
                let mut acked = Vec::new();
                let mut retries = 0;
                let mut bus = None;
                for n in 0..per {
                    let id = format!("w{w}-{n:04}");
                    let content = format!("w{w} {n}");
                    let mut attempts = 0;
                    loop {
                        attempts += 1;
                        if attempts > 200 {
                            return Err(format!("{id}: the bus never came back"));
                        }
                        if bus.is_none() {
                            bus = Bus::open_existing(&paths).ok().flatten();
                        }
                        let Some(b) = bus.as_mut() else {
                            std::thread::sleep(Duration::from_millis(50));
                            continue;
                        };
                        let from = format!("w{w}");
                        let m = message(&id, &from, &content);
                        // Even writers send as `intercomm_send` does (no
                        // write lock); odd ones insert under it, as every
                        // other write does.
                        let sent = if w % 2 == 0 {
                            b.write_send(|tx| messages::insert(tx, &m).map_err(BusError::from))
                        } else {
                            b.write(|tx| messages::insert(tx, &m).map_err(BusError::from))
                        };
                        match sent {
                            Ok(_) => {
                                acked.push(id.clone());
                                break;
                            }
                            Err(_) => {
                                retries += 1;
                                bus = None;
                            }
                        }
                    }
                }
                Ok((acked, retries))
            })
        })
        .collect();
    // Restart once the writers are under way (a tenth of the messages in).
    let watcher = Bus::open_existing(&paths)?.ok_or("no bus")?;
    for _ in 0..600 {
        if messages::count(watcher.conn())? >= i64::from(per) * writers as i64 / 10 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(watcher);
    cluster.restart_immediate()?;
    let mut acked = Vec::new();
    let mut retries = 0;
    for h in handles {
        let (a, r) = h.join().map_err(|_| "writer panicked")??;
        acked.push(a);
        retries += r;
    }
    let bus = Bus::open_existing(&paths)?.ok_or("no bus after restart")?;
    let stored: Vec<(i64, String)> =
        bus.conn()
            .query("SELECT seq, id FROM messages ORDER BY seq", &[], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
    let stored_ids: Vec<&String> = stored.iter().map(|(_, id)| id).collect();
    let distinct: BTreeSet<&String> = stored_ids.iter().copied().collect();
    assert_eq!(distinct.len(), stored.len(), "a message stored twice");
    let total: usize = acked.iter().map(Vec::len).sum();
    assert_eq!(total, writers * per as usize, "every writer finished");
    assert_eq!(stored.len(), total, "stored = acknowledged");
    for (w, ids) in acked.iter().enumerate() {
        let order: Vec<&String> = stored_ids
            .iter()
            .copied()
            .filter(|id| id.starts_with(&format!("w{w}-")))
            .collect();
        assert_eq!(order, ids.iter().collect::<Vec<_>>(), "w{w}: order");
    }
    assert!(retries > 0, "the restart hit no send (it proves nothing)");
    eprintln!("restart mid fan-in: {total} acknowledged = stored = distinct, {retries} retries");
    Ok(())
}

/// One master at a time: while the first master's connection lives (its
/// session lock held), a second cannot take the id, even where its process
/// cannot be checked (a row from another host); once the connection ends,
/// it can, without force.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_master_waits_for_the_first_masters_connection() -> TestResult {
    if skip() {
        return Ok(());
    }
    let project = Project::plain()?;
    let first = project.process().await?;
    let pid = ok(&first, "intercomm_register", json!({"role": "master"})).await?["pid"]
        .as_u64()
        .ok_or("pid")?;
    // As if it ran on another host: its pid says nothing here.
    project.bus()?.conn().execute(
        "UPDATE instances SET host = 'elsewhere', boot_id = '' WHERE id = 'master'",
        &[],
    )?;
    let second = project.process().await?;
    let e = err(&second, "intercomm_register", json!({"role": "master"})).await?;
    assert!(
        e.to_string().contains("master"),
        "refused while the first lives: {e}"
    );
    let status = ok(&second, "intercomm_status", json!({})).await?;
    let m = instance(&status, "master")?;
    assert_eq!(m["alive"], true, "alive by its connection: {m}");
    std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()?;
    let mut taken = false;
    for _ in 0..300 {
        let r = call(&second, "intercomm_register", json!({"role": "master"})).await?;
        if r.is_error != Some(true) {
            taken = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        taken,
        "the id stayed taken after the first master's connection ended"
    );
    Ok(())
}

/// The two stores keep the same tables and columns: a table or column added
/// to the SQLite schema and not to PostgreSQL's (or the reverse) fails here,
/// before an operation finds it missing. PostgreSQL's own additions are
/// listed.
#[test]
fn both_stores_have_the_same_tables_and_columns() -> TestResult {
    if skip() {
        return Ok(());
    }
    let project = Project::plain()?;
    project.register_master_and_worker();
    let sqlite_dir = tempfile::tempdir()?;
    let sqlite_paths = BusPaths::new(sqlite_dir.path(), sqlite_dir.path());
    let sqlite = Bus::open_or_create(&sqlite_paths)?;
    let lite = sqlite.conn().sqlite().ok_or("not SQLite")?;
    let mut want = BTreeSet::new();
    let tables: Vec<String> = sqlite.conn().query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        &[],
        |r| r.get(0),
    )?;
    for t in tables {
        let mut stmt = lite.prepare(&format!("PRAGMA table_info({t})"))?;
        let cols = stmt.query_map([], |r| r.get::<_, String>(1))?;
        for c in cols {
            want.insert(format!("{t}.{}", c?));
        }
    }
    let pg = project.bus()?;
    let mut have: BTreeSet<String> = pg
        .conn()
        .query(
            "SELECT table_name, column_name FROM information_schema.columns
              WHERE table_schema = current_schema()",
            &[],
            |r| Ok(format!("{}.{}", r.get::<String>(0)?, r.get::<String>(1)?)),
        )?
        .into_iter()
        .collect();
    for own in ["instances.lock_key", "schema_version.version"] {
        assert!(have.remove(own), "{own} missing on PostgreSQL");
    }
    assert_eq!(have, want);
    Ok(())
}

/// either store: it needs no server.
#[test]
fn doctor_names_an_unreachable_bus_and_what_to_check() -> TestResult {
    let project = Project::plain()?;
    let out = project
        .cli()
        .args([
            "--bus",
            "postgres://ic:hunter2@127.0.0.1:1/nowhere?schema=ic_x&connect_timeout=2",
            "doctor",
        ])
        .assert()
        .code(1);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        text.contains("postgres://ic:***@127.0.0.1:1/nowhere"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("check INTERCOMM_BUS (or --bus)"), "{text}");
    let bad = project
        .cli()
        .args(["--bus", "mysql://db/x", "status"])
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&bad.get_output().stderr).into_owned();
    assert!(
        err.contains("invalid `--bus`: a bus URL starts with postgres://"),
        "{err}"
    );
    Ok(())
}
