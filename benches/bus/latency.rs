//! Scenario 3, call latency: send + read round trips between two servers,
//! per call and per pair, their CPU time, and intercomm_status before and
//! after.

use std::time::Instant;

use serde_json::json;

use crate::Config;
use crate::common::{R, pct};
use crate::procfs::{CLOCK_TICKS, cpu_ticks};
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
}

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
    Ok(())
}
