//! The hooks' part in cost: record the session's transcript, and at each
//! tool call stop a worker that is over a cap ([`super::caps`]).
//!
//! The stop is PreToolUse's deny: `{"hookSpecificOutput": {"hookEventName":
//! "PreToolUse", "permissionDecision": "deny", "permissionDecisionReason":
//! …}}` (Claude Code's hook output schema, present in 2.1.197 and 2.1.332):
//! the tool does not run and the model reads the reason as the tool's
//! error. The master gets one message per worker (type `status`, from the
//! worker) the first time it is stopped.

use std::path::Path;

use serde_json::{Value, json};

use super::caps::Caps;
use super::{Spend, refresh, spend_by_instance, total};
use crate::bus::instances::{self, Role};
use crate::bus::messages::{self, MessageType, NewMessage};
use crate::bus::{Bus, Conn, sessions, transcripts};
use crate::clock;
use crate::error::Result;
use crate::names::MASTER_ID;
use crate::ops::db;

/// How the message to the master begins (also how a repeat is recognised).
pub const NOTICE: &str = "[intercomm cost cap]";

/// Called by every hook of instance `id`: records `transcript` (the
/// payload's `transcript_path`) and, when `tool_call` (PreToolUse) and a cap
/// is reached, returns the deny to print. Caps that cannot be read are
/// logged and not applied (a hook must never break the session).
pub fn on_hook(
    bus: &mut Bus,
    bus_dir: &Path,
    id: &str,
    tool_call: bool,
    transcript: Option<&str>,
) -> Result<Option<Value>> {
    if let Some(path) = transcript.filter(|p| !p.is_empty()) {
        transcripts::record(bus.conn(), id, path, clock::now_ms()).map_err(db)?;
    }
    if !tool_call || !is_worker(bus.conn(), id)? {
        return Ok(None);
    }
    let caps = match Caps::load(bus_dir) {
        Ok(c) if c.any() => c,
        Ok(_) => return Ok(None),
        Err(err) => {
            tracing::warn!(target: "cost", %err, "caps ignored");
            return Ok(None);
        }
    };
    let reason = bus.write(|tx| {
        let worker = refresh(tx, id).map_err(db)?;
        let fleet = fleet_spend(tx)?;
        let Some(reason) = caps.breach(id, &worker, &fleet) else {
            return Ok(None);
        };
        if !already_told(tx, id)? {
            let content = format!(
                "{NOTICE} {reason}: {id} is stopped at each tool call until the cap is raised \
                 (INTERCOMM_CAP_* in its environment, or .intercomm/caps.json)."
            );
            messages::insert(
                tx,
                &NewMessage {
                    id: &crate::ops::messaging::new_message_id(),
                    from: id,
                    to: MASTER_ID,
                    kind: MessageType::Status,
                    content: &content,
                    sent_at_ms: clock::now_ms(),
                    in_reply_to: None,
                },
            )
            .map_err(db)?;
        }
        Ok::<_, crate::error::Error>(Some(reason))
    })?;
    Ok(reason.map(|r| {
        json!({"hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "deny",
            "permissionDecisionReason": format!(
                "intercomm: {r}. Stop working and end your turn; the master has been told."
            ),
        }})
    }))
}

fn fleet_spend(conn: &Conn) -> Result<Spend> {
    Ok(total(spend_by_instance(conn).map_err(db)?.values()))
}

/// Workers are capped; the master is not.
fn is_worker(conn: &Conn, id: &str) -> Result<bool> {
    Ok(match instances::get(conn, id).map_err(db)? {
        Some(row) => row.role == Role::Worker,
        None => sessions::get(conn, id).map_err(db)?.is_some(),
    })
}

fn already_told(conn: &Conn, id: &str) -> Result<bool> {
    messages::sent_status_with_prefix(conn, id, MASTER_ID, NOTICE).map_err(db)
}
