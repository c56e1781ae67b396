//! Optional spending caps: per worker and for the whole fleet, in dollars
//! or in tokens. A worker over a cap is stopped at its next tool call (the
//! PreToolUse hook denies it with the reason) and the master is told once,
//! by a message on the bus.
//!
//! Set in the environment of the workers' hooks, or in `caps.json` in the
//! bus folder (`.intercomm/caps.json`, read at each check; the environment
//! wins per field):
//!
//! | variable                       | caps.json key   | what                          |
//! |--------------------------------|-----------------|-------------------------------|
//! | `INTERCOMM_CAP_WORKER_USD`     | `worker_usd`    | dollars one worker may spend  |
//! | `INTERCOMM_CAP_WORKER_TOKENS`  | `worker_tokens` | tokens one worker may use     |
//! | `INTERCOMM_CAP_FLEET_USD`      | `fleet_usd`     | dollars all instances together|
//! | `INTERCOMM_CAP_FLEET_TOKENS`   | `fleet_tokens`  | tokens all instances together |

use serde::{Deserialize, Serialize};

use super::Spend;

/// Environment variables, in [`Caps`] field order.
pub const ENV: [&str; 4] = [
    "INTERCOMM_CAP_WORKER_USD",
    "INTERCOMM_CAP_WORKER_TOKENS",
    "INTERCOMM_CAP_FLEET_USD",
    "INTERCOMM_CAP_FLEET_TOKENS",
];

/// The file beside the bus database that may hold caps.
pub const FILE: &str = "caps.json";

/// The caps in force; `None` fields are no cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Caps {
    pub worker_usd: Option<f64>,
    pub worker_tokens: Option<u64>,
    pub fleet_usd: Option<f64>,
    pub fleet_tokens: Option<u64>,
}

impl Caps {
    /// Whether any cap is set.
    pub fn any(&self) -> bool {
        self.worker_usd.is_some()
            || self.worker_tokens.is_some()
            || self.fleet_usd.is_some()
            || self.fleet_tokens.is_some()
    }

    /// Caps from `caps.json`'s text (if any) overridden by `env` (a lookup
    /// of [`ENV`] names). A bad value is an error naming it.
    pub fn parse(file: Option<&str>, env: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut caps: Caps = match file {
            Some(text) => serde_json::from_str(text).map_err(|e| format!("{FILE}: {e}"))?,
            None => Caps::default(),
        };
        let dollars = |name: &str| -> Result<Option<f64>, String> {
            env(name)
                .map(|v| match v.parse::<f64>() {
                    Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
                    _ => Err(format!("{name}={v:?} is not a number of dollars")),
                })
                .transpose()
        };
        let tokens = |name: &str| -> Result<Option<u64>, String> {
            env(name)
                .map(|v| {
                    v.parse::<u64>()
                        .map_err(|_| format!("{name}={v:?} is not a whole number of tokens"))
                })
                .transpose()
        };
        if let Some(v) = dollars(ENV[0])? {
            caps.worker_usd = Some(v);
        }
        if let Some(v) = tokens(ENV[1])? {
            caps.worker_tokens = Some(v);
        }
        if let Some(v) = dollars(ENV[2])? {
            caps.fleet_usd = Some(v);
        }
        if let Some(v) = tokens(ENV[3])? {
            caps.fleet_tokens = Some(v);
        }
        Ok(caps)
    }

    /// The caps for the bus in `dir` and this process's environment.
    pub fn load(dir: &std::path::Path) -> Result<Self, String> {
        let text = match std::fs::read_to_string(dir.join(FILE)) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read {}: {e}", dir.join(FILE).display())),
        };
        Self::parse(text.as_deref(), crate::env::get)
    }

    /// Why `id` must stop, if a cap is reached: its own spend `worker`, or
    /// the fleet's `fleet`.
    pub fn breach(&self, id: &str, worker: &Spend, fleet: &Spend) -> Option<String> {
        let over_usd = |cap: Option<f64>, s: &Spend| cap.filter(|c| s.cost_usd >= *c);
        let over_tok = |cap: Option<u64>, s: &Spend| cap.filter(|c| s.tokens.total() >= *c);
        if let Some(c) = over_usd(self.worker_usd, worker) {
            return Some(format!(
                "{id} has spent ${:.2}, at or over its cap of ${c:.2}",
                worker.cost_usd
            ));
        }
        if let Some(c) = over_tok(self.worker_tokens, worker) {
            return Some(format!(
                "{id} has used {} tokens, at or over its cap of {c}",
                worker.tokens.total()
            ));
        }
        if let Some(c) = over_usd(self.fleet_usd, fleet) {
            return Some(format!(
                "the fleet has spent ${:.2}, at or over its cap of ${c:.2}",
                fleet.cost_usd
            ));
        }
        if let Some(c) = over_tok(self.fleet_tokens, fleet) {
            return Some(format!(
                "the fleet has used {} tokens, at or over its cap of {c}",
                fleet.tokens.total()
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::Tokens;

    fn spend(usd: f64, tokens: u64) -> Spend {
        Spend {
            tokens: Tokens {
                output: tokens,
                ..Tokens::default()
            },
            cost_usd: usd,
            unpriced: Vec::new(),
        }
    }

    #[test]
    fn the_environment_overrides_the_file_per_field() {
        let env = |k: &str| (k == "INTERCOMM_CAP_WORKER_USD").then(|| "2.5".to_owned());
        let caps = Caps::parse(Some(r#"{"worker_usd": 9, "fleet_tokens": 1000}"#), env);
        assert_eq!(
            caps,
            Ok(Caps {
                worker_usd: Some(2.5),
                fleet_tokens: Some(1000),
                ..Caps::default()
            })
        );
        let bad = Caps::parse(None, |k| {
            (k == "INTERCOMM_CAP_FLEET_TOKENS").then(|| "lots".to_owned())
        });
        assert!(bad.is_err_and(|e| e.contains("INTERCOMM_CAP_FLEET_TOKENS")));
        assert!(Caps::parse(Some(r#"{"worker_dollars": 1}"#), |_| None).is_err());
        assert!(!Caps::parse(None, |_| None).is_ok_and(|c| c.any()));
    }

    #[test]
    fn a_worker_stops_at_its_cap_or_the_fleets() {
        let caps = Caps {
            worker_usd: Some(1.0),
            fleet_tokens: Some(500),
            ..Caps::default()
        };
        assert_eq!(caps.breach("w", &spend(0.5, 10), &spend(0.9, 100)), None);
        let own = caps.breach("w", &spend(1.0, 10), &spend(1.0, 100));
        assert!(own.is_some_and(|r| r.contains("w has spent $1.00")));
        let fleet = caps.breach("w", &spend(0.1, 10), &spend(0.2, 600));
        assert!(fleet.is_some_and(|r| r.contains("the fleet has used 600 tokens")));
    }
}
