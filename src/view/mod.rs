//! Seeing the fleet: `intercomm top` (a full-screen terminal view) and
//! `intercomm watch` (the same events as JSON lines), both over one bus.
//!
//! ```text
//!  bus ──snapshot──► Snapshot ─┐
//!  scan (tmux) ──► Seen ───────┼─ model (pure) ─► Model ─┬─ render (pure) ─► frame   (top)
//!  git ──► Progress, Radar ────┘                         └─ events (pure) ─► JSON lines (watch)
//!  keys ─► input (pure) ─► Action ─► actions (approve, reply, wake, diff, attach, teardown)
//! ```
//!
//! Both wake on a bus change through [`crate::bus::watch`] (SQLite's
//! `data_version`, checked every 20–100 ms, no table read while nothing
//! changes). The fleet scan, which runs tmux, runs after a bus change at
//! most once per [`feed::SCAN_EVERY`] and otherwise every
//! [`feed::SCAN_IDLE`]; git progress at most every [`feed::GIT_EVERY`].

pub mod events;
pub mod feed;
pub mod input;
pub mod model;
pub mod radar;
pub mod render;
pub mod review;
pub mod snapshot;
pub mod top;
pub mod watch;
