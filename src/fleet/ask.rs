//! `intercomm_ask`: a question that waits for its answer.
//!
//! The question is stored first (a `question` message), then the target is
//! told: a ready pane is rung through the safe wake; a busy one is left to
//! its Stop hook, which hands it the mail at the end of its turn. A worker
//! asking the master rings with the escalation doorbell (fixed text, S2).
//! The wait does not poll tables in a tight loop: it checks SQLite's
//! `data_version` (which moves only when another process commits), with a
//! backoff from 20 ms to 500 ms, and looks for the reply only then
//! ([`crate::bus::watch`]).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::hook_wake::HookRing;
use super::wake::{refusal, ring};
use super::{resolve, with_ctx};
use crate::bus::instances::Role;
use crate::bus::messages::{self, Message, MessageType};
use crate::bus::watch::Changes;
use crate::error::{Error, Result};
use crate::names::MASTER_ID;
use crate::ops::{Ctx, Outcome, db, messaging};
use crate::screen::PaneState;

/// Longest wait, in seconds.
pub const MAX_WAIT_SECS: i64 = 600;

/// What an ask got.
#[derive(Debug, Clone, Serialize)]
pub struct Asked {
    pub question_id: String,
    pub to: String,
    pub answered: bool,
    pub answer: Option<Message>,
    pub waited_ms: u64,
    /// How the target was told: rung, left to its hooks, or why not.
    pub delivery: String,
}

impl Outcome for Asked {
    fn text(&self) -> String {
        match &self.answer {
            Some(a) => format!(
                "Answer after {:.1} s; {}:\n{}",
                self.waited_ms as f64 / 1000.0,
                crate::render::PEER_NOTE,
                crate::render::entry(&crate::render::Entry::plain(a))
            ),
            None => format!(
                "No answer yet from {} after {} s ({}). The question is {}; its answer will show in \
                 intercomm_read with in_reply_to {}.",
                self.to,
                self.waited_ms / 1000,
                self.delivery,
                self.question_id,
                self.question_id
            ),
        }
    }
}

/// Asks `to` and waits up to `wait_secs` for the reply.
pub async fn ask(ctx: &Mutex<Ctx>, to: &str, question: &str, wait_secs: i64) -> Result<Asked> {
    if !(1..=MAX_WAIT_SECS).contains(&wait_secs) {
        return Err(Error::invalid(
            "wait_seconds",
            format!("must be 1 to {MAX_WAIT_SECS}"),
        ));
    }
    let started = Instant::now();
    let (sent, me) = with_ctx(ctx, |c| {
        let sent = messaging::send(c, to, question, MessageType::Question)?;
        let (_, me) = c.acting()?;
        Ok((sent, me))
    })?;
    let delivery = tell(ctx, to, &me.id, me.role).await;
    let deadline = started + Duration::from_secs(wait_secs as u64);
    let mut changes = Changes::default();
    loop {
        let found = with_ctx(ctx, |c| {
            let Some(bus) = c.existing_bus()? else {
                return Ok(None);
            };
            if !changes.changed(bus.conn()).map_err(db)? {
                return Ok(None);
            }
            messages::reply_to(bus.conn(), &sent.message_id, to, &me.id).map_err(db)
        })?;
        if found.is_some() || Instant::now() >= deadline {
            return Ok(Asked {
                question_id: sent.message_id,
                to: to.to_owned(),
                answered: found.is_some(),
                answer: found,
                waited_ms: started.elapsed().as_millis() as u64,
                delivery,
            });
        }
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(changes.pause().min(left)).await;
    }
}

/// Tells `to` a question waits: through its armed wake hook (no key sent),
/// else rings a ready pane and leaves a busy one to its hooks. Returns how,
/// for the result.
async fn tell(ctx: &Mutex<Ctx>, to: &str, me: &str, role: Role) -> String {
    match super::hook_wake::ring(ctx, to, None).await {
        Ok(Some(
            HookRing::Silent
            | HookRing::Fired {
                verified: false, ..
            },
        ))
        | Ok(None)
        | Err(_) => {}
        Ok(Some(r)) => return r.note(),
    }
    let target = match resolve(ctx, "to", to).await {
        Ok(t) => t,
        Err(e) => return format!("not rung: {}", e.message),
    };
    let screen = match target.look().await {
        Ok(s) => s,
        Err(e) => return format!("not rung: {}", e.message),
    };
    if screen.state == PaneState::Running {
        return "busy: its Stop hook delivers the question when the turn ends".to_owned();
    }
    if let Some(why) = refusal(&screen) {
        return format!("not rung: {why}");
    }
    let bell = if to == MASTER_ID && role == Role::Worker {
        format!(
            "[intercomm] Escalation from {me} (question): call intercomm_read and answer with intercomm_reply."
        )
    } else {
        format!(
            "[intercomm] Question from {me}: call intercomm_read and answer with intercomm_reply."
        )
    };
    match ring(&target, &bell).await {
        Ok(r) if r.delivered => format!("rang {}", r.pane),
        Ok(r) => format!("typed into {} but not seen submitted", r.pane),
        Err(e) => format!("not rung: {}", e.message),
    }
}
