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
//! 3,220 trials each checked in the stand-in model's request log. With the
//! wait-until-shown step, what decides is the time since the text showed,
//! not since the paste: all 12 failures (2.0.77) had their Enter within
//! 0.1 ms of the text showing, and none of the 2,157 trials whose Enter
//! came 1 ms or more after it failed, whatever the gap since the paste
//! (414 of them under 20 ms, 555 from 20 to 59 ms, 301 of those on 2.0.77).
//! So [`AFTER_SHOWN`] (20 ms, twenty times that window) is the guard, and
//! [`ENTER_GAP`] a floor kept above every gap measured without a failure
//! (10 ms) rather than the 60 ms first chosen; the retry recovered every
//! swallowed Enter. No version detection is needed. Showing and emptying
//! took up to ~0.7 s under load, hence [`SHOW_TIMEOUT`].

use std::time::{Duration, Instant};

use serde::Serialize;

use std::sync::Mutex;

use super::hook_wake::HookRing;
use super::{Target, master, resolve, with_ctx};
use crate::error::{Error, Result};
use crate::names::MASTER_ID;
use crate::ops::assign::{AssignRequest, Assigned};
use crate::ops::messaging::{Escalated, EscalationKind};
use crate::ops::{Ctx, Outcome};
use crate::screen::{PaneState, Screen};

/// Least pause between the paste and Enter (see the module doc: the pause
/// after the text shows is the one that matters).
pub const ENTER_GAP: Duration = Duration::from_millis(30);
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
    /// `keys` (typed into the pane) or `hook` (the instance's armed wake
    /// hook rang it; nothing typed).
    pub via: &'static str,
    /// For `via: hook`: what the hook side showed.
    pub note: Option<String>,
}

impl Outcome for Rung {
    fn text(&self) -> String {
        if let Some(note) = &self.note {
            return format!("Woke {}: {note}.", self.id);
        }
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

/// One line, at most [`MAX_DOORBELL_CHARS`], with no control, bidi or
/// zero-width characters ([`crate::render::is_hidden`]): each becomes a
/// space, so a peer's text can neither move the cursor nor reorder or hide
/// what the woken model and the operator see.
pub fn doorbell(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if crate::render::is_hidden(c) { ' ' } else { c })
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

/// What [`Ringing::step`] wants done next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RingStep {
    /// Capture again (soon) and call `step` with it.
    Look,
    /// Nothing to do before this instant; then capture and call `step`.
    LookAt(Instant),
    /// Paste this text (bracketed), then look again.
    Paste(String),
    /// Send Enter, then look again.
    Enter,
    /// Finished: see [`Ringing::delivered`].
    Done,
    /// The pane cannot be typed into (nothing was typed): why.
    Refused(String),
}

/// One wake, as a pure state machine fed with captures (see the module doc
/// for the steps and their pauses).
#[derive(Debug, Clone)]
pub struct Ringing {
    text: String,
    /// The start of the text, looked for in the prompt box.
    probe: String,
    state_before: Option<PaneState>,
    pasted_at: Option<Instant>,
    shown_at: Option<Instant>,
    entered_at: Option<Instant>,
    enters: u32,
    delivered: bool,
}

impl Ringing {
    /// A wake typing `text` (already cleaned by [`doorbell`]).
    pub fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            probe: text.chars().take(24).collect(),
            state_before: None,
            pasted_at: None,
            shown_at: None,
            entered_at: None,
            enters: 0,
            delivered: false,
        }
    }

    /// The screen showed the prompt submitted.
    pub fn delivered(&self) -> bool {
        self.delivered
    }

    /// Enter presses sent (1, or 2 after a retry; 0 if the text never showed).
    pub fn enters(&self) -> u32 {
        self.enters
    }

    /// The pane's state before anything was typed.
    pub fn state_before(&self) -> Option<PaneState> {
        self.state_before
    }

    /// When Enter is due: the text shows and Enter was not sent yet.
    pub fn enter_due(&self) -> Option<Instant> {
        match (self.pasted_at, self.shown_at, self.entered_at) {
            (Some(pasted), Some(shown), None) => {
                Some((pasted + ENTER_GAP).max(shown + AFTER_SHOWN))
            }
            _ => None,
        }
    }

    fn holds_text(&self, screen: &Screen) -> bool {
        screen
            .input
            .as_deref()
            .is_some_and(|i| i.contains(self.probe.as_str()))
    }

    /// The next step, given the capture `screen` taken at `now`.
    pub fn step(&mut self, screen: &Screen, now: Instant) -> RingStep {
        let Some(pasted) = self.pasted_at else {
            if let Some(why) = refusal(screen) {
                return RingStep::Refused(why);
            }
            self.state_before = Some(screen.state);
            self.pasted_at = Some(now);
            return RingStep::Paste(self.text.clone());
        };
        let Some(entered) = self.entered_at else {
            if self.shown_at.is_none() {
                if self.holds_text(screen) {
                    self.shown_at = Some(now);
                } else if now.saturating_duration_since(pasted) >= SHOW_TIMEOUT {
                    // A blind Enter is exactly what loses prompts on older versions.
                    return RingStep::Done;
                } else {
                    return RingStep::Look;
                }
            }
            return match self.enter_due() {
                Some(at) if now < at => RingStep::LookAt(at),
                _ => self.enter(now),
            };
        };
        if submitted(screen, &self.probe) {
            self.delivered = true;
            return RingStep::Done;
        }
        // The first Enter gets a shorter look (a swallowed Enter shows at
        // once as a newline in the box); the retry gets the full timeout.
        let wait = if self.enters == 1 {
            FIRST_SUBMIT_TIMEOUT
        } else {
            SHOW_TIMEOUT
        };
        if now.saturating_duration_since(entered) < wait {
            return RingStep::Look;
        }
        // Retry only while the box visibly still holds the text: the turn
        // may already have put a dialog (a permission prompt whose default
        // is "Yes") where the box was.
        if self.enters == 1 && screen.state == PaneState::Ready && self.holds_text(screen) {
            return self.enter(now);
        }
        RingStep::Done
    }

    fn enter(&mut self, now: Instant) -> RingStep {
        self.enters += 1;
        self.entered_at = Some(now);
        RingStep::Enter
    }

    /// The outcome, for `target`, `started` at the first capture.
    pub fn rung(&self, target: &Target, started: Instant) -> Rung {
        Rung {
            id: target.id.clone(),
            pane: target.pane.pane.clone(),
            state_before: self.state_before.unwrap_or(PaneState::Unknown),
            text: self.text.clone(),
            delivered: self.delivered,
            queued: self.state_before == Some(PaneState::Running),
            enters: self.enters,
            millis: started.elapsed().as_millis() as u64,
            via: "keys",
            note: None,
        }
    }
}

/// How often a wake re-captures while it waits for the screen.
pub const RING_POLL: Duration = Duration::from_millis(15);

/// Rings `target` with `text` (cleaned by [`doorbell`]). A refused pane is a
/// user error naming its state; nothing is typed then.
pub async fn ring(target: &Target, text: &str) -> Result<Rung> {
    if target.host != super::host::Host::Local {
        return super::host::ring_remote(target, text).await;
    }
    let started = Instant::now();
    let text = doorbell(text);
    if text.is_empty() {
        return Err(Error::invalid(
            "message",
            "is empty after removing control and invisible characters",
        ));
    }
    let pane = &target.pane.pane;
    let mut ringing = Ringing::new(&text);
    loop {
        let screen = target.look().await?;
        let pause = match ringing.step(&screen, Instant::now()) {
            RingStep::Refused(why) => {
                return Err(refused(target, &why));
            }
            RingStep::Paste(text) => {
                target.tmux.paste(pane, &text).await?;
                Duration::ZERO
            }
            RingStep::Enter => {
                target.tmux.send_keys(pane, &["Enter"]).await?;
                RING_POLL
            }
            RingStep::Done => return Ok(ringing.rung(target, started)),
            RingStep::Look => RING_POLL,
            RingStep::LookAt(at) => at.saturating_duration_since(Instant::now()),
        };
        tokio::time::sleep(pause).await;
    }
}

/// The error of a wake refused by what the pane shows.
pub fn refused(target: &Target, why: &str) -> Error {
    Error::user(
        "wake_refused",
        format!(
            "not typing into {} ({}): {why}",
            target.id, target.pane.pane
        ),
    )
    .with_hint("intercomm_scan shows the pane; messages on the bus wait for it either way")
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

/// Rings `id`, never failing: `(delivered, note)`. Through its armed wake
/// hook first ([`super::hook_wake`]: the mail on the bus rings it, no key
/// sent); else, or when the hook stays silent, the typed doorbell if it has
/// a live pane. The note says which path was used.
pub async fn try_ring(ctx: &Mutex<Ctx>, id: &str, text: &str) -> (bool, String) {
    let silent = match super::hook_wake::ring(ctx, id, None).await {
        // Fired but never verified: a Claude Code that runs the hook in the
        // background without waking on exit 2 (`async` without
        // `asyncRewake`) looks like this; the doorbell makes sure.
        Ok(Some(
            r @ (HookRing::Silent
            | HookRing::Fired {
                verified: false, ..
            }),
        )) => Some(r.note()),
        Ok(Some(r)) => return (true, r.note()),
        Ok(None) => None,
        Err(e) => Some(format!("its wake hook could not be used: {}", e.message)),
    };
    let (woke, note) = try_type(ctx, id, text).await;
    match silent {
        Some(why) => (woke, format!("{why}; typed: {note}")),
        None => (woke, note),
    }
}

/// The typed doorbell of [`try_ring`].
async fn try_type(ctx: &Mutex<Ctx>, id: &str, text: &str) -> (bool, String) {
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

/// `intercomm_wake`: rings a worker with the master's short text: through
/// its armed wake hook (no key sent; `via: hook`), else typed into its pane.
pub async fn wake(ctx: &Mutex<Ctx>, worker: &str, message: &str) -> Result<Rung> {
    master(ctx)?;
    crate::names::check_id("worker", worker)?;
    let text = doorbell(&format!("[intercomm] {message}"));
    let started = Instant::now();
    match super::hook_wake::ring(ctx, worker, Some(&text)).await? {
        Some(
            HookRing::Silent
            | HookRing::Fired {
                verified: false, ..
            },
        )
        | None => {}
        Some(r) => {
            return Ok(Rung {
                id: worker.to_owned(),
                pane: String::new(),
                state_before: match r {
                    HookRing::Busy(_) => PaneState::Running,
                    _ => PaneState::Ready,
                },
                delivered: true,
                queued: matches!(r, HookRing::Busy(_)),
                text,
                enters: 0,
                millis: started.elapsed().as_millis() as u64,
                via: "hook",
                note: Some(r.note()),
            });
        }
    }
    let target = resolve(ctx, "worker", worker).await?;
    ring(&target, &text).await
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
    if esc.master_alive {
        let flag = if needs_user { ", needs the user" } else { "" };
        let bell = format!(
            "[intercomm] Escalation from {} ({}{flag}): call intercomm_read, answer with intercomm_send, then intercomm_wake it.",
            esc.from, esc.kind_word
        );
        let (woke, note) = try_ring(ctx, MASTER_ID, &bell).await;
        esc.woke = woke;
        esc.reason = Some(note);
    }
    Ok(esc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::screen::classify;

    const TYPED: &str = "hello there, typed but not sent";

    /// A captured 2.1.197 screen at 200x50 (tests/fixtures/screens).
    fn screen(name: &str) -> Screen {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/screens")
            .join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        classify(text.split_once('\n').map_or("", |(_, body)| body))
    }

    fn ms(t0: Instant, n: u64) -> Instant {
        t0 + Duration::from_millis(n)
    }

    /// Paste; Enter only once the text shows and the pauses passed;
    /// delivered when Claude goes busy.
    #[test]
    fn a_wake_enters_once_the_text_shows_and_the_gap_passed() {
        let empty = screen("ready/2.1.197-200x50.txt");
        let typed = screen("ready/2.1.197-200x50-input.txt");
        assert_eq!(typed.input.as_deref(), Some(TYPED));
        let t0 = Instant::now();
        let mut r = Ringing::new(TYPED);
        assert_eq!(r.step(&empty, t0), RingStep::Paste(TYPED.to_owned()));
        assert_eq!(r.step(&empty, ms(t0, 5)), RingStep::Look);
        assert_eq!(r.step(&typed, ms(t0, 8)), RingStep::LookAt(ms(t0, 30)));
        assert_eq!(r.step(&typed, ms(t0, 30)), RingStep::Enter);
        assert_eq!(r.step(&typed, ms(t0, 40)), RingStep::Look);
        assert_eq!(
            r.step(&screen("running/2.1.197-200x50.txt"), ms(t0, 90)),
            RingStep::Done
        );
        assert!(r.delivered());
        assert_eq!(r.enters(), 1);
        assert_eq!(r.state_before(), Some(PaneState::Ready));
    }

    /// Text that shows late still waits [`AFTER_SHOWN`]; text that never
    /// shows gets no Enter at all.
    #[test]
    fn no_enter_before_the_text_shows() {
        let empty = screen("ready/2.1.197-200x50.txt");
        let typed = screen("ready/2.1.197-200x50-input.txt");
        let t0 = Instant::now();
        let mut late = Ringing::new(TYPED);
        late.step(&empty, t0);
        assert_eq!(
            late.step(&typed, ms(t0, 500)),
            RingStep::LookAt(ms(t0, 520))
        );
        let mut never = Ringing::new(TYPED);
        never.step(&empty, t0);
        assert_eq!(never.step(&empty, ms(t0, 1999)), RingStep::Look);
        assert_eq!(never.step(&empty, ms(t0, 2000)), RingStep::Done);
        assert!(!never.delivered());
        assert_eq!(never.enters(), 0);
    }

    /// A swallowed Enter (the text still in the box after
    /// [`FIRST_SUBMIT_TIMEOUT`]) gets one retry; a permission prompt in
    /// place of the box counts as submitted and gets none.
    #[test]
    fn one_retry_only_while_the_box_still_holds_the_text() {
        let empty = screen("ready/2.1.197-200x50.txt");
        let typed = screen("ready/2.1.197-200x50-input.txt");
        let t0 = Instant::now();
        let mut r = Ringing::new(TYPED);
        r.step(&empty, t0);
        r.step(&typed, ms(t0, 10));
        assert_eq!(r.step(&typed, ms(t0, 30)), RingStep::Enter);
        assert_eq!(r.step(&typed, ms(t0, 1029)), RingStep::Look);
        assert_eq!(r.step(&typed, ms(t0, 1030)), RingStep::Enter);
        assert_eq!(r.step(&typed, ms(t0, 3029)), RingStep::Look);
        assert_eq!(r.step(&typed, ms(t0, 3030)), RingStep::Done);
        assert_eq!((r.delivered(), r.enters()), (false, 2));

        let mut p = Ringing::new(TYPED);
        p.step(&empty, t0);
        p.step(&typed, ms(t0, 10));
        p.step(&typed, ms(t0, 30));
        assert_eq!(
            p.step(&screen("blocked/2.1.197-200x50-bash.txt"), ms(t0, 1500)),
            RingStep::Done
        );
        assert_eq!((p.delivered(), p.enters()), (true, 1));
    }

    /// Nothing is typed into a dialog, a shell or a box someone types in.
    #[test]
    fn refused_panes_get_nothing() {
        for name in [
            "blocked/2.1.197-200x50-bash.txt",
            "exited/2.1.197-200x50.txt",
            "ready/2.1.197-200x50-input.txt",
            "trust/2.1.330-200x50.txt",
        ] {
            let mut r = Ringing::new("[intercomm] x");
            assert!(
                matches!(r.step(&screen(name), Instant::now()), RingStep::Refused(_)),
                "{name}"
            );
        }
    }

    #[test]
    fn doorbells_are_one_clean_line() {
        assert_eq!(doorbell("a\nb\r\n\x1b[31mc\x07"), "a b [31mc");
        assert_eq!(doorbell("-rf"), "-rf");
        // Bidi overrides and isolates, zero-width characters, a BOM.
        assert_eq!(
            doorbell("pay \u{202E}cba\u{202C} now\u{200B}!\u{2066}x\u{2069}\u{FEFF}"),
            "pay cba now ! x"
        );
        assert_eq!(
            doorbell(&"é".repeat(400)).chars().count(),
            MAX_DOORBELL_CHARS
        );
    }
}
