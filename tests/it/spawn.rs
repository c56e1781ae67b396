//! Spawn rings a worker only once its own `intercomm mcp` is connected: the
//! server records the client's first tools/list on the worker's
//! spawned-session row, and spawn waits for that before the wake. The stand-in (fake_claude.py
//! `--mcp-server`) starts `intercomm mcp` the way Claude Code does, after the
//! MCP approval, in the background of its UI.

use std::process::Stdio;
use std::time::{Duration, Instant};

use intercomm::bus::{Bus, sessions};
use rmcp::ServiceExt;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use crate::stand_in::{Fleet, workers};
use crate::support::*;

/// The first time (stand-in clock) of an event in a stand-in's log.
fn first(log: &[Value], pred: impl Fn(&Value) -> bool) -> Option<f64> {
    log.iter().find(|e| pred(e)).and_then(|e| e["t"].as_f64())
}

/// The server connects 1.5 s after the prompt shows: the wake comes after
/// the handshake, and the prompt had shown well before it.
#[tokio::test]
async fn the_wake_waits_for_the_workers_mcp_server() -> TestResult {
    let f = Fleet::new().await?;
    let out = f
        .spawn(json!({"count": 1, "claude_cmd": f.fake("--mcp-delay 1.5")}))
        .await?;
    let w = &workers(&out)[0];
    assert_eq!(w["error"], Value::Null, "{out}");
    assert_eq!(
        (&w["mcp_connected"], &w["woken"]),
        (&json!(true), &json!(true))
    );
    let log = f.events("worker-1");
    let ready = first(&log, |e| e["event"] == "screen" && e["state"] == "ready");
    let connected = first(&log, |e| {
        e["event"] == "mcp_connected" && e["server"] == "intercomm"
    });
    let submitted = first(&log, |e| e["event"] == "submit");
    let (Some(ready), Some(connected), Some(submitted)) = (ready, connected, submitted) else {
        return Err(format!("events missing: {log:?}").into());
    };
    assert!(ready < connected && connected < submitted, "{log:?}");
    assert!(
        connected - ready >= 1.5,
        "the server started early: {log:?}"
    );
    Ok(())
}

/// Servers that connect before the pane is ready (a plugin's needs no
/// approval) count too, whichever worker gets ready first.
#[tokio::test]
async fn connections_recorded_before_the_prompt_count() -> TestResult {
    let f = Fleet::new().await?;
    let out = f
        .spawn(json!({"count": 3, "claude_cmd": f.fake("--mcp-early"), "ready_timeout": 20}))
        .await?;
    for (n, w) in workers(&out).iter().enumerate() {
        assert_eq!(w["error"], Value::Null, "{out}");
        assert_eq!(
            (&w["mcp_connected"], &w["woken"]),
            (&json!(true), &json!(true))
        );
        let log = f.events(&format!("worker-{}", n + 1));
        let ready = first(&log, |e| e["event"] == "screen" && e["state"] == "ready");
        let connected = first(&log, |e| e["event"] == "mcp_connected");
        let (Some(ready), Some(connected)) = (ready, connected) else {
            return Err(format!("events missing: {log:?}").into());
        };
        assert!(connected < ready, "{log:?}");
    }
    Ok(())
}

/// Without an intercomm MCP server the worker is not woken, and spawn says
/// why once the ready timeout has passed.
#[tokio::test]
async fn a_worker_without_the_mcp_server_is_not_woken() -> TestResult {
    let f = Fleet::new().await?;
    let cmd = format!(
        "python3 {} --log {} --boot-delay 0.2",
        shell_words::quote(&fake_claude().display().to_string()),
        shell_words::quote(&f.logs().join("{id}.jsonl").display().to_string()),
    );
    let out = f
        .spawn(json!({"count": 1, "claude_cmd": cmd, "ready_timeout": 2}))
        .await?;
    let w = &workers(&out)[0];
    assert_eq!(w["state"], "ready", "{out}");
    assert_eq!(
        (&w["mcp_connected"], &w["woken"]),
        (&json!(false), &json!(false))
    );
    let error = w["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("MCP server did not connect within 2 s"),
        "{error}"
    );
    assert!(submitted(&f.log("worker-1")).is_empty());
    Ok(())
}

/// Runs a worker's `intercomm mcp` (INTERCOMM_WORKER_ID=`id`) on `project`
/// through the MCP handshake and a tools/list, and returns once its log says
/// what it did with the connection.
async fn handshake_as_worker(project: &Project, id: &str) -> TestResult<String> {
    let mut cmd = project.command(&["mcp"]);
    cmd.env("INTERCOMM_WORKER_ID", id)
        .env("INTERCOMM_LOG", "mcp=debug");
    let (transport, stderr) = TokioChildProcess::builder(tokio::process::Command::from(cmd))
        .stderr(Stdio::piped())
        .spawn()?;
    let client = ().serve(transport).await?;
    client.list_all_tools().await?;
    let mut lines = tokio::io::BufReader::new(stderr.ok_or("no stderr")?).lines();
    let deadline = Instant::now() + Duration::from_secs(20);
    let said = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, lines.next_line()).await {
            Ok(Ok(Some(line)))
                if line.contains("MCP connection") || line.contains("no live spawned session") =>
            {
                break line;
            }
            Ok(Ok(Some(_))) => {}
            other => {
                return Err(format!("the server said nothing of the connection: {other:?}").into());
            }
        }
    };
    client.cancel().await?;
    Ok(said)
}

/// S4: a worker's server, listed by its client, opens only an existing bus
/// and marks only a live session row of its id; it creates neither.
#[tokio::test]
async fn a_workers_handshake_creates_no_bus_and_no_session() -> TestResult {
    let plain = Project::plain()?;
    let said = handshake_as_worker(&plain, "worker-1").await?;
    assert!(said.contains("no live spawned session"), "{said}");
    assert!(!plain.root.join(".intercomm-aimfp").exists());

    let project = Project::git()?;
    let master = project.client().await?;
    register(&master, "master").await?;
    let said = handshake_as_worker(&project, "worker-9").await?;
    assert!(said.contains("no live spawned session"), "{said}");
    let bus = Bus::open_existing(&project.paths())?.ok_or("no bus")?;
    assert_eq!(sessions::get(bus.conn(), "worker-9")?, None);
    Ok(())
}

/// Spawn's batched tmux calls: sessions started in one call, a taken name
/// failing alone (the others still start); keys sent to several panes in
/// one call, a gone pane failing alone.
#[tokio::test]
async fn batched_tmux_calls_fail_one_by_one() -> TestResult {
    let server = TmuxServer::new()?;
    let dir = server.dir().to_path_buf();
    server.session("taken", &dir, &[], &["sleep", "60"])?;
    let tmux = server.tmux();
    let argv: Vec<String> = ["sh", "-c", "read line; echo \"got:$line\"; sleep 60"]
        .map(str::to_owned)
        .to_vec();
    let env = vec![("A".to_owned(), "b;".to_owned())];
    let spec = |name| intercomm::tmux::NewSession {
        name,
        dir: &dir,
        width: 80,
        height: 24,
        env: &env,
        argv: &argv,
    };
    let started = tmux
        .new_sessions(&[spec("one"), spec("taken"), spec("two")])
        .await;
    assert_eq!(started.len(), 3);
    let (Ok(one), Err(taken), Ok(two)) = (&started[0], &started[1], &started[2]) else {
        return Err(format!("{started:?}").into());
    };
    assert!(taken.to_string().contains("duplicate session"), "{taken}");
    assert_eq!(
        (one.session_name.as_str(), two.session_name.as_str()),
        ("one", "two")
    );

    let keys: &[&str] = &["x", "Enter"];
    let sent = tmux
        .send_keys_many(&[
            (one.pane.as_str(), keys),
            ("%999", keys),
            (two.pane.as_str(), keys),
        ])
        .await;
    assert!(
        sent[0].is_ok() && sent[1].is_err() && sent[2].is_ok(),
        "{sent:?}"
    );
    for pane in [&one.pane, &two.pane] {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !tmux.capture(pane).await?.contains("got:x") {
            if Instant::now() > deadline {
                return Err(format!("{pane} never got its keys").into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(())
}

/// A server exits when its last session ends; a `new-session` that reaches
/// it in that moment is started again on a new server, never reported as
/// "server exited unexpectedly" (tmux 3.3a: 29 of 300 such calls met it).
#[tokio::test]
async fn a_session_started_as_the_server_exits_starts() -> TestResult {
    let server = TmuxServer::new()?;
    let dir = server.dir().to_path_buf();
    let tmux = server.tmux();
    let argv: Vec<String> = ["sleep", "0.02"].map(str::to_owned).to_vec();
    for round in 0..100 {
        // The server's only session ends at once, and the server with it;
        // this call itself may meet the previous round's exiting server.
        let _ = server.run(&["new-session", "-d", "--", "true"]);
        let name = format!("s{round}");
        let spec = intercomm::tmux::NewSession {
            name: &name,
            dir: &dir,
            width: 80,
            height: 24,
            env: &[],
            argv: &argv,
        };
        if let Err(e) = tmux.new_session(&spec).await {
            return Err(format!("round {round}: {e}").into());
        }
    }
    Ok(())
}
