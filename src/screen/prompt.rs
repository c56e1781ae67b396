//! The prompt box (ready / running, with its input) and the exited pane.
//!
//! Busy is read from the footer ("esc to interrupt", 2.1.x) or from a
//! spinner line just above the box: a spinner glyph, a word, an ellipsis
//! (`✢ Pondering…`, `* Osmosing…`, `· Whirlpooling… (esc to interrupt)`).
//! The spinner decides when typed text hides the footer hints (every
//! version) and on ≤ 2.0.77, whose busy footer still reads "? for
//! shortcuts". A finished turn's line (`✻ Brewed for 0s`) has no ellipsis.
//!
//! The box starts with `❯ ` (2.x) or `> ` (1.0.128, whose empty box shows a
//! `Try "…"` suggestion, read as empty input).

use super::{PaneState, Screen};

/// Glyphs Claude Code's spinner cycles through (2.1.197: `· ✢ ✳ ✶ ✻ ✽`,
/// and `*` in captures; older builds also `∗`).
const SPINNER_GLYPHS: &[char] = &['·', '✢', '✳', '✶', '✻', '✽', '*', '∗', '✺', '✹', '✷', '✸'];

/// How many non-empty lines above the prompt box may hold the spinner:
/// spinner, tip (`⎿ Tip: …`), effort line (2.1.330), with room to spare.
const SPINNER_WINDOW: usize = 6;

/// Farewell lines printed by `/exit`.
const RESUME: &[&str] = &["Resume this session with:", "claude --resume "];

/// A spinner line: optional single space, a glyph, a space, then text that
/// reaches an ellipsis within a few words.
fn is_spinner(line: &str) -> bool {
    let t = line.strip_prefix(' ').unwrap_or(line);
    let mut chars = t.chars();
    let (Some(glyph), Some(' ')) = (chars.next(), chars.next()) else {
        return false;
    };
    if !SPINNER_GLYPHS.contains(&glyph) {
        return false;
    }
    let rest: String = chars.collect();
    let Some(first) = rest.chars().next() else {
        return false;
    };
    if !first.is_alphabetic() {
        return false;
    }
    rest.find('…')
        .is_some_and(|at| rest[..at].chars().count() <= 40)
        || rest.contains("esc to interrupt")
}

/// The pane shows a shell, not Claude Code: the last non-empty line is a
/// shell prompt (ends in `$`, `#` or `%`), or the `/exit` farewell is among
/// the last three non-empty lines.
pub(crate) fn is_exited(lines: &[String]) -> bool {
    let tail: Vec<&str> = lines
        .iter()
        .rev()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .take(3)
        .collect();
    let Some(last) = tail.first() else {
        return false;
    };
    if tail.iter().any(|l| RESUME.iter().any(|r| l.starts_with(r))) {
        return true;
    }
    is_shell_prompt(last)
}

fn is_shell_prompt(line: &str) -> bool {
    let t = line.trim_end();
    // Claude Code's own lines never end so: footers end in words, hints in
    // "cancel"/"amend"/"explain", rules and boxes in box-drawing glyphs.
    (t.ends_with('$') || t.ends_with('#') || t.ends_with('%')) && !t.starts_with('│')
}

/// The prompt box's text: the prompt glyph and one space removed from the
/// first line, the two-space continuation indent from the others.
fn input_text(input: &[String]) -> String {
    let mut out: Vec<String> = Vec::with_capacity(input.len());
    for (i, line) in input.iter().enumerate() {
        if i == 0 {
            let t = line.trim_start();
            let t = t
                .strip_prefix('❯')
                .or_else(|| t.strip_prefix('>'))
                .unwrap_or(t);
            out.push(t.strip_prefix(' ').unwrap_or(t).to_string());
        } else {
            let t = line.strip_prefix("  ").unwrap_or(line.trim_start());
            out.push(t.to_string());
        }
    }
    let text = out.join("\n");
    let text = text.trim_end();
    if is_placeholder(text) {
        return String::new();
    }
    text.to_string()
}

/// 1.0.128 fills an empty box with a dim suggestion, `Try "…"`, which
/// reads like typed text once colours are gone.
fn is_placeholder(text: &str) -> bool {
    !text.contains('\n') && text.starts_with("Try \"") && text.ends_with('"') && text.len() > 6
}

/// Ready or running, from the prompt box and what surrounds it.
pub(crate) fn classify_prompt(above: &[String], input: Vec<String>, footer: &[String]) -> Screen {
    let busy_footer = footer.iter().any(|l| l.contains("esc to interrupt"));
    let spinner = above
        .iter()
        .rev()
        .filter(|l| !l.trim().is_empty())
        .take(SPINNER_WINDOW)
        .any(|l| is_spinner(l));
    let state = if busy_footer || spinner {
        PaneState::Running
    } else {
        PaneState::Ready
    };
    Screen {
        input: Some(input_text(&input)),
        ..Screen::bare(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn spinner_lines() {
        assert!(is_spinner("✢ Pondering…"));
        assert!(is_spinner("* Osmosing…"));
        assert!(is_spinner(
            "✽ Whirlpooling… (3s · ↓ 12 tokens · esc to interrupt)"
        ));
        assert!(!is_spinner("✻ Brewed for 0s"));
        assert!(!is_spinner("● Let me think…"));
        assert!(!is_spinner("  - a bullet…"));
        assert!(!is_spinner("  * an indented bullet…"));
        assert!(!is_spinner("◐ medium · /effort"));
        assert!(!is_spinner("✢"));
    }

    #[test]
    fn exited_shapes() {
        assert!(is_exited(&v("something\ndev@box:~/project$")));
        assert!(is_exited(&v("root@host:/work#")));
        assert!(is_exited(&v(
            "Resume this session with:\nclaude --resume 1234\n"
        )));
        assert!(!is_exited(&v("dev@box:~/project$ claude")));
        assert!(!is_exited(&v("  ? for shortcuts")));
        assert!(!is_exited(&[]));
    }

    #[test]
    fn input_is_unwrapped() {
        assert_eq!(input_text(&v("❯ ")), "");
        assert_eq!(input_text(&v("❯ hello\n  world")), "hello\nworld");
        assert_eq!(input_text(&v("> old style")), "old style");
        assert_eq!(input_text(&v("> Try \"edit <filepath> to...\"")), "");
    }

    #[test]
    fn busy_from_footer_or_spinner() {
        let s = classify_prompt(&[], v("❯ "), &v("  esc to interrupt"));
        assert_eq!(s.state, PaneState::Running);
        let s = classify_prompt(&v("✢ Pondering…\n  ⎿  Tip: x"), v("❯ typed"), &[]);
        assert_eq!(s.state, PaneState::Running);
        assert_eq!(s.input.as_deref(), Some("typed"));
        let s = classify_prompt(&v("✻ Brewed for 0s"), v("❯ "), &v("  ? for shortcuts"));
        assert_eq!(s.state, PaneState::Ready);
    }
}
