//! A server restart under live processes: calls go on, liveness locks come
//! back, and for the grace period a free lock reads as reconnecting, so the
//! master role is not handed to an unforced takeover.

use super::*;

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

/// An `intercomm mcp` worker sends in a loop (the quick send: one
/// statement outside any transaction) while the server crashes and comes
/// back (`pg_ctl restart -m immediate`): every acknowledged send reaches the
/// master once, in order, and none is delivered twice. A send whose
/// connection was lost mid-statement runs again on a new one, a no-op if
/// the first had committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_in_flight_across_a_crash_are_delivered_once_in_order() -> TestResult {
    if skip() {
        return Ok(());
    }
    let cluster = std::sync::Arc::new(OwnCluster::start()?);
    let project = project_on(&cluster, "inflight")?;
    let master = project.process().await?;
    let (_, master_pid) = registered(&master, "master").await?;
    let worker = project.process().await?;
    let (_, worker_pid) = registered(&worker, "worker").await?;
    let _killed = Killed(vec![master_pid, worker_pid]);
    // 0: restarting, 1: back, 2: the restart failed (the join says why).
    let restarted = std::sync::Arc::new(std::sync::atomic::AtomicU8::new(0));
    let restarter = {
        let (restarted, cluster) = (restarted.clone(), cluster.clone());
        std::thread::spawn(move || -> Result<(), String> {
            std::thread::sleep(Duration::from_millis(500));
            let done = cluster.restart_immediate().map_err(|e| e.to_string());
            restarted.store(
                if done.is_ok() { 1 } else { 2 },
                std::sync::atomic::Ordering::SeqCst,
            );
            done
        })
    };
    let (mut acked, mut failed, mut after) = (Vec::new(), 0, 0);
    for n in 0..100_000 {
        let content = format!("m{n:06}");
        let sent = call(
            &worker,
            "intercomm_send",
            json!({"to": "master", "message": content}),
        )
        .await?;
        if sent.is_error == Some(true) {
            failed += 1;
        } else {
            acked.push(content);
        }
        match restarted.load(std::sync::atomic::Ordering::SeqCst) {
            0 => {}
            1 => {
                after += 1;
                if after == 50 {
                    break;
                }
            }
            _ => break,
        }
    }
    restarter
        .join()
        .map_err(|_| "the restart thread panicked")??;
    let got: Vec<String> = read_all(&master)
        .await?
        .iter()
        .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
        .collect();
    let distinct: BTreeSet<&String> = got.iter().collect();
    assert_eq!(distinct.len(), got.len(), "a send delivered twice");
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(got, sorted, "out of order");
    let delivered: BTreeSet<&String> = got.iter().collect();
    let lost: Vec<&String> = acked.iter().filter(|c| !delivered.contains(c)).collect();
    assert!(
        lost.is_empty(),
        "acknowledged and never delivered: {lost:?}"
    );
    assert_eq!(after, 50, "sends went on after the restart");
    eprintln!(
        "sends across a crash: {} acknowledged, {failed} failed, {} delivered once, in order",
        acked.len(),
        got.len()
    );
    Ok(())
}
