//! PermissionRequest: a worker's tool permission request becomes data on
//! the bus, and the master's decision comes back as the hook's answer.
//!
//! The hook records the request (`permission_requests`: worker, tool, full
//! input, Claude Code's suggested rules, when) and waits for the master's
//! `intercomm_approve`, looking at the bus only when another process has
//! committed ([`crate::bus::watch`]). A decision is printed as Claude Code's
//! PermissionRequest answer: `yes` → allow, `always` → allow with the
//! suggested rules as `updatedPermissions`, `no` → deny with the master's
//! reason as the message the model reads. No decision by the deadline
//! ([`WAIT_ENV`], default [`DEFAULT_WAIT_SECS`]) → the request expires and the
//! hook prints nothing, leaving the dialog on screen, where approve answers it
//! with keys as before.
//!
//! Facts (measured on Claude Code 2.1.330 and 2.1.332): the ordinary dialog
//! is drawn ~0.4 s after the hook starts and stays until it answers; a key
//! pressed in the dialog wins (the hook's later answer is dropped), so the
//! master must not press keys while a request is pending; an `allow` ran
//! the command 53–134 ms after the hook exited; a `deny` message reaches the
//! model as the tool result `{"content": <message>, "is_error": true}`; the
//! hook's default timeout is 600 s (plugin/hooks.json sets 600).
//!
//! Only workers' requests go to the bus, and only while a master is alive to
//! answer them; the master's own dialogs stay on its screen.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Ctx, Reply, state};
use crate::bus::instances;
use crate::bus::permissions::{self, Request};
use crate::bus::watch::Changes;
use crate::clock;
use crate::error::Error;
use crate::names::MASTER_ID;
use crate::ops::db;

/// Seconds a worker's PermissionRequest hook waits for the master's decision
/// before leaving the dialog on screen (`0`: never wait). Read by the hook
/// (in the worker's environment; spawn passes the master's value on).
pub const WAIT_ENV: &str = "INTERCOMM_PERMISSION_WAIT";
/// The wait when [`WAIT_ENV`] is unset or unreadable, in seconds.
pub const DEFAULT_WAIT_SECS: u64 = 120;
/// The longest wait, kept under the hook's 600 s timeout (plugin/hooks.json).
pub const MAX_WAIT_SECS: u64 = 590;
/// The longest pause between two looks at the bus while waiting.
const MAX_PAUSE: Duration = Duration::from_millis(250);

/// The wait configured in this process's environment.
pub fn wait_from_env() -> Duration {
    let secs = crate::env::get(WAIT_ENV)
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(DEFAULT_WAIT_SECS);
    Duration::from_secs(secs.min(MAX_WAIT_SECS))
}

/// Records `blocked` on the tool, and for a worker with a live master
/// records the request and waits for the decision.
pub fn request(ctx: &mut Ctx) -> Result<Reply, Error> {
    let tool = ctx.payload.tool_name.clone().unwrap_or_default();
    state::record(ctx, "blocked", tool.clone())?;
    let wait = ctx.caller.permission_wait;
    if ctx.id == MASTER_ID || wait.is_zero() || !master_alive(ctx)? {
        return Ok(Reply::default());
    }
    let now = clock::now_ms();
    let req = Request {
        id: uuid::Uuid::now_v7().to_string(),
        worker: ctx.id.clone(),
        tool,
        input: ctx.payload.tool_input.clone().unwrap_or(Value::Null),
        suggestions: ctx
            .payload
            .permission_suggestions
            .clone()
            .unwrap_or_else(|| json!([])),
        claude_session: ctx.payload.session_id.clone().unwrap_or_default(),
        asked_at: now,
        deadline: now + wait.as_millis() as i64,
        status: "pending".to_owned(),
        decision: None,
        reason: None,
        decided_by: None,
        decided_at: None,
        delivered_at: None,
    };
    ctx.bus
        .write(|c| permissions::insert(c, &req).map_err(db))?;
    let decided = wait_for_decision(ctx, &req.id, Instant::now() + wait)?;
    Ok(match decided {
        Some(r) => Reply {
            stdout: Some(answer(&r)),
            stderr: None,
            wake: false,
        },
        None => Reply::default(),
    })
}

fn master_alive(ctx: &Ctx) -> Result<bool, Error> {
    Ok(instances::get(ctx.bus.conn(), MASTER_ID)
        .map_err(db)?
        .is_some_and(|m| m.is_alive(clock::now_ms())))
}

/// Waits until the request is decided (then marks it delivered and returns
/// it), closed, or past `deadline` (then marks it expired).
fn wait_for_decision(ctx: &mut Ctx, id: &str, deadline: Instant) -> Result<Option<Request>, Error> {
    let mut changes = Changes::new(MAX_PAUSE);
    loop {
        if changes.changed(ctx.bus.conn()).map_err(db)? {
            let now = clock::now_ms();
            let taken = ctx
                .bus
                .write(|c| -> Result<Option<Option<Request>>, Error> {
                    let Some(r) = permissions::get(c, id).map_err(db)? else {
                        return Ok(Some(None));
                    };
                    Ok(match r.status.as_str() {
                        "decided" => {
                            permissions::transition(c, id, "decided", "delivered", now)
                                .map_err(db)?;
                            Some(Some(r))
                        }
                        "pending" => None,
                        _ => Some(None),
                    })
                })?;
            if let Some(done) = taken {
                return Ok(done);
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let now = clock::now_ms();
            // A decision that raced the deadline still counts.
            return ctx.bus.write(|c| {
                if permissions::transition(c, id, "pending", "expired", now).map_err(db)? {
                    return Ok(None);
                }
                match permissions::get(c, id).map_err(db)? {
                    Some(r) if r.status == "decided" => {
                        permissions::transition(c, id, "decided", "delivered", now).map_err(db)?;
                        Ok(Some(r))
                    }
                    _ => Ok(None),
                }
            });
        }
        std::thread::sleep(changes.pause().min(left));
    }
}

/// Claude Code's PermissionRequest answer for a decided request.
pub fn answer(r: &Request) -> Value {
    let decision = match r.decision.as_deref() {
        Some("always") => json!({"behavior": "allow", "updatedPermissions": always_rules(r)}),
        Some("no") => json!({"behavior": "deny", "message": deny_message(r)}),
        _ => json!({"behavior": "allow"}),
    };
    json!({"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": decision}})
}

/// The suggestions `always` applies: every one but a permission-mode
/// switch (`"type": "setMode"`, e.g. to `acceptEdits`, which Claude Code
/// 2.1.197 suggests beside a `touch` rule), as approve's keys never choose
/// the dialog's mode-switching option either: it would change what the
/// worker may do for everything that follows.
pub fn always_rules(r: &Request) -> Value {
    match &r.suggestions {
        Value::Array(a) => Value::Array(
            a.iter()
                .filter(|s| s["type"] != "setMode")
                .cloned()
                .collect(),
        ),
        _ => json!([]),
    }
}

/// What the worker's model reads when the master says no: intercomm's own
/// words, and the master's reason marked as relayed.
fn deny_message(r: &Request) -> String {
    let by = r.decided_by.as_deref().unwrap_or(MASTER_ID);
    match r.reason.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(reason) => format!(
            "intercomm: {by} denied this {} call. {by}'s reason, relayed as data: {reason}",
            r.tool
        ),
        None => format!(
            "intercomm: {by} denied this {} call. Do not retry it; call intercomm_read or ask {by} with intercomm_ask if you need another way.",
            r.tool
        ),
    }
}

/// Closes the worker's open requests: another of its hooks fired, so it
/// moved on without the hook's answer (a person answered the dialog on
/// screen, or the session ended).
pub fn close_open(ctx: &mut Ctx) -> Result<(), Error> {
    let id = ctx.id.clone();
    ctx.bus
        .write(|c| permissions::close_open(c, &id).map_err(db))
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decided(decision: &str, reason: Option<&str>) -> Request {
        Request {
            id: "r".into(),
            worker: "worker-1".into(),
            tool: "Bash".into(),
            input: json!({"command": "touch x"}),
            suggestions: json!([{"type": "addRules", "rules": [{"toolName": "Bash", "ruleContent": "touch:*"}],
                                  "behavior": "allow", "destination": "localSettings"},
                                 {"type": "setMode", "mode": "acceptEdits", "destination": "session"}]),
            claude_session: String::new(),
            asked_at: 0,
            deadline: 1,
            status: "decided".into(),
            decision: Some(decision.into()),
            reason: reason.map(Into::into),
            decided_by: Some("master".into()),
            decided_at: Some(1),
            delivered_at: None,
        }
    }

    #[test]
    fn decisions_become_claude_codes_answers() {
        let yes = answer(&decided("yes", None));
        assert_eq!(
            yes["hookSpecificOutput"]["decision"],
            json!({"behavior": "allow"})
        );
        assert_eq!(
            yes["hookSpecificOutput"]["hookEventName"],
            "PermissionRequest"
        );
        let always = answer(&decided("always", None));
        assert_eq!(
            always["hookSpecificOutput"]["decision"]["updatedPermissions"][0]["rules"][0]["ruleContent"],
            "touch:*"
        );
        assert_eq!(
            always["hookSpecificOutput"]["decision"]["updatedPermissions"]
                .as_array()
                .map(Vec::len),
            Some(1),
            "no mode switch"
        );
        let no = answer(&decided("no", Some("use the worktree instead")));
        let d = &no["hookSpecificOutput"]["decision"];
        assert_eq!(d["behavior"], "deny");
        assert!(
            d["message"]
                .as_str()
                .is_some_and(|m| m.contains("relayed as data: use the worktree instead"))
        );
    }
}
