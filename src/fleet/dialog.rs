//! Answering Claude Code's dialogs: pick the option by its label, move the
//! selection to it, re-capture to check, confirm.
//!
//! Source of the key behaviour (../shared/guides/real-claude-code.md, "Dialog
//! keys differ by version"): on 2.1.197 a digit selects *and* confirms (so
//! "digit then Enter" leaks an Enter into the next screen); on 2.1.330 menus
//! are unnumbered, digits do nothing, arrows move and Enter confirms; defaults
//! differ per dialog (bypass defaults to "No, exit"). So: a numbered option is
//! chosen by its digit alone, and Enter is sent only if the same dialog is
//! still shown with the option now selected; an unnumbered option is reached
//! with arrows, verified on screen, then confirmed with Enter.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{POLL, Target};
use crate::error::{Error, Result};
use crate::screen::{MenuOption, PaneState, Screen};

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
pub fn option_for(screen: &Screen, choice: Choice) -> Option<&MenuOption> {
    let find = |pred: &dyn Fn(&str) -> bool| screen.options.iter().find(|o| pred(&o.label));
    let starts = |prefix: &'static str| move |l: &str| l.starts_with(prefix);
    let more = |l: &str| l.starts_with("Yes, and") || l.starts_with("Yes, allow");
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

/// Whether `now` still shows the dialog of `before` (same state and menu).
fn same_dialog(before: &Screen, now: &Screen) -> bool {
    now.state == before.state
        && now.title == before.title
        && now.options.len() == before.options.len()
        && now
            .options
            .iter()
            .zip(&before.options)
            .all(|(a, b)| a.label == b.label)
}

/// Re-captures until the dialog of `before` is gone (returning the new
/// screen) or `timeout` passes (returning the last screen).
pub async fn wait_for_change(
    target: &Target,
    before: &Screen,
    timeout: Duration,
) -> Result<Screen> {
    let deadline = Instant::now() + timeout;
    loop {
        let now = target.look().await?;
        if !same_dialog(before, &now) || Instant::now() >= deadline {
            return Ok(now);
        }
        tokio::time::sleep(super::POLL).await;
    }
}

/// Chooses `option` on the dialog shown in `screen`; returns the screen
/// after the dialog went (or the last one seen if it did not within `timeout`).
pub async fn choose(
    target: &Target,
    screen: &Screen,
    option: &MenuOption,
    timeout: Duration,
) -> Result<Screen> {
    let pane = &target.pane.pane;
    let short = Duration::from_millis(400).min(timeout);
    if let Some(n) = option.number.filter(|n| *n <= 9) {
        let digit = n.to_string();
        let was_selected = selected_index(screen) == Some(option.index);
        target.tmux.send_keys(pane, &[digit.as_str()]).await?;
        // Claude Code can take well over 400 ms to act on a key right after
        // start-up: wait for the dialog to go, or for a select-only version
        // to move the cursor onto the option.
        let long = Duration::from_millis(2000).min(timeout);
        let deadline = Instant::now() + if was_selected { long } else { long.max(short) };
        let after = loop {
            let now = target.look().await?;
            if !same_dialog(screen, &now) {
                return Ok(now);
            }
            if !was_selected && selected_index(&now) == Some(option.index) {
                break now;
            }
            if Instant::now() >= deadline {
                break now;
            }
            tokio::time::sleep(POLL).await;
        };
        // A version where digits only select: confirm if it selected ours.
        if selected_index(&after) == Some(option.index) {
            target.tmux.send_keys(pane, &["Enter"]).await?;
            return wait_for_change(target, screen, timeout).await;
        }
        return Ok(after);
    }
    let Some(from) = selected_index(screen) else {
        return Err(Error::user(
            "dialog_unreadable",
            "the dialog shows no selected option; nothing was pressed",
        ));
    };
    let (key, steps) = if option.index >= from {
        ("Down", option.index - from)
    } else {
        ("Up", from - option.index)
    };
    if steps > 0 {
        let keys = vec![key; steps];
        target.tmux.send_keys(pane, &keys).await?;
    }
    // Verify the cursor landed before confirming.
    let deadline = Instant::now() + short;
    loop {
        let now = target.look().await?;
        if selected_index(&now) == Some(option.index) && same_dialog(screen, &now) {
            break;
        }
        if Instant::now() >= deadline {
            return Err(Error::user(
                "dialog_cursor",
                format!(
                    "could not move the selection to {:?}; nothing was confirmed",
                    option.label
                ),
            ));
        }
        tokio::time::sleep(POLL).await;
    }
    target.tmux.send_keys(pane, &["Enter"]).await?;
    wait_for_change(target, screen, timeout).await
}

fn selected_index(screen: &Screen) -> Option<usize> {
    screen.options.iter().find(|o| o.selected).map(|o| o.index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::screen::classify;

    fn label(screen: &Screen, choice: Choice) -> Option<String> {
        option_for(screen, choice).map(|o| o.label.clone())
    }

    /// Every captured permission prompt (four versions, three sizes) maps
    /// yes, no and always to the right option.
    #[test]
    fn choices_map_to_each_versions_labels() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/screens/blocked");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let screen = classify(text.split_once('\n').map_or("", |(_, body)| body));
            let yes = label(&screen, Choice::Yes).unwrap_or_default();
            let no = label(&screen, Choice::No).unwrap_or_default();
            assert!(
                yes.starts_with("Yes") && !yes.contains(','),
                "{name}: yes -> {yes:?}"
            );
            assert!(
                no.starts_with("No") || no.contains("tell Claude"),
                "{name}: no -> {no:?}"
            );
            if let Some(always) = label(&screen, Choice::Always) {
                assert!(
                    !always.contains("auto mode"),
                    "{name}: always -> {always:?}"
                );
            }
            seen += 1;
        }
        assert!(seen > 10, "blocked fixtures read: {seen}");
    }
}
