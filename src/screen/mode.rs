//! Dialogs about the permission mode, both read as `blocked`: the plan-mode
//! exit approval and auto mode's "can't check actions" offer.
//!
//! ```text
//!  ▔▔▔▔▔▔▔ (2.1.332) / ──────── (2.1.197)    plan approval, every 2.1.x
//!   Ready to code?                           (above the last rule: the plan)
//!   ╌╌╌╌ Plan / 1. Write notes.txt ╌╌╌╌
//!  ────────────────────────────────
//!   Claude has written up a plan and is ready to execute. Would you like to
//!   proceed?
//!   ❯ 1. Yes, and use auto mode
//!     2. Yes, manually approve edits
//!     3. Tell Claude what to change          ("No, keep planning": an input
//!        shift+tab to approve with this feedback   line showing its placeholder)
//!   ctrl+g to edit in Vim · ~/.claude/plans/<name>.md
//!
//!   Exit plan mode?                          (no plan written: 2.1.332)
//!   Claude wants to exit plan mode
//!   ❯ 1. Yes, and switch to default (ask each time) for this session
//!     2. No
//!
//!  ────────────────────────────────          auto mode, 2.1.330+, when its
//!   Auto mode can't check actions in this session    server-side check is
//!   Auto mode's safety check runs on the server. …   not served (a gateway,
//!   …                                                a custom base URL)
//!   Enter to stay in auto mode · shift+Tab to leave for accept edits mode and
//!   stop · Esc to cancel                     (no cursor menu: keys in the hint)
//! ```
//!
//! Source: `scripts/capture-screens --scenarios plan_exit,auto_check` on
//! Claude Code 2.1.197 and 2.1.332 at 80x24 and 200x50 (fixtures in
//! tests/fixtures/screens/blocked/*-plan.txt, *-auto.txt); 2.1.197 has auto
//! mode but no such dialog (its classifier denies the action instead), and
//! the offer's wording is in the 2.1.330–2.1.332 binaries.

use super::menu::parse_lines;
use super::{MenuOption, PaneState, Screen};

/// The tool a plan approval reports (Claude Code's tool that asks for it).
pub const PLAN_TOOL: &str = "ExitPlanMode";
/// The heading of auto mode's offer (2.1.330+), and its title.
pub const AUTO_CHECK_TITLE: &str = "Auto mode can't check actions in this session";

/// First lines of a plan approval's question: with a plan, without one
/// (2.1.332), and the older short form.
const PLAN_QUESTIONS: &[&str] = &[
    "Claude has written up a plan",
    "Exit plan mode?",
    "Would you like to proceed?",
];
/// The heading above the plan, and the dashed block holding it.
const PLAN_HEADING: &str = "Ready to code?";

/// A plan approval or auto mode's offer in `region`, else `None`.
pub(crate) fn classify(region: &[String]) -> Option<Screen> {
    plan(region).or_else(|| auto_check(region))
}

fn is_dashed(line: &str) -> bool {
    let t = line.trim();
    t.chars().count() >= 3 && t.chars().all(|c| c == '╌' || c == '┄')
}

/// A menu line: the cursor, or a number and a dot.
fn is_option_line(line: &str) -> bool {
    let t = line.trim_start();
    let t = t.strip_prefix('❯').map_or(t, str::trim_start);
    let digits = t.chars().take_while(char::is_ascii_digit).count();
    line.trim_start().starts_with('❯') || (digits > 0 && t[digits..].starts_with(". "))
}

/// The paragraph starting at `start`: non-empty lines up to a blank line or
/// a menu line, trimmed, joined with one space.
fn paragraph(region: &[String], start: usize) -> String {
    region[start..]
        .iter()
        .take_while(|l| !l.trim().is_empty() && !is_option_line(l))
        .map(|l| l.trim())
        .collect::<Vec<_>>()
        .join(" ")
}

fn plan(region: &[String]) -> Option<Screen> {
    let q = region.iter().position(|l| {
        let t = l.trim();
        PLAN_QUESTIONS.iter().any(|m| t.starts_with(m))
    })?;
    let options = parse_lines(region);
    if options.is_empty() {
        return None;
    }
    let title = paragraph(region, q);
    // The plan file, named at the end of the hint line.
    let file = region
        .iter()
        .filter_map(|l| l.trim().rsplit_once(" · "))
        .map(|(_, path)| path.trim())
        .find(|p| p.ends_with(".md"))
        .map(str::to_string);
    // Without a plan: the line under the question ("Claude wants to exit
    // plan mode").
    let body = region[q + 1..]
        .iter()
        .position(|l| !l.trim().is_empty())
        .map(|i| q + 1 + i)
        .filter(|&i| !is_option_line(&region[i]))
        .map(|i| paragraph(region, i))
        .filter(|p| !title.contains(p.as_str()));
    Some(Screen {
        options,
        title: Some(title),
        tool: Some(PLAN_TOOL.to_string()),
        detail: file.or(body),
        ..Screen::bare(PaneState::Blocked)
    })
}

/// The plan a plan approval shows above the last rule: the dashed block
/// after "Ready to code?", its lines trimmed and joined with `\n`.
pub(crate) fn plan_text(above: &[String]) -> Option<String> {
    let head = above
        .iter()
        .rposition(|l| l.trim().starts_with(PLAN_HEADING))?;
    let rest = &above[head + 1..];
    let open = rest.iter().position(|l| is_dashed(l))?;
    let close = rest[open + 1..].iter().position(|l| is_dashed(l))? + open + 1;
    let lines: Vec<&str> = rest[open + 1..close]
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// Hint keys → tmux key names.
const HINT_KEYS: &[(&str, &str)] = &[
    ("Enter", "Enter"),
    ("Esc", "Escape"),
    ("shift+Tab", "BTab"),
    ("shift+tab", "BTab"),
    ("Tab", "Tab"),
];

fn auto_check(region: &[String]) -> Option<Screen> {
    let h = region.iter().position(|l| !l.trim().is_empty())?;
    if !region[h].trim().starts_with(AUTO_CHECK_TITLE) {
        return None;
    }
    // The hint: the last paragraph, "Enter to stay in auto mode · shift+Tab
    // to leave for accept edits mode and stop · Esc to cancel".
    let end = region.iter().rposition(|l| !l.trim().is_empty())?;
    let start = region[..end]
        .iter()
        .rposition(|l| l.trim().is_empty())
        .map_or(0, |i| i + 1);
    let hint = paragraph(region, start);
    let options = hint_options(&hint);
    if options.is_empty() {
        return None;
    }
    let detail = region[h + 1..]
        .iter()
        .position(|l| !l.trim().is_empty())
        .map(|i| paragraph(region, h + 1 + i))
        .filter(|p| *p != hint);
    Some(Screen {
        options,
        title: Some(AUTO_CHECK_TITLE.to_string()),
        tool: None,
        detail,
        ..Screen::bare(PaneState::Blocked)
    })
}

/// "KEY to LABEL · KEY to LABEL" → one option per known key, labelled with
/// the action capitalised ("Stay in auto mode"); the Enter option counts as
/// selected (Enter picks it).
fn hint_options(hint: &str) -> Vec<MenuOption> {
    let mut options = Vec::new();
    for part in hint.split(" · ") {
        let Some((key, action)) = part.trim().split_once(" to ") else {
            continue;
        };
        let Some(&(_, tmux)) = HINT_KEYS.iter().find(|(k, _)| *k == key.trim()) else {
            continue;
        };
        let mut chars = action.trim().chars();
        let Some(first) = chars.next() else {
            continue;
        };
        options.push(MenuOption {
            index: options.len() + 1,
            number: None,
            label: first.to_uppercase().chain(chars).collect(),
            selected: tmux == "Enter",
            key: Some(tmux),
        });
    }
    let enters = options.iter().filter(|o| o.selected).count();
    if options.len() < 2 || enters != 1 {
        return Vec::new();
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn plan_approval_with_a_wrapped_question() {
        let s = classify(&region(
            "   Claude has written up a plan and is ready to execute. Would you like to\n   proceed?\n   ❯ 1. Yes, and use auto mode\n     2. Yes, manually approve edits\n     3. Tell Claude what to change\n        shift+tab to approve with this feedback\n   ctrl+g to edit in Vim · ~/.claude/plans/a-b.md",
        ));
        let s = s.expect("a plan approval");
        assert_eq!(s.state, PaneState::Blocked);
        assert_eq!(s.tool.as_deref(), Some(PLAN_TOOL));
        assert_eq!(
            s.title.as_deref(),
            Some(
                "Claude has written up a plan and is ready to execute. Would you like to proceed?"
            )
        );
        assert_eq!(s.detail.as_deref(), Some("~/.claude/plans/a-b.md"));
        assert_eq!(s.options.len(), 3);
    }

    #[test]
    fn plan_approval_without_a_plan() {
        let s = classify(&region(
            "   Exit plan mode?\n\n   Claude wants to exit plan mode\n\n   ❯ 1. Yes, and switch to default (ask each time) for this session\n     2. No",
        ))
        .expect("a plan approval");
        assert_eq!(s.title.as_deref(), Some("Exit plan mode?"));
        assert_eq!(s.detail.as_deref(), Some("Claude wants to exit plan mode"));
        assert_eq!(s.options.len(), 2);
    }

    #[test]
    fn plan_text_is_the_block_after_ready_to_code() {
        let above = region(
            "● STAND-IN: calling ExitPlanMode.\n▔▔▔▔\n   Ready to code?\n  ╌╌╌╌╌╌\n   Plan\n   1. Write notes.txt\n  ╌╌╌╌╌╌\n",
        );
        assert_eq!(
            plan_text(&above).as_deref(),
            Some("Plan\n1. Write notes.txt")
        );
        assert_eq!(plan_text(&region("no plan here\n╌╌╌╌\nx\n╌╌╌╌")), None);
    }

    #[test]
    fn auto_mode_offer_reads_its_keys_from_the_hint() {
        let s = classify(&region(
            "  Auto mode can't check actions in this session\n\n  Auto mode's safety check runs on the server. Your requests go through\n  127.0.0.1:43210, and the check isn't getting through.\n\n  You can stay.\n\n  Enter to stay in auto mode · shift+Tab to leave for accept edits mode and\n  stop · Esc to cancel",
        ))
        .expect("the auto mode offer");
        assert_eq!(s.state, PaneState::Blocked);
        assert_eq!(s.title.as_deref(), Some(AUTO_CHECK_TITLE));
        assert_eq!(
            s.detail.as_deref(),
            Some(
                "Auto mode's safety check runs on the server. Your requests go through 127.0.0.1:43210, and the check isn't getting through."
            )
        );
        let got: Vec<(&str, Option<&str>, bool)> = s
            .options
            .iter()
            .map(|o| (o.label.as_str(), o.key, o.selected))
            .collect();
        assert_eq!(
            got,
            vec![
                ("Stay in auto mode", Some("Enter"), true),
                ("Leave for accept edits mode and stop", Some("BTab"), false),
                ("Cancel", Some("Escape"), false),
            ]
        );
    }

    #[test]
    fn other_text_is_neither() {
        assert!(classify(&region(" Pick a model\n ❯ 1. Opus\n   2. Sonnet")).is_none());
        // The notice inside a Bash prompt (2.1.332) is no heading.
        assert!(
            classify(&region(
                " Bash command\n │ Auto mode can't check actions in this session, so this one needs your\n ❯ No\n   Yes"
            ))
            .is_none()
        );
        // The heading without a hint naming keys.
        assert!(
            classify(&region(
                "  Auto mode can't check actions in this session\n\n  text"
            ))
            .is_none()
        );
    }
}
