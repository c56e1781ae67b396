//! The fleet across hosts: spawn on two hosts, scan, wake, approve,
//! teardown; and a host cut off.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::lab::*;

fn workers(v: &Value) -> Vec<Value> {
    v["workers"].as_array().cloned().unwrap_or_default()
}

fn pane_of<'a>(scan: &'a Value, id: &str) -> Option<&'a Value> {
    scan["panes"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["id"] == id))
}

/// Polls `cond` every 100 ms for at most `secs`.
async fn eventually(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cond()
}

async fn spawn_on(lab: &Lab, master: usize, host: &str, worktrees: bool) -> TestResult<Value> {
    let out = ok(
        lab.client(master),
        "intercomm_spawn",
        json!({"count": 1, "host": host, "claude_cmd": lab.fake_cmd(), "ready_timeout": 60,
               "worktrees": worktrees}),
    )
    .await?;
    let ws = workers(&out);
    if ws.len() != 1 || ws[0]["error"] != Value::Null || ws[0]["woken"] != json!(true) {
        return Err(format!("spawn on {host}: {out}").into());
    }
    Ok(ws[0].clone())
}

async fn round(lab: &mut Lab) -> TestResult {
    let m = lab.master_with_hosts().await?;

    // Spawn: one worker on each host, each booted and woken there.
    let w1 = spawn_on(lab, m, "h1", true).await?;
    let w2 = spawn_on(lab, m, "h2", false).await?;
    let (id1, id2) = (
        w1["id"].as_str().unwrap_or_default().to_owned(),
        w2["id"].as_str().unwrap_or_default().to_owned(),
    );
    assert_ne!(id1, id2);
    // h1's worker works in a worktree of h1's own copy of the repository,
    // made from the master's main over the link.
    let tree = w1["worktree"].as_str().unwrap_or_default().to_owned();
    assert!(
        tree.starts_with(&lab.home.join(".intercomm/hosts").display().to_string()),
        "{w1}"
    );
    assert_eq!(lab.sessions_on(0), std::slice::from_ref(&id1), "h1 tmux");
    assert_eq!(lab.sessions_on(1), std::slice::from_ref(&id2), "h2 tmux");
    for id in [&id1, &id2] {
        let events = lab.events(id);
        assert!(
            events.iter().any(|e| e["event"] == "mcp_connected"),
            "{id}: its intercomm mcp never connected: {events:?}"
        );
        assert!(
            events.iter().any(|e| e["event"] == "submit"),
            "{id}: the spawn's wake was never submitted: {events:?}"
        );
    }

    // Each host has a name of its own, not this machine's: its ssh answers
    // it (the approved command below shows its worker has it too).
    for (i, h) in lab.hosts.iter().enumerate() {
        assert_ne!(h.hostname, this_host()?, "{}", h.name);
        assert_eq!(lab.ssh(i, &["hostname"])?.trim(), h.hostname, "{}", h.name);
    }

    // Scan: both panes, each on its host.
    let scan = ok(lab.client(m), "intercomm_scan", json!({})).await?;
    for (id, host) in [(&id1, "h1"), (&id2, "h2")] {
        let p = pane_of(&scan, id).ok_or_else(|| format!("{id} missing: {scan}"))?;
        assert_eq!(p["host"], host, "{scan}");
        assert!(
            p["state"] == "ready" || p["state"] == "running",
            "{id}: {scan}"
        );
    }

    // The command line reads the same fleet through its own, short-lived link.
    let cli_scan: Value = serde_json::from_str(&lab.cli_ok(&["--json", "scan"])?)?;
    for (id, host) in [(&id1, "h1"), (&id2, "h2")] {
        let p = pane_of(&cli_scan, id).ok_or_else(|| format!("{id}: {cli_scan}"))?;
        assert_eq!(p["host"], host, "{cli_scan}");
        assert_ne!(p["state"], Value::Null, "{cli_scan}");
    }

    // Wake: the doorbell typed on h2 and seen submitted there.
    let rung = ok(
        lab.client(m),
        "intercomm_wake",
        json!({"worker": id2, "message": "check your mail please"}),
    )
    .await?;
    assert_eq!(rung["delivered"], json!(true), "{rung}");
    assert!(
        lab.events(&id2).iter().any(|e| e["event"] == "submit"
            && e["text"]
                .as_str()
                .is_some_and(|t| t.contains("check your mail please"))),
        "{:?}",
        lab.events(&id2)
    );

    // Respawn on h2: its Claude dies; respawn starts it again there, booted
    // and woken by h2's agent.
    lab.kill_claude(1, &id2)?;
    assert!(
        eventually(10, || lab.sessions_on(1).is_empty()).await,
        "{id2}'s session outlived its Claude"
    );
    let again = ok(lab.client(m), "intercomm_respawn", json!({"worker": id2})).await?;
    assert_eq!(again["woken"], json!(true), "{again}");
    assert_eq!(lab.sessions_on(1), std::slice::from_ref(&id2), "h2 tmux");

    // Approve: a Bash permission prompt on h1, answered with keys there;
    // the command commits on a branch in the worker's worktree on h1, then
    // writes the host name it runs under (git's reflog identity is made
    // from that name: see lab's `write_hosts_file`).
    let marker = lab.dir.join("committed-on-h1");
    let work = format!(
        "RUNBASH git checkout -q -b w1-work && echo from-h1 > work.txt && git add work.txt \
         && git -c user.name=w -c user.email=w@example.invalid commit -q -m work-on-h1 \
         && hostname > {}",
        marker.display()
    );
    ok(
        lab.client(m),
        "intercomm_wake",
        json!({"worker": id1, "message": work}),
    )
    .await?;
    let mut blocked = false;
    for _ in 0..100 {
        let scan = ok(lab.client(m), "intercomm_scan", json!({})).await?;
        if pane_of(&scan, &id1).is_some_and(|p| p["state"] == "blocked") {
            blocked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(blocked, "{id1} never showed its permission prompt");
    let approved = ok(
        lab.client(m),
        "intercomm_approve",
        json!({"worker": id1, "choice": "yes"}),
    )
    .await?;
    assert_eq!(
        (&approved["via"], &approved["cleared"]),
        (&json!("keys"), &json!(true)),
        "{approved}"
    );
    assert!(
        eventually(20, || marker.exists()).await,
        "the approved command never ran on h1"
    );
    assert_eq!(
        std::fs::read_to_string(&marker)?.trim(),
        lab.hosts[0].hostname,
        "the host name {id1}'s command ran under"
    );

    // The worker's branch is fetched back to the master before it is recorded.
    let set = ok(
        lab.client(m),
        "intercomm_worktree_set_status",
        json!({"worker_id": id1, "status": "done", "branch": "w1-work"}),
    )
    .await?;
    // As root, in a repository the lab's user owns: safe.directory.
    let shown = std::process::Command::new("git")
        .args(["-c", "safe.directory=*", "-C"])
        .arg(&lab.project)
        .args(["show", "w1-work:work.txt"])
        .output()?;
    assert_eq!(String::from_utf8_lossy(&shown.stdout), "from-h1\n", "{set}");
    let head = std::process::Command::new("git")
        .args(["-c", "safe.directory=*", "-C"])
        .arg(&lab.project)
        .args(["rev-parse", "w1-work"])
        .output()?;
    assert_eq!(
        set["commit"].as_str(),
        Some(String::from_utf8_lossy(&head.stdout).trim()),
        "{set}"
    );

    // Teardown: both sessions killed on their hosts.
    let torn = ok(
        lab.client(m),
        "intercomm_teardown",
        json!({"worktrees": true}),
    )
    .await?;
    assert_eq!(torn["worktrees_removed"], json!([id1]), "{torn}");
    assert!(
        !std::path::Path::new(&tree).exists(),
        "{tree} is still there"
    );
    let mut killed: Vec<String> = torn["killed"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    killed.sort();
    let mut both = vec![id1.clone(), id2.clone()];
    both.sort();
    assert_eq!(killed, both, "{torn}");
    assert!(lab.sessions_on(0).is_empty() && lab.sessions_on(1).is_empty());
    Ok(())
}

/// Spawn on two hosts (one with a worktree made there from the master's
/// repository), scan, wake, respawn, approve, the worker's branch fetched
/// back, teardown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_on_two_hosts() -> TestResult {
    with_lab(2, round).await
}

async fn cut_off(lab: &mut Lab) -> TestResult {
    let m = lab.master_with_hosts().await?;
    let w = spawn_on(lab, m, "h1", false).await?;
    let id = w["id"].as_str().unwrap_or_default().to_owned();
    ok(
        lab.client(m),
        "intercomm_send",
        json!({"to": id, "message": "a task for later"}),
    )
    .await?;
    let scan = ok(lab.client(m), "intercomm_scan", json!({})).await?;
    assert!(
        pane_of(&scan, &id).is_some_and(|p| p["state"] != Value::Null),
        "{scan}"
    );

    assert_eq!(doctor_on_hosts(lab)?, [("ok".to_owned(), true)]);
    // On PostgreSQL, a process on h1 that only its bus connection can show
    // alive: its registration records h1's own name, not this machine's.
    let resident = match lab.bus_url().map(str::to_owned) {
        Some(url) => {
            let (_, rid) = lab.resident(0).await?;
            let name = &lab.hosts[0].hostname;
            assert_ne!(name, &this_host()?);
            assert_eq!(
                &instance_host(lab, &url, &rid)?,
                name,
                "{rid}'s registration"
            );
            assert_eq!(
                state_of(lab, m, &rid).await?,
                "alive",
                "{rid} before the cut"
            );
            Some(rid)
        }
        None => None,
    };

    lab.cut(0)?;
    let cut_at = Instant::now();
    let scan = ok(lab.client(m), "intercomm_scan", json!({})).await?;
    let seen_after = cut_at.elapsed();
    let p = pane_of(&scan, &id).ok_or_else(|| format!("{id} missing: {scan}"))?;
    assert_eq!(p["state"], Value::Null, "{scan}");
    assert!(
        p["attention"]
            .as_str()
            .is_some_and(|a| a.contains("unreachable")),
        "{scan}"
    );
    assert_eq!(scan["unreachable"][0][0], "h1", "{scan}");
    eprintln!(
        "FIGURE host cut off: scan reported h1 unreachable {} ms after the cut",
        seen_after.as_millis()
    );
    if let Some(rid) = resident {
        // The server's keepalives (5 s idle, then 3 probes 2 s apart) end
        // the cut process's connection, and its liveness lock with it.
        let mut state = String::new();
        while cut_at.elapsed() < Duration::from_secs(60) && state != "gone" {
            tokio::time::sleep(Duration::from_millis(200)).await;
            state = state_of(lab, m, &rid).await?;
        }
        assert_eq!(state, "gone", "{rid} after the cut");
        eprintln!(
            "FIGURE host cut off: its process read gone on the bus {} ms after the cut",
            cut_at.elapsed().as_millis()
        );
    }
    // Its mail is kept: still past its cursor on the bus.
    assert_eq!(unread(lab, &id)?, ["a task for later"]);
    // A new link cannot be made either: the next scan says so too.
    let again = ok(lab.client(m), "intercomm_scan", json!({})).await?;
    assert_eq!(again["unreachable"][0][0], "h1", "{again}");
    // doctor says so too.
    assert_eq!(doctor_on_hosts(lab)?, [("fail".to_owned(), false)]);
    Ok(())
}

/// Instance `id`'s state in the master's `intercomm_status` (`alive`,
/// `gone`, …; empty when it is not listed).
async fn state_of(lab: &Lab, m: usize, id: &str) -> TestResult<String> {
    let status = ok(lab.client(m), "intercomm_status", json!({})).await?;
    Ok(status["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["id"] == id)
        .and_then(|i| i["state"].as_str())
        .unwrap_or_default()
        .to_owned())
}

/// doctor's host checks: (verdict, whether it names this intercomm's
/// version), one per host.
fn doctor_on_hosts(lab: &Lab) -> TestResult<Vec<(String, bool)>> {
    let (_, out, _) = lab.cli(&["--json", "doctor"])?;
    let report: Value = serde_json::from_str(&out)?;
    let version = format!("intercomm {}", env!("CARGO_PKG_VERSION"));
    Ok(report["checks"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|c| c["name"] == "host")
                .map(|c| {
                    (
                        c["verdict"].as_str().unwrap_or_default().to_owned(),
                        c["detail"].as_str().is_some_and(|d| d.contains(&version)),
                    )
                })
                .collect()
        })
        .unwrap_or_default())
}

/// This machine's host name (as intercomm reads it).
fn this_host() -> TestResult<String> {
    Ok(std::fs::read_to_string("/proc/sys/kernel/hostname")?
        .trim()
        .to_owned())
}

/// The host name recorded by `id`'s registration (its instance row), read
/// from the PostgreSQL bus at `url`.
fn instance_host(lab: &Lab, url: &str, id: &str) -> TestResult<String> {
    let paths = intercomm::location::BusPaths::new(&lab.project, &lab.project)
        .with_bus(Some(intercomm::bus::BusUrl::parse(url)?));
    let bus = intercomm::bus::Bus::open_existing(&paths)?.ok_or("no bus")?;
    let hosts: Vec<String> = bus.conn().query(
        "SELECT host FROM instances WHERE id = ?1",
        intercomm::bus::store::args![id],
        |r| r.get(0),
    )?;
    Ok(hosts
        .into_iter()
        .next()
        .ok_or(format!("no instance {id} on the bus"))?)
}

/// The messages to `id` past its read cursor, read from the bus (the file,
/// or the lab's PostgreSQL server).
fn unread(lab: &Lab, id: &str) -> TestResult<Vec<String>> {
    const SQL: &str = "SELECT content FROM messages WHERE to_id = ?1 AND seq > ?2 ORDER BY seq";
    if let Some(url) = lab.bus_url() {
        let paths = intercomm::location::BusPaths::new(&lab.project, &lab.project)
            .with_bus(Some(intercomm::bus::BusUrl::parse(url)?));
        let bus = intercomm::bus::Bus::open_existing(&paths)?.ok_or("no bus")?;
        let cursor = intercomm::bus::messages::cursor(bus.conn(), id)?;
        return Ok(bus
            .conn()
            .query(SQL, intercomm::bus::store::args![id, cursor], |r| r.get(0))?);
    }
    // The file belongs to the lab's user, which the bus's guard would
    // refuse to root: read it directly.
    let conn = rusqlite::Connection::open_with_flags(
        intercomm::location::BusPaths::new(&lab.project, &lab.project).db(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    let cursor: i64 = conn
        .query_row(
            "SELECT last_read_seq FROM read_cursors WHERE instance_id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap_or(0);
    let mut stmt = conn.prepare(SQL)?;
    let rows = stmt.query_map(rusqlite::params![id, cursor], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A host whose traffic is dropped is reported unreachable by scan, and
/// its worker's unread mail stays on the bus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_cut_off_is_reported_and_its_mail_kept() -> TestResult {
    with_lab(1, cut_off).await
}

/// A host whose intercomm is another version is refused at the handshake:
/// nothing is started there, and the error names both versions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_of_another_version_is_refused() -> TestResult {
    with_lab(1, other_version).await
}

async fn other_version(lab: &mut Lab) -> TestResult {
    let m = lab.master_with_hosts().await?;
    lab.fake_agent(0, "0.0.1-other")?;
    let failed = call(
        lab.client(m),
        "intercomm_spawn",
        json!({"count": 1, "host": "h1", "claude_cmd": lab.fake_cmd()}),
    )
    .await?;
    assert_eq!(failed.is_error, Some(true), "{failed:?}");
    let error = failed
        .structured_content
        .map(|v| v["error"].clone())
        .unwrap_or(Value::Null);
    assert_eq!(error["code"], "host_unreachable", "{error}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("0.0.1-other") && message.contains(env!("CARGO_PKG_VERSION")),
        "{message}"
    );
    // `intercomm spawn --host` says the same, exit 1.
    let (code, _, err) = lab.cli(&[
        "spawn",
        "1",
        "--host",
        "h1",
        "--claude-cmd",
        &lab.fake_cmd(),
    ])?;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("0.0.1-other"), "{err}");
    assert!(lab.sessions_on(0).is_empty());
    Ok(())
}
