//! The `sessions` table: tmux sessions this bus spawned, one per worker
//! (name = worker id = worktree key). Rows are kept after the session ends
//! (`ended_at` set) as a record; a new spawn of the same name replaces it.

use super::store::{Conn, Result, Row, args};
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
    fn from_row(row: &Row<'_>) -> Result<Self> {
        Ok(Self {
            name: row.get(0)?,
            tmux_session_id: row.get(1)?,
            pane: row.get(2)?,
            tmux_socket: row.get(3)?,
            worktree: row.get(4)?,
            perm_mode: row.get(5)?,
            spawned_at_ms: row.get(6)?,
            ended_at_ms: row.get(7)?,
            argv: serde_json::from_str(&row.get::<String>(8)?).unwrap_or_default(),
        })
    }
}

const COLUMNS: &str =
    "name, tmux_session_id, pane, tmux_socket, worktree, perm_mode, spawned_at, ended_at, argv";

/// Records a session (replacing an ended one of the same name, whose MCP
/// connection time is cleared).
pub fn put(conn: &Conn, s: &SessionRow) -> Result<()> {
    let argv = serde_json::to_string(&s.argv).unwrap_or_else(|_| "[]".to_owned());
    conn.execute(
        &format!(
            "INSERT INTO sessions ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (name) DO UPDATE SET tmux_session_id = excluded.tmux_session_id,
                pane = excluded.pane, tmux_socket = excluded.tmux_socket,
                worktree = excluded.worktree, perm_mode = excluded.perm_mode,
                spawned_at = excluded.spawned_at, ended_at = excluded.ended_at,
                argv = excluded.argv, mcp_connected_at = NULL"
        ),
        args![
            s.name,
            s.tmux_session_id,
            s.pane,
            s.tmux_socket,
            s.worktree,
            s.perm_mode,
            s.spawned_at_ms,
            s.ended_at_ms,
            argv
        ],
    )?;
    Ok(())
}

/// The row for a session name.
pub fn get(conn: &Conn, name: &str) -> Result<Option<SessionRow>> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM sessions WHERE name = ?1"),
        args![name],
        SessionRow::from_row,
    )
}

/// Sessions not yet ended, oldest first.
pub fn live(conn: &Conn) -> Result<Vec<SessionRow>> {
    conn.query(
        &format!("SELECT {COLUMNS} FROM sessions WHERE ended_at IS NULL ORDER BY spawned_at, name"),
        &[],
        SessionRow::from_row,
    )
}

/// Records that the worker of the live session `name` has its intercomm MCP
/// server connected (see [`mcp_connected_at`]); false when no live session
/// has that name. A new [`put`] of the name clears it.
pub fn mark_mcp_connected(conn: &Conn, name: &str, now_ms: i64) -> Result<bool> {
    let n = conn.execute(
        "UPDATE sessions SET mcp_connected_at = ?2 WHERE name = ?1 AND ended_at IS NULL",
        args![name, now_ms],
    )?;
    Ok(n > 0)
}

/// When the worker of session `name` reported its intercomm MCP server
/// connected (ms since the epoch), if it did since the session was recorded.
pub fn mcp_connected_at(conn: &Conn, name: &str) -> Result<Option<i64>> {
    Ok(conn
        .query_opt(
            "SELECT mcp_connected_at FROM sessions WHERE name = ?1",
            args![name],
            |r| r.get::<Option<i64>>(0),
        )?
        .flatten())
}

/// Marks a session ended.
pub fn end(conn: &Conn, name: &str, now_ms: i64) -> Result<()> {
    conn.execute(
        "UPDATE sessions SET ended_at = ?2 WHERE name = ?1 AND ended_at IS NULL",
        args![name, now_ms],
    )?;
    Ok(())
}
