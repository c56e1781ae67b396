//! Permission decisions through the bus: `intercomm_approve` on a worker
//! whose PermissionRequest hook waits decides the request on the bus (the
//! hook hands the decision to Claude Code), and nothing is typed into the
//! pane. Every decision is kept and listed by [`decisions`].
//!
//! Why never keys while a request waits: the dialog is drawn on screen
//! meanwhile, and a key pressed in it wins over the hook's answer (measured
//! on Claude Code 2.1.330 and 2.1.332), so keys would race the decision.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::dialog::Choice;
use super::with_ctx;
use crate::bus::permissions::{self, Request};
use crate::bus::watch::Changes;
use crate::clock;
use crate::error::{Error, Result};
use crate::ops::{Ctx, Outcome, db};

/// Longest reason a `no` carries, in characters.
pub const MAX_REASON_CHARS: usize = 2000;

/// What deciding a request on the bus did.
#[derive(Debug, Clone, Serialize)]
pub struct Decided {
    pub request: Request,
    /// The worker's hook picked the decision up (it has printed it to
    /// Claude Code) within the wait.
    pub delivered: bool,
}

/// Decides the oldest pending request of `worker` (or the one named by
/// `request_id`) with `choice` as `by`, then waits up to `timeout` for the
/// worker's hook to take it. `Ok(None)`: nothing of that worker waits on
/// the bus (the caller falls back to the dialog on screen).
///
/// Errors: `no_such_request` for a named request that is not this worker's
/// or no longer pending; `invalid_params` for a reason given with a choice
/// other than `no`, or longer than [`MAX_REASON_CHARS`].
pub async fn through_hook(
    ctx: &Mutex<Ctx>,
    by: &str,
    worker: &str,
    choice: Choice,
    request_id: Option<&str>,
    reason: Option<&str>,
    timeout: Duration,
) -> Result<Option<Decided>> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if let Some(r) = reason {
        if choice != Choice::No {
            return Err(Error::invalid("reason", "is only sent with choice \"no\""));
        }
        if r.chars().count() > MAX_REASON_CHARS {
            return Err(Error::invalid(
                "reason",
                format!("is longer than {MAX_REASON_CHARS} characters"),
            ));
        }
    }
    let word = match choice {
        Choice::Yes => "yes",
        Choice::Always => "always",
        Choice::No => "no",
    };
    let decided = with_ctx(ctx, |c| {
        let Some(bus) = c.existing_bus()? else {
            return Ok(None);
        };
        let now = clock::now_ms();
        bus.write(|conn| {
            let target = match request_id {
                Some(id) => match permissions::get(conn, id).map_err(db)? {
                    Some(r) if r.worker == worker && r.status == "pending" && r.deadline > now => r,
                    Some(r) => {
                        return Err(Error::user(
                            "no_such_request",
                            format!(
                                "permission request {id} is {} (worker {}), not pending for {worker}",
                                r.status, r.worker
                            ),
                        ));
                    }
                    None => {
                        return Err(Error::user(
                            "no_such_request",
                            format!("no permission request {id}"),
                        )
                        .with_hint("intercomm_scan shows each worker's pending request"));
                    }
                },
                None => match permissions::pending(conn, Some(worker), now)
                    .map_err(db)?
                    .into_iter()
                    .next()
                {
                    Some(r) => r,
                    None => return Ok(None),
                },
            };
            if !permissions::decide(conn, &target.id, word, reason, by, now).map_err(db)? {
                return Ok(None);
            }
            Ok(Some(target.id))
        })
    })?;
    let Some(id) = decided else {
        return Ok(None);
    };
    let deadline = Instant::now() + timeout;
    let mut changes = Changes::default();
    loop {
        let seen = with_ctx(ctx, |c| {
            let Some(bus) = c.existing_bus()? else {
                return Ok(None);
            };
            if !changes.changed(bus.conn()).map_err(db)? {
                return Ok(None);
            }
            permissions::get(bus.conn(), &id).map_err(db)
        })?;
        let done = seen.as_ref().is_some_and(|r| r.status != "decided");
        if done || Instant::now() >= deadline {
            let request = match seen {
                Some(r) => r,
                None => with_ctx(ctx, |c| {
                    let bus = c.bus()?;
                    permissions::get(bus.conn(), &id)
                        .map_err(db)?
                        .ok_or_else(|| Error::internal("request_lost", "the request vanished"))
                })?,
            };
            return Ok(Some(Decided {
                delivered: request.status == "delivered",
                request,
            }));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(changes.pause().min(left)).await;
    }
}

/// Records that `worker`'s expired request (its dialog left on screen) was
/// answered with keys; no-op when it has none.
pub fn record_keys(ctx: &Mutex<Ctx>, by: &str, worker: &str, choice: Choice) -> Result<()> {
    let word = match choice {
        Choice::Yes => "yes",
        Choice::Always => "always",
        Choice::No => "no",
    };
    with_ctx(ctx, |c| {
        let Some(bus) = c.existing_bus()? else {
            return Ok(());
        };
        let now = clock::now_ms();
        bus.write(|conn| {
            if let Some(r) = permissions::last_expired(conn, worker).map_err(db)? {
                permissions::answered_by_keys(conn, &r.id, word, by, now).map_err(db)?;
            }
            Ok(())
        })
    })
}

/// The recorded permission requests and decisions.
#[derive(Debug, Clone, Serialize)]
pub struct Decisions {
    pub requests: Vec<Request>,
}

impl Outcome for Decisions {
    fn text(&self) -> String {
        if self.requests.is_empty() {
            return "No permission requests recorded.".to_owned();
        }
        let mut out = String::from("--- permission requests, newest first ---");
        for r in &self.requests {
            out.push_str(&format!(
                "\n  {}  {}  {} {}  {}",
                clock::hms(r.asked_at),
                r.worker,
                r.tool,
                r.input,
                r.status
            ));
            if let (Some(d), Some(by), Some(at)) = (&r.decision, &r.decided_by, r.decided_at) {
                out.push_str(&format!(": {d} by {by} at {}", clock::hms(at)));
            }
            if let Some(reason) = &r.reason {
                out.push_str(&format!(" (reason: {reason})"));
            }
            out.push_str(&format!("  [{}]", r.id));
        }
        out
    }
}

/// The latest `limit` requests (1 to 1000), of one worker or all.
pub fn decisions(ctx: &mut Ctx, worker: Option<&str>, limit: i64) -> Result<Decisions> {
    if !(1..=1000).contains(&limit) {
        return Err(Error::invalid("limit", "must be 1 to 1000"));
    }
    let Some(bus) = ctx.existing_bus()? else {
        return Ok(Decisions {
            requests: Vec::new(),
        });
    };
    Ok(Decisions {
        requests: permissions::recent(bus.conn(), worker, limit).map_err(db)?,
    })
}
