//! Task contract v2: the thin JSON pointer a master sends a worker in a
//! `task` message, naming an AIMFP work entity the worker continues.
//!
//! Wire form (keys in this order; an absent `id` or `slug` is omitted):
//!
//! ```json
//! {"kind":"task_contract","v":2,"role":"worker","role_instructions":"…",
//!  "aimfp_target":{"type":"task","id":42,"slug":"task-x"},"reportBack":["branch","commit"]}
//! ```
//!
//! [`parse`] checks exactly what intercomm-aimfp 1.0.2 checks, in the same
//! order, with the same error strings: worker models read those strings and
//! act on them (reference: `contract-vectors.json`). [`build`] and [`parse`]
//! live together so that `intercomm_assign` can refuse anything `intercomm_read`
//! would later flag as invalid.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `kind` marker of a contract.
pub const KIND: &str = "task_contract";
/// The only supported contract version.
pub const VERSION: u8 = 2;

/// The kinds of AIMFP work entity a contract may point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TargetType {
    Task,
    Milestone,
    Subtask,
    Sidequest,
    Item,
}

impl TargetType {
    /// Every target type, in the order error messages list them.
    pub const ALL: [TargetType; 5] = [
        Self::Task,
        Self::Milestone,
        Self::Subtask,
        Self::Sidequest,
        Self::Item,
    ];

    /// The wire name, e.g. `sidequest`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Task => "task",
            Self::Milestone => "milestone",
            Self::Subtask => "subtask",
            Self::Sidequest => "sidequest",
            Self::Item => "item",
        }
    }

    fn from_wire(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// The AIMFP entity a worker continues: a type plus an integer id and/or a slug.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    #[serde(rename = "type")]
    pub kind: TargetType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
}

impl Target {
    /// `id=42, slug=task-x` (whichever are present), as the original prints it.
    pub fn idents(&self) -> String {
        let mut parts = Vec::new();
        if let Some(id) = self.id {
            parts.push(format!("id={id}"));
        }
        if let Some(slug) = &self.slug {
            parts.push(format!("slug={slug}"));
        }
        parts.join(", ")
    }
}

/// A valid contract, as [`parse`] returns it (extra keys dropped, strings untrimmed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contract {
    pub role: String,
    pub role_instructions: String,
    pub aimfp_target: Target,
    #[serde(rename = "reportBack")]
    pub report_back: Vec<String>,
}

/// The serialised form: `kind` and `v` first, then the contract's fields.
#[derive(Serialize)]
struct Wire<'a> {
    kind: &'static str,
    v: u8,
    role: &'a str,
    role_instructions: &'a str,
    aimfp_target: &'a Target,
    #[serde(rename = "reportBack")]
    report_back: &'a [String],
}

/// Serialises a contract to its wire form (compact JSON, key order fixed).
pub fn build(contract: &Contract) -> String {
    let wire = Wire {
        kind: KIND,
        v: VERSION,
        role: &contract.role,
        role_instructions: &contract.role_instructions,
        aimfp_target: &contract.aimfp_target,
        report_back: &contract.report_back,
    };
    // Serialising plain strings, integers and arrays of strings cannot fail.
    serde_json::to_string(&wire).unwrap_or_default()
}

/// Parses a `task` message's content. Never panics; the first failing check
/// gives the error, worded exactly as intercomm-aimfp 1.0.2 words it.
pub fn parse(content: &str) -> Result<Contract, String> {
    let value: Value =
        serde_json::from_str(content).map_err(|_| "content is not valid JSON".to_owned())?;
    // Arrays pass this check in the original (typeof [] === "object").
    let obj = match &value {
        Value::Object(map) => Some(map),
        Value::Array(_) => None,
        _ => return Err("content is not a task contract object".to_owned()),
    };
    let field = |name: &str| obj.and_then(|m| m.get(name));

    if field("kind").and_then(Value::as_str) != Some(KIND) {
        return Err("content is not a task contract".to_owned());
    }
    let version = field("v");
    if version.and_then(Value::as_f64) != Some(f64::from(VERSION)) {
        return Err(format!(
            "unsupported task contract version: {}",
            js_string(version)
        ));
    }
    let role = non_blank(field("role")).ok_or("role must be a non-empty string")?;
    let role_instructions = non_blank(field("role_instructions"))
        .ok_or("role_instructions must be a non-empty string")?;
    let report_back =
        string_array(field("reportBack")).ok_or("reportBack must be an array of strings")?;

    let target = match field("aimfp_target") {
        Some(Value::Object(map)) => Some(map),
        Some(Value::Array(_)) => None,
        _ => return Err("aimfp_target must be an object".to_owned()),
    };
    let kind = target
        .and_then(|t| t.get("type"))
        .and_then(Value::as_str)
        .and_then(TargetType::from_wire)
        .ok_or("aimfp_target.type must be one of task, milestone, subtask, sidequest, item")?;
    let id = target.and_then(|t| t.get("id")).and_then(js_integer);
    let slug = non_blank(target.and_then(|t| t.get("slug")));
    if id.is_none() && slug.is_none() {
        return Err("aimfp_target must have an integer id or a non-empty slug".to_owned());
    }
    Ok(Contract {
        role,
        role_instructions,
        aimfp_target: Target { kind, id, slug },
        report_back,
    })
}

/// A string that still has content after JavaScript's `trim()`, untrimmed.
fn non_blank(value: Option<&Value>) -> Option<String> {
    value
        .and_then(Value::as_str)
        .filter(|s| !js_trim(s).is_empty())
        .map(str::to_owned)
}

fn string_array(value: Option<&Value>) -> Option<Vec<String>> {
    value?
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// A JSON number that JavaScript's `Number.isInteger` accepts and that fits `i64`.
fn js_integer(value: &Value) -> Option<i64> {
    if let Some(i) = value.as_i64() {
        return Some(i);
    }
    let f = value.as_f64()?;
    // The range check keeps the cast exact; larger integers are refused.
    (f.is_finite() && f.fract() == 0.0 && f.abs() < 9.2e18).then_some(f as i64)
}

/// JavaScript's `String.prototype.trim`: WhiteSpace and LineTerminator code
/// points (ECMA-262 §12.2, §12.3). Differs from Rust's `trim` on U+0085 and U+FEFF.
pub fn js_trim(s: &str) -> &str {
    s.trim_matches(is_js_whitespace)
}

fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

/// JavaScript's `String(v)` for the values a JSON document can hold, with
/// `undefined` for an absent key.
fn js_string(value: Option<&Value>) -> String {
    match value {
        None => "undefined".to_owned(),
        Some(Value::Null) => "null".to_owned(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
            Some(f) => f.to_string(),
            None => n.to_string(),
        },
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::Null => String::new(),
                other => js_string(Some(other)),
            })
            .collect::<Vec<_>>()
            .join(","),
        Some(Value::Object(_)) => "[object Object]".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_string_matches_javascript() {
        assert_eq!(js_string(None), "undefined");
        assert_eq!(js_string(Some(&serde_json::json!(1))), "1");
        assert_eq!(js_string(Some(&serde_json::json!(2.5))), "2.5");
        assert_eq!(js_string(Some(&serde_json::json!("2"))), "2");
        assert_eq!(js_string(Some(&serde_json::json!([1, null, "a"]))), "1,,a");
        assert_eq!(js_string(Some(&serde_json::json!({}))), "[object Object]");
    }

    #[test]
    fn version_two_point_zero_is_two() {
        let c = r#"{"kind":"task_contract","v":2.0,"role":"w","role_instructions":"x","reportBack":[],"aimfp_target":{"type":"task","id":1}}"#;
        assert!(parse(c).is_ok());
    }

    #[test]
    fn build_then_parse_round_trips() {
        let contract = Contract {
            role: "worker".into(),
            role_instructions: "do it".into(),
            aimfp_target: Target {
                kind: TargetType::Milestone,
                id: None,
                slug: Some("m-1".into()),
            },
            report_back: vec!["branch".into()],
        };
        assert_eq!(parse(&build(&contract)), Ok(contract));
    }

    #[test]
    fn trim_follows_javascript_not_rust() {
        assert_eq!(js_trim("\u{feff} a \u{3000}"), "a");
        assert_eq!(js_trim("\u{85}"), "\u{85}");
    }
}
