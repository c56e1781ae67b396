//! The `hosts` table: other machines the master starts workers on, each
//! reached over SSH (`intercomm host add`), and `session_hosts`: which host
//! a spawned session runs on. A session without a row runs on this machine,
//! so nothing changes for a one-machine bus.
//!
//! The URL is stored as the user gave it, after [`crate::host::HostUrl`]
//! validated it; it is parsed again whenever it is used.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
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
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            name: row.get(0)?,
            url: row.get(1)?,
            added_at_ms: row.get(2)?,
        })
    }
}

/// Schema 10 → 11: the two tables (see the module doc).
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
pub fn add(conn: &Connection, row: &HostRow) -> rusqlite::Result<bool> {
    let n = conn
        .prepare_cached(
            "INSERT INTO hosts (name, url, added_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO NOTHING",
        )?
        .execute(params![row.name, row.url, row.added_at_ms])?;
    Ok(n == 1)
}

/// The host named `name`, if recorded.
pub fn get(conn: &Connection, name: &str) -> rusqlite::Result<Option<HostRow>> {
    conn.prepare_cached("SELECT name, url, added_at FROM hosts WHERE name = ?1")?
        .query_row([name], HostRow::from_row)
        .optional()
}

/// Every host, by name.
pub fn list(conn: &Connection) -> rusqlite::Result<Vec<HostRow>> {
    let mut stmt = conn.prepare_cached("SELECT name, url, added_at FROM hosts ORDER BY name")?;
    let rows = stmt.query_map([], HostRow::from_row)?;
    rows.collect()
}

/// Removes a host; `false` when there was none of that name.
pub fn remove(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    let n = conn
        .prepare_cached("DELETE FROM hosts WHERE name = ?1")?
        .execute([name])?;
    Ok(n == 1)
}

/// Records the host a session runs on; `None` (this machine) clears it.
pub fn set_session_host(
    conn: &Connection,
    session: &str,
    host: Option<&str>,
) -> rusqlite::Result<()> {
    match host {
        Some(h) => conn
            .prepare_cached(
                "INSERT INTO session_hosts (name, host) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET host = excluded.host",
            )?
            .execute(params![session, h])?,
        None => conn
            .prepare_cached("DELETE FROM session_hosts WHERE name = ?1")?
            .execute([session])?,
    };
    Ok(())
}

/// The host a session runs on; `None` for this machine.
pub fn session_host(conn: &Connection, session: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT host FROM session_hosts WHERE name = ?1")?
        .query_row([session], |r| r.get(0))
        .optional()
}

/// Sessions recorded on `host`.
pub fn sessions_on(conn: &Connection, host: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT name FROM session_hosts WHERE host = ?1 ORDER BY name")?;
    let rows = stmt.query_map([host], |r| r.get(0))?;
    rows.collect()
}
