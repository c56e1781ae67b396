//! A dialog's menu: the block of option lines around the `❯` cursor.
//!
//! ```text
//!  Do you want to proceed?              ← skipped (before the first option)
//!  ❯ 1. Yes                             ← numbered (2.1.197 and all
//!    2. Yes, and switch to accept edits    permission prompts)
//!       for this session (shift+tab)    ← wrapped: joined to option 2
//!    3. No
//!
//!    Use this MCP server                ← unnumbered (2.1.330 start-up
//!  ❯ Continue without using this …         dialogs): options are the lines
//!                                           at the cursor label's column
//! ```
//!
//! The block is the run of non-blank lines holding the cursor line. No
//! cursor, no menu: "1. Claude can make mistakes." on the security-notes
//! screen is text, not an option.

use super::MenuOption;
use super::layout::unbox;

/// The cursor glyph Claude Code draws on the selected option.
const CURSOR: char = '❯';
/// The mark after (2.1.197) or before (2.1.330) the current theme.
const CHECK: char = '✔';

/// The menu in `region` (a dialog's lines or raw pane text; `│` box
/// borders are stripped): options top to bottom, exactly one `selected`, or
/// an empty list when the region has no `❯` cursor line (or several).
pub fn parse_options(region: &str) -> Vec<MenuOption> {
    let lines: Vec<String> = region
        .lines()
        .map(|l| unbox(l.replace('\u{a0}', " ").trim_end()))
        .collect();
    parse_lines(&lines)
}

/// True when `lines` hold a cursor menu.
pub(crate) fn has_menu(lines: &[String]) -> bool {
    !parse_lines(lines).is_empty()
}

/// One option line, split: (column where the label starts, number, label,
/// selected).
struct OptionLine {
    column: usize,
    number: Option<u32>,
    label: String,
    selected: bool,
}

/// Leading spaces, in chars.
fn indent(line: &str) -> usize {
    line.chars().take_while(|c| *c == ' ').count()
}

/// `"12. rest"` → (12, column offset of "rest", "rest").
fn split_number(text: &str) -> Option<(u32, usize, &str)> {
    let digits = text.chars().take_while(char::is_ascii_digit).count();
    if digits == 0 || digits > 3 {
        return None;
    }
    let rest = text[digits..].strip_prefix('.')?;
    let label = rest.trim_start();
    if label.is_empty() || !rest.starts_with(' ') {
        return None;
    }
    let number = text[..digits].parse().ok()?;
    let offset = digits + 1 + (rest.chars().count() - label.chars().count());
    Some((number, offset, label))
}

/// Drop the "✔" current-choice mark on either side of a label.
fn clean_label(label: &str) -> String {
    let l = label.trim();
    let l = l.strip_prefix(CHECK).unwrap_or(l).trim_start();
    let l = l.strip_suffix(CHECK).unwrap_or(l).trim_end();
    l.to_string()
}

/// Read one line as an option line, numbered or not.
fn option_line(line: &str) -> Option<OptionLine> {
    let lead = indent(line);
    let body = &line[lead..];
    let (selected, after, col) = match body.strip_prefix(CURSOR) {
        Some(rest) => {
            let text = rest.trim_start();
            let col = lead + 1 + (rest.chars().count() - text.chars().count());
            (true, text, col)
        }
        None => (false, body, lead),
    };
    // A check mark before the label shifts it (2.1.330 theme menu).
    let (after, col) = match after.strip_prefix(CHECK) {
        Some(rest) => {
            let text = rest.trim_start();
            (
                text,
                col + 1 + (rest.chars().count() - text.chars().count()),
            )
        }
        None => (after, col),
    };
    if after.is_empty() {
        return None;
    }
    match split_number(after) {
        Some((number, offset, label)) => Some(OptionLine {
            column: col + offset,
            number: Some(number),
            label: clean_label(label),
            selected,
        }),
        None => Some(OptionLine {
            column: col,
            number: None,
            label: clean_label(after),
            selected,
        }),
    }
}

pub(crate) fn parse_lines(lines: &[String]) -> Vec<MenuOption> {
    let Some(cursor) = lines
        .iter()
        .rposition(|l| l.trim_start().starts_with(CURSOR) && option_line(l).is_some())
    else {
        return Vec::new();
    };
    let start = lines[..cursor]
        .iter()
        .rposition(|l| l.trim().is_empty())
        .map_or(0, |i| i + 1);
    let end = lines[cursor..]
        .iter()
        .position(|l| l.trim().is_empty())
        .map_or(lines.len(), |i| cursor + i);
    let block = &lines[start..end];
    let Some(head) = option_line(&lines[cursor]) else {
        return Vec::new();
    };
    let numbered = head.number.is_some();
    let cursor_indent = indent(&lines[cursor]);

    let mut options: Vec<MenuOption> = Vec::new();
    let mut column = head.column;
    for line in block {
        let opt = option_line(line);
        let is_option = opt.as_ref().is_some_and(|o| {
            if numbered {
                o.number.is_some() && indent(line) <= cursor_indent + 2
            } else {
                o.column == head.column
            }
        });
        match opt {
            Some(o) if is_option => {
                column = o.column;
                options.push(MenuOption {
                    index: options.len() + 1,
                    number: o.number,
                    label: o.label,
                    selected: o.selected,
                    key: None,
                });
            }
            _ => {
                let Some(last) = options.last_mut() else {
                    continue; // text before the first option
                };
                if numbered && indent(line) >= column {
                    // A wrapped label continues at the label column.
                    last.label.push(' ');
                    last.label.push_str(line.trim());
                } else if indent(line) < column {
                    break;
                }
            }
        }
    }
    if options.iter().filter(|o| o.selected).count() != 1 {
        return Vec::new();
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(opts: &[MenuOption]) -> Vec<(&str, Option<u32>, bool)> {
        opts.iter()
            .map(|o| (o.label.as_str(), o.number, o.selected))
            .collect()
    }

    #[test]
    fn numbered_with_question_above_and_wrapped_label() {
        let region = " Do you want to create notes.txt?\n ❯ 1. Yes\n   2. Yes, and switch to accept edits (auto-approve file edits and common file commands) for this session; Yes, and\n      always allow access to /tmp for this session (shift+tab)\n   3. No\n\n Esc to cancel · Tab to amend";
        let opts = parse_options(region);
        assert_eq!(
            labels(&opts),
            vec![
                ("Yes", Some(1), true),
                (
                    "Yes, and switch to accept edits (auto-approve file edits and common file commands) for this session; Yes, and always allow access to /tmp for this session (shift+tab)",
                    Some(2),
                    false
                ),
                ("No", Some(3), false),
            ]
        );
        assert_eq!(
            opts.iter().map(|o| o.index).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
    }

    #[test]
    fn unnumbered_menus_use_the_label_column() {
        let region = "  Do you want to use this API key?\n\n    Yes\n  ❯ No (recommended)\n\n  Enter to confirm · Esc to cancel";
        assert_eq!(
            labels(&parse_options(region)),
            vec![("Yes", None, false), ("No (recommended)", None, true)]
        );
    }

    #[test]
    fn check_marks_are_dropped() {
        let old = "   1. Auto (match terminal)\n ❯ 2. Dark mode ✔\n   3. Light mode";
        assert_eq!(
            labels(&parse_options(old)),
            vec![
                ("Auto (match terminal)", Some(1), false),
                ("Dark mode", Some(2), true),
                ("Light mode", Some(3), false)
            ]
        );
        let new = " ❯ ✔ Auto (match terminal)\n     Dark mode\n     Light mode";
        assert_eq!(
            labels(&parse_options(new)),
            vec![
                ("Auto (match terminal)", None, true),
                ("Dark mode", None, false),
                ("Light mode", None, false)
            ]
        );
    }

    #[test]
    fn boxed_lines_are_unboxed() {
        let region = "│ Do you want to proceed?     │\n│ ❯ 1. Yes                    │\n│   2. No, and tell Claude (esc) │";
        assert_eq!(
            labels(&parse_options(region)),
            vec![
                ("Yes", Some(1), true),
                ("No, and tell Claude (esc)", Some(2), false)
            ]
        );
    }

    #[test]
    fn no_cursor_no_menu() {
        assert!(parse_options(" Security notes:\n\n 1. Claude can make mistakes.\n 2. Due to prompt injection risks").is_empty());
        assert!(parse_options("").is_empty());
        assert!(parse_options("❯").is_empty());
    }
}
