//! Answering Claude Code's dialogs: pick the option by its label, move the
//! cursor onto it with arrow keys, check it on screen, wait for the dialog
//! to be settled, confirm with Enter, and count it answered only once the
//! dialog has gone.
//!
//! Sources of the key behaviour (../shared/guides/real-claude-code.md,
//! "Dialog keys differ by version", and `scripts/capture-screens --scenarios
//! redraw`): digits differ by version (2.1.197 selects *and* confirms,
//! 2.1.330 ignores them), arrows and Enter work on every version, and
//! defaults differ per dialog (bypass defaults to "No, exit"; 2.1.330's trust
//! to "No, exit" too). 2.1.330 draws each unnumbered start-up dialog twice:
//! 0.1–0.3 s after it first shows (measured 97–290 ms over 24 dialogs, one
//! and four concurrent boots) it is redrawn, byte for byte the same text,
//! with the cursor back on its default, and keys sent before that are lost
//! (an Enter then leaves the dialog up). 2.1.197 never did (its cursor,
//! moved off the default, stayed 1.5 s every time). 2.1.330 also ignores an
//! Enter that comes right after a tool permission prompt shows (ignored up
//! to 129 ms after first sight, always acted on from 155 ms, 20 trials);
//! 2.1.197 acted on one 5 ms after.
//!
//! 2.0.77 launched by spawn (two workers at once, e2e) lost the Enter sent
//! to its numbered trust dialog 10–16 ms after first sight, with the cursor
//! on "Yes, proceed", its default: the dialog stayed, unchanged, until an
//! Enter sent ~0.9 s after first sight closed it. Run alone
//! (`scripts/capture-screens --scenarios startup_enter`) it acted on every
//! Enter, even one sent at first sight. A lost Enter on the default cannot
//! show on screen, so it is only told by the dialog staying: every version
//! closed its trust dialog 21–50 ms (2.0.77, 17 trials) and 21–79 ms
//! (2.1.197, 7 trials) after an Enter it acted on.
//!
//! So [`Answering`] is a pure state machine fed with captures:
//! - arrows are computed from the cursor on screen, and sent again only when
//!   the screen shows them undone (the cursor back on the default after it
//!   had reached the option) or, after [`ARROW_RETRY`], not acted on; they
//!   cannot answer a dialog, so a late one only moves the cursor, which is
//!   checked again before anything is confirmed;
//! - Enter is sent once the cursor has been seen on the option in two
//!   captures running and the dialog is settled: a permission prompt
//!   [`PROMPT_SETTLE`] after it first showed; a numbered start-up dialog at
//!   once (never redrawn); an unnumbered one with its redraw seen, or
//!   [`REDRAW_SETTLE`] after it first showed (the only guard when the option
//!   is the dialog's default, whose redraw shows no change);
//! - the dialog is answered when it has gone (another state, or two captures
//!   without it), never after some time; Enter is sent again only while the
//!   same dialog still shows with the cursor on the option: once it proved
//!   it lost the first one (the cursor back on its default in between), or,
//!   once per dialog, [`ENTER_RETRY`] after the last Enter, far longer than
//!   any measured close. Once only: a Claude stalled that long still has the
//!   first Enter queued, and every extra one would answer whatever comes
//!   next with its default.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{POLL, Target};
use crate::error::{Error, Result};
use crate::screen::{AUTO_CHECK_TITLE, MenuOption, PLAN_TOOL, PaneState, Screen};

/// How long an unnumbered dialog whose redraw was not seen must have been
/// on screen before Enter (the redraw came at most 290 ms after first sight
/// in the measurements; see the module doc).
pub const REDRAW_SETTLE: Duration = Duration::from_secs(1);
/// How long a tool permission prompt must have been on screen before Enter
/// (2.1.330 ignored one up to 129 ms after first sight; see the module doc).
pub const PROMPT_SETTLE: Duration = Duration::from_millis(300);
/// An Enter whose dialog still shows, unchanged with the cursor on the
/// option, this long after it was sent is taken as lost and sent again, once
/// (2.0.77 lost one sent 10–16 ms after first sight and acted on one sent
/// ~1 s after; dialogs closed 21–79 ms after an Enter they acted on; see the
/// module doc).
pub const ENTER_RETRY: Duration = Duration::from_secs(2);
/// Arrows whose effect has not shown after this long are sent again,
/// recomputed from the cursor on screen (a redraw can undo them between two
/// captures).
pub const ARROW_RETRY: Duration = Duration::from_millis(500);
/// How often [`answer`] re-captures right after pressing a key.
const KEY_POLL: Duration = Duration::from_millis(10);

/// What the master answers to a dialog (`intercomm_approve`'s `choice`):
/// `yes` allows once (or trusts, uses, accepts), `always` allows and stops
/// asking (where the dialog offers it), `no` refuses.
// No variant docs: they would make schemars emit `oneOf` (see MessageType).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Choice {
    #[default]
    Yes,
    Always,
    No,
}

/// The option of `screen` that answers `choice`, by label. Labels differ by
/// Claude Code version (see the captured screens in tests/fixtures/screens):
///
/// | dialog       | yes                        | always                                      | no                               |
/// |--------------|----------------------------|---------------------------------------------|----------------------------------|
/// | trust        | Yes, I trust… / Yes, proceed | (as yes)                                  | No, exit                         |
/// | mcp_approval | Use this MCP server        | Use this and all future…                    | Continue without…                |
/// | bypass       | Yes, I accept              | (as yes)                                    | No, exit                         |
/// | api_key      | Yes                        | (as yes)                                    | No…                              |
/// | blocked      | Yes                        | Yes, and don't ask again… / Yes, allow all… | No… / Type here to tell Claude… |
///
/// "Yes, and switch to auto mode" (2.1.330) is never chosen: it would change
/// the worker's permission mode for everything that follows.
///
/// Blocked on a mode dialog (captured on 2.1.197 and 2.1.332):
///
/// | dialog                 | yes                                     | always | no                                      |
/// |------------------------|-----------------------------------------|--------|-----------------------------------------|
/// | plan approval          | Yes, manually approve edits / Yes, and switch to default (ask each time) | — | Tell Claude what to change (No, keep planning) / No |
/// | auto mode's offer      | Stay in auto mode (Enter: continue, asking for each action) | — | Cancel (Esc: the waiting action does not run) |
///
/// Plan approval's "Yes, and use auto mode" and the offer's "Leave for
/// accept edits mode" are never chosen: each loosens what the worker may do
/// unasked.
pub fn option_for(screen: &Screen, choice: Choice) -> Option<&MenuOption> {
    let find = |pred: &dyn Fn(&str) -> bool| screen.options.iter().find(|o| pred(&o.label));
    let starts = |prefix: &'static str| move |l: &str| l.starts_with(prefix);
    let more = |l: &str| l.starts_with("Yes, and") || l.starts_with("Yes, allow");
    let looser = |l: &str| {
        ["auto mode", "auto-accept", "bypass"]
            .iter()
            .any(|w| l.contains(w))
    };
    if screen.state == PaneState::Blocked && screen.tool.as_deref() == Some(PLAN_TOOL) {
        return match choice {
            Choice::Yes => find(&|l| l.starts_with("Yes") && !looser(l)),
            Choice::Always => None,
            Choice::No => {
                find(&|l| l.starts_with("No") || l.starts_with("Tell Claude what to change"))
            }
        };
    }
    if screen.state == PaneState::Blocked && screen.title.as_deref() == Some(AUTO_CHECK_TITLE) {
        return match choice {
            Choice::Yes => find(&starts("Stay in auto mode")),
            Choice::Always => None,
            Choice::No => find(&starts("Cancel")),
        };
    }
    match (screen.state, choice) {
        (PaneState::McpApproval, Choice::Yes) => {
            find(&|l| l.starts_with("Use this") && !l.contains("all future"))
        }
        (PaneState::McpApproval, Choice::Always) => find(&|l| l.contains("all future")),
        (PaneState::McpApproval, Choice::No) => find(&starts("Continue without")),
        (PaneState::Blocked, Choice::Yes) => find(&|l| l.starts_with("Yes") && !more(l)),
        (PaneState::Blocked, Choice::Always) => find(&|l| more(l) && !l.contains("auto mode")),
        (PaneState::Blocked, Choice::No) => {
            find(&|l| l.starts_with("No") || l.contains("tell Claude what to do differently"))
        }
        (PaneState::Bypass, Choice::Yes | Choice::Always) => find(&starts("Yes, I accept")),
        (PaneState::Trust | PaneState::ApiKey, Choice::Yes | Choice::Always) => {
            find(&starts("Yes"))
        }
        (PaneState::Trust | PaneState::Bypass | PaneState::ApiKey, Choice::No) => {
            find(&starts("No"))
        }
        _ => None,
    }
}

/// What identifies one dialog across captures: its kind, heading and
/// option labels, not where the cursor is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialogKey {
    pub state: PaneState,
    pub title: Option<String>,
    pub labels: Vec<String>,
}

impl DialogKey {
    /// The key of the dialog `screen` shows.
    pub fn of(screen: &Screen) -> Self {
        Self {
            state: screen.state,
            title: screen.title.clone(),
            labels: screen.options.iter().map(|o| o.label.clone()).collect(),
        }
    }

    /// `screen` shows this dialog (wherever its cursor is).
    pub fn shows(&self, screen: &Screen) -> bool {
        screen.state == self.state
            && screen.title == self.title
            && screen.options.len() == self.labels.len()
            && screen
                .options
                .iter()
                .zip(&self.labels)
                .all(|(o, l)| o.label == *l)
    }
}

/// What [`Answering::step`] wants done next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Capture again and call `step` with it.
    Look,
    /// Send these keys to the pane (arrows, or `Enter`), then look again.
    Press(Vec<&'static str>),
    /// The dialog went after our Enter: answered.
    Answered,
    /// The dialog went before anything was confirmed (someone else answered
    /// it, or Claude moved on): nothing more to do here.
    Gone,
}

/// Answering one dialog, one capture at a time (see the module doc). Pure:
/// it reads screens and the time it is given, and says which keys to send.
#[derive(Debug, Clone)]
pub struct Answering {
    key: DialogKey,
    /// Index of the option to choose.
    option: usize,
    /// The key that picks the option, for a dialog without a cursor menu
    /// (auto mode's offer): pressed alone, no arrows.
    option_key: Option<&'static str>,
    /// Index of the option selected when the dialog was first seen.
    default: Option<usize>,
    numbered: bool,
    first_seen: Instant,
    /// When arrows were last sent whose effect has not shown yet.
    arrows_at: Option<Instant>,
    /// Captures in a row with the cursor on the option.
    on_option: u32,
    /// Captures in a row without the dialog.
    away: u32,
    /// Enter was sent and not proved lost.
    confirmed: bool,
    /// When the last Enter was sent.
    entered_at: Option<Instant>,
    /// The one Enter sent again after [`ENTER_RETRY`] was used.
    retried: bool,
    /// Times the dialog was seen redrawn with the cursor reset.
    redraws: u32,
    /// Enter presses sent.
    enters: u32,
}

impl Answering {
    /// Starts answering the dialog `screen` shows with `option` (one of its
    /// options), first seen at `now`.
    pub fn new(screen: &Screen, option: &MenuOption, now: Instant) -> Self {
        Self {
            key: DialogKey::of(screen),
            option: option.index,
            option_key: option.key,
            default: selected_index(screen),
            numbered: option.number.is_some(),
            first_seen: now,
            arrows_at: None,
            on_option: 0,
            away: 0,
            confirmed: false,
            entered_at: None,
            retried: false,
            redraws: 0,
            enters: 0,
        }
    }

    /// The dialog being answered.
    pub fn key(&self) -> &DialogKey {
        &self.key
    }

    /// Times the dialog was seen redrawn with its cursor reset.
    pub fn redraws(&self) -> u32 {
        self.redraws
    }

    /// Enter presses sent so far (more than one only after a proved loss, or
    /// with the dialog still up [`ENTER_RETRY`] after the last one).
    pub fn enters(&self) -> u32 {
        self.enters
    }

    /// The next step, given the capture `screen` taken at `now`.
    ///
    /// Errors: `dialog_unreadable` when the dialog shows no cursor (nothing
    /// is pressed then).
    pub fn step(&mut self, screen: &Screen, now: Instant) -> Result<Step> {
        if !self.key.shows(screen) {
            self.away += 1;
            // One odd frame (a half-drawn screen) is not the dialog going.
            if self.away >= 2 || screen.state != PaneState::Unknown {
                return Ok(if self.confirmed {
                    Step::Answered
                } else {
                    Step::Gone
                });
            }
            return Ok(Step::Look);
        }
        self.away = 0;
        if let Some(key) = self.option_key {
            // No cursor to move: the option's own key, once the dialog has
            // been seen twice and settled like a permission prompt; again
            // once after ENTER_RETRY if the dialog stays.
            self.on_option += 1;
            let shown = now.saturating_duration_since(self.first_seen);
            let lost = !self.retried
                && self
                    .entered_at
                    .is_some_and(|at| now.saturating_duration_since(at) >= ENTER_RETRY);
            if (!self.confirmed || lost) && shown >= PROMPT_SETTLE && self.on_option >= 2 {
                self.retried |= self.confirmed;
                self.confirmed = true;
                self.entered_at = Some(now);
                self.enters += 1;
                return Ok(Step::Press(vec![key]));
            }
            return Ok(Step::Look);
        }
        let Some(selected) = selected_index(screen) else {
            return Err(Error::user(
                "dialog_unreadable",
                "the dialog shows no selected option; nothing was pressed",
            ));
        };
        if selected == self.option {
            self.on_option += 1;
            self.arrows_at = None;
            let shown = now.saturating_duration_since(self.first_seen);
            let settled = match (self.key.state, self.numbered) {
                (PaneState::Blocked, _) => shown >= PROMPT_SETTLE,
                (_, true) => true,
                (_, false) => self.redraws > 0 || shown >= REDRAW_SETTLE,
            };
            let lost = !self.retried
                && self
                    .entered_at
                    .is_some_and(|at| now.saturating_duration_since(at) >= ENTER_RETRY);
            if (!self.confirmed || lost) && settled && self.on_option >= 2 {
                self.retried |= self.confirmed;
                self.confirmed = true;
                self.entered_at = Some(now);
                self.enters += 1;
                return Ok(Step::Press(vec!["Enter"]));
            }
            return Ok(Step::Look);
        }
        if self.on_option > 0 && Some(selected) == self.default {
            // Back on the default after it had reached the option, with
            // nothing sent since: the dialog was drawn anew, and an Enter
            // sent to it was lost (it would have closed the dialog).
            self.redraws += 1;
            self.confirmed = false;
            self.arrows_at = None;
        }
        self.on_option = 0;
        if self.confirmed {
            return Ok(Step::Look);
        }
        if self
            .arrows_at
            .is_some_and(|at| now.saturating_duration_since(at) < ARROW_RETRY)
        {
            return Ok(Step::Look);
        }
        self.arrows_at = Some(now);
        let (key, steps) = if self.option > selected {
            ("Down", self.option - selected)
        } else {
            ("Up", selected - self.option)
        };
        Ok(Step::Press(vec![key; steps]))
    }
}

/// How [`answer`] ended.
#[derive(Debug, Clone)]
pub struct Answered {
    /// The last screen seen: what replaced the dialog, or the dialog itself.
    pub screen: Screen,
    /// The dialog went after our Enter.
    pub answered: bool,
    /// Redraws seen (2.1.330 start-up dialogs: one).
    pub redraws: u32,
}

/// Answers the dialog `screen` shows with `option` on `target`'s pane,
/// waiting at most `timeout` for it to go.
pub async fn answer(
    target: &Target,
    screen: &Screen,
    option: &MenuOption,
    timeout: Duration,
) -> Result<Answered> {
    let deadline = Instant::now() + timeout;
    let mut answering = Answering::new(screen, option, Instant::now());
    let mut now = screen.clone();
    loop {
        let pause = match answering.step(&now, Instant::now())? {
            Step::Press(keys) => {
                target.tmux.send_keys(&target.pane.pane, &keys).await?;
                KEY_POLL
            }
            step @ (Step::Answered | Step::Gone) => {
                return Ok(Answered {
                    screen: now,
                    answered: step == Step::Answered,
                    redraws: answering.redraws(),
                });
            }
            Step::Look => POLL,
        };
        if Instant::now() >= deadline {
            return Ok(Answered {
                screen: now,
                answered: false,
                redraws: answering.redraws(),
            });
        }
        tokio::time::sleep(pause).await;
        now = target.look().await?;
    }
}

fn selected_index(screen: &Screen) -> Option<usize> {
    screen.options.iter().find(|o| o.selected).map(|o| o.index)
}

#[cfg(test)]
mod tests;
