//! The `sessions` table: tmux sessions this bus spawned, one per worker
//! (name = worker id = worktree key). Rows are kept after the session ends
//! (`ended_at` set) as a record; a new spawn of the same name replaces it.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

/// A spawned session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionRow {
    /// Session name, also the worker's id.
    pub name: String,
    /// tmux session id (`$N`).
    pub tmux_session_id: String,
    /// Pane id (`%N`) of the worker's Claude.
    pub pane: String,
    /// Socket path of the tmux server.
    pub tmux_socket: String,
    /// Worktree path, or empty.
    pub worktree: String,
    pub perm_mode: String,
    /// Claude's argv as started (without `--resume`).
    pub argv: Vec<String>,
    pub spawned_at_ms: i64,
    pub ended_at_ms: Option<i64>,
}

impl SessionRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            name: row.get(0)?,
            tmux_session_id: row.get(1)?,
            pane: row.get(2)?,
            tmux_socket: row.get(3)?,
            worktree: row.get(4)?,
            perm_mode: row.get(5)?,
            spawned_at_ms: row.get(6)?,
            ended_at_ms: row.get(7)?,
            argv: serde_json::from_str(&row.get::<_, String>(8)?).unwrap_or_default(),
        })
    }
}

const COLUMNS: &str =
    "name, tmux_session_id, pane, tmux_socket, worktree, perm_mode, spawned_at, ended_at, argv";

/// Records a session (replacing an ended one of the same name).
pub fn put(conn: &Connection, s: &SessionRow) -> rusqlite::Result<()> {
    conn.prepare_cached(&format!(
        "INSERT OR REPLACE INTO sessions ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    ))?
    .execute(params![
        s.name,
        s.tmux_session_id,
        s.pane,
        s.tmux_socket,
        s.worktree,
        s.perm_mode,
        s.spawned_at_ms,
        s.ended_at_ms,
        serde_json::to_string(&s.argv).unwrap_or_else(|_| "[]".to_owned())
    ])?;
    Ok(())
}

/// The row for a session name.
pub fn get(conn: &Connection, name: &str) -> rusqlite::Result<Option<SessionRow>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM sessions WHERE name = ?1"))?
        .query_row([name], SessionRow::from_row)
        .optional()
}

/// Sessions not yet ended, oldest first.
pub fn live(conn: &Connection) -> rusqlite::Result<Vec<SessionRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM sessions WHERE ended_at IS NULL ORDER BY spawned_at, name"
    ))?;
    let rows = stmt.query_map([], SessionRow::from_row)?;
    rows.collect()
}

/// Records that the worker of the live session `name` has its intercomm MCP
/// server connected (see [`mcp_connected_at`]); false when no live session
/// has that name. A new [`put`] of the name clears it.
pub fn mark_mcp_connected(conn: &Connection, name: &str, now_ms: i64) -> rusqlite::Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE sessions SET mcp_connected_at = ?2 WHERE name = ?1 AND ended_at IS NULL",
        )?
        .execute(params![name, now_ms])?;
    Ok(n > 0)
}

/// When the worker of session `name` reported its intercomm MCP server
/// connected (ms since the epoch), if it did since the session was recorded.
pub fn mcp_connected_at(conn: &Connection, name: &str) -> rusqlite::Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT mcp_connected_at FROM sessions WHERE name = ?1")?
        .query_row([name], |r| r.get::<_, Option<i64>>(0))
        .optional()?
        .flatten())
}

/// Marks a session ended.
pub fn end(conn: &Connection, name: &str, now_ms: i64) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE sessions SET ended_at = ?2 WHERE name = ?1 AND ended_at IS NULL")?
        .execute(params![name, now_ms])?;
    Ok(())
}
