//! Benchmarks of `intercomm mcp`, the stdio MCP server over one SQLite bus.
//!
//! ```text
//! cargo bench --bench bus                  # full run (well under a minute here)
//! BENCH_QUICK=1 cargo bench --bench bus    # CI smoke (a few seconds; no 1M-message bus)
//! INTERCOMM_BENCH_BIN=PATH cargo bench --bench bus   # measure another intercomm binary
//! BENCH_ONLY=fan-in,latency cargo bench --bench bus  # some scenarios only
//! INTERCOMM_BENCH_PG=postgres://… BENCH_ONLY=latency,fan-in cargo bench --bench bus
//!                                          # the same on a PostgreSQL bus
//! ```
//!
//! With `INTERCOMM_BENCH_PG` (a server of the bench's own: `eval
//! $(scripts/pg-test-cluster start --fsync)`, then its INTERCOMM_TEST_PG),
//! every fresh bus is a fresh schema on that server, the servers get it as
//! `INTERCOMM_BUS`, and the fan-in's raw limit is one connection's inserts on
//! the same server. The SQLite-only scenarios (`read`, `fan-in-size`,
//! `stuck-reader`: the WAL, page cache and file size) are refused there.
//!
//! The client is std only: one JSON-RPC request line written to the server's
//! stdin, one reply line read from its stdout with `BufReader::read_line`,
//! timed before the reply is parsed. Unlike `scripts/bench` (Python), the
//! figures carry almost no client overhead.
//!
//! Scenarios, each on a fresh bus in a temporary folder:
//! 1. cold start: spawn → initialize + initialized + tools/list (one write) →
//!    the tools/list reply line;
//! 2. peak RSS (VmHWM) of a master server after 1,000 tool calls;
//! 3. send + read round trip between two servers, per call and per pair,
//!    and a read of a full page (60 messages of ~1 KB);
//! 4. fan-in: 16 worker servers send to one master at once, verified, beside
//!    the raw limit of the same inserts through the library on one connection;
//! 5. read latency on buses pre-filled with 10k, 100k and 1M messages;
//! 6. the fan-in of 4 on buses pre-filled the same way;
//! 7. 12 concurrent sends while a reader holds an old snapshot and the WAL
//!    is past its bound (`stuck-reader`).
//!
//! `BENCH_ONLY` takes a comma-separated list of `cold`, `rss`, `latency`,
//! `fan-in`, `read`, `fan-in-size` and `stuck-reader`; unset, every scenario runs.
//!
//! Every figure is the median of several runs, with min and max; ratios are
//! taken between measurements of the same run.
//!
//! Layout: one module per scenario (`cold`, `rss`, `latency`, `fan_in`,
//! `read_size`, `fan_in_size`, `stuck_reader`), each measuring and adding its report rows;
//! `server` (the server processes and their client), `procfs`, `report`
//! (the table), `../common` (statistics shared with the fleet bench) and
//! `original_tools` (tests/support/original_tools.rs: the original's tool
//! names, shared with tests/it). This file holds the configuration and the
//! order of the report.

#[path = "../common/mod.rs"]
mod common;
#[path = "../../tests/support/original_tools.rs"]
mod original_tools;

mod cold;
mod fan_in;
mod fan_in_size;
mod latency;
mod procfs;
mod read_size;
mod report;
mod rss;
mod server;
mod stuck_reader;

use std::time::{Duration, Instant};

use common::R;
use procfs::{cpu_count, loadavg};
use report::render;
use server::watchdog;

/// The runs and sizes of every scenario, and which scenarios run.
struct Config {
    quick: bool,
    /// Whether the buses are on PostgreSQL (`INTERCOMM_BENCH_PG`).
    on_pg: bool,
    /// Scenarios to run (`BENCH_ONLY`); empty = all.
    only: Vec<String>,
    cold_runs: usize,
    rss_runs: usize,
    rss_calls: usize,
    lat_runs: usize,
    lat_iters: usize,
    lat_warmup: usize,
    fan_runs: usize,
    fan_workers: usize,
    fan_per_worker: usize,
    /// Rounds of the fan-in on each pre-filled bus size.
    fan_size_rounds: usize,
    read_sizes: Vec<usize>,
    read_rounds: usize,
    read_calls: usize,
    read_warmup: usize,
}

impl Config {
    fn from_env() -> Self {
        let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let only: Vec<String> = std::env::var("BENCH_ONLY")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        let on_pg = std::env::var("INTERCOMM_BENCH_PG").is_ok_and(|v| !v.is_empty());
        if quick {
            Self {
                quick,
                on_pg,
                only,
                cold_runs: 10,
                rss_runs: 1,
                rss_calls: 1_000,
                lat_runs: 1,
                lat_iters: 500,
                lat_warmup: 50,
                fan_runs: 1,
                fan_workers: 16,
                fan_per_worker: 100,
                fan_size_rounds: 1,
                read_sizes: vec![10_000, 100_000],
                read_rounds: 1,
                read_calls: 100,
                read_warmup: 20,
            }
        } else {
            Self {
                quick,
                on_pg,
                only,
                cold_runs: 30,
                rss_runs: 3,
                rss_calls: 1_000,
                lat_runs: 3,
                lat_iters: 3_000,
                lat_warmup: 200,
                fan_runs: 3,
                fan_workers: 16,
                fan_per_worker: 300,
                fan_size_rounds: 2,
                read_sizes: vec![10_000, 100_000, 1_000_000],
                read_rounds: 3,
                read_calls: 500,
                read_warmup: 50,
            }
        }
    }
}

/// The scenario names `BENCH_ONLY` accepts.
const SCENARIOS: [&str; 7] = [
    "cold",
    "rss",
    "latency",
    "fan-in",
    "read",
    "fan-in-size",
    "stuck-reader",
];

impl Config {
    /// Whether scenario `name` runs.
    fn selected(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == name)
    }
}

fn main() -> R {
    if !cfg!(target_os = "linux") {
        return Err("the bus bench needs Linux (/proc/<pid>/status)".into());
    }
    let cfg = Config::from_env();
    if let Some(bad) = cfg.only.iter().find(|o| !SCENARIOS.contains(&o.as_str())) {
        return Err(format!("BENCH_ONLY: unknown scenario {bad:?} (one of {SCENARIOS:?})").into());
    }
    if cfg.on_pg {
        let sqlite_only = ["read", "fan-in-size", "stuck-reader"];
        if cfg.only.is_empty() || cfg.only.iter().any(|o| sqlite_only.contains(&o.as_str())) {
            return Err(format!(
                "INTERCOMM_BENCH_PG: choose scenarios with BENCH_ONLY (not {sqlite_only:?}, which measure the SQLite file)"
            )
            .into());
        }
    }
    watchdog(Duration::from_secs(if cfg.quick { 120 } else { 600 }));
    let started = Instant::now();
    let load_before = loadavg();
    let mut rows = Vec::new();
    let mut notes = Vec::new();

    let mut verified = true;
    if cfg.selected("cold") {
        cold::run(&cfg, &mut rows)?;
    }
    if cfg.selected("rss") {
        rss::run(&cfg, &mut rows)?;
    }
    if cfg.selected("latency") {
        latency::run(&cfg, &mut rows)?;
    }
    if cfg.selected("fan-in") {
        verified = fan_in::run(&cfg, &mut rows, &mut notes)?;
    }
    if cfg.selected("read") {
        read_size::run(&cfg, &mut rows, &mut notes)?;
    }
    if cfg.selected("fan-in-size") {
        verified &= fan_in_size::run(&cfg, &mut rows, &mut notes)?;
    }
    if cfg.selected("stuck-reader") {
        stuck_reader::run(&cfg, &mut rows)?;
    }

    println!();
    println!("{}", render(&rows));
    println!();
    println!(
        "- Median/min/max are over runs; a latency run's value is its percentile over its samples."
    );
    println!(
        "- Latency: {} timed iterations per run after {} warm-up; \"per tool call\" = one send+read pair / 2.",
        cfg.lat_iters, cfg.lat_warmup
    );
    println!(
        "- Read vs size: {} rounds of {} reads per bus, the sizes interleaved; each read returns 1 message.",
        cfg.read_rounds, cfg.read_calls
    );
    println!(
        "- Client: Rust std, one line written and one line read per call; times stop when the reply line arrives."
    );
    for n in notes {
        println!("- {n}");
    }
    if cfg.on_pg {
        println!(
            "- Bus: PostgreSQL (INTERCOMM_BENCH_PG), a fresh schema per bus; sends take no lock (the seq fence) and commit with synchronous_commit=on; the fan-in's target there is issue #18's 2,000 msgs/s."
        );
    }
    if cfg.quick {
        println!("- BENCH_QUICK: reduced runs and sizes; figures are indicative only.");
    }
    println!(
        "- Total {:.1} s; {} CPUs; load average {} before, {} after.",
        started.elapsed().as_secs_f64(),
        cpu_count(),
        load_before,
        loadavg()
    );
    if !verified {
        return Err("fan-in delivery check failed".into());
    }
    Ok(())
}
