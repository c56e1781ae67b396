//! What a Claude Code pane is showing, read from its text (`tmux
//! capture-pane -p`): a start-up dialog, a tool permission prompt, the idle
//! or busy prompt box, or a shell after Claude Code exited.
//!
//! ```text
//!  ╭─── Claude Code v2.1.197 ───╮     chat / transcript: never classified
//!  ❯ RUNBASH now                      (it may say "Do you want to proceed?")
//!  ✢ Pondering…                       spinner line: busy, even when the
//!  ─────────────────────────────      footer is hidden by typed text
//!  ❯ typed text                       prompt box between the last two rules
//!  ─────────────────────────────      → ready / running, `input`
//!    ? for shortcuts                  footer: idle, mode, "esc to interrupt"
//!
//!  ─────────────────────────────      or: a dialog under the last rule
//!   Bash command                      (1.0.128 dialogs, 2.0.77 bypass and
//!   …                                  API key: in a ╭─╮ box; onboarding:
//!                                      no rule, the whole screen)
//!   ❯ 1. Yes                          → trust / mcp_approval / api_key /
//!     2. Yes, and …                     bypass / onboarding / blocked,
//!     3. No                             `options`, `title`, `tool`, `detail`
//! ```
//!
//! Invariant: only the bottom structure (the last prompt box, dialog region
//! or box) and the few lines just above a prompt box (the spinner) are read,
//! so a transcript quoting dialog words cannot change the state. (One
//! exception: a bottom box that holds no dialog, like 1.0.128's theme
//! preview, is read together with the lines above it up to the last rule.)
//! [`classify`] is pure and total: any text, even empty or binary garbage,
//! yields a [`Screen`] (at worst [`PaneState::Unknown`]).
//!
//! Source of the screen facts: real captures of Claude Code 1.0.128, 2.0.77,
//! 2.1.197 and 2.1.330 at 80x24, 120x40 and 200x50, and of 2.1.197 and
//! 2.1.332's plan approval, auto mode offer and overflowing input box at
//! 80x24 and 200x50, made by
//! `scripts/capture-screens` against a local stand-in model and kept as
//! golden fixtures in `tests/fixtures/screens/<state>/`; and
//! `shared/guides/real-claude-code.md`.

mod dialog;
mod layout;
mod menu;
mod mode;
mod prompt;

pub use menu::parse_options;
pub use mode::{AUTO_CHECK_TITLE, PLAN_TOOL};

/// The state of a Claude Code pane. Serialized in snake_case
/// (`"mcp_approval"`), the same text as [`PaneState::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaneState {
    /// Folder trust question: "Quick safety check: Is this a project you
    /// created or one you trust?" (2.1.x) or "Do you trust the files in this
    /// folder?" (≤ 2.0.77).
    Trust,
    /// "New MCP server found in this project: <name>" (or "servers").
    McpApproval,
    /// "Detected a custom API key in your environment"; default is "No".
    ApiKey,
    /// "WARNING: Claude Code running in Bypass Permissions mode"; default is
    /// "No, exit", so a blind Enter kills the instance.
    Bypass,
    /// First-run screens: text style, "Security notes:", "Press Enter to
    /// continue…".
    Onboarding,
    /// A tool permission prompt ("Bash command", "Tool use", "Create file",
    /// "Edit file", … then "Do you want to …?" and Yes / Yes, and … / No);
    /// the plan-mode exit approval (tool [`PLAN_TOOL`]); auto mode's
    /// "can't check actions" offer (title [`AUTO_CHECK_TITLE`], 2.1.330+).
    Blocked,
    /// The prompt box, idle: Claude Code waits for input.
    Ready,
    /// The prompt box while Claude Code works ("esc to interrupt" or a
    /// spinner line such as "✢ Pondering…").
    Running,
    /// No Claude Code UI at the bottom: a shell prompt, or the
    /// "Resume this session with:" farewell.
    Exited,
    /// Anything else: an empty or booting pane, an unrecognised dialog.
    Unknown,
    /// Never classified from a screen: a permission request waits on the
    /// bus for the master's decision (the worker's PermissionRequest hook;
    /// the dialog drawn meanwhile is answered through the hook, not keys).
    Waiting,
}

impl PaneState {
    /// The snake_case name: "trust", "mcp_approval", "api_key", "bypass",
    /// "onboarding", "blocked", "ready", "running", "exited", "unknown",
    /// "waiting".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trust => "trust",
            Self::McpApproval => "mcp_approval",
            Self::ApiKey => "api_key",
            Self::Bypass => "bypass",
            Self::Onboarding => "onboarding",
            Self::Blocked => "blocked",
            Self::Ready => "ready",
            Self::Running => "running",
            Self::Exited => "exited",
            Self::Unknown => "unknown",
            Self::Waiting => "waiting",
        }
    }

    /// A dialog waits for an answer: trust, mcp_approval, api_key, bypass,
    /// onboarding or blocked.
    pub fn is_dialog(self) -> bool {
        match self {
            Self::Trust
            | Self::McpApproval
            | Self::ApiKey
            | Self::Bypass
            | Self::Onboarding
            | Self::Blocked => true,
            Self::Ready | Self::Running | Self::Exited | Self::Unknown | Self::Waiting => false,
        }
    }

    /// Claude Code is up and past its start-up dialogs: ready or running.
    pub fn is_booted(self) -> bool {
        match self {
            Self::Ready | Self::Running => true,
            Self::Trust
            | Self::McpApproval
            | Self::ApiKey
            | Self::Bypass
            | Self::Onboarding
            | Self::Blocked
            | Self::Exited
            | Self::Unknown
            | Self::Waiting => false,
        }
    }
}

impl std::fmt::Display for PaneState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of a dialog's menu.
///
/// Shape: `{"index": 1, "number": 1, "label": "Yes", "selected": true}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MenuOption {
    /// 1-based position in the menu, top to bottom.
    pub index: usize,
    /// The digit printed before the label ("1." → 1); `None` for the
    /// unnumbered start-up menus of 2.1.330.
    pub number: Option<u32>,
    /// The label as printed, wrapped lines joined with one space, without
    /// the cursor and the "✔" current-choice mark: "Yes, I trust this
    /// folder", "Use this MCP server", "Yes, and don't ask again for …".
    pub label: String,
    /// The line carries the `❯` cursor; for a dialog without a cursor menu,
    /// the option Enter picks.
    pub selected: bool,
    /// The key that picks this option when the dialog has no cursor menu
    /// and names its keys in its hint instead (auto mode's offer, 2.1.330+:
    /// "Enter to stay in auto mode · shift+Tab to leave … · Esc to
    /// cancel"): a tmux key name, "Enter", "BTab" or "Escape". `None` (and
    /// not serialized) for menu options, chosen with the arrows and Enter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<&'static str>,
}

/// What [`classify`] read from a pane.
///
/// Shape (JSON): `{"state": "blocked", "options": [MenuOption…],
/// "title": "Bash command", "tool": "Bash", "detail": "echo hi > /tmp/x",
/// "input": null}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Screen {
    /// The pane's state.
    pub state: PaneState,
    /// The dialog's menu (empty when none).
    pub options: Vec<MenuOption>,
    /// Dialog heading: "Bash command", "Accessing workspace:",
    /// "New MCP server found in this project: probe", "Security notes:".
    pub title: Option<String>,
    /// Blocked only: "Bash", "Write", "Edit", "Read", the MCP tool as
    /// printed: "probe - echo" (≤ 2.1.197), "probe — Echo Tool" (2.1.330),
    /// or "ExitPlanMode" (plan approval); `None` for auto mode's offer.
    pub tool: Option<String>,
    /// Blocked only: the command text (Bash), the arguments (MCP and other
    /// `name(args)` tools), the file path (Write, Edit), the plan (plan
    /// approval: the plan's text when on screen, else its file), or why
    /// auto mode cannot check (its offer's first paragraph).
    pub detail: Option<String>,
    /// Ready / running: the text in the prompt box ("" when empty; wrapped
    /// or multi-line input joined with `\n`); `None` when no prompt box is
    /// visible.
    pub input: Option<String>,
}

impl Screen {
    /// A screen in `state` with nothing else read.
    pub fn bare(state: PaneState) -> Self {
        Self {
            state,
            options: Vec::new(),
            title: None,
            tool: None,
            detail: None,
            input: None,
        }
    }

    /// The selected menu option, if any.
    pub fn selected(&self) -> Option<&MenuOption> {
        self.options.iter().find(|o| o.selected)
    }

    /// The first option whose label starts with `prefix` (case-sensitive),
    /// e.g. `"Yes, I trust"`, `"Use this MCP server"`, `"No"`.
    pub fn option_starting_with(&self, prefix: &str) -> Option<&MenuOption> {
        self.options.iter().find(|o| o.label.starts_with(prefix))
    }
}

/// Classify a pane's text (`tmux capture-pane -p`, ANSI escapes tolerated).
///
/// Order: a shell at the bottom (or the resume hint) → exited; then the
/// bottom structure: a prompt box → ready/running; a dialog region (under
/// the last full-width `─` rule, inside a bottom `╭─╮` box, or the whole
/// screen when it has neither) → its dialog state; a bottom box that holds
/// no dialog is read together with what is above it, up to the last rule;
/// else unknown.
pub fn classify(text: &str) -> Screen {
    let lines = layout::normalize(text);
    if lines.iter().all(|l| l.trim().is_empty()) {
        return Screen::bare(PaneState::Unknown);
    }
    if prompt::is_exited(&lines) {
        return Screen::bare(PaneState::Exited);
    }
    match layout::bottom(&lines) {
        layout::Bottom::Prompt {
            above,
            input,
            footer,
        } => prompt::classify_prompt(above, input, footer),
        layout::Bottom::Region(region) => {
            let mut screen = dialog::classify_region(&region);
            if screen.tool.as_deref() == Some(PLAN_TOOL) {
                // The plan itself is drawn above the dialog's last rule.
                if let Some(plan) = mode::plan_text(layout::above_last_rule(&lines)) {
                    screen.detail = Some(plan);
                }
            }
            if screen.state != PaneState::Unknown || !screen.options.is_empty() {
                return screen;
            }
            // A box at the bottom that is no dialog (1.0.128's theme preview
            // under the onboarding menu): read past it.
            let wide = layout::wide_region(&lines);
            if wide == region {
                return screen;
            }
            dialog::classify_region(&wide)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde() -> Result<(), serde_json::Error> {
        for state in [
            PaneState::Trust,
            PaneState::McpApproval,
            PaneState::ApiKey,
            PaneState::Bypass,
            PaneState::Onboarding,
            PaneState::Blocked,
            PaneState::Ready,
            PaneState::Running,
            PaneState::Exited,
            PaneState::Unknown,
        ] {
            let json = serde_json::to_string(&state)?;
            assert_eq!(json, format!("\"{}\"", state.as_str()));
            let back: PaneState = serde_json::from_str(&json)?;
            assert_eq!(back, state);
            assert!(!(state.is_dialog() && state.is_booted()));
        }
        assert!(PaneState::Blocked.is_dialog());
        assert!(PaneState::Running.is_booted());
        assert!(!PaneState::Exited.is_booted());
        Ok(())
    }

    #[test]
    fn empty_and_blank_are_unknown() {
        assert_eq!(classify("").state, PaneState::Unknown);
        assert_eq!(classify("\n\n   \n").state, PaneState::Unknown);
    }

    #[test]
    fn garbage_never_panics() {
        let samples = [
            "\u{1b}[",
            "❯",
            "─",
            "│",
            "╭",
            "╭────────────────────╮\n│ > x",
            "────────────────────\n❯",
            "────────────────────\n❯\n────────────────────",
            " ❯ 1.",
            " ❯ 99999999999999999999. x",
            "Do you want to proceed?\n❯",
            "\r\r\r",
            "\u{0}\u{1}\u{7f}",
        ];
        for s in samples {
            let _ = classify(s);
        }
    }
}
