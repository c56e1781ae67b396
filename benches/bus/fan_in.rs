//! Scenario 4, fan-in: worker servers send to one master at once from one
//! thread each, then the master reads everything and the delivery is
//! verified (each message once, in each sender's order); beside it the raw
//! limit, the same inserts through the library on one connection.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Barrier};
use std::time::Instant;

use intercomm::bus::messages::{self, MessageType, NewMessage};
use intercomm::bus::{Bus, BusError};
use serde_json::{Value, json};

use crate::Config;
use crate::common::{R, max, pct};
use crate::procfs::{CLOCK_TICKS, cpu_count, cpu_ticks, cpu_ticks_of};
use crate::report::{Row, micros};
use crate::server::{INITIALIZED, Server, TempBus, initialize_request, rpc_result, tool_content};

pub struct FanRun {
    pub msgs_per_s: f64,
    raw_per_s: f64,
    send_p50_us: f64,
    send_p99_us: f64,
    send_max_ms: f64,
    read_all_ms: f64,
    /// CPU time of all servers per message sent.
    server_cpu_us: f64,
    /// CPU time of this client (its sender threads) per message sent.
    client_cpu_us: f64,
    /// Share of all CPUs busy with servers and client during the fan-in.
    busy_pct: f64,
    pub problems: Vec<String>,
}

struct WorkerOut {
    server: Server,
    /// message id → n, in send order.
    sent: Vec<(String, usize)>,
    lat_us: Vec<f64>,
    end: Instant,
}

fn fan_in(cfg: &Config) -> R<Vec<FanRun>> {
    let mut runs = Vec::new();
    for _ in 0..cfg.fan_runs {
        let mut run = fan_in_once(cfg, &TempBus::new(true)?)?;
        // The limit is the best of three fresh buses: other load on the
        // machine only ever lowers it.
        let total = cfg.fan_workers * cfg.fan_per_worker;
        run.raw_per_s = (0..3)
            .map(|_| raw_inserts(total))
            .collect::<R<Vec<f64>>>()?
            .into_iter()
            .fold(0.0, f64::max);
        runs.push(run);
    }
    Ok(runs)
}

/// One fan-in on `bus` (fresh, or pre-filled by the scaling scenario).
pub fn fan_in_once(cfg: &Config, bus: &TempBus) -> R<FanRun> {
    let n = cfg.fan_per_worker;
    let total = cfg.fan_workers * n;
    let mut m = Server::start(&bus.root, "master")?;
    let mut ws: Vec<Server> = (0..cfg.fan_workers)
        .map(|i| Server::start(&bus.root, &format!("worker{i}")))
        .collect::<R<_>>()?;
    // Initialize all at once, then collect the replies.
    let init = format!("{}\n{INITIALIZED}\n", initialize_request(0)?);
    for s in std::iter::once(&mut m).chain(ws.iter_mut()) {
        s.write(&init)?;
    }
    for s in std::iter::once(&mut m).chain(ws.iter_mut()) {
        s.wait_reply(0)?;
    }
    m.register(Some("master"))?;
    // What a pre-filled bus already held for the master (its broadcasts).
    read_all(&mut m)?;
    for w in &mut ws {
        w.register(None)?;
    }
    let ids: HashSet<String> = ws.iter().map(|w| w.id.clone()).collect();
    if ids.len() != cfg.fan_workers {
        return Err(format!("fan-in: duplicate worker ids: {ids:?}").into());
    }

    let pids: Vec<u32> = std::iter::once(m.pid())
        .chain(ws.iter().map(Server::pid))
        .collect();
    // Every sender thread waits at `start` once its requests are encoded
    // and at `done` once its sends are answered; replies are parsed after
    // that. Encoding and parsing are client work on the same CPUs as the
    // servers, so they stay out of the timed window and its CPU counts.
    let start = Arc::new(Barrier::new(cfg.fan_workers + 1));
    let done = Arc::new(Barrier::new(cfg.fan_workers + 1));
    let handles: Vec<_> = ws
        .into_iter()
        .map(|mut w| {
            let (start, done) = (Arc::clone(&start), Arc::clone(&done));
            std::thread::spawn(move || -> R<WorkerOut> {
                let me = w.id.clone();
                let requests = (0..n)
                    .map(|k| {
                        let args = json!({"to": "master", "message": format!("{me} {k}")});
                        w.tool_request("intercomm_send", &args)
                    })
                    .collect::<R<Vec<_>>>();
                let mut replies = Vec::with_capacity(n);
                let mut lat_us = Vec::with_capacity(n);
                start.wait();
                let timed = requests.and_then(|requests| {
                    for (id, req) in requests {
                        let t0 = Instant::now();
                        w.write(&req)?;
                        let (t1, line) = w.recv_raw(id)?;
                        lat_us.push(micros(t1 - t0));
                        replies.push((id, line));
                    }
                    Ok(())
                });
                let end = Instant::now();
                done.wait();
                timed?;
                let mut sent = Vec::with_capacity(n);
                for (k, (id, line)) in replies.iter().enumerate() {
                    let sc =
                        tool_content(&w.name, "intercomm_send", rpc_result(&w.name, *id, line)?)?;
                    let mid = sc["message_id"]
                        .as_str()
                        .ok_or("send returned no message_id")?;
                    sent.push((mid.to_owned(), k));
                }
                Ok(WorkerOut {
                    server: w,
                    sent,
                    lat_us,
                    end,
                })
            })
        })
        .collect();
    start.wait();
    let t0 = Instant::now();
    let servers_before = cpu_ticks(&pids)?;
    let client_before = cpu_ticks_of("self")?;
    done.wait();
    let server_s = (cpu_ticks(&pids)? - servers_before) as f64 / CLOCK_TICKS;
    let client_s = (cpu_ticks_of("self")? - client_before) as f64 / CLOCK_TICKS;
    let mut outs = Vec::new();
    let mut failures = Vec::new();
    for h in handles {
        match h.join() {
            Ok(Ok(out)) => outs.push(out),
            Ok(Err(e)) => failures.push(e.to_string()),
            Err(_) => failures.push("a sender thread panicked".to_owned()),
        }
    }
    if !failures.is_empty() {
        return Err(format!("fan-in: {}", failures.join("; ")).into());
    }
    let last = outs.iter().map(|o| o.end).max().ok_or("no senders")?;
    let wall = last.duration_since(t0).as_secs_f64();
    let lat: Vec<f64> = outs.iter().flat_map(|o| o.lat_us.iter().copied()).collect();

    // The master reads everything, 500 at a time.
    let t1 = Instant::now();
    let got = read_all(&mut m)?;
    let read_all_ms = t1.elapsed().as_secs_f64() * 1e3;

    let sent: HashMap<String, (String, usize)> = outs
        .iter()
        .flat_map(|o| {
            o.sent
                .iter()
                .map(|(mid, k)| (mid.clone(), (o.server.id.clone(), *k)))
        })
        .collect();
    let mut problems = Vec::new();
    if got.len() != total {
        problems.push(format!(
            "master read {} messages, expected {total}",
            got.len()
        ));
    }
    let got_ids: Vec<&str> = got.iter().filter_map(|g| g["id"].as_str()).collect();
    let unique: HashSet<&str> = got_ids.iter().copied().collect();
    if unique.len() != got_ids.len() {
        problems.push(format!("{} duplicate ids", got_ids.len() - unique.len()));
    }
    let missing = sent.keys().filter(|k| !unique.contains(k.as_str())).count();
    let unexpected = unique.iter().filter(|k| !sent.contains_key(**k)).count();
    if missing + unexpected > 0 {
        problems.push(format!(
            "read ids differ from the ids the sends returned ({missing} missing, {unexpected} unexpected)"
        ));
    }
    let mut next: HashMap<String, usize> = HashMap::new();
    let mut last_seq = 0;
    for g in &got {
        let from = g["from"].as_str().unwrap_or_default();
        let content = g["content"].as_str().unwrap_or_default();
        let mut words = content.split_whitespace();
        let (Some(who), Some(k)) = (
            words.next(),
            words.next().and_then(|k| k.parse::<usize>().ok()),
        ) else {
            problems.push(format!("unparsable body {content:?}"));
            break;
        };
        if who != from {
            problems.push(format!("body names {who} but the message is from {from}"));
            break;
        }
        let want = next.entry(from.to_owned()).or_insert(0);
        if k != *want {
            problems.push(format!(
                "order broken for {from}: {k} after {}",
                *want as i64 - 1
            ));
            break;
        }
        *want += 1;
        let seq = g["seq"].as_i64().unwrap_or(0);
        if seq <= last_seq {
            problems.push("bus seq numbers not increasing in read order".to_owned());
            break;
        }
        last_seq = seq;
    }
    if problems.is_empty() && ids.iter().any(|id| next.get(id) != Some(&n)) {
        problems.push("some sender's messages are incomplete".to_owned());
    }
    drop(outs);
    drop(m);
    Ok(FanRun {
        msgs_per_s: total as f64 / wall,
        raw_per_s: 0.0,
        send_p50_us: pct(&lat, 50.0),
        send_p99_us: pct(&lat, 99.0),
        send_max_ms: max(&lat) / 1e3,
        read_all_ms,
        server_cpu_us: server_s * 1e6 / total as f64,
        client_cpu_us: client_s * 1e6 / total as f64,
        busy_pct: 100.0 * (server_s + client_s) / (wall * cpu_count() as f64),
        problems,
    })
}

/// Everything the master has not read yet, 500 messages a call.
fn read_all(m: &mut Server) -> R<Vec<Value>> {
    let mut got = Vec::new();
    loop {
        let mut r = m.call("intercomm_read", &json!({"limit": 500}))?;
        let count = r["count"].as_u64().unwrap_or(0);
        if let Some(Value::Array(msgs)) = r.get_mut("messages").map(Value::take) {
            got.extend(msgs);
        }
        if count == 0 || r["remaining"] == json!(0) {
            return Ok(got);
        }
    }
}

/// The same inserts by one connection through the library, one transaction
/// per message as a send does, on a fresh bus: messages per second.
fn raw_inserts(total: usize) -> R<f64> {
    let bus = TempBus::new(false)?;
    let mut conn = Bus::open_or_create(&bus.paths())?;
    let senders: Vec<String> = (1..=16).map(|i| format!("worker-{i}")).collect();
    let t0 = Instant::now();
    for k in 0..total {
        let id = intercomm::ops::messaging::new_message_id();
        let from = &senders[k % senders.len()];
        let content = format!("{from} {}", k / senders.len());
        let now = intercomm::clock::now_ms();
        conn.write(|tx| {
            messages::insert(
                tx,
                &NewMessage {
                    id: &id,
                    from,
                    to: "master",
                    kind: MessageType::Status,
                    content: &content,
                    sent_at_ms: now,
                    in_reply_to: None,
                },
            )
            .map_err(BusError::from)
        })?;
    }
    Ok(total as f64 / t0.elapsed().as_secs_f64())
}

/// Measures fan-in and the raw limit and adds their rows, and a note per
/// failed run; whether every run's delivery check passed.
pub fn run(cfg: &Config, rows: &mut Vec<Row>, notes: &mut Vec<String>) -> R<bool> {
    eprintln!(
        "fan-in: {} runs, {} workers × {} messages, and the raw insert limit ...",
        cfg.fan_runs, cfg.fan_workers, cfg.fan_per_worker
    );
    let fan = fan_in(cfg)?;
    rows.push(Row::goal(
        format!(
            "Fan-in {} workers × {} msgs → master",
            cfg.fan_workers, cfg.fan_per_worker
        ),
        "msgs/s",
        fan.iter().map(|r| r.msgs_per_s).collect(),
        0,
        if cfg.on_pg { "≥ 2,000" } else { "> 12,000" },
        if cfg.on_pg { "" } else { "3,655" },
        if cfg.on_pg {
            |v| v >= 2_000.0
        } else {
            |v| v > 12_000.0
        },
    ));
    rows.push(Row::info(
        "  raw limit: same inserts, 1 connection, 1 txn each (best of 3)",
        "msgs/s",
        fan.iter().map(|r| r.raw_per_s).collect(),
        0,
    ));
    rows.push(Row::goal(
        "  fan-in / raw limit (same run)",
        "%",
        fan.iter()
            .map(|r| 100.0 * r.msgs_per_s / r.raw_per_s)
            .collect(),
        1,
        "≥ 30",
        "",
        |v| v >= 30.0,
    ));
    rows.push(Row::info(
        "  one sender's call p50 under load",
        "µs",
        fan.iter().map(|r| r.send_p50_us).collect(),
        0,
    ));
    rows.push(Row::info(
        "  one sender's call p99 under load",
        "µs",
        fan.iter().map(|r| r.send_p99_us).collect(),
        0,
    ));
    rows.push(Row::info(
        "  one sender's call max under load",
        "ms",
        fan.iter().map(|r| r.send_max_ms).collect(),
        1,
    ));
    rows.push(Row::info(
        "  master reads all (limit 500 pages)",
        "ms",
        fan.iter().map(|r| r.read_all_ms).collect(),
        1,
    ));
    rows.push(Row::info(
        format!("  CPU per message: all {} servers", cfg.fan_workers + 1),
        "µs",
        fan.iter().map(|r| r.server_cpu_us).collect(),
        0,
    ));
    rows.push(Row::info(
        format!(
            "  CPU per message: this client's {} sender threads",
            cfg.fan_workers
        ),
        "µs",
        fan.iter().map(|r| r.client_cpu_us).collect(),
        0,
    ));
    rows.push(Row::info(
        format!("  CPUs busy (servers + client) of {}", cpu_count()),
        "%",
        fan.iter().map(|r| r.busy_pct).collect(),
        0,
    ));
    let verified = fan.iter().all(|r| r.problems.is_empty());
    rows.push(Row::check(
        format!("  delivery check ({} runs)", fan.len()),
        verified,
        if verified {
            format!(
                "all {} delivered once, in order",
                cfg.fan_workers * cfg.fan_per_worker
            )
        } else {
            "FAILED".to_owned()
        },
    ));
    for (i, r) in fan.iter().enumerate() {
        if !r.problems.is_empty() {
            notes.push(format!(
                "Fan-in run {} FAILED: {}",
                i + 1,
                r.problems.join("; ")
            ));
        }
    }
    Ok(verified)
}
