//! Scenario 7, a stuck reader: one connection holds an old snapshot while
//! the WAL is past its bound (16,000 frames, src/bus/checkpoint.rs), and 12
//! worker servers send to the master at once. Before the bounded TRUNCATE
//! wait, each commit waited out the 5 s busy timeout and most sends failed
//! with "database is locked"; tests/it/harden.rs asserts they all succeed,
//! this measures how fast.

use std::sync::{Arc, Barrier};
use std::time::Instant;

use rusqlite::Connection;
use serde_json::json;

use crate::Config;
use crate::common::{R, median};
use crate::report::Row;
use crate::server::{Server, TempBus};

/// Concurrent senders.
const SENDERS: usize = 12;

/// One run: each send's time in ms, and how many failed.
fn once() -> R<(Vec<f64>, usize)> {
    let bus = TempBus::new(true)?;
    let mut m = Server::start(&bus.root, "master")?;
    m.initialize()?;
    m.register(Some("master"))?;
    let mut ws = Vec::new();
    for i in 0..SENDERS {
        let mut w = Server::start(&bus.root, &format!("sender{i}"))?;
        w.initialize()?;
        w.register(None)?;
        ws.push(w);
    }
    let db = bus.paths().db();
    let reader = Connection::open(&db)?;
    reader.execute_batch("BEGIN")?;
    reader.query_row("SELECT COUNT(*) FROM messages", [], |r| r.get::<_, i64>(0))?;
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
    let start = Arc::new(Barrier::new(SENDERS));
    let handles: Vec<_> = ws
        .into_iter()
        .map(|mut w| {
            let start = Arc::clone(&start);
            std::thread::spawn(move || -> R<(f64, bool)> {
                let (id, req) = w.tool_request(
                    "intercomm_send",
                    &json!({"to": "master", "message": "under a stuck reader"}),
                )?;
                start.wait();
                let t = Instant::now();
                w.write(&req)?;
                let result = w.wait_reply(id)?;
                let ms = t.elapsed().as_secs_f64() * 1e3;
                Ok((ms, result["isError"] != json!(true)))
            })
        })
        .collect();
    let mut ms = Vec::new();
    let mut failed = 0;
    for h in handles {
        let (t, ok) = h.join().map_err(|_| "sender panicked")??;
        ms.push(t);
        failed += usize::from(!ok);
    }
    reader.execute_batch("COMMIT")?;
    Ok((ms, failed))
}

/// Measures sends under a stuck reader and adds their rows.
pub fn run(cfg: &Config, rows: &mut Vec<Row>) -> R {
    let runs = if cfg.quick { 1 } else { 3 };
    eprintln!("stuck reader: {runs} runs of {SENDERS} concurrent sends ...");
    let mut medians = Vec::new();
    let mut worst = Vec::new();
    let mut failed = 0;
    for _ in 0..runs {
        let (ms, f) = once()?;
        medians.push(median(&ms));
        worst.push(ms.iter().copied().fold(0.0, f64::max));
        failed += f;
    }
    rows.push(Row::goal(
        format!("Send under a stuck reader, WAL past its bound, {SENDERS} at once: p50"),
        "ms",
        medians,
        1,
        "< 1000",
        "",
        |v| v < 1000.0,
    ));
    rows.push(Row::info(
        "Send under a stuck reader: slowest of each run",
        "ms",
        worst,
        1,
    ));
    rows.push(Row::check(
        "Sends under a stuck reader all succeed",
        failed == 0,
        format!("{failed} of {} failed", runs * SENDERS),
    ));
    Ok(())
}
