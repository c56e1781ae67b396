//! The `hosts` table: other machines the master starts workers on, each
//! reached over SSH (`intercomm host add`), and `session_hosts`: which host
//! a spawned session runs on. A session without a row runs on this machine,
//! so nothing changes for a one-machine bus.
//!
//! The URL is stored as the user gave it, after [`crate::host::HostUrl`]
//! validated it; it is parsed again whenever it is used.

use rusqlite::Transaction;

use super::store::{Conn, Result, Row, args};
use serde::Serialize;

/// One recorded host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostRow {
    /// The host's name on this bus (an id: `[A-Za-z0-9_-]`, 1–64 bytes).
    pub name: String,
    /// `ssh://user@host[:port]`.
    pub url: String,
    /// When it was added, ms since the epoch.
    pub added_at_ms: i64,
}

impl HostRow {
    fn from_row(row: &Row<'_>) -> Result<Self> {
        Ok(Self {
            name: row.get(0)?,
            url: row.get(1)?,
            added_at_ms: row.get(2)?,
        })
    }
}

/// Schema 10 → 11: the two tables (see the module doc), in SQL both
/// engines run.
pub(super) fn migration(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE hosts (
            name TEXT PRIMARY KEY,
            url TEXT NOT NULL,
            added_at INTEGER NOT NULL
        );
        CREATE TABLE session_hosts (
            name TEXT PRIMARY KEY,
            host TEXT NOT NULL
        );",
    )
}

/// Records a host; `false` when the name is taken (nothing changed).
pub fn add(conn: &Conn, row: &HostRow) -> Result<bool> {
    let n = conn.execute(
        "INSERT INTO hosts (name, url, added_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO NOTHING",
        args![row.name, row.url, row.added_at_ms],
    )?;
    Ok(n == 1)
}

/// The host named `name`, if recorded.
pub fn get(conn: &Conn, name: &str) -> Result<Option<HostRow>> {
    conn.query_opt(
        "SELECT name, url, added_at FROM hosts WHERE name = ?1",
        args![name],
        HostRow::from_row,
    )
}

/// Every host, by name.
pub fn list(conn: &Conn) -> Result<Vec<HostRow>> {
    conn.query(
        "SELECT name, url, added_at FROM hosts ORDER BY name",
        &[],
        HostRow::from_row,
    )
}

/// Removes a host; `false` when there was none of that name.
pub fn remove(conn: &Conn, name: &str) -> Result<bool> {
    Ok(conn.execute("DELETE FROM hosts WHERE name = ?1", args![name])? == 1)
}

/// Records the host a session runs on; `None` (this machine) clears it.
pub fn set_session_host(conn: &Conn, session: &str, host: Option<&str>) -> Result<()> {
    match host {
        Some(h) => conn.execute(
            "INSERT INTO session_hosts (name, host) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET host = excluded.host",
            args![session, h],
        )?,
        None => conn.execute("DELETE FROM session_hosts WHERE name = ?1", args![session])?,
    };
    Ok(())
}

/// The host a session runs on; `None` for this machine.
pub fn session_host(conn: &Conn, session: &str) -> Result<Option<String>> {
    conn.query_opt(
        "SELECT host FROM session_hosts WHERE name = ?1",
        args![session],
        |r| r.get(0),
    )
}

/// Sessions recorded on `host`.
pub fn sessions_on(conn: &Conn, host: &str) -> Result<Vec<String>> {
    conn.query(
        "SELECT name FROM session_hosts WHERE host = ?1 ORDER BY name",
        args![host],
        |r| r.get(0),
    )
}
