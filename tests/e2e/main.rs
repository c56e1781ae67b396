//! End-to-end tests with the REAL Claude Code (the newest version listed in
//! tests/e2e/claude-versions; INTERCOMM_E2E_CLAUDE_VERSION picks another, and
//! scripts/test runs the suite once per listed version) against a
//! scripted stand-in model on loopback only (tests/e2e/model.py), each test
//! in its own network namespace with a private tmux server
//! (see [`harness`]). They need root (for `ip netns`), tmux, git, python3 and
//! node; scripts/e2e-setup installs Claude Code when it is missing.
//!
//!     cargo nextest run --test e2e          # serialised by .config/nextest.toml
//!     INTERCOMM_E2E_KEEP=1 …                # keep each test's folder (logs, repo)
//!     INTERCOMM_E2E_STRICT=1 …              # notes (soft observations) fail too
//!
//! A failing test prints every pane and the model's request log.

mod harness;

mod aimfp_round;
mod ask;
mod bypass;
mod escalation;
mod fleet_round;
mod hooks_master;
mod hooks_permission;
mod hooks_wake;
mod permission;
mod plugin;
mod plugin_first_start;
mod safety;
