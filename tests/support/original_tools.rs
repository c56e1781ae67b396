//! The original tool's tool names, from its recorded tools/list reply
//! (tests/fixtures/reference/tool-schemas.json: intercomm-aimfp 1.0.2, 19
//! tools), the one list of them for the Rust tests and benches: included
//! with `#[path]` by tests/it/support.rs and benches/bus/main.rs (and read
//! by tests/python/test_mcp_sdk.py).

/// The reference tools/list reply: `{"initialize": {..}, "tools": [{"name", ..}, ..]}`.
const TOOL_SCHEMAS: &str = include_str!("../fixtures/reference/tool-schemas.json");

/// The names of the original's tools, in the reference's order.
///
/// Errors: the reference is not JSON, a tool has no string name, or it
/// lists no tool at all (a check against an empty list could not fail).
pub fn original_tools() -> Result<Vec<String>, String> {
    let reference: serde_json::Value =
        serde_json::from_str(TOOL_SCHEMAS).map_err(|e| format!("tool-schemas.json: {e}"))?;
    let names = reference["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|tool| {
            tool["name"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("tool-schemas.json: a tool without a name: {tool}"))
        })
        .collect::<Result<Vec<String>, String>>()?;
    if names.is_empty() {
        return Err("tool-schemas.json lists no tools".to_owned());
    }
    Ok(names)
}
