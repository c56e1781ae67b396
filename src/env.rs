//! Every environment variable intercomm reads, in one place.

/// Pins the bus root (a directory). Taken as given (a folder name may end
/// in a space; spawn passes the root on verbatim); blank means unset; a
/// relative value is made absolute against the current directory.
pub const DB_ROOT: &str = "INTERCOMM_DB_ROOT";

/// A PostgreSQL bus (`postgres://…[?schema=NAME]`) in place of the SQLite
/// file under the root; the `--bus` flag sets it too. Spawn passes it on to
/// workers, so keep passwords out of it (use `~/.pgpass` or `PGPASSFILE`):
/// tmux shows a session's environment to anyone with access to the server.
pub const BUS: &str = "INTERCOMM_BUS";

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

/// The search path for programs, as a shell uses it.
pub const PATH: &str = "PATH";

/// Where `program` would be found as a command: itself when it names a
/// path (contains `/`) to an executable file, else the first executable
/// file of that name in a folder of `PATH`; `None` when there is none.
pub fn find_program(program: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |p: &std::path::Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let path = std::path::PathBuf::from(program);
        return runnable(&path).then_some(path);
    }
    let dirs = std::env::var_os(PATH)?;
    std::env::split_paths(&dirs)
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join(program))
        .find(|p| runnable(p))
}

/// The user's home folder, where Claude Code keeps its settings.
pub const HOME: &str = "HOME";
