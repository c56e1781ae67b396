//! The Claude Code plugin, installed as a user installs it: the tracked
//! files of this repository (read from the working tree, so what is tested
//! is what would be pushed) are copied to a folder, and inside the world's
//! throwaway HOME `claude plugin marketplace add <folder>` and `claude plugin
//! install intercomm@intercomm` install it (offline, from the local path).
//! Used by the plugin and hooks_* scenarios and the hooks benchmark.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use super::{World, crate_root, fail, short};

/// Claude Code names the plugin's server `plugin:intercomm:intercomm`, and
/// its tools `mcp__plugin_intercomm_intercomm__<tool>` (2.1.197).
pub const TOOLS: &str = "mcp__plugin_intercomm_intercomm__";

/// The plugin's name for intercomm tool `name`.
pub fn tool(name: &str) -> String {
    format!("{TOOLS}{name}")
}

/// The events the plugin handles, each recorded as a fixture
/// (and copied to a file by the capture hooks).
pub const EVENTS: [&str; 7] = [
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PermissionRequest",
    "Notification",
    "Stop",
    "SessionEnd",
];

/// Commits a project without `.mcp.json` that allows the plugin's tools,
/// installs the plugin through a local marketplace, and adds test-only hooks
/// that keep every payload; returns the folder they go to.
pub fn install_plugin(world: &World) -> PathBuf {
    let settings = json!({"permissions": {"allow": [
        "mcp__plugin_intercomm_intercomm", "Bash(git:*)", "Bash(echo:*)", "Bash(sleep:*)"
    ]}});
    if let Err(e) = std::fs::write(
        world.repo.join(".claude/settings.json"),
        format!("{settings:#}\n"),
    ) {
        fail(format!("cannot write the project's settings: {e}"));
    }
    let prepared = world
        .git(&["rm", "-q", ".mcp.json"])
        .and_then(|_| world.commit_all("use the intercomm plugin"));
    if let Err(e) = prepared {
        fail(format!("cannot prepare the project: {e}"));
    }
    let source = world.dir.join("marketplace");
    copy_tracked_files(&source);
    claude(
        world,
        &[
            "plugin",
            "marketplace",
            "add",
            &source.display().to_string(),
        ],
    );
    claude(world, &["plugin", "install", "intercomm@intercomm"]);
    let listed = claude(world, &["plugin", "list"]);
    if !listed.contains("intercomm@intercomm") || !listed.contains("enabled") {
        fail(format!("the plugin is not installed and enabled: {listed}"));
    }

    let captured = world.dir.join("hook-payloads");
    let settings_path = world.home.join(".claude/settings.json");
    let mut user: Value = std::fs::read_to_string(&settings_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| fail("the plugin install left no readable user settings"));
    let mut hooks = serde_json::Map::new();
    for event in EVENTS {
        // `<event>-<ns>.json`: names sort in the order the hooks ran.
        let command = format!(
            "cat > '{}/{event}-'\"$(date +%s%N)\".json",
            captured.display()
        );
        hooks.insert(
            event.to_owned(),
            json!([{"hooks": [{"type": "command", "command": command}]}]),
        );
    }
    user["hooks"] = Value::Object(hooks);
    let written = std::fs::create_dir_all(&captured)
        .and_then(|()| std::fs::write(&settings_path, format!("{user:#}\n")));
    if let Err(e) = written {
        fail(format!("cannot add the capture hooks: {e}"));
    }
    captured
}

/// Copies the files git tracks in this repository, as they are in the
/// working tree, to `dest` (what a clone of the pushed tree would hold,
/// without build output).
fn copy_tracked_files(dest: &Path) {
    let root = crate_root();
    let listed = Command::new("git")
        .arg("-C")
        .arg(&root)
        .args(["ls-files", "-z"])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| fail(format!("git ls-files: {e}")));
    if !listed.status.success() {
        fail(format!(
            "git ls-files in {}: {}",
            root.display(),
            String::from_utf8_lossy(&listed.stderr)
        ));
    }
    for rel in listed.stdout.split(|b| *b == 0).filter(|p| !p.is_empty()) {
        let rel = PathBuf::from(String::from_utf8_lossy(rel).into_owned());
        let from = root.join(&rel);
        if !from.is_file() {
            continue; // deleted in the working tree
        }
        let to = dest.join(&rel);
        let copied = to
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::copy(&from, &to));
        if let Err(e) = copied {
            fail(format!("cannot copy {}: {e}", rel.display()));
        }
    }
}

/// Runs `claude ARGS` in the world's namespace, with its environment;
/// returns stdout and stderr.
fn claude(world: &World, args: &[&str]) -> String {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &world.ns, "env", "-i"]);
    for (k, v) in world.base_env() {
        cmd.arg(format!("{k}={v}"));
    }
    let out = cmd
        .arg(&world.claude)
        .args(args)
        .current_dir(&world.dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| fail(format!("claude {args:?}: {e}")));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        fail(format!("claude {args:?} failed ({}): {text}", out.status));
    }
    eprintln!("e2e plugin: claude {args:?} -> {}", short(text.trim(), 200));
    text
}
