//! The `hook_states` table: what Claude Code's hooks last said about an
//! instance (`intercomm hook`). One row per instance id, overwritten.

use super::store::{Conn, Result, args};
use serde::Serialize;

/// A hook report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HookState {
    pub id: String,
    /// `running`, `ready`, `blocked` or `gone`.
    pub state: String,
    /// The tool being run or asked about, or the notification text.
    pub detail: String,
    /// Claude Code's session id (for `claude --resume`).
    pub claude_session: String,
    pub at_ms: i64,
}

/// Records a report, keeping a known Claude session id when this one has none.
pub fn put(conn: &Conn, h: &HookState) -> Result<()> {
    conn.execute("INSERT INTO hook_states (id, state, detail, claude_session, at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, detail = excluded.detail,
            claude_session = CASE WHEN excluded.claude_session = '' THEN hook_states.claude_session
                                  ELSE excluded.claude_session END,
            at = excluded.at", args![h.id, h.state, h.detail, h.claude_session, h.at_ms])?;
    Ok(())
}

/// The last report for `id`.
pub fn get(conn: &Conn, id: &str) -> Result<Option<HookState>> {
    conn.query_opt(
        "SELECT id, state, detail, claude_session, at FROM hook_states WHERE id = ?1",
        args![id],
        |r| {
            Ok(HookState {
                id: r.get(0)?,
                state: r.get(1)?,
                detail: r.get(2)?,
                claude_session: r.get(3)?,
                at_ms: r.get(4)?,
            })
        },
    )
}
