//! Which hook features a Claude Code version has, from its version number
//! (`claude --version` prints e.g. `2.1.197 (Claude Code)`), for `intercomm
//! doctor` and docs/HOOKS.md.
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
}
