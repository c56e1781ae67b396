//! The events of `intercomm watch`: what changed between two [`Model`]s,
//! as JSON objects, one per line. The schema (every object has `event`
//! and `at_ms`, epoch milliseconds):
//!
//! | event      | fields                                                                |
//! |------------|-----------------------------------------------------------------------|
//! | `state`    | `id`, `role`, `kind` (ready, running, blocked, waiting, starting, gone), `state` (with its reason) |
//! | `spawn`    | `id`: a new instance or spawned session appeared                      |
//! | `exit`     | `id`, `state`: it is gone (pane closed, Claude exited, signed off)    |
//! | `message`  | `seq`, `id`, `from`, `to`, `type`, `text` (one line, control characters replaced; a contract as its target), `reply_to` (the sender answered, or null) |
//! | `decision` | `open` (true when it appears, false when it is settled), `kind` (`permission`: `worker`, `tool`, `detail`; `question`: `from`, `message_id`, `text`) |
//!
//! The first model is compared with an empty one: every instance's `state`
//! and every open `decision` come first, but no old `message`s.

use serde_json::{Value, json};

use super::model::{Kind, Model, Row};

/// The events from `before` (`None` at start) to `after`.
pub fn between(before: Option<&Model>, after: &Model) -> Vec<Value> {
    let at = after.now_ms;
    let mut out = Vec::new();
    for row in &after.rows {
        let old = before.and_then(|b| b.rows.iter().find(|r| r.id == row.id));
        if before.is_some() && old.is_none() {
            out.push(json!({"event": "spawn", "at_ms": at, "id": row.id}));
        }
        if old.is_none_or(|o| !same_state(o, row)) {
            out.push(json!({
                "event": "state", "at_ms": at, "id": row.id, "role": row.role,
                "kind": row.kind, "state": row.state,
            }));
            if row.kind == Kind::Gone && old.is_some_and(|o| o.kind != Kind::Gone) {
                out.push(json!({"event": "exit", "at_ms": at, "id": row.id, "state": row.state}));
            }
        }
    }
    if let Some(b) = before {
        for gone in b
            .rows
            .iter()
            .filter(|r| !after.rows.iter().any(|a| a.id == r.id))
        {
            out.push(json!({"event": "exit", "at_ms": at, "id": gone.id, "state": "removed"}));
        }
        let last = b.lines.last().map_or(0, |l| l.seq);
        for l in after.lines.iter().filter(|l| l.seq > last) {
            out.push(json!({
                "event": "message", "at_ms": l.at_ms, "seq": l.seq, "id": l.id,
                "from": l.from, "to": l.to, "type": l.kind, "text": l.text,
                "reply_to": l.reply_to,
            }));
        }
    }
    let was = |d| before.is_some_and(|b| b.decisions.contains(d));
    for d in after.decisions.iter().filter(|d| !was(d)) {
        out.push(decision(d, true, at));
    }
    if let Some(b) = before {
        for d in b.decisions.iter().filter(|d| !after.decisions.contains(d)) {
            out.push(decision(d, false, at));
        }
    }
    out
}

fn decision(d: &super::model::Decision, open: bool, at: i64) -> Value {
    let mut v = serde_json::to_value(d).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        map.insert("event".into(), json!("decision"));
        map.insert("open".into(), json!(open));
        map.insert("at_ms".into(), json!(at));
    }
    v
}

/// The same state, ignoring how long it has been running.
fn same_state(a: &Row, b: &Row) -> bool {
    a.kind == b.kind && (a.kind == Kind::Running || a.state == b.state)
}
