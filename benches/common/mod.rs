//! What the benches share (`benches/bus/` and `benches/fleet.rs`, each
//! including this file with `#[path]`): the error type and the statistics
//! over per-run or per-sample values.

/// Any error, sendable across the bus bench's sender threads.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// A bench result; `()` by default.
pub type R<T = ()> = Result<T, BoxError>;

/// Nearest-rank percentile `p` (0–100) of an unsorted sample; NaN when empty.
pub fn pct(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// The median of an unsorted sample (the mean of the middle two for an even
/// count); NaN when empty.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The smallest value; +∞ when empty.
pub fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

/// The largest value; −∞ when empty.
pub fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}
