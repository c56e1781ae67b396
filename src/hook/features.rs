//! Which hook features a Claude Code version has, from its version number:
//! `claude --version` (prints e.g. `2.1.197 (Claude Code)`) for `intercomm
//! doctor`, and [`AGENT_ENV`] for a hook, which learns so at run time which
//! Claude Code runs it and falls back where a feature is missing (the wake
//! hook on a Claude Code without `asyncRewake` does not arm, so the sender
//! types the doorbell at once). See docs/HOOKS.md.
//!
//! Sources: Claude Code's changelog for the "since" versions of
//! PermissionRequest (2.0.45), PostCompact (2.1.76) and `mcp_tool` hooks
//! (2.1.118); `asyncRewake` was found in the binaries of 2.1.197, 2.1.330
//! and 2.1.332 (the schema's field "If true, hook runs in background and
//! wakes the model on exit code 2") and measured working on 2.1.197 (e2e
//! `hooks_wake`), 2.1.330 and 2.1.332; 2.1.197 is the oldest version checked,
//! so older ones are reported as not known to have it.

/// One hook feature intercomm uses, and what it does without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    pub name: &'static str,
    /// The first version known to have it, as `(major, minor, patch)`.
    pub since: (u32, u32, u32),
    /// What intercomm does on a version without it.
    pub fallback: &'static str,
}

/// The features intercomm relies on.
pub const FEATURES: &[Feature] = &[
    Feature {
        name: "PermissionRequest",
        since: (2, 0, 45),
        fallback: "permission dialogs are answered with keys (intercomm_approve)",
    },
    Feature {
        name: "asyncRewake",
        since: (2, 1, 197),
        fallback: "idle instances are woken by the typed doorbell",
    },
    Feature {
        name: "PostCompact",
        since: (2, 1, 76),
        fallback: "contracts are restored by SessionStart (source compact) only",
    },
    Feature {
        name: "mcp_tool hooks",
        since: (2, 1, 118),
        fallback: "not used yet",
    },
];

/// `(major, minor, patch)` from `claude --version` output, if it starts
/// with a version number.
pub fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let word = text.split_whitespace().next()?;
    let mut parts = word.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??, parts.next()??))
}

/// Each feature and whether `version` has it.
pub fn of(version: (u32, u32, u32)) -> Vec<(Feature, bool)> {
    FEATURES.iter().map(|f| (*f, version >= f.since)).collect()
}

/// The variable through which a hook learns the version of the Claude Code
/// that runs it: Claude Code sets `AI_AGENT=claude-code_<major>-<minor>-<patch>_harness`
/// in its own environment at start (unless the user set another value), so
/// every hook it starts inherits it (read in the 2.1.197 and 2.1.332
/// binaries; seen in a plugin process's environment on 2.1.332).
pub const AGENT_ENV: &str = "AI_AGENT";

/// `(major, minor, patch)` from an [`AGENT_ENV`] value such as
/// `claude-code_2-1-332_harness` (`claude-code/…` is read alike); `None` for
/// any other value.
pub fn parse_agent(value: &str) -> Option<(u32, u32, u32)> {
    let rest = value
        .strip_prefix("claude-code_")
        .or_else(|| value.strip_prefix("claude-code/"))?;
    let version = rest.split(['_', '/']).next()?;
    let mut parts = version.split('-').map(|p| p.parse::<u32>().ok());
    let v = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(v)
}

/// Whether the Claude Code whose [`AGENT_ENV`] value is `agent` has feature
/// `name`: `None` when the version cannot be told (no or another value) or
/// `name` is not a [`FEATURES`] name, so the caller keeps its usual path.
pub fn has(agent: Option<&str>, name: &str) -> Option<bool> {
    let version = parse_agent(agent?)?;
    let feature = FEATURES.iter().find(|f| f.name == name)?;
    Some(version >= feature.since)
}

/// [`has`] for the Claude Code running this process (a hook), from its
/// environment.
pub fn running_has(name: &str) -> Option<bool> {
    has(crate::env::get(AGENT_ENV).as_deref(), name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_gate_features() {
        assert_eq!(parse_version("2.1.197 (Claude Code)"), Some((2, 1, 197)));
        assert_eq!(parse_version("claude 2"), None);
        let old = of((2, 0, 77));
        assert!(
            old.iter()
                .all(|(f, has)| *has == (f.name == "PermissionRequest"))
        );
        assert!(of((2, 1, 332)).iter().all(|(_, has)| *has));
        assert!(
            !of((2, 1, 100))
                .iter()
                .any(|(f, has)| f.name == "asyncRewake" && *has)
        );
    }

    #[test]
    fn the_running_version_is_read_from_the_agent_variable() {
        // Values as Claude Code sets them (2.1.197, 2.1.332).
        assert_eq!(
            parse_agent("claude-code_2-1-197_harness"),
            Some((2, 1, 197))
        );
        assert_eq!(parse_agent("claude-code_2-1-332_agent"), Some((2, 1, 332)));
        assert_eq!(
            parse_agent("claude-code/2-1-332/harness"),
            Some((2, 1, 332))
        );
        for other in [
            "",
            "cursor",
            "claude-code_",
            "claude-code_2-1_harness",
            "claude-code_2-1-x_harness",
            "claude-code_2-1-3-4_harness",
        ] {
            assert_eq!(parse_agent(other), None, "{other:?}");
        }
        assert_eq!(
            has(Some("claude-code_2-1-100_harness"), "asyncRewake"),
            Some(false)
        );
        assert_eq!(
            has(Some("claude-code_2-1-197_harness"), "asyncRewake"),
            Some(true)
        );
        assert_eq!(
            has(Some("claude-code_2-1-100_harness"), "PermissionRequest"),
            Some(true)
        );
        assert_eq!(has(None, "asyncRewake"), None);
        assert_eq!(has(Some("my-agent"), "asyncRewake"), None);
        assert_eq!(
            has(Some("claude-code_2-1-332_harness"), "no such feature"),
            None
        );
    }
}
