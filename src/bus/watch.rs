//! Waiting for another process's write without polling tables in a tight
//! loop: SQLite's `PRAGMA data_version` moves only when another connection
//! commits, so a waiter looks at its tables only then, and sleeps with a
//! backoff from [`FIRST_PAUSE`] to [`MAX_PAUSE`] in between (the pause
//! starts over after each change). Used by `intercomm_ask` (async) and by
//! the hooks that wait for a decision or for mail (blocking).

use std::time::Duration;

use crate::bus::Conn;

/// The first pause after a look that found nothing new.
pub const FIRST_PAUSE: Duration = Duration::from_millis(20);
/// The longest pause between two looks.
pub const MAX_PAUSE: Duration = Duration::from_millis(500);

/// One waiter's view of the bus: has anyone committed since the last look,
/// and how long to sleep next.
#[derive(Debug, Clone)]
pub struct Changes {
    seen: Option<i64>,
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
            pause: FIRST_PAUSE,
            max,
        }
    }

    /// `true` on the first call and whenever another connection committed
    /// since the previous call (then the next pause starts short again).
    pub fn changed(&mut self, conn: &Conn) -> crate::bus::store::Result<bool> {
        let version = crate::bus::messages::data_version(conn)?;
        if self.seen == Some(version) {
            return Ok(false);
        }
        self.seen = Some(version);
        self.pause = FIRST_PAUSE;
        Ok(true)
    }

    /// The pause before the next look (×1.5 each time, up to the maximum).
    pub fn pause(&mut self) -> Duration {
        let now = self.pause;
        self.pause = (self.pause * 3 / 2).min(self.max);
        now
    }
}
