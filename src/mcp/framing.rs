//! JSON-RPC framing errors answered as the specification says, before a
//! line reaches rmcp.
//!
//! rmcp 3.11 drops a line that is not JSON, a line over its length limit
//! and a request nested past serde_json's depth limit without a word (it
//! answers only well-formed JSON of the wrong shape, and then without the
//! request's id), and it takes a second request with the id of one still in
//! flight. A client then waits forever. JSON-RPC 2.0 (jsonrpc.org/
//! specification, "Error object") asks for an answer: `-32700` Parse error
//! for invalid JSON, `-32600` Invalid Request for a valid JSON that is not a
//! request object, each with the request's id if it can be read, else
//! `null`. MCP (2025-06-18, "Requests") forbids reusing an id within a
//! session; such a request is answered `-32600` with its id and not run.
//!
//! This sits between the process's stdin/stdout and rmcp: each input line
//! is read (at most [`MAX_LINE`] bytes), classified ([`classify`], pure),
//! and either passed on or answered here; rmcp's output passes through
//! line by line, releasing answered ids. Answers from both sides are
//! written whole under one lock, so lines never interleave.
//!
//! What this costs a line: an input line is parsed once here for its
//! syntax (rmcp would drop a bad one silently) without building values,
//! and its nesting is scanned only when it holds more opening brackets than
//! [`MAX_DEPTH`]; an output line is read only up to its id and `result` or
//! `error`, the first few dozen bytes of what rmcp writes, not parsed a
//! second time. Measured with valgrind (docs/PERFORMANCE.md), this took
//! 12% of the server's instructions off a read of a 149 KB page and 22% off
//! a send of a 59 KB message; a small call's 3% is lost in its latency.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use super::stdio::{Reader, Writer};

/// The longest input line taken, in bytes (rmcp's own limit, 16 MiB).
pub const MAX_LINE: usize = 16 * 1024 * 1024;

/// The deepest nesting serde_json parses into a value (its recursion
/// limit, which rmcp's parse hits and then drops the line).
pub const MAX_DEPTH: usize = 128;

/// Whether arrays and objects may nest deeper than [`MAX_DEPTH`] in
/// `text`: a count of its opening brackets (strings included, so it counts
/// too many, never too few) clears almost every line; only a line with more
/// than [`MAX_DEPTH`] of them is scanned with [`nesting`].
fn too_deep(text: &[u8]) -> bool {
    // Counted in u8 per chunk of 255, which the compiler vectorises: ~30x
    // faster than the byte-wise scan on a 200 KB line.
    let opening: usize = text
        .chunks(255)
        .map(|c| {
            usize::from(
                c.iter()
                    .fold(0u8, |n, &b| n + u8::from(b == b'[' || b == b'{')),
            )
        })
        .sum();
    opening > MAX_DEPTH && nesting(text) > MAX_DEPTH
}

/// How deep arrays and objects nest in `text` (strings skipped).
fn nesting(text: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0, false, false);
    for &b in text {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// What to do with one input line.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Pass it on; `Some(id)` for a request (its id, as JSON text).
    Pass(Option<String>),
    /// Answer it with this error and do not pass it on.
    Answer(Value),
    /// Nothing to do (a blank line).
    Skip,
}

/// The fields of a message this layer reads; the rest is skipped (but still
/// checked for syntax and depth by serde_json).
#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    jsonrpc: Option<String>,
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    method: Option<Value>,
}

/// A JSON-RPC error answer.
fn error(id: Option<&Value>, code: i64, message: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id.cloned().unwrap_or(Value::Null),
        "error": {"code": code, "message": message},
    })
}

/// Classifies one line (without its newline). `in_flight` holds the ids of
/// requests passed on and not yet answered.
pub fn classify(line: &[u8], in_flight: &HashSet<String>) -> Verdict {
    let text = line.trim_ascii();
    if text.is_empty() {
        return Verdict::Skip;
    }
    if too_deep(text) {
        let id = serde_json::from_slice::<Head>(text).ok().and_then(|h| h.id);
        return Verdict::Answer(error(
            id.as_ref().filter(|v| v.is_string() || v.is_number()),
            -32600,
            &format!("Invalid Request: nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    if text[0] == b'[' {
        return match serde_json::from_slice::<serde::de::IgnoredAny>(text) {
            Ok(_) => Verdict::Answer(error(
                None,
                -32600,
                "Invalid Request: batches are not supported (MCP 2025-06-18)",
            )),
            Err(e) => Verdict::Answer(error(None, -32700, &format!("Parse error: {e}"))),
        };
    }
    let head: Head = match serde_json::from_slice(text) {
        Ok(h) => h,
        Err(e) if e.is_syntax() || e.is_eof() => {
            return Verdict::Answer(error(None, -32700, &format!("Parse error: {e}")));
        }
        Err(e) => {
            return Verdict::Answer(error(None, -32600, &format!("Invalid Request: {e}")));
        }
    };
    let id = head
        .id
        .as_ref()
        .filter(|v| v.is_string() || v.is_number() || v.is_null());
    if head.id.is_some() && id.is_none() {
        return Verdict::Answer(error(
            None,
            -32600,
            "Invalid Request: id must be a string or a number",
        ));
    }
    if head.jsonrpc.as_deref() != Some("2.0") {
        return Verdict::Answer(error(
            id,
            -32600,
            "Invalid Request: \"jsonrpc\" must be \"2.0\"",
        ));
    }
    match (&head.method, id) {
        (Some(Value::String(_)), Some(id)) => {
            let key = id.to_string();
            if in_flight.contains(&key) {
                return Verdict::Answer(error(
                    Some(id),
                    -32600,
                    "Invalid Request: this id belongs to a request still in flight",
                ));
            }
            Verdict::Pass(Some(key))
        }
        (Some(Value::String(_)), None) | (None, _) => Verdict::Pass(None),
        (Some(_), _) => Verdict::Answer(error(
            id,
            -32600,
            "Invalid Request: method must be a string",
        )),
    }
}

/// The id a line of rmcp's output answers, as JSON text, if it is an answer
/// (it has `result` or `error`, and a non-null `id`).
///
/// Only the head of the line is read: rmcp 3.11 writes a response's fields
/// in the order `jsonrpc`, `id`, `result`/`error` (its `JsonRpcResponse` and
/// `JsonRpcError`), so reading stops after a few dozen bytes. Fields in
/// another order are still read right, only further. A line that is not a
/// JSON object answers nothing.
fn answered(line: &[u8]) -> Option<String> {
    let mut head = ReplyHead::default();
    // Stopping inside the object makes serde_json report it unfinished
    // after the head was read; what was read stands.
    let _ = (&mut head).deserialize(&mut serde_json::Deserializer::from_slice(line));
    head.answers.then_some(head.id?).map(|id| id.to_string())
}

/// What [`answered`] reads of an output line.
#[derive(Default)]
struct ReplyHead {
    id: Option<Value>,
    /// It has a `result` or an `error`.
    answers: bool,
}

/// A top-level key of an output line, as far as [`answered`] cares.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum ReplyKey {
    Id,
    Result,
    Error,
    #[serde(other)]
    Other,
}

impl<'de> DeserializeSeed<'de> for &mut ReplyHead {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for &mut ReplyHead {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON-RPC message object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<ReplyKey>()? {
            match key {
                ReplyKey::Id => self.id = map.next_value()?,
                ReplyKey::Result | ReplyKey::Error if self.id.is_some() => {
                    // The id is known: the rest of the line is not read.
                    self.answers = true;
                    return Ok(());
                }
                ReplyKey::Result | ReplyKey::Error => {
                    self.answers = true;
                    map.next_value::<IgnoredAny>()?;
                }
                ReplyKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            if self.answers && self.id.is_some() {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// Puts the framing checks between `input`/`output` (the process's stdio)
/// and the server; returns the ends the server reads and writes. Must be
/// called inside the runtime.
pub fn guard(input: Reader, output: Writer) -> (Reader, Writer) {
    let (server_in, to_server) = tokio::io::duplex(256 * 1024);
    let (from_server, server_out) = tokio::io::duplex(256 * 1024);
    let output = Arc::new(tokio::sync::Mutex::new(output));
    let in_flight = Arc::new(Mutex::new(HashSet::new()));
    tokio::spawn(inbound(
        input,
        to_server,
        Arc::clone(&output),
        Arc::clone(&in_flight),
    ));
    tokio::spawn(outbound(from_server, output, in_flight));
    (Box::new(server_in), Box::new(server_out))
}

type Shared = Arc<tokio::sync::Mutex<Writer>>;
type InFlight = Arc<Mutex<HashSet<String>>>;

async fn write_line(output: &Shared, line: &[u8]) -> std::io::Result<()> {
    let mut out = output.lock().await;
    out.write_all(line).await?;
    out.write_all(b"\n").await?;
    out.flush().await
}

/// Reads input lines, answers the bad ones, passes the rest to the server.
/// Ends (closing the server's input) at EOF or an I/O error.
async fn inbound(
    input: Reader,
    mut to_server: impl AsyncWrite + Unpin,
    output: Shared,
    in_flight: InFlight,
) {
    let mut input = BufReader::with_capacity(64 * 1024, input);
    let mut line = Vec::new();
    loop {
        line.clear();
        let over = match read_bounded(&mut input, &mut line).await {
            Ok(Some(over)) => over,
            Ok(None) => break,
            Err(err) => {
                tracing::warn!(target: "mcp", %err, "reading stdin failed");
                break;
            }
        };
        let verdict = if over {
            Verdict::Answer(error(
                None,
                -32600,
                &format!("Invalid Request: a line over {MAX_LINE} bytes"),
            ))
        } else {
            let seen = in_flight
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            classify(&line, &seen)
        };
        let sent = match verdict {
            Verdict::Skip => Ok(()),
            Verdict::Answer(answer) => {
                tracing::info!(target: "mcp", %answer, "answered a malformed message");
                write_line(&output, answer.to_string().as_bytes()).await
            }
            Verdict::Pass(id) => {
                if let Some(id) = id {
                    in_flight
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert(id);
                }
                line.push(b'\n');
                to_server.write_all(&line).await
            }
        };
        if let Err(err) = sent {
            tracing::warn!(target: "mcp", %err, "passing a message on failed");
            break;
        }
    }
    let _ = to_server.shutdown().await;
}

/// Reads one line into `line` (without its newline), keeping at most
/// [`MAX_LINE`] bytes: `Some(true)` when it was longer (the rest is
/// skipped), `None` at EOF with nothing read.
async fn read_bounded(
    input: &mut (impl AsyncBufReadExt + Unpin),
    line: &mut Vec<u8>,
) -> std::io::Result<Option<bool>> {
    let mut over = false;
    let mut any = false;
    loop {
        let available = input.fill_buf().await?;
        if available.is_empty() {
            return Ok(any.then_some(over));
        }
        any = true;
        let newline = available.iter().position(|&b| b == b'\n');
        let take = newline.unwrap_or(available.len());
        if !over && line.len() + take <= MAX_LINE {
            line.extend_from_slice(&available[..take]);
        } else {
            over = true;
            line.clear();
        }
        input.consume(take + usize::from(newline.is_some()));
        if newline.is_some() {
            return Ok(Some(over));
        }
    }
}

/// Passes the server's output lines on, releasing the ids they answer.
async fn outbound(from_server: impl AsyncRead + Unpin, output: Shared, in_flight: InFlight) {
    let mut from_server = BufReader::with_capacity(64 * 1024, from_server);
    let mut line = Vec::new();
    loop {
        line.clear();
        match from_server.read_until(b'\n', &mut line).await {
            Ok(0) => break,
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(target: "mcp", %err, "reading the server's output failed");
                break;
            }
        }
        let body = line.strip_suffix(b"\n").unwrap_or(&line);
        if let Some(id) = answered(body) {
            in_flight
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&id);
        }
        if let Err(err) = write_line(&output, body).await {
            tracing::warn!(target: "mcp", %err, "writing stdout failed");
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(v: &Verdict) -> Option<(i64, Value)> {
        match v {
            Verdict::Answer(a) => Some((a["error"]["code"].as_i64()?, a["id"].clone())),
            _ => None,
        }
    }

    #[test]
    fn bad_lines_get_the_specified_answers() {
        let none = HashSet::new();
        assert_eq!(
            code(&classify(b"not json", &none)),
            Some((-32700, Value::Null))
        );
        assert_eq!(
            code(&classify(b"{\"jsonrpc\":", &none)),
            Some((-32700, Value::Null))
        );
        // Valid JSON nested 100k deep: not a request rmcp can read.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(
            code(&classify(deep.as_bytes(), &none)),
            Some((-32600, Value::Null))
        );
        let deep_obj = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{}1{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(
            code(&classify(deep_obj.as_bytes(), &none)),
            Some((-32600, json!(1)))
        );
        assert_eq!(
            code(&classify(b"[1,2]", &none)),
            Some((-32600, Value::Null))
        );
        assert_eq!(code(&classify(b"42", &none)), Some((-32600, Value::Null)));
        assert_eq!(
            code(&classify(br#"{"id":7,"method":"ping"}"#, &none)),
            Some((-32600, json!(7)))
        );
        assert_eq!(
            code(&classify(
                br#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#,
                &none
            )),
            Some((-32600, Value::Null))
        );
        assert_eq!(
            code(&classify(
                br#"{"jsonrpc":"2.0","id":"x","method":5}"#,
                &none
            )),
            Some((-32600, json!("x")))
        );
    }

    #[test]
    fn nesting_skips_strings() {
        assert_eq!(nesting(br#"{"a":[1,{"b":"[[[{{"}]}"#), 3);
        assert_eq!(nesting(br#"["\"[", []]"#), 2);
        assert_eq!(nesting(b"1"), 0);
    }

    #[test]
    fn a_reused_in_flight_id_is_refused_and_others_pass() {
        let mut flying = HashSet::new();
        let ping = br#"{"jsonrpc":"2.0","id":"a","method":"ping"}"#;
        assert_eq!(classify(ping, &flying), Verdict::Pass(Some("\"a\"".into())));
        flying.insert("\"a\"".to_owned());
        assert_eq!(code(&classify(ping, &flying)), Some((-32600, json!("a"))));
        // The number 1 and the string "1" are different ids.
        flying.insert("1".to_owned());
        assert_eq!(
            classify(br#"{"jsonrpc":"2.0","id":"1","method":"ping"}"#, &flying),
            Verdict::Pass(Some("\"1\"".into()))
        );
        let note = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
        assert_eq!(classify(note, &flying), Verdict::Pass(None));
        assert_eq!(classify(b"  ", &flying), Verdict::Skip);
        assert_eq!(
            answered(br#"{"jsonrpc":"2.0","id":"a","result":{}}"#),
            Some("\"a\"".into())
        );
        assert_eq!(answered(br#"{"jsonrpc":"2.0","method":"x"}"#), None);
    }

    #[test]
    fn an_answer_is_read_from_its_head_in_any_field_order() {
        // Read without reaching the rest: a bad tail does not matter.
        assert_eq!(
            answered(br#"{"jsonrpc":"2.0","id":7,"result":{"content":[ not json"#),
            Some("7".into())
        );
        assert_eq!(
            answered(br#"{"error":{"code":-1,"message":"x"},"jsonrpc":"2.0","id":"b"}"#),
            Some("\"b\"".into())
        );
        // A request from the server, a null id, not an object: no answer.
        assert_eq!(
            answered(br#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#),
            None
        );
        assert_eq!(answered(br#"{"jsonrpc":"2.0","id":null,"error":{}}"#), None);
        assert_eq!(answered(b"[1,2]"), None);
        assert_eq!(answered(b"not json"), None);
    }

    #[test]
    fn too_deep_counts_brackets_before_it_scans() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(!too_deep(deep(MAX_DEPTH).as_bytes()));
        assert!(too_deep(deep(MAX_DEPTH + 1).as_bytes()));
        // Many brackets, shallow: counted past the limit, then scanned.
        let wide = format!("[{}]", "[],".repeat(300) + "[]");
        assert!(!too_deep(wide.as_bytes()));
        // Brackets inside strings do not nest.
        let quoted = format!("{{\"m\":\"{}\"}}", "[".repeat(1000));
        assert!(!too_deep(quoted.as_bytes()));
    }
}
