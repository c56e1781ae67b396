//! The report: rows of per-run values rendered as one Markdown table.

use std::time::Duration;

use crate::common::{max, median, min};

/// What a row shows.
enum Cell {
    /// One value per run.
    Runs(Vec<f64>),
    /// A verification result.
    Check(bool, String),
}

/// One line of the report table: a metric's values over runs (median, min,
/// max) with an optional target, or a verification result.
pub struct Row {
    metric: String,
    unit: &'static str,
    cell: Cell,
    digits: usize,
    target: &'static str,
    original: &'static str,
    ok: Option<fn(f64) -> bool>,
}

impl Row {
    /// Values over runs with no target; `digits` after the decimal point.
    pub fn info(
        metric: impl Into<String>,
        unit: &'static str,
        values: Vec<f64>,
        digits: usize,
    ) -> Self {
        Self {
            metric: metric.into(),
            unit,
            cell: Cell::Runs(values),
            digits,
            target: "",
            original: "",
            ok: None,
        }
    }

    /// Values over runs with a target, the original tool's figure, and
    /// whether a median meets the target.
    pub fn goal(
        metric: impl Into<String>,
        unit: &'static str,
        values: Vec<f64>,
        digits: usize,
        target: &'static str,
        original: &'static str,
        ok: fn(f64) -> bool,
    ) -> Self {
        Self {
            target,
            original,
            ok: Some(ok),
            ..Self::info(metric, unit, values, digits)
        }
    }

    /// A verification result with its detail.
    pub fn check(metric: impl Into<String>, passed: bool, detail: String) -> Self {
        Self {
            metric: metric.into(),
            unit: "",
            cell: Cell::Check(passed, detail),
            digits: 0,
            target: "",
            original: "",
            ok: None,
        }
    }
}

/// The rows as a Markdown table.
pub fn render(rows: &[Row]) -> String {
    let mut out = vec![
        "| Metric | Unit | Median | Min | Max | Runs | Target | Original | OK |".to_owned(),
        "|---|---|---:|---:|---:|---:|---:|---:|:-:|".to_owned(),
    ];
    for row in rows {
        match &row.cell {
            Cell::Check(passed, detail) => out.push(format!(
                "| {} | | {detail} | | | | | | {} |",
                row.metric,
                if *passed { "✓" } else { "✗" }
            )),
            Cell::Runs(values) => {
                let d = row.digits;
                let med = median(values);
                let mark = row.ok.map_or("", |ok| if ok(med) { "✓" } else { "✗" });
                out.push(format!(
                    "| {} | {} | {med:.d$} | {:.d$} | {:.d$} | {} | {} | {} | {mark} |",
                    row.metric,
                    row.unit,
                    min(values),
                    max(values),
                    values.len(),
                    row.target,
                    row.original,
                ));
            }
        }
    }
    out.join("\n")
}

/// A duration in µs.
pub fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
