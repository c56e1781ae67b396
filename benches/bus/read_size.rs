//! Scenario 5, read scaling: intercomm_read latency on buses pre-filled
//! with more and more messages, the sizes interleaved round by round.

use std::time::Instant;

use intercomm::bus::messages::{self, MessageType, NewMessage};
use intercomm::bus::{Bus, BusError};
use serde_json::json;

use crate::Config;
use crate::common::{R, pct};
use crate::report::{Row, micros};
use crate::server::{Server, TempBus, rpc_result, tool_content};

struct SizedBus {
    size: usize,
    _bus: TempBus,
    master: Server,
    reader: Server,
    prefill_s: f64,
    db_mib: f64,
}

/// Fills a fresh bus with `n` messages between other instances (49 workers
/// and broadcasts), in big transactions.
pub fn prefill(bus: &TempBus, n: usize) -> R<f64> {
    let t0 = Instant::now();
    let mut conn = Bus::open_or_create(&bus.paths())?;
    conn.conn()
        .sqlite()
        .ok_or("not a SQLite bus")?
        .pragma_update(None, "cache_size", -262_144)?;
    let recipients: Vec<String> = std::iter::once("all".to_owned())
        .chain((100..149).map(|i| format!("worker-{i}")))
        .collect();
    let senders: Vec<String> = (200..207).map(|i| format!("worker-{i}")).collect();
    let now = intercomm::clock::now_ms();
    const CHUNK: usize = 100_000;
    let mut start = 0;
    while start < n {
        let end = (start + CHUNK).min(n);
        conn.write(|tx| {
            for i in start..end {
                let id = intercomm::ops::messaging::new_message_id();
                let content =
                    format!("prefill {i}: progress on the parser, tests green, nothing to do");
                messages::insert(
                    tx,
                    &NewMessage {
                        id: &id,
                        from: &senders[i % senders.len()],
                        to: &recipients[i % recipients.len()],
                        kind: MessageType::Status,
                        content: &content,
                        sent_at_ms: now - (n - i) as i64,
                        in_reply_to: None,
                    },
                )
                .map_err(BusError::from)?;
            }
            Ok::<(), BusError>(())
        })?;
        start = end;
    }
    conn.conn()
        .sqlite()
        .ok_or("not a SQLite bus")?
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
    Ok(t0.elapsed().as_secs_f64())
}

fn sized_bus(size: usize) -> R<SizedBus> {
    let bus = TempBus::new(false)?;
    let prefill_s = prefill(&bus, size)?;
    let db_mib = std::fs::metadata(bus.paths().db())?.len() as f64 / (1 << 20) as f64;
    let mut master = Server::start(&bus.root, "master")?;
    let mut reader = Server::start(&bus.root, "reader")?;
    master.initialize()?;
    reader.initialize()?;
    master.register(Some("master"))?;
    let rid = reader.register(None)?;
    // A few unread messages, read once (untimed).
    for i in 0..3 {
        master.call(
            "intercomm_send",
            &json!({"to": rid, "message": format!("hello {i}")}),
        )?;
    }
    let first = reader.call("intercomm_read", &json!({}))?;
    if first["count"] != json!(3) {
        return Err(format!("read vs size: first read returned {} of 3", first["count"]).into());
    }
    Ok(SizedBus {
        size,
        _bus: bus,
        master,
        reader,
        prefill_s,
        db_mib,
    })
}

/// `calls` timed reads, each after one untimed send, so each returns 1.
fn timed_reads(b: &mut SizedBus, calls: usize) -> R<Vec<f64>> {
    let send_args = json!({"to": b.reader.id, "message": "one more thing"});
    let read_args = json!({});
    let mut out = Vec::with_capacity(calls);
    for _ in 0..calls {
        b.master.call("intercomm_send", &send_args)?;
        let (id, req) = b.reader.tool_request("intercomm_read", &read_args)?;
        let t0 = Instant::now();
        b.reader.write(&req)?;
        let (t1, line) = b.reader.recv_raw(id)?;
        let r = tool_content(
            &b.reader.name,
            "intercomm_read",
            rpc_result(&b.reader.name, id, &line)?,
        )?;
        if r["count"] != json!(1) {
            return Err(format!(
                "read vs size: a read returned {} messages, expected 1",
                r["count"]
            )
            .into());
        }
        out.push(micros(t1 - t0));
    }
    Ok(out)
}

/// One bus size's reads: a p50 and a p99 per round.
struct SizeResult {
    size: usize,
    p50: Vec<f64>,
    p99: Vec<f64>,
    prefill_s: f64,
    db_mib: f64,
}

fn read_vs_size(cfg: &Config) -> R<Vec<SizeResult>> {
    let mut buses = Vec::new();
    for &size in &cfg.read_sizes {
        eprintln!("  pre-filling a bus with {size} messages ...");
        buses.push(sized_bus(size)?);
    }
    for b in &mut buses {
        timed_reads(b, cfg.read_warmup)?;
    }
    let mut p50: Vec<Vec<f64>> = vec![Vec::new(); buses.len()];
    let mut p99: Vec<Vec<f64>> = vec![Vec::new(); buses.len()];
    // Rounds interleave the sizes so drift hits them alike.
    for _ in 0..cfg.read_rounds {
        for (i, b) in buses.iter_mut().enumerate() {
            let t = timed_reads(b, cfg.read_calls)?;
            p50[i].push(pct(&t, 50.0));
            p99[i].push(pct(&t, 99.0));
        }
    }
    Ok(buses
        .iter()
        .zip(p50.into_iter().zip(p99))
        .map(|(b, (p50, p99))| SizeResult {
            size: b.size,
            p50,
            p99,
            prefill_s: b.prefill_s,
            db_mib: b.db_mib,
        })
        .collect())
}

/// A message count as the report names it: 10k, 1M.
pub fn human(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// Measures read latency per bus size and adds its rows and a note per
/// size.
pub fn run(cfg: &Config, rows: &mut Vec<Row>, notes: &mut Vec<String>) -> R {
    eprintln!(
        "read latency vs bus size: {} ...",
        cfg.read_sizes
            .iter()
            .map(|&s| human(s))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let rvs = read_vs_size(cfg)?;
    for r in &rvs {
        rows.push(Row::info(
            format!("intercomm_read p50, bus of {} messages", human(r.size)),
            "µs",
            r.p50.clone(),
            0,
        ));
        rows.push(Row::info(
            format!("  p99, bus of {} messages", human(r.size)),
            "µs",
            r.p99.clone(),
            0,
        ));
        notes.push(format!(
            "Bus of {}: pre-filled through the library in {:.1} s ({:.0} msgs/s), file {:.0} MiB.",
            human(r.size),
            r.prefill_s,
            r.size as f64 / r.prefill_s,
            r.db_mib,
        ));
    }
    if let (Some(small), Some(big)) = (rvs.first(), rvs.last())
        && rvs.len() > 1
    {
        let ratio: Vec<f64> = small.p50.iter().zip(&big.p50).map(|(s, b)| b / s).collect();
        rows.push(Row::goal(
            format!(
                "Read p50 ratio, {} / {} bus (same round)",
                human(big.size),
                human(small.size)
            ),
            "×",
            ratio,
            2,
            "≤ 2",
            "",
            |v| v <= 2.0,
        ));
    }
    Ok(())
}
