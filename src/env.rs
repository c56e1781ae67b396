//! Every environment variable intercomm reads, in one place.

/// Pins the bus root (a directory). Trimmed; empty means unset; a relative
/// value is made absolute against the current directory.
pub const DB_ROOT: &str = "INTERCOMM_DB_ROOT";

/// The id a process registers under (set by spawn for each worker, so that
/// id = tmux session = worktree key).
pub const WORKER_ID: &str = "INTERCOMM_WORKER_ID";

/// tmux server socket to use for the fleet (else the inherited `TMUX`).
pub const TMUX_SOCKET: &str = "INTERCOMM_TMUX_SOCKET";

/// Set by tmux in every pane: the pane id, e.g. `%3`.
pub const TMUX_PANE: &str = "TMUX_PANE";

/// Set by tmux in every pane: `<socket path>,<server pid>,<session index>`.
pub const TMUX: &str = "TMUX";

/// `tracing` filter for the stderr log, e.g. `intercomm=debug`.
pub const LOG: &str = "INTERCOMM_LOG";

/// Reads a variable, trimmed, treating empty (or non-UTF-8) as unset.
pub fn get(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}
