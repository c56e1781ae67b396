//! What only the PostgreSQL bus has to prove (INTERCOMM_TEST_BUS=postgres;
//! elsewhere these return at once): a cursor never passes a message that
//! commits late, even though a plain sequence would; 16 writer processes'
//! mail reaches a reading master exactly once and in order; a server
//! restart mid fan-in loses and duplicates nothing acknowledged; a second
//! master cannot take over while the first's connection lives.

use std::collections::{BTreeSet, HashMap};
use std::sync::mpsc;
use std::time::Duration;

use intercomm::bus::messages::{self, MessageType, NewMessage};
use intercomm::bus::store::args;
use intercomm::bus::{Bus, BusError, BusUrl};
use intercomm::location::BusPaths;
use serde_json::json;

use crate::support::*;

/// Whether this run is on PostgreSQL; the tests below return at once when not.
fn skip() -> bool {
    !on_postgres()
}

fn message<'a>(id: &'a str, from: &'a str, content: &'a str) -> NewMessage<'a> {
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

/// Polls (up to 30 s) until another connection waits for the bus's write
/// lock: a deterministic "B is blocked", with no timing in the assertion.
fn until_a_writer_waits(bus: &Bus) -> TestResult<bool> {
    for _ in 0..600 {
        let waiting: i64 = bus.conn().query_one(
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
            &[],
            |r| r.get(0),
        )?;
        if waiting > 0 {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(false)
}

/// The negative control: with a plain sequence (no lock), a row that takes
/// seq 1 but commits after seq 2 is never seen by a reader that follows the
/// highest seq it read. This is the loss the bus's write lock prevents, and
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

/// The same interleaving through the bus: the second writer waits for the
/// first's commit, so the reader sees seq 1 before (or with) seq 2.
#[test]
fn the_write_lock_keeps_a_late_commit_ahead_of_the_cursor() -> TestResult {
    if skip() {
        return Ok(());
    }
    let project = Project::plain()?;
    project.register_master_and_worker();
    let paths = project.paths();
    let (inserted_tx, inserted) = mpsc::channel();
    let (go_tx, go) = mpsc::channel::<()>();
    let first = {
        let paths = paths.clone();
        std::thread::spawn(move || -> Result<i64, String> {
            let mut bus = Bus::open_or_create(&paths).map_err(|e| e.to_string())?;
            bus.write(|tx| {
                let seq = messages::insert(tx, &message("m-late", "worker-1", "late"))
                    .map_err(BusError::from)?;
                let _ = inserted_tx.send(seq);
                let _ = go.recv();
                Ok::<_, BusError>(seq)
            })
            .map_err(|e| e.to_string())
        })
    };
    let late_seq = inserted.recv_timeout(Duration::from_secs(30))?;
    let second = {
        let paths = paths.clone();
        std::thread::spawn(move || -> Result<i64, String> {
            let mut bus = Bus::open_or_create(&paths).map_err(|e| e.to_string())?;
            bus.write(|tx| {
                messages::insert(tx, &message("m-early", "worker-1", "early"))
                    .map_err(BusError::from)
            })
            .map_err(|e| e.to_string())
        })
    };
    let reader = project.bus()?;
    assert!(
        until_a_writer_waits(&reader)?,
        "the second writer never waited"
    );
    let before = messages::inbox(reader.conn(), "master", 0, 10)?;
    assert!(before.is_empty(), "nothing is visible yet: {before:?}");
    go_tx.send(())?;
    assert_eq!(
        first.join().map_err(|_| "first writer panicked")??,
        late_seq
    );
    let early_seq = second.join().map_err(|_| "second writer panicked")??;
    assert!(early_seq > late_seq);
    let after: Vec<String> = messages::inbox(reader.conn(), "master", 0, 10)?
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(after, ["late", "early"]);
    Ok(())
}

/// A send's message goes to the outbox, where no reader sees it, and takes
/// its seq when moved, in the same round trip as the send's commit. A
/// message left queued (the server stopped between the commit and the move)
/// loses nothing: the next read moves it and delivers it. Posting an id
/// again, queued or moved, stores nothing more.
#[test]
fn a_queued_message_is_delivered_by_the_next_read_once() -> TestResult {
    if skip() {
        return Ok(());
    }
    let project = Project::plain()?;
    project.register_master_and_worker();
    let mut sender = project.bus()?;
    let post = |bus: &mut Bus, id: &str| {
        bus.write_send(|tx| {
            messages::post(tx, &message(id, "worker-1", id)).map_err(BusError::from)
        })
    };
    assert_eq!(post(&mut sender, "m-1")?, messages::Posted::Queued);
    let first = messages::sequence(sender.conn(), "m-1")?;
    assert_eq!(messages::inbox(sender.conn(), "master", 0, 10)?.len(), 1);
    // Left queued, as a stop between the commit and the move leaves it.
    sender.conn().execute(
        "INSERT INTO outbox (id, from_id, to_id, type, content) VALUES ('m-2', 'worker-1', 'master', 'status', 'm-2')",
        &[],
    )?;
    let mut reader = project.bus()?;
    let unread = messages::inbox(reader.conn(), "master", first, 10)?;
    assert!(
        unread.is_empty(),
        "a queued message is not visible: {unread:?}"
    );
    let read = intercomm::ops::messaging::take_unread(&mut reader, "master", false, 10, true)?;
    let contents: Vec<&str> = read
        .messages
        .iter()
        .map(|m| m.message.content.as_str())
        .collect();
    assert_eq!(contents, ["m-1", "m-2"]);
    for id in ["m-1", "m-2"] {
        assert_eq!(post(&mut sender, id)?, messages::Posted::Queued);
    }
    assert_eq!(messages::sequence(sender.conn(), "m-1")?, first);
    assert_eq!(
        messages::sequence(sender.conn(), "m-2")?,
        read.messages[1].message.seq,
        "the retry found the stored seq"
    );
    assert_eq!(messages::count(sender.conn())?, 2, "each stored once");
    let queued: i64 = sender
        .conn()
        .query_one("SELECT COUNT(*) FROM outbox", &[], |r| r.get(0))?;
    assert_eq!(queued, 0, "nothing left queued");
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
    let mut ids = BTreeSet::new();
    let mut by_sender: HashMap<String, Vec<u32>> = HashMap::new();
    for m in &got {
        assert!(
            ids.insert(m["id"].as_str().unwrap_or_default().to_owned()),
            "delivered twice: {m}"
        );
        let (from, n) = m["content"]
            .as_str()
            .unwrap_or_default()
            .split_once(' ')
            .ok_or("content")?;
        by_sender
            .entry(from.to_owned())
            .or_default()
            .push(n.parse()?);
    }
    assert_eq!(got.len(), writers * per as usize, "every message, once");
    for (id, _) in &procs {
        let seen = by_sender.get(id).cloned().unwrap_or_default();
        assert_eq!(seen, (0..per).collect::<Vec<_>>(), "{id}: in order");
    }
    Ok(())
}

/// A cluster of this test's own (fsync on), stopped and removed on drop.
struct OwnCluster {
    url: String,
    dir: String,
}

impl OwnCluster {
    fn start() -> TestResult<Self> {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg-test-cluster");
        let out = std::process::Command::new(script)
            .args(["start", "--fsync"])
            .output()?;
        if !out.status.success() {
            return Err(format!(
                "pg-test-cluster start: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        let text = String::from_utf8(out.stdout)?;
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k))
                .map(str::to_owned)
                .ok_or(format!("no {k} in {text}"))
        };
        Ok(Self {
            url: field("INTERCOMM_TEST_PG=")?,
            dir: field("INTERCOMM_TEST_PG_DIR=")?,
        })
    }

    fn restart_immediate(&self) -> TestResult {
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
/// CONFLICT DO NOTHING, in the outbox and in `messages`).
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
                        // Even writers send as `intercomm_send` does (the
                        // outbox, then its move); odd ones insert under the
                        // write lock, as every other write does.
                        let sent = if w % 2 == 0 {
                            b.write_send(|tx| messages::post(tx, &m).map_err(BusError::from))
                                .and_then(|_| {
                                    messages::sequence(b.conn(), &id).map_err(BusError::from)
                                })
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
    let m = status["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["id"] == "master")
        .cloned()
        .ok_or("master")?;
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
    for own in [
        "instances.lock_key",
        "schema_version.version",
        "outbox.ins",
        "outbox.id",
        "outbox.from_id",
        "outbox.to_id",
        "outbox.type",
        "outbox.content",
        "outbox.ts",
        "outbox.in_reply_to",
    ] {
        assert!(have.remove(own), "{own} missing on PostgreSQL");
    }
    assert_eq!(have, want);
    Ok(())
}

/// A long-lived process's connection survives a server restart: its next
/// call succeeds on a new connection (or one its idle check already made),
/// and its liveness lock is held again, so its instance reads as alive from
/// another connection.
#[test]
fn a_connection_comes_back_after_a_restart_with_its_liveness_lock() -> TestResult {
    if skip() {
        return Ok(());
    }
    let cluster = OwnCluster::start()?;
    let dir = tempfile::tempdir()?;
    let url = BusUrl::parse(&format!("{}?schema=again", cluster.url))?;
    let paths = BusPaths::new(dir.path(), dir.path()).with_bus(Some(url));
    let mut ctx = intercomm::ops::Ctx::new(
        paths.clone(),
        intercomm::process::ProcessId::current(),
        None,
    );
    // As if on another host, so only the lock can say it is alive.
    ctx.process.host = "elsewhere".to_owned();
    intercomm::ops::identity::register(&mut ctx, Default::default())?;
    let connected = || -> TestResult<Option<bool>> {
        let other = Bus::open_existing(&paths)?.ok_or("no bus")?;
        let row = intercomm::bus::instances::get(other.conn(), "worker-1")?.ok_or("no row")?;
        Ok(row.connected)
    };
    assert_eq!(connected()?, Some(true), "locked before the restart");
    cluster.restart_immediate()?;
    let bus = ctx.bus()?;
    messages::count(bus.conn())?;
    assert_eq!(connected()?, Some(true), "the lock is held again");
    Ok(())
}

/// `intercomm doctor` on a bus URL no server answers: the bus check fails,
/// names the URL (never its password) and says what to check. Runs on
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

/// The server's uptime in ms, on its own clock.
fn server_up_ms(bus: &Bus) -> TestResult<i64> {
    Ok(bus.conn().query_one(
        "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp() - pg_postmaster_start_time()) * 1000
                AS BIGINT)",
        &[],
        |r| r.get(0),
    )?)
}

/// A project on a cluster of the test's own, in schema `schema`.
fn project_on(cluster: &OwnCluster, schema: &str) -> TestResult<Project> {
    let mut project = Project::plain()?;
    project.bus = Some(format!("{}?schema={schema}", cluster.url));
    Ok(project)
}

/// Marks `id`'s row as another host's, so that only its lock can say it is
/// alive (its pid means nothing here).
fn as_if_elsewhere(project: &Project, id: &str) -> TestResult {
    project.bus()?.conn().execute(
        "UPDATE instances SET host = 'elsewhere', boot_id = '' WHERE id = ?1",
        args![id],
    )?;
    Ok(())
}

/// A process stopped (SIGSTOP) for as long as this lives, as a host that
/// cannot answer: continued (SIGCONT) on drop, whatever the test did.
struct Stopped(u64);

impl Stopped {
    fn new(pid: u64) -> TestResult<Self> {
        let status = std::process::Command::new("kill")
            .args(["-STOP", &pid.to_string()])
            .status()?;
        if !status.success() {
            return Err(format!("kill -STOP {pid} failed").into());
        }
        Ok(Self(pid))
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-CONT", &self.0.to_string()])
            .status();
    }
}

/// `intercomm mcp` processes killed (SIGKILL) when this is dropped, before
/// the test's own cluster stops: a process still exiting then would find
/// its server gone and wait for it to come back.
struct Killed(Vec<u64>);

impl Drop for Killed {
    fn drop(&mut self) {
        for pid in &self.0 {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

/// Registers `client` as `role`: its id and its process's pid.
async fn registered(client: &Client, role: &str) -> TestResult<(String, u64)> {
    let r = ok(client, "intercomm_register", json!({ "role": role })).await?;
    let id = r["id"].as_str().ok_or("id")?.to_owned();
    Ok((id, r["pid"].as_u64().ok_or("pid")?))
}

/// The instance `id` in a status result.
fn instance(status: &serde_json::Value, id: &str) -> TestResult<serde_json::Value> {
    Ok(status["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["id"] == id)
        .cloned()
        .ok_or(format!("{id} not in {status}"))?)
}

/// Nothing a client sees fails across `pg_ctl restart -m immediate`: a
/// connection that holds no lock (so no idle check reconnects it first)
/// finds its old connection closed at its next write's `BEGIN` and at its
/// next read, and both succeed on their first try, on a new connection;
/// `intercomm mcp` processes' very next tool calls (send, read, status)
/// succeed, and a holder that makes no call takes its liveness lock again
/// on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_after_a_server_restart_succeed_on_their_first_try() -> TestResult {
    if skip() {
        return Ok(());
    }
    let cluster = OwnCluster::start()?;
    let project = project_on(&cluster, "survive")?;
    let master = project.process().await?;
    let (_, master_pid) = registered(&master, "master").await?;
    let worker = project.process().await?;
    let (worker_id, worker_pid) = registered(&worker, "worker").await?;
    let _killed = Killed(vec![master_pid, worker_pid]);
    as_if_elsewhere(&project, "master")?;
    as_if_elsewhere(&project, &worker_id)?;
    let mut writer = project.bus()?;
    let reader = project.bus()?;
    cluster.restart_immediate()?;

    writer.write(|tx| {
        messages::insert(tx, &message("m-after", "worker-9", "after the restart"))
            .map_err(BusError::from)
    })?;
    assert_eq!(messages::count(reader.conn())?, 1, "the read, first try");

    ok(
        &worker,
        "intercomm_send",
        json!({"to": "master", "message": "still here"}),
    )
    .await?;
    // The master has made no call since the restart: its idle check alone
    // takes its lock again.
    let mut back = false;
    for _ in 0..600 {
        let row = intercomm::bus::instances::get(reader.conn(), "master")?.ok_or("no master")?;
        if row.connected == Some(true) {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(back, "the idle master never took its lock again");
    let got: Vec<String> = read_all(&master)
        .await?
        .iter()
        .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(got, ["after the restart", "still here"]);
    let status = ok(&master, "intercomm_status", json!({})).await?;
    for id in ["master", worker_id.as_str()] {
        assert_eq!(instance(&status, id)?["state"], "alive", "{status}");
    }
    Ok(())
}

/// A bus server restart drops every session lock at once; for
/// `RESTART_GRACE_MS` after it a holder whose lock is free reads as
/// reconnecting, not gone: a master on another host whose process cannot
/// answer (stopped) keeps the master role against an unforced takeover,
/// which is refused saying the bus restarted and to wait or force; a
/// forced one takes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_does_not_hand_the_master_role_to_an_unforced_takeover() -> TestResult {
    if skip() {
        return Ok(());
    }
    let cluster = OwnCluster::start()?;
    let project = project_on(&cluster, "grace")?;
    let first = project.process().await?;
    let (_, pid) = registered(&first, "master").await?;
    as_if_elsewhere(&project, "master")?;
    let second = project.process().await?;
    let mut killed = Killed(vec![pid]);
    let stopped = Stopped::new(pid)?;
    // The checks must run within the grace period; on a machine so loaded
    // that they did not, the server is restarted again.
    let mut checked = false;
    for _ in 0..3 {
        cluster.restart_immediate()?;
        let refused = err(&second, "intercomm_register", json!({"role": "master"})).await?;
        let status = ok(&second, "intercomm_status", json!({})).await?;
        if server_up_ms(&project.bus()?)? >= intercomm::bus::pg::RESTART_GRACE_MS {
            continue;
        }
        assert_eq!(refused["code"], "master_reconnecting", "{refused}");
        let message = refused["message"].as_str().unwrap_or_default();
        assert!(message.contains("the bus restarted"), "{refused}");
        assert!(message.contains(" s ago"), "{refused}");
        assert!(
            refused["hint"]
                .as_str()
                .unwrap_or_default()
                .contains("wait")
                && refused["hint"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("force=true"),
            "{refused}"
        );
        let m = instance(&status, "master")?;
        assert_eq!(m["state"], "reconnecting", "{m}");
        assert_eq!(m["alive"], true, "{m}");
        checked = true;
        break;
    }
    assert!(
        checked,
        "three restarts, each checked after the grace period"
    );
    let taken = ok(
        &second,
        "intercomm_register",
        json!({"role": "master", "force": true}),
    )
    .await?;
    assert_eq!(taken["id"], "master");
    assert_eq!(taken["displaced_master_pid"].as_u64(), Some(pid));
    killed.0.push(taken["pid"].as_u64().ok_or("pid")?);
    drop(stopped);
    let status = ok(&first, "intercomm_status", json!({})).await?;
    assert!(
        status["you"].is_null(),
        "the old master lost the id: {status}"
    );
    Ok(())
}

/// The other side of the grace period: a holder on another host that
/// cannot answer reads as reconnecting right after the restart, alive again
/// once it has taken its lock again, and gone once the grace period is over
/// if it has not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_holder_reads_reconnecting_after_a_restart_then_alive_or_gone() -> TestResult {
    if skip() {
        return Ok(());
    }
    let cluster = OwnCluster::start()?;
    let project = project_on(&cluster, "grace_status")?;
    let master = project.process().await?;
    let (_, master_pid) = registered(&master, "master").await?;
    let (back, away) = (project.process().await?, project.process().await?);
    let (back_id, back_pid) = registered(&back, "worker").await?;
    let (away_id, away_pid) = registered(&away, "worker").await?;
    let _killed = Killed(vec![master_pid, back_pid, away_pid]);
    as_if_elsewhere(&project, &back_id)?;
    as_if_elsewhere(&project, &away_id)?;
    let back_stopped = Stopped::new(back_pid)?;
    let away_stopped = Stopped::new(away_pid)?;
    let mut checked = false;
    for _ in 0..3 {
        cluster.restart_immediate()?;
        let status = ok(&master, "intercomm_status", json!({})).await?;
        if server_up_ms(&project.bus()?)? >= intercomm::bus::pg::RESTART_GRACE_MS {
            continue;
        }
        for w in [&back_id, &away_id] {
            let view = instance(&status, w)?;
            assert_eq!(view["state"], "reconnecting", "{view}");
        }
        let text = text(&call(&master, "intercomm_status", json!({})).await?);
        assert!(
            text.contains(&format!("{back_id} [worker] — reconnecting")),
            "{text}"
        );
        checked = true;
        break;
    }
    assert!(
        checked,
        "three restarts, each checked after the grace period"
    );
    drop(back_stopped);
    let mut relocked = false;
    for _ in 0..600 {
        let status = ok(&master, "intercomm_status", json!({})).await?;
        if instance(&status, &back_id)?["state"] == "alive" {
            relocked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(relocked, "{back_id} never took its lock again");
    let bus = project.bus()?;
    while server_up_ms(&bus)? < intercomm::bus::pg::RESTART_GRACE_MS {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let status = ok(&master, "intercomm_status", json!({})).await?;
    let view = instance(&status, &away_id)?;
    assert_eq!(view["state"], "gone", "after the grace period: {view}");
    assert_eq!(view["alive"], false, "{view}");
    drop(away_stopped);
    Ok(())
}

/// Scan shows the same: a spawned worker whose MCP server is on "another
/// host" and cannot answer (stopped) is `reconnecting` in the scan after a
/// restart, and still counts as registered and alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_shows_a_worker_reconnecting_after_a_restart() -> TestResult {
    if skip() {
        return Ok(());
    }
    let cluster = OwnCluster::start()?;
    let mut project = Project::git()?;
    project.bus = Some(format!("{}?schema=grace_scan", cluster.url));
    let server = TmuxServer::new()?;
    let master = crate::stand_in::master_on(&project, &server).await?;
    let out = ok(
        &master,
        "intercomm_spawn",
        json!({"count": 1, "claude_cmd": crate::stand_in::fake_cmd(server.dir(), "")}),
    )
    .await?;
    assert_eq!(out["workers"][0]["id"], "worker-1", "{out}");
    // The stand-in does not register; an `intercomm mcp` named as the
    // session holds the id, as the worker's own server would.
    let worker = project
        .process_with(&[("INTERCOMM_WORKER_ID", "worker-1")])
        .await?;
    let (id, pid) = registered(&worker, "worker").await?;
    assert_eq!(id, "worker-1");
    let _killed = Killed(vec![pid]);
    as_if_elsewhere(&project, "worker-1")?;
    let stopped = Stopped::new(pid)?;
    let mut checked = false;
    for _ in 0..3 {
        cluster.restart_immediate()?;
        let scan = ok(&master, "intercomm_scan", json!({})).await?;
        let shown = text(&call(&master, "intercomm_scan", json!({})).await?);
        if server_up_ms(&project.bus()?)? >= intercomm::bus::pg::RESTART_GRACE_MS {
            continue;
        }
        let pane = &scan["panes"][0];
        assert_eq!(pane["id"], "worker-1", "{scan}");
        assert_eq!(pane["reconnecting"], true, "{pane}");
        assert_eq!(pane["registered_alive"], true, "{pane}");
        assert!(shown.contains("(reconnecting to the bus)"), "{shown}");
        checked = true;
        break;
    }
    assert!(
        checked,
        "three restarts, each checked after the grace period"
    );
    drop(stopped);
    ok(&master, "intercomm_teardown", json!({})).await?;
    Ok(())
}

/// A server that stays away: a long-lived connection's call waits for it
/// (`RECONNECT_WAIT`), then fails saying so, with the connect error.
#[test]
fn a_call_fails_saying_the_server_did_not_come_back() -> TestResult {
    if skip() {
        return Ok(());
    }
    let cluster = OwnCluster::start()?;
    let dir = tempfile::tempdir()?;
    let url = BusUrl::parse(&format!("{}?schema=away", cluster.url))?;
    let paths = BusPaths::new(dir.path(), dir.path()).with_bus(Some(url));
    let bus = Bus::open_or_create(&paths)?;
    messages::count(bus.conn())?;
    drop(cluster);
    let e = messages::count(bus.conn())
        .err()
        .ok_or("a count without a server")?
        .to_string();
    assert!(
        e.contains("the connection was lost and the server did not come back within 10 s"),
        "{e}"
    );
    assert!(e.contains("error connecting to server"), "{e}");
    Ok(())
}

/// A cluster of this test's own with TLS (`pg-test-cluster start --tls`):
/// the cluster, and the path of the throwaway CA that signed its
/// certificate (for 127.0.0.1 and localhost). TCP clients are accepted
/// over TLS only.
fn tls_cluster() -> TestResult<(OwnCluster, String)> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg-test-cluster");
    let out = std::process::Command::new(script)
        .args(["start", "--tls"])
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "pg-test-cluster start --tls: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let text = String::from_utf8(out.stdout)?;
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k))
            .map(str::to_owned)
            .ok_or(format!("no {k} in {text}"))
    };
    let cluster = OwnCluster {
        url: field("INTERCOMM_TEST_PG=")?,
        dir: field("INTERCOMM_TEST_PG_DIR=")?,
    };
    Ok((cluster, field("INTERCOMM_TEST_PG_CA=")?))
}

/// The TLS version of a bus's own connection, `None` when it is plain
/// (the server's `pg_stat_ssl`, not the client's word).
fn tls_of(bus: &Bus) -> TestResult<Option<String>> {
    let rows: Vec<String> = bus.conn().query(
        "SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl",
        &[],
        |r| r.get(0),
    )?;
    Ok(rows.into_iter().next())
}

/// A bus on `url` (created), in a folder of its own.
fn open_bus(url: &str) -> TestResult<(tempfile::TempDir, Bus)> {
    let dir = tempfile::tempdir()?;
    let paths = BusPaths::new(dir.path(), dir.path()).with_bus(Some(BusUrl::parse(url)?));
    let bus = Bus::open_or_create(&paths)?;
    Ok((dir, bus))
}

/// The error of opening a bus on `url`.
fn open_error(url: &str) -> TestResult<String> {
    match open_bus(url) {
        Ok(_) => Err(format!("{url}: connected").into()),
        Err(e) => Ok(e.to_string()),
    }
}

/// `sslmode=verify-full` against the cluster's CA: the CLI registers a
/// master and a worker, sends and reads, every process on its own TLS
/// connection; the server says the connections are encrypted, and doctor
/// says so too.
#[test]
fn a_round_trip_over_tls_verified_against_the_bus_ca() -> TestResult {
    if skip() {
        return Ok(());
    }
    let (cluster, ca) = tls_cluster()?;
    let url = format!(
        "{}?schema=tls_trip&sslmode=verify-full&sslrootcert={ca}",
        cluster.url
    );
    let mut project = Project::plain()?;
    project.bus = Some(url.clone());
    project.register_master_and_worker();
    project
        .cli()
        .args(["send", "--from", "worker-1", "master", "over TLS"])
        .assert()
        .success();
    project
        .cli()
        .args(["read", "--id", "master"])
        .assert()
        .success()
        .stdout(predicates::str::contains("over TLS"));
    let bus = project.bus()?;
    let version = tls_of(&bus)?.ok_or("the server sees a plain connection")?;
    assert!(version.starts_with("TLS"), "{version}");
    let stored: Vec<String> = bus.conn().query(
        "SELECT content FROM messages WHERE to_id = 'master'",
        &[],
        |r| r.get(0),
    )?;
    assert_eq!(stored, ["over TLS"]);
    project
        .cli()
        .arg("doctor")
        .assert()
        .stdout(predicates::str::contains(format!(
            "TLS (verify-full, {version})"
        )));
    Ok(())
}

/// `verify-full` refuses a server whose certificate another CA signed, and
/// one whose certificate does not name the host asked for (`hostaddr`
/// reaches the right server under a wrong name), each error naming what
/// failed (and never the URL's password); `verify-ca` checks the chain
/// only, so the wrong name passes it.
#[test]
fn verify_full_refuses_a_certificate_of_another_ca_or_host() -> TestResult {
    if skip() {
        return Ok(());
    }
    let (cluster, ca) = tls_cluster()?;
    let other = tempfile::tempdir()?;
    let other_ca = other.path().join("other-ca.crt");
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=another CA",
        ])
        .arg("-keyout")
        .arg(other.path().join("other-ca.key"))
        .arg("-out")
        .arg(&other_ca)
        .output()?;
    assert!(made.status.success(), "{made:?}");
    let other_ca = other_ca.to_str().ok_or("path")?;
    // With a password in the URL (trust ignores it): never in the error.
    let with_password = cluster.url.replacen("postgres@", "postgres:hunter2@", 1);
    let err = open_error(&format!(
        "{with_password}?schema=tls_other&sslmode=verify-full&sslrootcert={other_ca}"
    ))?;
    assert!(
        err.contains(&format!(
            "the bus server's certificate is not signed by the CA in {other_ca}"
        )),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    let port_and_db = cluster.url.rsplit(':').next().ok_or("port")?;
    let renamed = |mode: &str| {
        format!(
            "postgres://postgres@bus.example:{port_and_db}?hostaddr=127.0.0.1&schema=tls_name\
             &sslmode={mode}&sslrootcert={ca}"
        )
    };
    let err = open_error(&renamed("verify-full"))?;
    assert!(
        err.contains(
            "the bus server's certificate does not match host bus.example \
             (it names 127.0.0.1, localhost"
        ),
        "{err}"
    );
    let (_dir, bus) = open_bus(&renamed("verify-ca"))?;
    assert!(tls_of(&bus)?.is_some(), "verify-ca connected without TLS");
    Ok(())
}

/// `require` (no CA given) and the default `prefer` connect over TLS; the
/// negative control: the same server refuses `sslmode=disable`, so it really
/// demanded TLS of every connection above (pg_hba.conf: `hostssl` only).
/// And `require` refuses a server without TLS.
#[test]
fn require_encrypts_and_the_tls_server_refuses_a_plain_client() -> TestResult {
    if skip() {
        return Ok(());
    }
    let (cluster, _ca) = tls_cluster()?;
    for query in ["sslmode=require", "sslmode=prefer", ""] {
        let (_dir, bus) = open_bus(&format!("{}?schema=tls_req&{query}", cluster.url))?;
        assert!(tls_of(&bus)?.is_some(), "{query}: not encrypted");
    }
    let err = open_error(&format!("{}?schema=tls_req&sslmode=disable", cluster.url))?;
    assert!(err.contains("no pg_hba.conf entry"), "{err}");
    assert!(err.contains("no encryption"), "{err}");
    let plain = OwnCluster::start()?;
    let err = open_error(&format!("{}?schema=tls_req&sslmode=require", plain.url))?;
    assert!(
        err.contains("the bus server does not accept TLS connections (sslmode=require)"),
        "{err}"
    );
    Ok(())
}

/// doctor on a bus "on another machine" (the URL's host is `bus.example`;
/// `hostaddr` reaches the test's server): with `verify-ca` it connects over
/// TLS and says so, but warns that the host name goes unchecked and says
/// what to add.
#[test]
fn doctor_warns_of_a_remote_bus_without_verify_full() -> TestResult {
    if skip() {
        return Ok(());
    }
    let (cluster, ca) = tls_cluster()?;
    let port_and_db = cluster.url.rsplit(':').next().ok_or("port")?;
    let mut project = Project::plain()?;
    project.bus = Some(format!(
        "postgres://postgres@bus.example:{port_and_db}?hostaddr=127.0.0.1&schema=tls_doctor\
         &sslmode=verify-ca&sslrootcert={ca}"
    ));
    let out = project.cli().args(["--json", "doctor"]).output()?;
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let bus = report["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == "bus"))
        .ok_or(format!("no bus check in {report}"))?;
    assert_eq!(bus["verdict"], "warn", "{bus}");
    let detail = bus["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("TLS (verify-ca, TLSv1."), "{detail}");
    assert!(
        detail.contains("bus.example is another machine, and sslmode=verify-ca does not check"),
        "{detail}"
    );
    let fix = bus["fix"].as_str().unwrap_or_default();
    assert!(fix.contains("sslmode=verify-full&sslrootcert="), "{fix}");
    Ok(())
}

/// After the server restarts, a long-lived connection comes back verified
/// and encrypted as before (the reconnect goes through the same TLS
/// settings; a plain reconnect would be refused by this server anyway, so
/// the check is that it comes back at all, and over TLS).
#[test]
fn a_connection_comes_back_over_tls_after_a_restart() -> TestResult {
    if skip() {
        return Ok(());
    }
    let (cluster, ca) = tls_cluster()?;
    let (_dir, bus) = open_bus(&format!(
        "{}?schema=tls_again&sslmode=verify-full&sslrootcert={ca}",
        cluster.url
    ))?;
    assert!(tls_of(&bus)?.is_some(), "TLS before the restart");
    cluster.restart_immediate()?;
    let mut calls = 0;
    let after = loop {
        match tls_of(&bus) {
            Ok(v) => break v,
            Err(_) => {
                calls += 1;
                assert!(calls < 3, "the connection never came back");
            }
        }
    };
    assert!(after.is_some(), "came back without TLS");
    Ok(())
}
