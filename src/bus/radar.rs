//! The merge radar's tables (schema 8): `touched_paths`, the paths each
//! worker's hooks saw it write, and `radar_notices`, the overlapping paths
//! the master was already told about.

use rusqlite::{Connection, params};

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
pub fn touch(
    conn: &Connection,
    worker_id: &str,
    path: &str,
    source: Source,
    now_ms: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO touched_paths (worker_id, path, source, at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (worker_id, path) DO UPDATE SET source = excluded.source, at = excluded.at",
    )?
    .execute(params![worker_id, path, source.as_str(), now_ms])?;
    Ok(())
}

/// Every path `worker_id` was seen writing, sorted.
pub fn touched_by(conn: &Connection, worker_id: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT path FROM touched_paths WHERE worker_id = ?1 ORDER BY path")?;
    let rows = stmt.query_map([worker_id], |r| r.get(0))?;
    rows.collect()
}

/// The other workers seen writing `path`, sorted.
pub fn others_touching(
    conn: &Connection,
    path: &str,
    worker_id: &str,
) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT worker_id FROM touched_paths WHERE path = ?1 AND worker_id <> ?2 ORDER BY worker_id",
    )?;
    let rows = stmt.query_map(params![path, worker_id], |r| r.get(0))?;
    rows.collect()
}

/// Forgets what `worker_id` wrote (its worktree starts anew).
pub fn forget(conn: &Connection, worker_id: &str) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM touched_paths WHERE worker_id = ?1")?
        .execute([worker_id])?;
    Ok(())
}

/// Claims the notice for `path`: true the first time only, so the master is
/// told once per path. Run inside the write transaction that sends it.
pub fn claim_notice(
    conn: &Connection,
    path: &str,
    workers: &str,
    now_ms: i64,
) -> rusqlite::Result<bool> {
    let n = conn
        .prepare_cached(
            "INSERT INTO radar_notices (path, workers, at) VALUES (?1, ?2, ?3) ON CONFLICT (path) DO NOTHING",
        )?
        .execute(params![path, workers, now_ms])?;
    Ok(n == 1)
}
