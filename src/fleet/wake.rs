//! The safe wake: a short doorbell typed only into Claude at its prompt.
//!
//! The pane is a doorbell, not a mailbox: content travels on the bus, and
//! what is typed is one short line with control characters removed, so no
//! worker text and no newline ever reaches another pane (S2).
//!
//! Delivery: text and Enter in one burst is swallowed into the paste
//! (../shared/guides/real-claude-code.md). So: bracketed paste, wait until
//! the text shows in the prompt box, wait out [`ENTER_GAP`] since the paste
//! and at least [`AFTER_SHOWN`] since it showed, one Enter, and report
//! delivered only once the box has emptied or the pane went busy; one more
//! Enter if it did not (B9). An Enter swallowed by a slow version turns into
//! a newline in the box, so the retry submits the same text.
//!
//! The pauses were measured with scripts/measure-enter-gap against the real
//! Claude Code 1.0.128, 2.0.77, 2.1.197 and 2.1.330, idle and under load,
//! 3,220 trials each checked in the stand-in model's request log: with the
//! wait-until-shown step, every gap ≥ 60 ms was reliable on every version,
//! and the only failures (2.0.77, ~2.5%) came from an Enter within ~1 ms of
//! the text showing, which [`AFTER_SHOWN`] rules out; the retry recovered
//! each of them. No version detection is needed. Showing and emptying took
//! up to ~0.7 s under load, hence [`SHOW_TIMEOUT`].

use std::time::{Duration, Instant};

use serde::Serialize;

use std::sync::Mutex;

use super::{POLL, Target, master, resolve, with_ctx};
use crate::error::{Error, Result};
use crate::names::MASTER_ID;
use crate::ops::assign::{AssignRequest, Assigned};
use crate::ops::messaging::{Escalated, EscalationKind};
use crate::ops::{Ctx, Outcome};
use crate::screen::{PaneState, Screen};

/// Least pause between the end of the paste and Enter.
pub const ENTER_GAP: Duration = Duration::from_millis(60);
/// Least pause between the text showing in the box and Enter.
pub const AFTER_SHOWN: Duration = Duration::from_millis(20);
/// How long to wait for the text to appear, and for a retried submit to show.
pub const SHOW_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the first Enter is given before the retry (emptying the box
/// took up to ~0.7 s under load in the measurements).
pub const FIRST_SUBMIT_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest doorbell, in characters.
pub const MAX_DOORBELL_CHARS: usize = 300;

/// What a wake did.
#[derive(Debug, Clone, Serialize)]
pub struct Rung {
    pub id: String,
    pub pane: String,
    /// The pane's state before anything was typed.
    pub state_before: PaneState,
    /// The text as typed (cleaned).
    pub text: String,
    /// The screen showed the prompt submitted.
    pub delivered: bool,
    /// Claude was busy: the prompt was queued behind its current turn.
    pub queued: bool,
    /// Enter presses used (1, or 2 after a retry).
    pub enters: u32,
    /// From the first capture to verified delivery, in milliseconds.
    pub millis: u64,
}

impl Outcome for Rung {
    fn text(&self) -> String {
        let how = match (self.delivered, self.queued, self.enters) {
            (true, true, _) => "queued behind its current turn",
            (true, false, _) => "submitted",
            (false, _, 0) => {
                "pasted, but the text never showed in its prompt box, so no Enter was sent: check the pane with intercomm_scan"
            }
            (false, _, _) => "typed, but not seen submitted: check the pane with intercomm_scan",
        };
        format!(
            "Woke {} ({}): {how} after {} Enter(s), {} ms.",
            self.id, self.pane, self.enters, self.millis
        )
    }
}

/// One line, no control characters, at most [`MAX_DOORBELL_CHARS`].
pub fn doorbell(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    let mut line = words.join(" ");
    if let Some((cut, _)) = line.char_indices().nth(MAX_DOORBELL_CHARS) {
        line.truncate(cut);
    }
    line
}

/// Why a pane cannot be typed into, or `None` if it can.
pub fn refusal(screen: &Screen) -> Option<String> {
    match screen.state {
        PaneState::Ready => match screen.input.as_deref() {
            Some("") | None => None,
            Some(_) => Some("the prompt box holds unsent text (someone is typing)".to_owned()),
        },
        PaneState::Running => None,
        PaneState::Exited => Some("Claude has exited: the pane shows a shell".to_owned()),
        PaneState::Unknown => Some("the pane does not show Claude's prompt".to_owned()),
        other => Some(format!("the pane shows a {} dialog", other.as_str())),
    }
}

/// Rings `target` with `text` (cleaned by [`doorbell`]). A refused pane is a
/// user error naming its state; nothing is typed then.
pub async fn ring(target: &Target, text: &str) -> Result<Rung> {
    let started = Instant::now();
    let text = doorbell(text);
    if text.is_empty() {
        return Err(Error::invalid(
            "message",
            "is empty after removing control characters",
        ));
    }
    let before = target.look().await?;
    if let Some(why) = refusal(&before) {
        return Err(Error::user(
            "wake_refused",
            format!(
                "not typing into {} ({}): {why}",
                target.id, target.pane.pane
            ),
        )
        .with_hint("intercomm_scan shows the pane; messages on the bus wait for it either way"));
    }
    let queued = before.state == PaneState::Running;
    let pane = &target.pane.pane;
    target.tmux.paste(pane, &text).await?;
    let pasted = Instant::now();
    let probe: String = text.chars().take(24).collect();
    let shown = wait_until(target, SHOW_TIMEOUT, |s| {
        s.input
            .as_deref()
            .is_some_and(|i| i.contains(probe.as_str()))
    })
    .await?;
    if !shown {
        // A blind Enter is exactly what loses prompts on older versions.
        return Ok(Rung {
            id: target.id.clone(),
            pane: pane.clone(),
            state_before: before.state,
            text,
            delivered: false,
            queued,
            enters: 0,
            millis: started.elapsed().as_millis() as u64,
        });
    }
    let pause = ENTER_GAP.saturating_sub(pasted.elapsed()).max(AFTER_SHOWN);
    tokio::time::sleep(pause).await;
    let mut enters = 0;
    let mut delivered = false;
    while enters < 2 && !delivered {
        if enters > 0 {
            // Retry only while the box visibly still holds the text: the
            // turn may already have put a dialog (a permission prompt whose
            // default is "Yes") where the box was.
            let now = target.look().await?;
            if submitted(&now, &probe) {
                delivered = true;
                break;
            }
            if !(now.state == PaneState::Ready
                && now
                    .input
                    .as_deref()
                    .is_some_and(|i| i.contains(probe.as_str())))
            {
                break;
            }
        }
        target.tmux.send_keys(pane, &["Enter"]).await?;
        enters += 1;
        // The first Enter gets a shorter look (a swallowed Enter shows at
        // once as a newline in the box); the retry gets the full timeout.
        let wait = if enters == 1 {
            FIRST_SUBMIT_TIMEOUT
        } else {
            SHOW_TIMEOUT
        };
        delivered = wait_until(target, wait, |s| submitted(s, &probe)).await?;
    }
    Ok(Rung {
        id: target.id.clone(),
        pane: pane.clone(),
        state_before: before.state,
        text,
        delivered,
        queued,
        enters,
        millis: started.elapsed().as_millis() as u64,
    })
}

/// The prompt left the box: it is empty (or no longer holds the text), or
/// Claude went busy.
fn submitted(screen: &Screen, probe: &str) -> bool {
    match screen.state {
        PaneState::Running => screen.input.as_deref().is_none_or(|i| !i.contains(probe)),
        PaneState::Ready => screen.input.as_deref().is_some_and(|i| !i.contains(probe)),
        // The box gave way to a dialog of the turn the prompt started.
        s if s.is_dialog() => true,
        _ => false,
    }
}

/// Re-captures until `done` holds (true) or `timeout` passes (false).
async fn wait_until(
    target: &Target,
    timeout: Duration,
    done: impl Fn(&Screen) -> bool,
) -> Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        if done(&target.look().await?) {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(POLL.min(Duration::from_millis(15))).await;
    }
}

/// Rings `id` if it has a live pane, never failing: `(delivered, note)`.
pub async fn try_ring(ctx: &Mutex<Ctx>, id: &str, text: &str) -> (bool, String) {
    let rung = match resolve(ctx, "worker", id).await {
        Ok(target) => ring(&target, text).await,
        Err(e) => Err(e),
    };
    match rung {
        Ok(r) if r.delivered && r.queued => (
            true,
            format!("woke it ({}; queued behind its current turn)", r.pane),
        ),
        Ok(r) if r.delivered => (true, format!("woke it ({})", r.pane)),
        Ok(r) => (
            false,
            format!("typed into {} but could not see it submitted", r.pane),
        ),
        Err(e) => (false, format!("not woken: {}", e.message)),
    }
}

/// `intercomm_wake`: rings a worker's pane with the master's short text.
pub async fn wake(ctx: &Mutex<Ctx>, worker: &str, message: &str) -> Result<Rung> {
    master(ctx)?;
    let target = resolve(ctx, "worker", worker).await?;
    ring(&target, &format!("[intercomm] {message}")).await
}

/// `intercomm_assign`: stores the contract, then rings the worker.
pub async fn assign(ctx: &Mutex<Ctx>, req: AssignRequest) -> Result<Assigned> {
    let wake = req.wake;
    let mut assigned = with_ctx(ctx, |c| crate::ops::assign::assign(c, req))?;
    if wake && assigned.note.is_empty() {
        let (woke, note) = try_ring(
            ctx,
            &assigned.worker,
            "[intercomm] New task from the master: call intercomm_read and follow the task contract.",
        )
        .await;
        assigned.woke = woke;
        assigned.note = note;
    }
    Ok(assigned)
}

/// `intercomm_escalate`: stores the question, then rings the master's pane
/// with a fixed text. The worker's words are never typed (S2).
pub async fn escalate(
    ctx: &Mutex<Ctx>,
    text: &str,
    kind: EscalationKind,
    needs_user: bool,
) -> Result<Escalated> {
    let mut esc = with_ctx(ctx, |c| {
        crate::ops::messaging::escalate(c, text, kind, needs_user)
    })?;
    if esc.master_alive && esc.master_pane.is_some() {
        let flag = if needs_user { ", needs the user" } else { "" };
        let bell = format!(
            "[intercomm] Escalation from {} ({}{flag}): call intercomm_read, answer with intercomm_send, then intercomm_wake it.",
            esc.from, esc.kind_word
        );
        let (woke, note) = try_ring(ctx, MASTER_ID, &bell).await;
        esc.woke = woke;
        esc.reason = (!woke).then_some(note);
    }
    Ok(esc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doorbells_are_one_clean_line() {
        assert_eq!(doorbell("a\nb\r\n\x1b[31mc\x07"), "a b [31mc");
        assert_eq!(doorbell("-rf"), "-rf");
        assert_eq!(
            doorbell(&"é".repeat(400)).chars().count(),
            MAX_DOORBELL_CHARS
        );
    }
}
