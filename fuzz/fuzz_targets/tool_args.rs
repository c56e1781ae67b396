//! Every MCP tool's argument parse on arbitrary JSON.
//!
//! Input: the first byte picks the tool (modulo the tool count), the rest is
//! JSON text; arguments that are not a JSON object never reach a tool (the
//! MCP layer refuses them), so only objects are parsed.
//!
//! Checks: no panic; every rejection is an `invalid_argument` error whose
//! message names one of the tool's declared arguments ("invalid `count`: …",
//! "invalid `report_back[2]`: …") and says what was expected.
#![no_main]

use intercomm::fuzzing::{parse_tool_arguments, tool_fields, tool_name};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Some((&index, json)) = data.split_first() else {
        return;
    };
    let Ok(Value::Object(args)) = serde_json::from_slice::<Value>(json) else {
        return;
    };
    let index = usize::from(index);
    let Err(err) = parse_tool_arguments(index, args) else {
        return;
    };
    let tool = tool_name(index);
    assert_eq!(err.code, "invalid_argument", "{tool}: {err:?}");
    let named = err
        .message
        .strip_prefix("invalid `")
        .and_then(|rest| rest.split_once("`: "));
    let Some((path, problem)) = named else {
        panic!("{tool}: rejection names no argument: {:?}", err.message);
    };
    let field = path.split(['[', '.']).next().unwrap_or(path);
    assert!(
        tool_fields(index).iter().any(|f| f == field),
        "{tool}: names `{path}`, not one of its arguments: {:?}",
        err.message
    );
    assert!(
        problem == "is required" || problem.contains("expected"),
        "{tool}: does not say what was expected: {:?}",
        err.message
    );
});
