//! The machine the tests run on: the repository and binary under test, the
//! pinned Claude Code (installed by scripts/e2e-setup when missing), the
//! tools and privileges a world needs, and running a command to completion.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::fail;

/// The Claude Code versions the suite is verified on, oldest first, one a
/// line (`#` comments): tests/e2e/claude-versions, which scripts/test runs the
/// suite once per line from.
const VERSIONS: &str = include_str!("../claude-versions");

/// The listed versions, oldest first.
pub fn listed_versions() -> Vec<&'static str> {
    VERSIONS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// The repository root (this crate).
pub fn crate_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The binary under test.
pub fn intercomm_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_intercomm"))
}

/// The Claude Code version under test: INTERCOMM_E2E_CLAUDE_VERSION, else the
/// newest listed one.
pub fn claude_version() -> String {
    std::env::var("INTERCOMM_E2E_CLAUDE_VERSION")
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .or_else(|| listed_versions().last().map(|v| (*v).to_owned()))
        .unwrap_or_else(|| fail("tests/e2e/claude-versions lists no version"))
}

/// `version` (e.g. "2.1.332") is `min` or newer, compared numerically part by
/// part; a part that is no number counts as 0.
pub fn version_at_least(version: &str, min: &str) -> bool {
    let parts = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parts(version) >= parts(min)
}

/// `~/.cache/intercomm/claude-code/<version>/node_modules/.bin/claude`,
/// installed by scripts/e2e-setup when missing.
fn claude_path(version: &str) -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".to_owned());
    PathBuf::from(home)
        .join(".cache/intercomm/claude-code")
        .join(version)
        .join("node_modules/.bin/claude")
}

/// The pinned Claude Code's `claude`, installed first when missing.
pub fn claude_bin() -> PathBuf {
    ensure_claude(&claude_version())
}

pub(super) fn ensure_claude(version: &str) -> PathBuf {
    let path = claude_path(version);
    if path.exists() {
        return path;
    }
    let setup = crate_root().join("scripts/e2e-setup");
    eprintln!(
        "e2e: Claude Code {version} is not installed; running {}",
        setup.display()
    );
    let status = Command::new(&setup)
        .env("INTERCOMM_E2E_CLAUDE_VERSION", version)
        .status();
    match status {
        Ok(s) if s.success() && path.exists() => path,
        Ok(s) => fail(format!(
            "{} failed ({s}); {} is missing",
            setup.display(),
            path.display()
        )),
        Err(e) => fail(format!("cannot run {}: {e}", setup.display())),
    }
}

pub(super) fn which(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

pub(super) fn euid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Runs a command to completion; `Err` carries its stderr.
pub(super) fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
