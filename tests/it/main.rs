//! The one integration-test binary (codex/uv style): every module below is
//! a suite; `support` holds the shared harness.

mod bus;
mod cli;
mod cli_loop;
mod contract;
mod cost;
mod faults;
mod first_run;
mod fleet;
mod forged;
mod harden;
mod hooks;
mod host_records;
mod mcp;
mod pg;
mod processes;
mod props;
mod radar;
mod screens;
mod spawn;
mod stand_in;
mod support;
mod threads;
mod top;
mod view;
mod worktrees;
