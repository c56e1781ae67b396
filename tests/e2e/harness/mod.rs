//! The e2e harness: one isolated world per test, with the real Claude Code.
//!
//! [`World::new`] builds, in a fresh temporary folder:
//! - a network namespace with only `lo` (`ip netns add`), so no packet can
//!   leave the machine; the stand-in model (tests/e2e/model.py), a private
//!   tmux server (`tmux -S <tmp>/tmux.sock`, never the default server) and
//!   the master's `intercomm mcp` are started inside it, so every Claude Code
//!   and every MCP server they launch lives there too;
//! - a throwaway HOME whose `~/.claude.json` skips onboarding and approves
//!   the dummy API key, but pre-accepts neither folder trust nor the project's
//!   MCP server (intercomm_spawn must clear those dialogs for real);
//! - a git repository on `main` with a committed `.mcp.json` naming
//!   target/debug/intercomm, so every worktree has it, and a committed
//!   `.claude/settings.json` that allows the intercomm tools and `git`/`echo`
//!   commands (a worker's other commands still ask).
//!
//! Claude Code's environment is the tmux server's global environment (spawned
//! sessions inherit it): HOME, TERM, the dummy key, ANTHROPIC_BASE_URL, the
//! DISABLE_* switches, PATH with the pinned claude and target/debug; the
//! server starts under `env -i`, so CLAUDECODE, CLAUDE_CODE_ENTRYPOINT,
//! ANTHROPIC_AUTH_TOKEN and CLAUDE_CODE_OAUTH_TOKEN are never inherited, and
//! every tmux client the harness runs has that environment too (a session
//! made by `new-session` takes its PATH from the client, tmux 3.3a).
//!
//! Everything is undone in `Drop`, also when the test fails: the tmux server
//! is killed, every process left in the namespace is killed by pid, the
//! namespace is deleted, the folder removed. A failing test first prints
//! every pane and the model's request log. Missing privileges or tools make
//! the test fail with the reason; nothing is skipped.
//!
//! The parts: `world` (the World and its lifecycle), `host` (tools, the
//! pinned Claude Code, running commands), `netns` (the namespace and its
//! processes), `model` (the stand-in model and its request log), `tmux`
//! (the private server and its panes), `screen` (pure screen readers),
//! `mcp` (MCP clients and tool calls), `findings` (checks, notes,
//! diagnostics) and `checks` (what several scenarios check alike).

mod aimfp;
mod checks;
mod findings;
mod host;
mod keys;
mod mcp;
mod model;
mod netns;
mod plugin;
mod screen;
mod tmux;
mod world;

// Scenarios use `crate::harness::*`: every public item of every part.
pub use aimfp::*;
pub use checks::*;
pub use host::*;
pub use mcp::*;
pub use netns::*;
pub use plugin::*;
pub use screen::*;
pub use world::*;

/// Aborts the test with `msg` (the world's Drop still cleans up).
pub fn fail(msg: impl std::fmt::Display) -> ! {
    panic!("e2e: {msg}")
}

/// `s` cut to its first `n` characters, with `…` when cut.
pub fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}
