//! Scenario 1, cold start: spawn → initialize + initialized + tools/list
//! (one write) → the tools/list reply line, beside the floor of spawning
//! `cat` and reading its first echoed line; and the check that tools/list
//! holds the original tool's 19 tools.

use std::time::Instant;

use crate::Config;
use crate::common::R;
use crate::original_tools::original_tools;
use crate::report::Row;
use crate::server::{INITIALIZED, Server, TempBus, initialize_request, rpc_result};

struct Cold {
    ms: Vec<f64>,
    floor_ms: Vec<f64>,
    /// Names tools/list returned.
    tools: Vec<String>,
}

fn cold_start(cfg: &Config) -> R<Cold> {
    let bus = TempBus::new(true)?;
    let payload = format!(
        "{}\n{INITIALIZED}\n{}\n",
        initialize_request(0)?,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#
    );
    let mut cold = Cold {
        ms: Vec::new(),
        floor_ms: Vec::new(),
        tools: Vec::new(),
    };
    // The first run of each warms the page cache and is dropped.
    for i in 0..=cfg.cold_runs {
        let t0 = Instant::now();
        let mut s = Server::start(&bus.root, "cold")?;
        s.write(&payload)?;
        let (at, line) = s.recv_raw(1)?;
        let ms = (at - t0).as_secs_f64() * 1e3;
        let result = rpc_result(&s.name, 1, &line)?;
        cold.tools = result["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["name"].as_str().map(str::to_owned))
            .collect();
        drop(s);
        if i > 0 {
            cold.ms.push(ms);
        }
    }
    for i in 0..=cfg.cold_runs {
        let t0 = Instant::now();
        let mut s = Server::start_argv(&bus.root, "cat", "cat", &[])?;
        s.write(&payload)?;
        s.next_line()?;
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        drop(s);
        if i > 0 {
            cold.floor_ms.push(ms);
        }
    }
    Ok(cold)
}

/// Measures cold start and adds its rows.
pub fn run(cfg: &Config, rows: &mut Vec<Row>) -> R {
    eprintln!("cold start: {} runs ...", cfg.cold_runs);
    let cold = cold_start(cfg)?;
    rows.push(Row::goal(
        "Cold start: spawn → tools/list reply",
        "ms",
        cold.ms,
        2,
        "< 15",
        "322",
        |v| v < 15.0,
    ));
    rows.push(Row::info(
        "  floor: spawn `cat` → first line echoed",
        "ms",
        cold.floor_ms,
        2,
    ));
    // The 19 tools of intercomm-aimfp 1.0.2, which tools/list must include.
    let original = original_tools()?;
    let missing: Vec<&str> = original
        .iter()
        .map(String::as_str)
        .filter(|t| !cold.tools.iter().any(|n| n == t))
        .collect();
    rows.push(Row::check(
        "  tools/list",
        missing.is_empty(),
        if missing.is_empty() {
            format!(
                "{} tools, the original's {} included",
                cold.tools.len(),
                original.len()
            )
        } else {
            format!("{} tools; missing {}", cold.tools.len(), missing.join(", "))
        },
    ));
    Ok(())
}
