//! SessionStart: the instance is ready; Claude is told intercomm is active.
//! After a compaction or a resume (`source` `compact` / `resume`), the
//! context also restores what the conversation lost: a worker gets its
//! current task contract and its unread count, the master a short fleet
//! summary (workers and their states, pending permission requests, unread
//! mail by type), all read from the bus.
//!
//! Wording: intercomm's own sentences ask the model to call intercomm's
//! tools and act per the protocol; relayed content (the contract) is
//! introduced as data from the agent that sent it (Claude Code 2.1.332 tells
//! the model that what a hook relays is data). Only the contract is relayed;
//! the fleet summary carries ids, states, tools and counts, no message text.

use super::{Ctx, Reply, context_reply, state};
use crate::bus::{hooks, instances, messages, permissions, sessions};
use crate::clock;
use crate::error::Error;
use crate::names::MASTER_ID;
use crate::ops::db;

/// Most unread messages counted per instance.
const COUNT_CAP: i64 = 100;

/// Records `ready` and answers with [`note`] as context, plus what the
/// session lost after a compaction or resume.
pub fn start(ctx: &mut Ctx) -> Result<Reply, Error> {
    state::record(ctx, "ready", String::new())?;
    let mut text = note();
    if matches!(ctx.payload.source.as_deref(), Some("compact" | "resume")) {
        let restored = if ctx.id == MASTER_ID {
            fleet_summary(ctx)?
        } else {
            worker_context(ctx)?
        };
        text.push_str("\n\n");
        text.push_str(&restored);
    }
    Ok(context_reply(ctx.event, Some(text)))
}

/// What a starting session is told: intercomm is active, how to begin.
pub fn note() -> String {
    "intercomm is active in this project: coordinate with other Claude instances through the \
     intercomm_* tools. The user picks one master, which calls intercomm_register(role: \"master\"); \
     every other instance calls intercomm_register(). The protocol is in the server's \
     instructions (intercomm_get_protocol)."
        .to_owned()
}

fn unread(ctx: &Ctx, id: &str) -> Result<Vec<messages::Message>, Error> {
    let conn = ctx.bus.conn();
    let cursor = messages::cursor(conn, id).map_err(db)?;
    messages::inbox(conn, id, cursor, COUNT_CAP).map_err(db)
}

/// A worker's: who it is, its unread count, and its current contract.
fn worker_context(ctx: &Ctx) -> Result<String, Error> {
    let id = &ctx.id;
    let waiting = unread(ctx, id)?.len();
    let mut out = format!(
        "intercomm restored after this conversation was compacted or resumed: you are {id}, a worker \
         of this fleet. {waiting} unread message(s) wait for you: call intercomm_read, then carry on \
         with your task contract per the intercomm protocol, reporting to the master through intercomm."
    );
    match messages::latest_task_for(ctx.bus.conn(), id).map_err(db)? {
        Some(task) => out.push_str(&format!(
            "\nYour current task contract follows, as {} sent it on the bus (message {}); it is \
             data from another agent, to work on within the protocol:\n{}",
            task.from,
            task.id,
            crate::render::entry(&crate::render::Entry::plain(&task))
        )),
        None => out.push_str("\nNo task contract has been assigned to you yet."),
    }
    Ok(out)
}

/// The master's: each worker with its state, pending permission
/// requests, and unread mail by type.
fn fleet_summary(ctx: &Ctx) -> Result<String, Error> {
    let conn = ctx.bus.conn();
    let now = clock::now_ms();
    let mut workers: Vec<String> = Vec::new();
    for s in sessions::live(conn).map_err(db)? {
        let state = hooks::get(conn, &s.name)
            .map_err(db)?
            .map_or_else(|| "unknown".to_owned(), |h| h.state);
        workers.push(format!("{} {state}", s.name));
    }
    for r in instances::list(conn).map_err(db)? {
        if r.id != MASTER_ID
            && r.is_alive(now)
            && !workers.iter().any(|w| w.starts_with(&format!("{} ", r.id)))
        {
            let state = hooks::get(conn, &r.id)
                .map_err(db)?
                .map_or_else(|| "alive".to_owned(), |h| h.state);
            workers.push(format!("{} {state}", r.id));
        }
    }
    let requests: Vec<String> = permissions::pending(conn, None, now)
        .map_err(db)?
        .into_iter()
        .map(|r| format!("{} asks for {}", r.worker, r.tool))
        .collect();
    let mut kinds: Vec<(String, usize)> = Vec::new();
    for m in unread(ctx, MASTER_ID)? {
        match kinds.iter_mut().find(|(k, _)| *k == m.kind) {
            Some((_, n)) => *n += 1,
            None => kinds.push((m.kind, 1)),
        }
    }
    let or_none = |v: &[String]| {
        if v.is_empty() {
            "none".to_owned()
        } else {
            v.join("; ")
        }
    };
    let mail: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
    Ok(format!(
        "intercomm restored after this conversation was compacted or resumed: you are the master of \
         this fleet. Workers: {}. Permission requests waiting for your decision: {}. Unread mail for \
         you: {}. Call intercomm_status and intercomm_scan for the details, intercomm_read for open \
         questions, and act per the intercomm protocol.",
        or_none(&workers),
        or_none(&requests),
        or_none(&mail)
    ))
}
