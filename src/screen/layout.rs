//! Pane text → normalized lines → the bottom structure Claude Code draws.
//!
//! ```text
//!  2.1.x prompt            2.1.x dialog            ≤ 2.0.77 / 1.0.x boxes
//!  ... above ...           ... chat ...            ... chat ...
//!  ──────────  upper rule  ──────────  last rule   ╭──────────╮  bottom box
//!  ❯ input                  Heading                │ > input  │  (prompt if it
//!  ──────────  last rule    ❯ 1. Yes               ╰──────────╯   starts with >)
//!    footer                 Esc to cancel            footer
//! ```
//!
//! A rule is a line of `─` (U+2500) alone, at least 60 % as wide as the
//! widest line: the welcome box's inner `│ ──── │` and the dialogs' dashed
//! `╌╌╌╌` separators are not rules.
//!
//! When the typed text no longer fits the prompt box (2.1.330+), its upper
//! rule carries a label, `─── ↑ 5 more ───…`, and the box's first visible
//! line is a continuation line, not the `❯` line (measured on 2.1.332 at
//! 80x24 and 200x50; 2.1.197 grows the box past the top of the pane
//! instead, leaving no upper rule to see). Such a labelled rule is the upper
//! edge of a prompt box.

/// The bottom of a pane, borrowed from the normalized lines.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Bottom<'a> {
    /// A prompt box: the lines above its upper edge, the box's content lines
    /// (borders stripped), the lines below its lower edge.
    Prompt {
        above: &'a [String],
        input: Vec<String>,
        footer: &'a [String],
    },
    /// A dialog region (box borders stripped), or the whole screen when the
    /// pane has no rule and no box.
    Region(Vec<String>),
}

/// Split into lines without ANSI escapes or `\r`, non-breaking spaces made
/// plain spaces, trailing blanks trimmed, trailing empty lines dropped.
pub(crate) fn normalize(text: &str) -> Vec<String> {
    let clean = strip_ansi(text);
    let mut lines: Vec<String> = clean
        .split('\n')
        .map(|l| {
            l.chars()
                .filter(|c| *c != '\r')
                .map(|c| if c == '\u{a0}' { ' ' } else { c })
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

/// Remove CSI (`ESC [ … final`), OSC (`ESC ] … BEL|ESC \`) and two-byte
/// escapes; `capture-pane -e` output then reads like `-p` output.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                for c in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&c) {
                        break;
                    }
                }
            }
            Some(']') => {
                while let Some(c) = chars.next() {
                    if c == '\u{7}' {
                        break;
                    }
                    if c == '\u{1b}' {
                        if chars.peek() == Some(&'\\') {
                            chars.next();
                        }
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Display width estimate: one column per char.
fn width(line: &str) -> usize {
    line.chars().count()
}

/// The widest line, in chars.
pub(crate) fn max_width(lines: &[String]) -> usize {
    lines.iter().map(|l| width(l)).max().unwrap_or(0)
}

/// A full-width horizontal rule: only `─`, at least 60 % of `widest` and 10.
pub(crate) fn is_rule(line: &str, widest: usize) -> bool {
    let t = line.trim();
    let n = width(t);
    n >= 10 && n * 10 >= widest * 6 && t.chars().all(|c| c == '─')
}

/// The upper rule of an overflowing prompt box: `─── ↑ 5 more ───…` (or
/// `↓`), as wide as a rule, `─` apart from the one label.
pub(crate) fn is_overflow_rule(line: &str, widest: usize) -> bool {
    let t = line.trim();
    let n = width(t);
    if n < 10 || n * 10 < widest * 6 || !t.starts_with('─') || !t.ends_with('─') {
        return false;
    }
    let label = t.trim_matches('─').trim();
    let Some(rest) = label
        .strip_prefix('↑')
        .or_else(|| label.strip_prefix('↓'))
        .and_then(|r| r.strip_suffix("more"))
    else {
        return false;
    };
    let count = rest.trim();
    !count.is_empty() && count.chars().all(|c| c.is_ascii_digit())
}

/// The top edge of a wide box: `╭──…──╮`, possibly with a title in it.
fn is_box_top(line: &str, widest: usize) -> bool {
    let t = line.trim();
    let n = width(t);
    n >= 10 && n * 10 >= widest * 6 && t.starts_with('╭') && t.ends_with('╮')
}

fn is_box_bottom(line: &str) -> bool {
    let t = line.trim();
    t.starts_with('╰') && t.ends_with('╯')
}

/// A line inside a box without its `│` borders and the one space of
/// padding after the left border; other lines unchanged.
pub(crate) fn unbox(line: &str) -> String {
    let t = line.trim_start();
    let Some(inner) = t.strip_prefix('│') else {
        return line.to_string();
    };
    let inner = inner.trim_end();
    let inner = inner.strip_suffix('│').unwrap_or(inner);
    let inner = inner.strip_prefix(' ').unwrap_or(inner);
    inner.trim_end().to_string()
}

/// A prompt box's first line starts with the prompt character: `❯` (2.x) or
/// `>` (1.0.x).
pub(crate) fn is_prompt_line(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with('❯') || t.starts_with("> ") || t == ">"
}

/// Find the bottom structure. See the module diagram.
pub(crate) fn bottom(lines: &[String]) -> Bottom<'_> {
    let widest = max_width(lines);
    let rules: Vec<usize> = (0..lines.len())
        .filter(|&i| is_rule(&lines[i], widest))
        .collect();
    let last_rule = rules.last().copied();
    let last_box = (0..lines.len())
        .rev()
        .find(|&i| is_box_top(&lines[i], widest));

    if let Some(top) = last_box.filter(|&b| last_rule.is_none_or(|r| b > r)) {
        let end = (top + 1..lines.len())
            .find(|&i| is_box_bottom(&lines[i]))
            .unwrap_or(lines.len());
        let content: Vec<String> = lines[top + 1..end].iter().map(|l| unbox(l)).collect();
        let after = lines.get(end + 1..).unwrap_or(&[]);
        if content.first().is_some_and(|l| is_prompt_line(l)) {
            return Bottom::Prompt {
                above: &lines[..top],
                input: content,
                footer: after,
            };
        }
        let mut region = content;
        region.extend(after.iter().cloned());
        return Bottom::Region(region);
    }

    let Some(last) = last_rule else {
        return Bottom::Region(lines.to_vec());
    };
    let below = &lines[last + 1..];
    // An overflowing box: its labelled upper rule after the rule before.
    let overflow = (rules.iter().rev().nth(1).map_or(0, |r| r + 1)..last)
        .rev()
        .find(|&i| is_overflow_rule(&lines[i], widest));
    if let Some(upper) = overflow {
        let inside = &lines[upper + 1..last];
        if !inside.is_empty() && !crate::screen::menu::has_menu(below) {
            return Bottom::Prompt {
                above: &lines[..upper],
                input: inside.to_vec(),
                footer: below,
            };
        }
    }
    if let Some(&upper) = rules.iter().rev().nth(1) {
        let inside = &lines[upper + 1..last];
        let boxed = !inside.is_empty()
            && inside.len() <= 40
            && is_prompt_line(&inside[0])
            && !crate::screen::menu::has_menu(below);
        if boxed {
            return Bottom::Prompt {
                above: &lines[..upper],
                input: inside.to_vec(),
                footer: below,
            };
        }
    }
    Bottom::Region(below.iter().map(|l| unbox(l)).collect())
}

/// The lines above the last rule (all of them without one).
pub(crate) fn above_last_rule(lines: &[String]) -> &[String] {
    let widest = max_width(lines);
    let end = lines
        .iter()
        .rposition(|l| is_rule(l, widest))
        .unwrap_or(lines.len());
    &lines[..end]
}

/// Everything below the last rule (the whole screen without one), box
/// borders stripped: the fallback region when the bottom box is no dialog.
pub(crate) fn wide_region(lines: &[String]) -> Vec<String> {
    let widest = max_width(lines);
    let start = lines
        .iter()
        .rposition(|l| is_rule(l, widest))
        .map_or(0, |i| i + 1);
    lines[start..]
        .iter()
        .filter(|l| !is_box_top(l, 0) && !is_box_bottom(l))
        .map(|l| unbox(l))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(n: usize) -> String {
        "─".repeat(n)
    }

    #[test]
    fn normalize_strips_escapes_nbsp_and_trailing_blank_lines() {
        let lines = normalize("\u{1b}[1mbold\u{1b}[0m  \r\n❯\u{a0}x\n\u{1b}]0;title\u{7}t\n\n\n");
        assert_eq!(lines, vec!["bold", "❯ x", "t"]);
    }

    #[test]
    fn rules_must_be_wide_and_pure() {
        assert!(is_rule(&rule(80), 80));
        assert!(!is_rule(&rule(30), 80));
        assert!(!is_rule(&format!("│ {} │", rule(70)), 80));
        assert!(!is_rule(&"╌".repeat(80), 80));
        assert!(!is_rule("", 0));
    }

    #[test]
    fn prompt_box_between_the_last_two_rules() {
        let lines = normalize(&format!(
            "chat\n✢ Pondering…\n{r}\n❯ hi\n  there\n{r}\n  ? for shortcuts\n",
            r = rule(40)
        ));
        match bottom(&lines) {
            Bottom::Prompt {
                above,
                input,
                footer,
            } => {
                assert_eq!(above, &lines[..2]);
                assert_eq!(input, vec!["❯ hi", "  there"]);
                assert_eq!(footer, &lines[6..]);
            }
            Bottom::Region(r) => panic!("region {r:?}"),
        }
    }

    #[test]
    fn dialog_under_the_last_rule() {
        let lines = normalize(&format!(
            "{r}\n❯ old\n{r}\n Bash command\n ❯ 1. Yes\n   2. No\n",
            r = rule(40)
        ));
        assert_eq!(
            bottom(&lines),
            Bottom::Region(vec![
                " Bash command".into(),
                " ❯ 1. Yes".into(),
                "   2. No".into()
            ])
        );
    }

    #[test]
    fn old_style_boxes() {
        let top = format!("╭{}╮", "─".repeat(38));
        let bot = format!("╰{}╯", "─".repeat(38));
        let prompt = normalize(&format!(
            "chat\n{top}\n│ > hello        │\n{bot}\n  ? for shortcuts"
        ));
        assert!(
            matches!(bottom(&prompt), Bottom::Prompt { ref input, .. } if input == &vec!["> hello".to_string()])
        );
        let dialog = normalize(&format!(
            "{top}\n│ Bash command   │\n│ ❯ 1. Yes       │\n{bot}\n"
        ));
        assert_eq!(
            bottom(&dialog),
            Bottom::Region(vec!["Bash command".into(), "❯ 1. Yes".into()])
        );
    }

    #[test]
    fn overflow_rules_carry_one_count_label() {
        assert!(is_overflow_rule(&format!("─── ↑ 5 more {}", rule(60)), 80));
        assert!(is_overflow_rule(&format!("─── ↓ 12 more {}", rule(60)), 80));
        assert!(!is_overflow_rule(
            &format!("─── ↑ many more {}", rule(60)),
            80
        ));
        assert!(!is_overflow_rule(&format!("─── more {}", rule(60)), 80));
        assert!(!is_overflow_rule("─── ↑ 5 more ───", 80));
        assert!(!is_overflow_rule(&rule(80), 80));
    }

    #[test]
    fn overflowing_prompt_box_under_a_labelled_rule() {
        let lines = normalize(&format!(
            "chat\n{r}\n❯ old\n{r}\n─── ↑ 1 more {r}\n  box line02 of\n  the box\n{r}\n  ⏸ manual mode on\n",
            r = rule(40)
        ));
        match bottom(&lines) {
            Bottom::Prompt { input, footer, .. } => {
                assert_eq!(input, vec!["  box line02 of", "  the box"]);
                assert_eq!(footer, &lines[8..]);
            }
            Bottom::Region(r) => panic!("region {r:?}"),
        }
    }

    #[test]
    fn no_structure_means_the_whole_screen() {
        let lines = normalize("Security notes:\nPress Enter to continue…");
        assert_eq!(bottom(&lines), Bottom::Region(lines.clone()));
    }
}
