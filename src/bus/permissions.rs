//! The `permission_requests` table: a worker's tool permission requests, as
//! its PermissionRequest hook recorded them, and the master's decisions.
//! Rows are never deleted: the table is the record of every decision (who,
//! when, what).
//!
//! A request's `status`:
//!
//! | status      | meaning                                                          |
//! |-------------|------------------------------------------------------------------|
//! | `pending`   | the worker's hook waits for a decision                           |
//! | `decided`   | the master decided; the hook has not picked the decision up yet |
//! | `delivered` | the hook handed the decision to Claude Code                      |
//! | `expired`   | nobody decided in time: the hook left the dialog on screen       |
//! | `keys`      | the dialog (after expiry) was answered with keys by approve       |
//! | `closed`    | the worker moved on without the hook's answer (a person answered |
//! |             | the dialog on screen, or the session ended)                      |

use super::store::{Conn, Result, Row, args};
use serde::Serialize;
use serde_json::Value;

/// One request and its decision, if any.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    /// A UUID (v7, so ids sort by creation).
    pub id: String,
    pub worker: String,
    /// The tool asking, as Claude Code names it (`Bash`, `Write`, `mcp__…`).
    pub tool: String,
    /// The tool's full input, as the hook received it.
    pub input: Value,
    /// The rules Claude Code offers for "always" (`permission_suggestions`).
    pub suggestions: Value,
    pub claude_session: String,
    /// When the hook recorded it (ms since the epoch).
    pub asked_at: i64,
    /// When the hook stops waiting and leaves the dialog on screen (ms).
    pub deadline: i64,
    pub status: String,
    /// `yes`, `always` or `no`, once decided.
    pub decision: Option<String>,
    /// For `no`: what the worker's model is told.
    pub reason: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub delivered_at: Option<i64>,
}

const COLUMNS: &str = "id, worker, tool, input, suggestions, claude_session, asked_at, deadline, \
     status, decision, reason, decided_by, decided_at, delivered_at";

fn from_row(r: &Row<'_>) -> Result<Request> {
    let json = |i: usize| -> Result<Value> {
        let text: String = r.get(i)?;
        Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)))
    };
    Ok(Request {
        id: r.get(0)?,
        worker: r.get(1)?,
        tool: r.get(2)?,
        input: json(3)?,
        suggestions: json(4)?,
        claude_session: r.get(5)?,
        asked_at: r.get(6)?,
        deadline: r.get(7)?,
        status: r.get(8)?,
        decision: r.get(9)?,
        reason: r.get(10)?,
        decided_by: r.get(11)?,
        decided_at: r.get(12)?,
        delivered_at: r.get(13)?,
    })
}

/// Records a new pending request (`status`, decision fields ignored).
pub fn insert(conn: &Conn, q: &Request) -> Result<()> {
    conn.execute(
        "INSERT INTO permission_requests
            (id, worker, tool, input, suggestions, claude_session, asked_at, deadline, status)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending')",
        args![
            q.id,
            q.worker,
            q.tool,
            q.input.to_string(),
            q.suggestions.to_string(),
            q.claude_session,
            q.asked_at,
            q.deadline
        ],
    )?;
    Ok(())
}

/// The request `id`.
pub fn get(conn: &Conn, id: &str) -> Result<Option<Request>> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM permission_requests WHERE id = ?1"),
        args![id],
        from_row,
    )
}

/// Pending requests whose deadline has not passed at `now_ms`, oldest first;
/// one worker's, or everyone's.
pub fn pending(conn: &Conn, worker: Option<&str>, now_ms: i64) -> Result<Vec<Request>> {
    conn.query(
        &format!(
            "SELECT {COLUMNS} FROM permission_requests
          WHERE status = 'pending' AND deadline > ?1 AND (CAST(?2 AS TEXT) IS NULL OR worker = ?2)
          ORDER BY asked_at, id"
        ),
        args![now_ms, worker],
        from_row,
    )
}

/// The latest requests (newest first, at most `limit`), one worker's or all.
pub fn recent(conn: &Conn, worker: Option<&str>, limit: i64) -> Result<Vec<Request>> {
    conn.query(
        &format!(
            "SELECT {COLUMNS} FROM permission_requests
          WHERE (CAST(?1 AS TEXT) IS NULL OR worker = ?1) ORDER BY asked_at DESC, id DESC LIMIT ?2"
        ),
        args![worker, limit],
        from_row,
    )
}

/// Decides a pending request; `false` if it is no longer pending.
pub fn decide(
    conn: &Conn,
    id: &str,
    decision: &str,
    reason: Option<&str>,
    by: &str,
    now_ms: i64,
) -> Result<bool> {
    let n = conn.execute(
        "UPDATE permission_requests SET status = 'decided', decision = ?2, reason = ?3,
                    decided_by = ?4, decided_at = ?5
              WHERE id = ?1 AND status = 'pending'",
        args![id, decision, reason, by, now_ms],
    )?;
    Ok(n == 1)
}

/// Records that an expired request's dialog was answered with keys.
pub fn answered_by_keys(
    conn: &Conn,
    id: &str,
    decision: &str,
    by: &str,
    now_ms: i64,
) -> Result<bool> {
    let n = conn.execute(
        "UPDATE permission_requests SET status = 'keys', decision = ?2, decided_by = ?3,
                    decided_at = ?4
              WHERE id = ?1 AND status = 'expired'",
        args![id, decision, by, now_ms],
    )?;
    Ok(n == 1)
}

/// Moves a request from `from` to `to` (`delivered_at` set when `to` is
/// `delivered`); `false` if it was not in `from`.
pub fn transition(conn: &Conn, id: &str, from: &str, to: &str, now_ms: i64) -> Result<bool> {
    let n = conn.execute(
        "UPDATE permission_requests SET status = ?3,
                    delivered_at = CASE WHEN ?3 = 'delivered' THEN ?4 ELSE delivered_at END
              WHERE id = ?1 AND status = ?2",
        args![id, from, to, now_ms],
    )?;
    Ok(n == 1)
}

/// Closes a worker's pending and undelivered requests (it moved on without
/// the hook's answer); returns how many.
pub fn close_open(conn: &Conn, worker: &str) -> Result<usize> {
    conn.execute(
        "UPDATE permission_requests SET status = 'closed'
          WHERE worker = ?1 AND status IN ('pending', 'decided')",
        args![worker],
    )
}

/// The newest expired request of `worker` (its dialog is on screen).
pub fn last_expired(conn: &Conn, worker: &str) -> Result<Option<Request>> {
    conn.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM permission_requests WHERE worker = ?1 AND status = 'expired'
          ORDER BY asked_at DESC LIMIT 1"
        ),
        args![worker],
        from_row,
    )
}
