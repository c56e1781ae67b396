//! Waking through the instance's own hook: when its `asyncRewake` waiter is
//! armed ([`crate::hook::rewake`]), new mail on the bus wakes the idle
//! session by itself, and nothing is typed into its pane. This module finds
//! whether such a waiter is armed, asks it to ring for a wake that carries
//! no mail (a poke), and verifies the wake from the hook side: the waiter
//! fired, and the session's next hook event came after it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::with_ctx;
use crate::bus::hooks;
use crate::bus::wake_hooks::{self, Armed};
use crate::bus::watch::Changes;
use crate::clock;
use crate::error::Result;
use crate::ops::{Ctx, db};
use crate::process::{Liveness, ProcessId};

/// How long an armed waiter is given to fire (it rings 35–80 ms after its
/// look at the bus on Claude Code 2.1.330/2.1.332; looks are ≤ 200 ms apart).
pub const FIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long, after it fired, the session's next hook event is waited for.
pub const VERIFY_TIMEOUT: Duration = Duration::from_secs(15);

/// How a wake through the hook went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookRing {
    /// The waiter fired; `verified`: the session's next hook event came
    /// after it (the woken turn runs). Milliseconds from the ask to the fire.
    /// Callers treat a fire never verified like silence and type too (a
    /// Claude Code that runs the hook in the background without waking on
    /// exit 2 looks like that).
    Fired { verified: bool, millis: u64 },
    /// The session is busy (or blocked): its Stop hook hands it the mail at
    /// the end of the turn, and the waiter rings after that if still needed.
    Busy(String),
    /// Armed, but it did not fire in time: the caller may type.
    Silent,
}

impl HookRing {
    /// The line for a result: which path, and whether it was verified.
    pub fn note(&self) -> String {
        match self {
            Self::Fired {
                verified: true,
                millis,
            } => format!(
                "woke it through its hook (no key sent; fired after {millis} ms, verified by its next hook event)"
            ),
            Self::Fired {
                verified: false,
                millis,
            } => format!(
                "woke it through its hook (no key sent; fired after {millis} ms, its next hook event not seen yet)"
            ),
            Self::Busy(state) => format!(
                "it is {state}: its hooks hand it the mail when the turn ends (no key sent)"
            ),
            Self::Silent => "its wake hook is armed but did not fire".to_owned(),
        }
    }
}

/// The armed waiter of `id`, if any ([`is_armed`]).
pub fn armed(ctx: &Mutex<Ctx>, id: &str) -> Result<Option<Armed>> {
    with_ctx(ctx, |c| {
        let Some(bus) = c.existing_bus()? else {
            return Ok(None);
        };
        let row = wake_hooks::get(bus.conn(), id).map_err(db)?;
        Ok(row.filter(|a| is_armed(a, clock::now_ms())))
    })
}

/// A waiter is armed while it has not expired (it gave up, or fired) and
/// its process runs on this machine.
pub fn is_armed(a: &Armed, now_ms: i64) -> bool {
    a.expires_at > now_ms
        && ProcessId {
            pid: a.pid,
            start: a.proc_start,
            ..ProcessId::current()
        }
        .liveness()
            == Liveness::Alive
}

/// Rings `id` through its armed waiter, if it has one (`Ok(None)`: no
/// waiter, the caller types as before). New mail already on the bus rings
/// by itself; `poke` (a cleaned short text) asks for a ring without mail.
pub async fn ring(ctx: &Mutex<Ctx>, id: &str, poke: Option<&str>) -> Result<Option<HookRing>> {
    if armed(ctx, id)?.is_none() {
        return Ok(None);
    }
    let started = Instant::now();
    let t0 = clock::now_ms();
    let state = with_ctx(ctx, |c| {
        let bus = c.bus()?;
        if let Some(text) = poke {
            bus.write(|conn| wake_hooks::poke(conn, id, text, t0).map_err(db))?;
        }
        Ok(hooks::get(bus.conn(), id).map_err(db)?.map(|h| h.state))
    })?;
    if let Some(s) = state.filter(|s| s == "running" || s == "blocked") {
        return Ok(Some(HookRing::Busy(s)));
    }
    let mut changes = Changes::default();
    let mut fired_at: Option<(i64, u64)> = None;
    loop {
        let seen = with_ctx(ctx, |c| {
            let bus = c.bus()?;
            if !changes.changed(bus.conn()).map_err(db)? {
                return Ok(None);
            }
            let row = wake_hooks::get(bus.conn(), id).map_err(db)?;
            let hook = hooks::get(bus.conn(), id).map_err(db)?;
            Ok(Some((row.and_then(|r| r.fired_at), hook.map(|h| h.at_ms))))
        })?;
        if let Some((fired, last_event)) = seen {
            if fired_at.is_none()
                && let Some(at) = fired.filter(|&at| at >= t0)
            {
                fired_at = Some((at, started.elapsed().as_millis() as u64));
            }
            if let Some((at, millis)) = fired_at
                && last_event.is_some_and(|e| e > at)
            {
                return Ok(Some(HookRing::Fired {
                    verified: true,
                    millis,
                }));
            }
        }
        let limit = match fired_at {
            None => FIRE_TIMEOUT,
            Some(_) => FIRE_TIMEOUT + VERIFY_TIMEOUT,
        };
        if started.elapsed() >= limit {
            return Ok(Some(match fired_at {
                Some((_, millis)) => HookRing::Fired {
                    verified: false,
                    millis,
                },
                None => HookRing::Silent,
            }));
        }
        tokio::time::sleep(changes.pause()).await;
    }
}
