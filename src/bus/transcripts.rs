//! The `transcripts` table: each Claude Code session transcript an
//! instance's hooks named (`transcript_path`), and how far intercomm has
//! counted its token usage ([`crate::cost::Tally`], as JSON). An instance
//! has one row per transcript: a respawned worker's new session adds a row,
//! so its cost so far spans all of them.

use super::store::{Conn, Result, args};

use crate::cost::Tally;

/// One transcript of an instance.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptRow {
    /// The transcript file (absolute, as Claude Code gave it).
    pub path: String,
    /// The instance whose hooks named it.
    pub id: String,
    /// What has been counted of it.
    pub tally: Tally,
    /// When a hook last named it, epoch ms.
    pub at_ms: i64,
}

/// Records that `id`'s session writes `path` (keeping what was counted).
pub fn record(conn: &Conn, id: &str, path: &str, now_ms: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO transcripts (path, id, tally, at) VALUES (?1, ?2, '{}', ?3)
         ON CONFLICT (path) DO UPDATE SET id = excluded.id, at = excluded.at",
        args![path, id, now_ms],
    )?;
    Ok(())
}

/// Stores what has been counted of `path`.
pub fn put_tally(conn: &Conn, path: &str, tally: &Tally) -> Result<()> {
    let json = serde_json::to_string(tally).unwrap_or_else(|_| "{}".to_owned());
    conn.execute(
        "UPDATE transcripts SET tally = ?2 WHERE path = ?1",
        args![path, json],
    )?;
    Ok(())
}

/// Every transcript, oldest first; `Some(id)` limits them to one instance's.
pub fn list(conn: &Conn, id: Option<&str>) -> Result<Vec<TranscriptRow>> {
    conn.query(
        "SELECT path, id, tally, at FROM transcripts
          WHERE CAST(?1 AS TEXT) IS NULL OR id = ?1 ORDER BY at, path",
        args![id],
        |r| {
            Ok(TranscriptRow {
                path: r.get(0)?,
                id: r.get(1)?,
                tally: serde_json::from_str(&r.get::<String>(2)?).unwrap_or_default(),
                at_ms: r.get(3)?,
            })
        },
    )
}
