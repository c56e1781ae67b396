//! Scenario 6, fan-in scaling: the fan-in of scenario 4 on buses already
//! holding 10k, 100k and 1M messages (between other instances, as
//! scenario 5 fills them), the sizes interleaved round by round. A send's
//! checks and insert go through indexes on recipient and sequence, so its
//! cost should not grow with the bus.

use crate::Config;
use crate::common::R;
use crate::fan_in::fan_in_once;
use crate::read_size::{human, prefill};
use crate::report::Row;
use crate::server::TempBus;

/// Measures fan-in per bus size and adds its rows; whether every run's
/// delivery check passed (a failed run adds a note).
pub fn run(cfg: &Config, rows: &mut Vec<Row>, notes: &mut Vec<String>) -> R<bool> {
    eprintln!(
        "fan-in vs bus size: {}, {} round(s) ...",
        cfg.read_sizes
            .iter()
            .map(|&s| human(s))
            .collect::<Vec<_>>()
            .join(", "),
        cfg.fan_size_rounds
    );
    // rates[size index][round]
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); cfg.read_sizes.len()];
    let mut verified = true;
    for round in 0..cfg.fan_size_rounds {
        for (i, &size) in cfg.read_sizes.iter().enumerate() {
            let bus = TempBus::new(false)?;
            prefill(&bus, size)?;
            let run = fan_in_once(cfg, &bus)?;
            if !run.problems.is_empty() {
                verified = false;
                notes.push(format!(
                    "Fan-in on a bus of {}, round {} FAILED: {}",
                    human(size),
                    round + 1,
                    run.problems.join("; ")
                ));
            }
            rates[i].push(run.msgs_per_s);
        }
    }
    for (i, &size) in cfg.read_sizes.iter().enumerate() {
        rows.push(Row::info(
            format!(
                "Fan-in {} workers × {} msgs, bus of {} messages",
                cfg.fan_workers,
                cfg.fan_per_worker,
                human(size)
            ),
            "msgs/s",
            rates[i].clone(),
            0,
        ));
    }
    if let ([small_size, .., big_size], [small, .., big]) =
        (cfg.read_sizes.as_slice(), rates.as_slice())
    {
        let ratio: Vec<f64> = small.iter().zip(big).map(|(s, b)| b / s).collect();
        rows.push(Row::info(
            format!(
                "  fan-in ratio, {} / {} bus (same round)",
                human(*big_size),
                human(*small_size)
            ),
            "×",
            ratio,
            2,
        ));
    }
    rows.push(Row::check(
        format!(
            "  delivery check ({} sizes × {} rounds)",
            cfg.read_sizes.len(),
            cfg.fan_size_rounds
        ),
        verified,
        if verified {
            "every message delivered once, in order".to_owned()
        } else {
            "FAILED".to_owned()
        },
    ));
    Ok(verified)
}
