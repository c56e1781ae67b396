//! Waiting for the bus to change without a busy poll: SQLite's
//! `PRAGMA data_version` moves only when another connection commits, and
//! reading it costs a look at the WAL index (no table is read). The check
//! runs after a pause that starts at [`MIN_PAUSE`] after a change and grows
//! by half up to [`MAX_PAUSE`] while nothing happens, as `intercomm_ask`'s
//! wait does (there 20 → 500 ms; here at most 100 ms, so that a live view
//! shows a change within 200 ms).

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// The pause right after a change.
pub const MIN_PAUSE: Duration = Duration::from_millis(10);
/// The longest pause between checks.
pub const MAX_PAUSE: Duration = Duration::from_millis(100);

/// A read-only connection that tells when others committed.
pub struct Changes {
    conn: Connection,
    seen: Option<i64>,
    pause: Duration,
}

impl Changes {
    /// Watches the bus database at `path` (which must exist).
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(super::BUSY_TIMEOUT)?;
        Ok(Self {
            conn,
            seen: None,
            pause: MIN_PAUSE,
        })
    }

    /// Whether the bus changed since the last call (true on the first).
    /// Resets the pause on a change, lengthens it otherwise.
    pub fn changed(&mut self) -> rusqlite::Result<bool> {
        let version: i64 = self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))?;
        let changed = self.seen != Some(version);
        self.seen = Some(version);
        self.pause = if changed {
            MIN_PAUSE
        } else {
            (self.pause * 3 / 2).min(MAX_PAUSE)
        };
        Ok(changed)
    }

    /// How long to wait before the next [`Changes::changed`].
    pub fn pause(&self) -> Duration {
        self.pause
    }

    /// The connection, for reading what changed.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }
}
