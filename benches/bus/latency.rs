//! Scenario 3, call latency: send + read round trips between two servers,
//! per call and per pair, their CPU time, intercomm_status before and
//! after, and reads of a full page (its time and the reader's CPU time).

use std::time::Instant;

use serde_json::json;

use crate::Config;
use crate::common::{R, pct};
use crate::procfs::{CLOCK_TICKS, cpu_ns, cpu_ticks};
use crate::report::{Row, micros};
use crate::server::{Server, TempBus, rpc_result, tool_content};

#[derive(Default)]
struct LatencyRun {
    pair_us: Vec<f64>,
    send_us: Vec<f64>,
    read_us: Vec<f64>,
    status_us: Vec<f64>,
    /// intercomm_status before any message was sent.
    status_empty_us: Vec<f64>,
    /// CPU time of both servers per send+read pair.
    cpu_per_pair_us: f64,
    /// intercomm_read of a full page ([`PAGE_MESSAGES`] messages).
    page_us: Vec<f64>,
    /// The length of that read's reply line, in bytes.
    page_reply_bytes: usize,
    /// CPU time of the reading server per full-page read.
    page_cpu_us: f64,
}

/// Messages of [`PAGE_TEXT`] in a full read page: 60 KB of content, under
/// the read's 64 KiB page (src/ops/messaging.rs, READ_PAGE_BYTES).
const PAGE_MESSAGES: usize = 60;
/// One message of a full page: ~1 KB with quotes and newlines to escape.
const PAGE_TEXT: &str = "a line of text with \"quotes\" in it\n";

fn latency(cfg: &Config) -> R<Vec<LatencyRun>> {
    let mut runs = Vec::new();
    for _ in 0..cfg.lat_runs {
        let bus = TempBus::new(true)?;
        let mut a = Server::start(&bus.root, "master")?;
        let mut b = Server::start(&bus.root, "worker")?;
        a.initialize()?;
        b.initialize()?;
        a.register(Some("master"))?;
        let bid = b.register(None)?;
        let send_args = json!({"to": bid, "message": "ping"});
        let read_args = json!({"limit": 10});
        let mut run = LatencyRun {
            status_empty_us: timed_status(&mut a, cfg.lat_warmup, cfg.lat_iters.min(1_000))?,
            ..LatencyRun::default()
        };
        let pids = [a.pid(), b.pid()];
        let mut ticks = 0;
        for i in 0..cfg.lat_warmup + cfg.lat_iters {
            let (ida, req_a) = a.tool_request("intercomm_send", &send_args)?;
            let (idb, req_b) = b.tool_request("intercomm_read", &read_args)?;
            let t0 = Instant::now();
            a.write(&req_a)?;
            let (t1, line_a) = a.recv_raw(ida)?;
            b.write(&req_b)?;
            let (t2, line_b) = b.recv_raw(idb)?;
            tool_content(
                &a.name,
                "intercomm_send",
                rpc_result(&a.name, ida, &line_a)?,
            )?;
            let read = tool_content(
                &b.name,
                "intercomm_read",
                rpc_result(&b.name, idb, &line_b)?,
            )?;
            if read["count"] != json!(1) {
                return Err(format!(
                    "latency: read returned {} messages, expected 1",
                    read["count"]
                )
                .into());
            }
            if i + 1 == cfg.lat_warmup {
                ticks = cpu_ticks(&pids)?;
            }
            if i >= cfg.lat_warmup {
                run.pair_us.push(micros(t2 - t0));
                run.send_us.push(micros(t1 - t0));
                run.read_us.push(micros(t2 - t1));
            }
        }
        run.cpu_per_pair_us =
            (cpu_ticks(&pids)? - ticks) as f64 / CLOCK_TICKS * 1e6 / cfg.lat_iters as f64;
        run.status_us = timed_status(&mut a, cfg.lat_warmup, cfg.lat_iters)?;
        let pages = timed_pages(&mut a, &mut b, cfg.lat_iters / 30)?;
        (run.page_us, run.page_reply_bytes, run.page_cpu_us) = pages;
        runs.push(run);
    }
    Ok(runs)
}

/// `iters` timed intercomm_status calls after `warmup` untimed ones.
fn timed_status(s: &mut Server, warmup: usize, iters: usize) -> R<Vec<f64>> {
    let mut out = Vec::with_capacity(iters);
    for i in 0..warmup + iters {
        let (id, req) = s.tool_request("intercomm_status", &json!({}))?;
        let t0 = Instant::now();
        s.write(&req)?;
        let (t1, line) = s.recv_raw(id)?;
        tool_content(&s.name, "intercomm_status", rpc_result(&s.name, id, &line)?)?;
        if i >= warmup {
            out.push(micros(t1 - t0));
        }
    }
    Ok(out)
}

/// `iters` timed reads by `b` of a full page that `a` sent it, after 3
/// untimed ones; the reply's length in bytes, and `b`'s CPU time per read
/// in µs (it does nothing else meanwhile).
fn timed_pages(a: &mut Server, b: &mut Server, iters: usize) -> R<(Vec<f64>, usize, f64)> {
    let text = PAGE_TEXT.repeat(1_000 / PAGE_TEXT.len());
    let mut out = Vec::with_capacity(iters);
    let mut bytes = 0;
    let mut cpu_total = 0;
    for i in 0..3 + iters {
        for n in 0..PAGE_MESSAGES {
            let message = format!("{n} {text}");
            a.call("intercomm_send", &json!({"to": b.id, "message": message}))?;
        }
        let (id, req) = b.tool_request("intercomm_read", &json!({"limit": 500}))?;
        let cpu0 = cpu_ns(b.pid())?;
        let t0 = Instant::now();
        b.write(&req)?;
        let (t1, line) = b.recv_raw(id)?;
        let cpu1 = cpu_ns(b.pid())?;
        let read = tool_content(&b.name, "intercomm_read", rpc_result(&b.name, id, &line)?)?;
        if read["count"] != json!(PAGE_MESSAGES) {
            return Err(format!(
                "latency: a full page read {} messages, expected {PAGE_MESSAGES}",
                read["count"]
            )
            .into());
        }
        if i >= 3 {
            out.push(micros(t1 - t0));
            bytes = line.len();
            cpu_total += cpu1 - cpu0;
        }
    }
    Ok((out, bytes, cpu_total as f64 / 1e3 / iters.max(1) as f64))
}

/// Measures call latency and adds its rows.
pub fn run(cfg: &Config, rows: &mut Vec<Row>) -> R {
    eprintln!(
        "latency: {} runs of {} send+read pairs after {} warm-up ...",
        cfg.lat_runs, cfg.lat_iters, cfg.lat_warmup
    );
    let lat = latency(cfg)?;
    let per = |f: fn(&LatencyRun) -> &Vec<f64>, p: f64, scale: f64| -> Vec<f64> {
        lat.iter().map(|r| pct(f(r), p) * scale).collect()
    };
    rows.push(Row::goal(
        "Per tool call p50 (send+read pair / 2)",
        "µs",
        per(|r| &r.pair_us, 50.0, 0.5),
        0,
        "< 200",
        "474",
        |v| v < 200.0,
    ));
    rows.push(Row::goal(
        "Per tool call p99 (send+read pair / 2)",
        "µs",
        per(|r| &r.pair_us, 99.0, 0.5),
        0,
        "< 1000",
        "3,900",
        |v| v < 1000.0,
    ));
    rows.push(Row::info(
        "  send+read pair p50",
        "µs",
        per(|r| &r.pair_us, 50.0, 1.0),
        0,
    ));
    rows.push(Row::info(
        "  send+read pair p99",
        "µs",
        per(|r| &r.pair_us, 99.0, 1.0),
        0,
    ));
    rows.push(Row::info(
        "  intercomm_send p50",
        "µs",
        per(|r| &r.send_us, 50.0, 1.0),
        0,
    ));
    rows.push(Row::info(
        "  intercomm_send p99",
        "µs",
        per(|r| &r.send_us, 99.0, 1.0),
        0,
    ));
    rows.push(Row::info(
        "  intercomm_read p50",
        "µs",
        per(|r| &r.read_us, 50.0, 1.0),
        0,
    ));
    rows.push(Row::info(
        "  intercomm_read p99",
        "µs",
        per(|r| &r.read_us, 99.0, 1.0),
        0,
    ));
    rows.push(Row::info(
        "  CPU of both servers per send+read pair",
        "µs",
        lat.iter().map(|r| r.cpu_per_pair_us).collect(),
        0,
    ));
    rows.push(Row::info(
        "  intercomm_status p50, no messages sent yet",
        "µs",
        per(|r| &r.status_empty_us, 50.0, 1.0),
        0,
    ));
    rows.push(Row::info(
        "  intercomm_status p50, after the pairs",
        "µs",
        per(|r| &r.status_us, 50.0, 1.0),
        0,
    ));
    rows.push(Row::info(
        "  intercomm_status p99, after the pairs",
        "µs",
        per(|r| &r.status_us, 99.0, 1.0),
        0,
    ));
    rows.push(Row::info(
        format!(
            "  intercomm_read p50, a full page ({PAGE_MESSAGES} msgs, reply {} KB)",
            lat.first().map_or(0, |r| r.page_reply_bytes / 1_000)
        ),
        "µs",
        per(|r| &r.page_us, 50.0, 1.0),
        0,
    ));
    rows.push(Row::info(
        "  CPU of the reader per full-page read",
        "µs",
        lat.iter().map(|r| r.page_cpu_us).collect(),
        0,
    ));
    Ok(())
}
