//! Logging: `tracing` to stderr only (stdout belongs to JSON-RPC), no colours,
//! filtered by `INTERCOMM_LOG` (default `warn`; e.g. `intercomm=debug`).

use tracing_subscriber::EnvFilter;

/// Installs the stderr subscriber. Safe to call once per process.
pub fn init() {
    let filter =
        EnvFilter::try_from_env(crate::env::LOG).unwrap_or_else(|_| EnvFilter::new("warn"));
    // A second install (tests) fails harmlessly.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(true)
        .try_init();
}
