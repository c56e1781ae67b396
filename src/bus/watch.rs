//! Waiting for another process's write without polling tables in a tight
//! loop: SQLite's `PRAGMA data_version` moves only when another connection
//! commits, so a waiter looks at its tables only then, and sleeps with a
//! backoff from [`FIRST_PAUSE`] to [`MAX_PAUSE`] in between (the pause
//! starts over after each change). Used by `intercomm_ask` (async) and by
//! the hooks that wait for a decision or for mail (blocking).
//!
//! A waiter for mail also looks every [`LOOK_ANYWAY`] without a change
//! ([`Changes::looking_anyway`]): on PostgreSQL a message can become
//! readable with no commit at all, when the server ends a transaction whose
//! connection was lost (a host cut off mid-send) and so releases the seq
//! fence that held readers below it.

use std::time::{Duration, Instant};

use crate::bus::Conn;

/// The first pause after a look that found nothing new.
pub const FIRST_PAUSE: Duration = Duration::from_millis(20);
/// The longest pause between two looks.
pub const MAX_PAUSE: Duration = Duration::from_millis(500);
/// How long a waiter for mail goes without looking at its tables when
/// nothing changed (see the module doc).
pub const LOOK_ANYWAY: Duration = Duration::from_secs(5);

/// One waiter's view of the bus: has anyone committed since the last look,
/// and how long to sleep next.
#[derive(Debug, Clone)]
pub struct Changes {
    seen: Option<i64>,
    /// When `changed` last said `true`.
    looked: Instant,
    /// Say `true` after this long without a change ([`Changes::looking_anyway`]).
    anyway: Option<Duration>,
    pause: Duration,
    max: Duration,
}

impl Default for Changes {
    fn default() -> Self {
        Self::new(MAX_PAUSE)
    }
}

impl Changes {
    /// A waiter whose pauses grow to at most `max`.
    pub fn new(max: Duration) -> Self {
        Self {
            seen: None,
            looked: Instant::now(),
            anyway: None,
            pause: FIRST_PAUSE,
            max,
        }
    }

    /// This waiter also looks after [`LOOK_ANYWAY`] without a change.
    pub fn looking_anyway(self) -> Self {
        Self {
            anyway: Some(LOOK_ANYWAY),
            ..self
        }
    }

    /// `true` on the first call, whenever another connection committed
    /// since the previous call (then the next pause starts short again),
    /// and, [`Changes::looking_anyway`], after [`LOOK_ANYWAY`] without a
    /// `true`.
    pub fn changed(&mut self, conn: &Conn) -> crate::bus::store::Result<bool> {
        let version = crate::bus::messages::data_version(conn)?;
        if self.seen == Some(version) {
            if self
                .anyway
                .is_none_or(|after| self.looked.elapsed() < after)
            {
                return Ok(false);
            }
        } else {
            self.seen = Some(version);
            self.pause = FIRST_PAUSE;
        }
        self.looked = Instant::now();
        Ok(true)
    }

    /// The pause before the next look (×1.5 each time, up to the maximum).
    pub fn pause(&mut self) -> Duration {
        let now = self.pause;
        self.pause = (self.pause * 3 / 2).min(self.max);
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiter_looks_on_a_change_and_anyway_after_a_while() -> crate::bus::store::Result<()> {
        let conn = Conn::Sqlite(rusqlite::Connection::open_in_memory()?);
        let mut plain = Changes::default();
        let mut mail = Changes::default().looking_anyway();
        for changes in [&mut plain, &mut mail] {
            assert!(changes.changed(&conn)?, "the first call looks");
            assert!(!changes.changed(&conn)?, "nothing changed");
            changes.looked = Instant::now() - LOOK_ANYWAY;
        }
        assert!(
            !plain.changed(&conn)?,
            "a plain waiter looks on a change only"
        );
        assert!(mail.changed(&conn)?, "a waiter for mail looks anyway");
        assert!(!mail.changed(&conn)?, "and then waits again");
        Ok(())
    }
}
