//! Mail delivery by hooks: a note of urgent unread mail before each tool
//! call, and unread mail handed back to Claude at Stop.

use serde_json::json;

use super::{Ctx, Payload, Reply, context_reply, state};
use crate::bus::messages;
use crate::error::Error;
use crate::ops::messaging::{self, ReadResult};

/// Environment variable that turns mail delivery by hooks off (`0`).
pub const MAIL_ENV: &str = "INTERCOMM_HOOK_MAIL";
/// Most messages one Stop hook delivers.
const STOP_MAIL_LIMIT: i64 = 20;

/// PreToolUse: `running` on the tool; "N unread from X" as context when
/// urgent mail waits (not before intercomm's own tools).
pub fn pre_tool_use(ctx: &mut Ctx) -> Result<Reply, Error> {
    let tool = ctx.payload.tool_name.clone().unwrap_or_default();
    state::record(ctx, "running", tool)?;
    if !ctx.caller.mail || is_intercomm_tool(ctx.payload) {
        return Ok(Reply::default());
    }
    Ok(context_reply(ctx.event, urgent_mail_note(ctx)?))
}

/// Stop: unread mail handed back to Claude (block with the mail as the
/// reason) and marked read, once; the state is then `running` (the turn
/// goes on with the mail), else `ready`. The mail is taken before the state
/// is recorded, so a wake hook waiting for `ready` never rings for mail this
/// hook delivers.
///
/// A Stop that ends a turn a Stop hook already continued
/// (`stop_hook_active`) delivers nothing: otherwise a sender writing at each
/// stop would keep the turn going forever. That mail stays unread, and the
/// wake waiter armed at this Stop rings for it once the session is idle
/// ([`super::rewake`]).
pub fn stop(ctx: &mut Ctx) -> Result<Reply, Error> {
    if !ctx.caller.mail || ctx.payload.stop_hook_active == Some(true) {
        state::record(ctx, "ready", String::new())?;
        return Ok(Reply::default());
    }
    let taken: ReadResult = messaging::take_unread(ctx.bus, &ctx.id, false, STOP_MAIL_LIMIT, true)?;
    if taken.count == 0 {
        state::record(ctx, "ready", String::new())?;
        return Ok(Reply::default());
    }
    state::record(ctx, "running", String::new())?;
    let reason = format!(
        "intercomm delivered new mail for {} (now marked read). Act on it as the protocol says, then stop.\n{}",
        ctx.id,
        crate::ops::Outcome::text(&taken)
    );
    Ok(Reply {
        stdout: Some(json!({"decision": "block", "reason": reason})),
        stderr: None,
        wake: false,
    })
}

fn is_intercomm_tool(payload: &Payload) -> bool {
    payload
        .tool_name
        .as_deref()
        .is_some_and(|t| t.contains("intercomm_"))
}

/// "2 unread from master (answer, task)" for mail other than status and
/// announcements, or `None`.
fn urgent_mail_note(ctx: &Ctx) -> Result<Option<String>, Error> {
    let conn = ctx.bus.conn();
    let cursor = messages::cursor(conn, &ctx.id).map_err(crate::ops::db)?;
    let waiting =
        messages::inbox(conn, &ctx.id, cursor, STOP_MAIL_LIMIT).map_err(crate::ops::db)?;
    let urgent: Vec<_> = waiting
        .iter()
        .filter(|m| m.kind != "status" && m.kind != "announce")
        .collect();
    if urgent.is_empty() {
        return Ok(None);
    }
    let mut senders: Vec<&str> = urgent.iter().map(|m| m.from.as_str()).collect();
    senders.dedup();
    Ok(Some(format!(
        "intercomm: {} unread message(s) from {} wait for you; call intercomm_read when this step is done.",
        urgent.len(),
        senders.join(", ")
    )))
}
