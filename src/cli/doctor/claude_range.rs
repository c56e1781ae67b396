//! doctor's Claude Code version check: is the `claude` on PATH within the
//! range the project verified? The range is the first and last version of
//! tests/e2e/claude-versions (compiled in), the versions the e2e suite runs
//! on in CI; docs/COMPATIBILITY.md says how a version gets there.

use super::{Check, Verdict, check, version};

/// tests/e2e/claude-versions: one version a line, oldest first, `#` comments.
const VERIFIED: &str = include_str!("../../../tests/e2e/claude-versions");

/// `2.1.332` → [2, 1, 332]; `None` unless three dot-separated numbers.
fn parse(v: &str) -> Option<[u64; 3]> {
    let mut parts = v.trim().split('.').map(|p| p.parse::<u64>().ok());
    let out = [parts.next()??, parts.next()??, parts.next()??];
    parts.next().is_none().then_some(out)
}

/// The verified range (oldest, newest) in `list` (the file's text).
fn range(list: &str) -> Option<(&str, &str)> {
    let mut versions: Vec<&str> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| parse(l).is_some())
        .collect();
    versions.sort_by_key(|v| parse(v));
    Some((*versions.first()?, *versions.last()?))
}

/// The check for `claude --version`'s first line (`2.1.332 (Claude Code)`),
/// `None` when `claude` did not run.
fn verdict(found: Option<&str>, list: &str) -> Check {
    const NAME: &str = "claude version";
    let Some((oldest, newest)) = range(list) else {
        return check(
            NAME,
            Verdict::Warn,
            "no verified range compiled in".into(),
            None,
        );
    };
    let span = format!("verified {oldest} to {newest}");
    let Some(line) = found else {
        return check(
            NAME,
            Verdict::Warn,
            format!("claude did not run ({span})"),
            Some("install Claude Code: npm install -g @anthropic-ai/claude-code"),
        );
    };
    let word = line.split_whitespace().next().unwrap_or("");
    let Some(have) = parse(word) else {
        return check(
            NAME,
            Verdict::Warn,
            format!("cannot read a version in {line:?} ({span})"),
            None,
        );
    };
    let (lo, hi) = (parse(oldest), parse(newest));
    if lo.is_some_and(|lo| have < lo) {
        check(
            NAME,
            Verdict::Warn,
            format!("{word} is older than the oldest verified version ({span})"),
            Some("upgrade Claude Code: npm install -g @anthropic-ai/claude-code"),
        )
    } else if hi.is_some_and(|hi| have > hi) {
        check(
            NAME,
            Verdict::Warn,
            format!(
                "{word} is newer than the newest verified version ({span}); screens or hook texts may have changed"
            ),
            Some(&format!(
                "run scripts/compat {word} in an intercomm checkout, or pin {newest}: npm install -g @anthropic-ai/claude-code@{newest}"
            )),
        )
    } else {
        check(NAME, Verdict::Ok, format!("{word} ({span})"), None)
    }
}

/// The check for the `claude` on PATH.
pub(super) fn run() -> Check {
    verdict(version("claude", "--version").as_deref(), VERIFIED)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = "# comment\n2.1.197\n\n2.1.332\n";

    #[test]
    fn versions_inside_the_range_are_ok() {
        assert_eq!(range(LIST), Some(("2.1.197", "2.1.332")));
        for v in ["2.1.197 (Claude Code)", "2.1.250", "2.1.332 (Claude Code)"] {
            assert_eq!(verdict(Some(v), LIST).verdict, Verdict::Ok, "{v}");
        }
    }

    #[test]
    fn versions_outside_or_unreadable_warn_with_a_fix() {
        let newer = verdict(Some("2.1.333 (Claude Code)"), LIST);
        assert_eq!(newer.verdict, Verdict::Warn);
        assert!(newer.detail.contains("newer"), "{}", newer.detail);
        assert!(
            newer
                .fix
                .is_some_and(|f| f.contains("scripts/compat 2.1.333"))
        );
        let older = verdict(Some("2.0.77 (Claude Code)"), LIST);
        assert!(older.detail.contains("older"), "{}", older.detail);
        assert_eq!(verdict(Some("garbage"), LIST).verdict, Verdict::Warn);
        assert_eq!(verdict(None, LIST).verdict, Verdict::Warn);
        assert_eq!(verdict(Some("2.1.1"), "# none\n").verdict, Verdict::Warn);
    }

    #[test]
    fn parse_wants_three_numbers() {
        assert_eq!(parse("2.1.332"), Some([2, 1, 332]));
        assert_eq!(parse("2.1"), None);
        assert_eq!(parse("2.1.3.4"), None);
        assert_eq!(parse("2.x.1"), None);
    }

    #[test]
    fn the_compiled_list_has_a_range() {
        assert!(range(VERIFIED).is_some());
    }
}
