//! The master/worker protocol (system-prompt.md), compiled into the binary so
//! it can never be missing. Served as the MCP `instructions` and by
//! `intercomm_get_protocol`.

/// The protocol text, verbatim.
pub const PROTOCOL: &str = include_str!("../system-prompt.md");
