//! The harness's own minimal reading of Claude Code 2.1.x screens, kept
//! independent of intercomm's classifier (which is under test).

use super::{crate_root, fail};

fn is_rule(line: &str) -> bool {
    let s = line.trim();
    s.chars().count() >= 20 && s.chars().all(|c| c == '─')
}

/// The rows of the last two rules (the prompt box's top and bottom).
fn last_box(rows: &[&str]) -> Option<(usize, usize)> {
    let mut rules = rows
        .iter()
        .enumerate()
        .filter(|(_, l)| is_rule(l))
        .map(|(i, _)| i);
    let bottom = rules.next_back()?;
    let top = rules.next_back()?;
    Some((top, bottom))
}

/// The text in the prompt box (between the last two rules, after `❯`), if
/// the bottom of the screen is a prompt box.
pub fn prompt_box(screen: &str) -> Option<String> {
    let rows: Vec<&str> = screen.lines().collect();
    let (top, bottom) = last_box(&rows)?;
    if bottom - top < 2 {
        return None;
    }
    let inner = &rows[top + 1..bottom];
    let first = inner.first()?.trim_start();
    let first = first.strip_prefix('❯')?;
    let mut text = vec![first.trim().to_owned()];
    text.extend(inner[1..].iter().map(|l| l.trim().to_owned()));
    Some(text.join("\n").trim().to_owned())
}

/// Idle: an empty prompt box, no busy footer, no spinner line above it.
pub fn is_idle(screen: &str) -> bool {
    let rows: Vec<&str> = screen.lines().collect();
    let Some((top, bottom)) = last_box(&rows) else {
        return false;
    };
    let footer = rows[bottom + 1..].join("\n");
    let spinner = rows[..top]
        .iter()
        .rev()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.trim_end().ends_with('…') || l.contains("esc to interrupt"));
    prompt_box(screen).is_some_and(|b| b.is_empty())
        && !footer.contains("esc to interrupt")
        && !spinner
}

/// The menu under the last rule: (label, selected) of each numbered option.
pub fn menu(screen: &str) -> Vec<(String, bool)> {
    let rows: Vec<&str> = screen.lines().collect();
    let start = rows.iter().rposition(|l| is_rule(l)).map_or(0, |i| i + 1);
    let region = &rows[start..];
    let numbered: Vec<(String, bool)> = region
        .iter()
        .filter_map(|l| {
            let t = l.trim_start();
            let (selected, rest) = match t.strip_prefix('❯') {
                Some(r) => (true, r.trim_start()),
                None => (false, t),
            };
            let dot = rest.find(". ")?;
            rest[..dot].parse::<u32>().ok()?;
            Some((rest[dot + 2..].trim().to_owned(), selected))
        })
        .collect();
    if !numbered.is_empty() {
        return numbered;
    }
    // Unnumbered menus (2.1.330): the cursor line and the lines whose text
    // starts in the same column.
    let Some(cur) = region.iter().position(|l| l.trim_start().starts_with('❯')) else {
        return Vec::new();
    };
    let line: Vec<char> = region[cur].chars().collect();
    let Some(mut col) = line.iter().position(|c| *c == '❯').map(|i| i + 1) else {
        return Vec::new();
    };
    while line.get(col) == Some(&' ') {
        col += 1;
    }
    region
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            let chars: Vec<char> = l.trim_end().chars().collect();
            let head_blank = chars.iter().take(col).all(|c| *c == ' ' || *c == '❯');
            let starts = chars.get(col).is_some_and(|c| *c != ' ');
            (head_blank && starts && (i == cur || !chars.contains(&'❯'))).then(|| {
                (
                    chars[col..].iter().collect::<String>().trim().to_owned(),
                    i == cur,
                )
            })
        })
        .collect()
}

/// The lines under the last full-width rule.
pub fn below_last_rule(screen: &str) -> String {
    let rows: Vec<&str> = screen.lines().collect();
    let start = rows.iter().rposition(|l| is_rule(l)).map_or(0, |i| i + 1);
    rows[start..].join("\n")
}

/// The screen ends with a shell prompt (`#` or `$`).
pub fn is_shell_prompt(screen: &str) -> bool {
    let last = last_line(screen);
    last == "#"
        || last.ends_with('$')
        || last.ends_with("# ")
        || last.ends_with('#') && !last.contains('│')
}

/// The last non-blank line of a screen.
pub fn last_line(screen: &str) -> String {
    screen
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim_end()
        .to_owned()
}

/// The harness's own screen reading, against the captured fixtures (no
/// Claude Code needed).
#[test]
fn harness_reads_menus_prompts_and_idle_footers() {
    let fixture = |rel: &str| {
        let text = std::fs::read_to_string(crate_root().join("tests/fixtures/screens").join(rel))
            .unwrap_or_else(|e| fail(format!("{rel}: {e}")));
        // Drop the `# claude-code …` header line.
        text.split_once('\n')
            .map(|(_, s)| s.to_owned())
            .unwrap_or_default()
    };
    let trust = menu(&fixture("trust/2.1.197-200x50.txt"));
    assert_eq!(
        trust.first().map(|(l, s)| (l.as_str(), *s)),
        Some(("Yes, I trust this folder", true))
    );
    let trust = menu(&fixture("trust/2.1.330-200x50.txt"));
    assert!(
        trust.iter().any(|(l, _)| l.starts_with("Yes, I trust")),
        "{trust:?}"
    );
    assert_eq!(trust.iter().filter(|(_, s)| *s).count(), 1, "{trust:?}");
    let mcp = menu(&fixture("mcp_approval/2.1.197-200x50.txt"));
    assert!(
        mcp.iter().any(|(l, _)| l == "Use this MCP server"),
        "{mcp:?}"
    );
    let ready = fixture("ready/2.1.197-200x50.txt");
    assert!(is_idle(&ready));
    assert_eq!(prompt_box(&ready).as_deref(), Some(""));
    let typed = fixture("ready/2.1.197-200x50-input.txt");
    assert!(prompt_box(&typed).is_some_and(|b| b.contains("typed but not sent")));
    assert!(!is_idle(&typed));
    assert!(!is_idle(&fixture("running/2.1.197-200x50.txt")));
    assert!(is_shell_prompt(&fixture("exited/2.1.197-200x50.txt")));
}
