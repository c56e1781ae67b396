//! The merge radar's tables (schema 8): `touched_paths`, the paths each
//! worker's hooks saw it write, and `radar_notices`, the overlapping paths
//! the master was already told about.

use super::store::{Conn, Result, args};

/// Where a touched path was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A write tool's argument (PostToolUse: Edit, Write, MultiEdit, NotebookEdit).
    Tool,
    /// The worktree's git status when a turn ended (Stop).
    Status,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Self::Tool => "tool",
            Self::Status => "status",
        }
    }
}

/// Records that `worker_id` wrote `path` (relative to its worktree).
pub fn touch(conn: &Conn, worker_id: &str, path: &str, source: Source, now_ms: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO touched_paths (worker_id, path, source, at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (worker_id, path) DO UPDATE SET source = excluded.source, at = excluded.at",
        args![worker_id, path, source.as_str(), now_ms],
    )?;
    Ok(())
}

/// Every path `worker_id` was seen writing, sorted.
pub fn touched_by(conn: &Conn, worker_id: &str) -> Result<Vec<String>> {
    conn.query(
        "SELECT path FROM touched_paths WHERE worker_id = ?1 ORDER BY path",
        args![worker_id],
        |r| r.get(0),
    )
}

/// The other workers seen writing `path`, sorted.
pub fn others_touching(conn: &Conn, path: &str, worker_id: &str) -> Result<Vec<String>> {
    conn.query("SELECT worker_id FROM touched_paths WHERE path = ?1 AND worker_id <> ?2 ORDER BY worker_id", args![path, worker_id], |r| r.get(0))
}

/// Forgets what `worker_id` wrote (its worktree starts anew).
pub fn forget(conn: &Conn, worker_id: &str) -> Result<()> {
    conn.execute(
        "DELETE FROM touched_paths WHERE worker_id = ?1",
        args![worker_id],
    )?;
    Ok(())
}

/// Claims the notice for `path`: true the first time only, so the master is
/// told once per path. Run inside the write transaction that sends it.
pub fn claim_notice(conn: &Conn, path: &str, workers: &str, now_ms: i64) -> Result<bool> {
    let n = conn.execute("INSERT INTO radar_notices (path, workers, at) VALUES (?1, ?2, ?3) ON CONFLICT (path) DO NOTHING", args![path, workers, now_ms])?;
    Ok(n == 1)
}
