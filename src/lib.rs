//! intercomm: one Claude Code master runs a fleet of Claude Code workers.
//!
//! ```text
//!  adapters   cli (clap)          mcp (rmcp, stdio)
//!                 \                  /
//!  operations      ops::* — one function per verb, returning an Outcome
//!                 /      |        \
//!  subsystems  bus (SQLite)   git (git2)   contract, names, location, process
//! ```
//!
//! stdout of `intercomm mcp` is the JSON-RPC channel: library code never
//! prints; logs go to stderr through `tracing`.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod bus;
pub mod cli;
pub mod clock;
pub mod contract;
pub mod cost;
pub mod env;
pub mod error;
pub mod fleet;
#[doc(hidden)]
pub mod fuzzing;
pub mod git;
pub mod hook;
pub mod host;
pub mod location;
pub mod logging;
pub mod mcp;
pub mod names;
pub mod ops;
pub mod process;
pub mod protocol;
pub mod radar;
pub mod render;
pub mod screen;
pub mod tmux;
pub mod view;
