//! Entry points for the cargo-fuzz targets in `fuzz/` (`scripts/fuzz`).
//! Hidden from the docs and not a stable API.
//!
//! Only what a target needs that the public API does not offer: the
//! argument parse of each MCP tool, picked by index, without a server. The
//! other targets use public functions directly ([`crate::contract::parse`],
//! [`crate::screen::classify`], [`crate::tmux::parse`]).

use rmcp::model::JsonObject;

use crate::error::Error;
use crate::mcp::TOOL_ARGS;

/// How many tools there are (valid indexes are `0..tool_count()`).
pub fn tool_count() -> usize {
    TOOL_ARGS.len()
}

/// The name of tool `index` (taken modulo [`tool_count`]), e.g. `intercomm_send`.
pub fn tool_name(index: usize) -> &'static str {
    TOOL_ARGS[index % TOOL_ARGS.len()].name
}

/// The argument names tool `index` (modulo [`tool_count`]) declares: the
/// `properties` of its input schema, e.g. `["to", "message", "type"]`.
pub fn tool_fields(index: usize) -> Vec<String> {
    let schema = (TOOL_ARGS[index % TOOL_ARGS.len()].schema)();
    schema
        .get("properties")
        .and_then(|p| p.as_object())
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// Parses `args` as the arguments of tool `index` (modulo [`tool_count`]),
/// exactly as a `tools/call` does before it runs the tool.
///
/// # Errors
///
/// The `invalid_argument` error the tool would answer with.
pub fn parse_tool_arguments(index: usize, args: JsonObject) -> Result<(), Error> {
    (TOOL_ARGS[index % TOOL_ARGS.len()].parse)(args)
}
