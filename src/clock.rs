//! Wall-clock time as the bus stores it: Unix epoch milliseconds (`i64`),
//! the unit intercomm-aimfp 1.0.2 used, so old and new rows compare.

use chrono::{Local, TimeZone};

/// Now, in Unix epoch milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `HH:MM:SS` in local time, for lines a person or model reads.
pub fn hms(ms: i64) -> String {
    match Local.timestamp_millis_opt(ms).single() {
        Some(t) => t.format("%H:%M:%S").to_string(),
        None => "??:??:??".to_owned(),
    }
}

/// A duration in milliseconds as a short human figure: `4s`, `3m`, `2h`, `5d`.
pub fn ago(ms: i64) -> String {
    let s = (ms / 1000).max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ago_picks_the_largest_whole_unit() {
        assert_eq!(ago(-5), "0s");
        assert_eq!(ago(59_999), "59s");
        assert_eq!(ago(60_000), "1m");
        assert_eq!(ago(3_600_000), "1h");
        assert_eq!(ago(86_400_000 * 3), "3d");
    }
}
