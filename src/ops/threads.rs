//! Replies and summaries: what the peer-messaging tools around the original
//! offered and it lacked (reference peer-tools.md §6, rows 15 and 21).
//!
//! - A reply goes to the sender of the message it answers, with
//!   `in_reply_to` set; read shows the link. Only a message addressed to you
//!   (directly or by broadcast) can be answered.
//! - A summary (≤ 200 characters) says what an instance is working on;
//!   status and scan show it. Until a worker sets one, its latest task
//!   contract's target stands in.

use serde::Serialize;

use super::{Ctx, Outcome, check_content, db};
use crate::bus::instances;
use crate::bus::messages::{self, Message, MessageType, NewMessage};
use crate::clock;
use crate::contract;
use crate::error::{Error, Result};
use crate::names::BROADCAST;

/// Longest summary, in characters.
pub const MAX_SUMMARY_CHARS: usize = 200;

/// What a reply did.
#[derive(Debug, Clone, Serialize)]
pub struct Replied {
    pub message_id: String,
    pub seq: i64,
    pub to: String,
    pub in_reply_to: String,
    #[serde(rename = "type")]
    pub kind: MessageType,
}

impl Outcome for Replied {
    fn text(&self) -> String {
        format!(
            "Replied ({}) to {} [msg_id: {}, in_reply_to: {}]",
            self.kind.as_str(),
            self.to,
            self.message_id,
            self.in_reply_to
        )
    }
}

/// Answers message `message_id` (addressed to the caller) to its sender.
pub fn reply(ctx: &mut Ctx, message_id: &str, content: &str, kind: MessageType) -> Result<Replied> {
    check_content("message", content)?;
    let (bus, me) = ctx.acting()?;
    if kind == MessageType::Task {
        return Err(Error::invalid(
            "type",
            "a reply cannot be a task; use intercomm_assign",
        ));
    }
    let id = super::messaging::new_message_id();
    let limit = super::messaging::max_backlog();
    bus.write(|tx| {
        let Some(original) = messages::get(tx, message_id).map_err(db)? else {
            return Err(
                Error::invalid("message_id", format!("no message with id {message_id:?}"))
                    .with_hint("copy the msg_id shown by intercomm_read"),
            );
        };
        if !(original.to == me.id || (original.to == BROADCAST && original.from != me.id)) {
            return Err(Error::invalid(
                "message_id",
                format!(
                    "message {message_id} was sent to {}, not to you",
                    original.to
                ),
            ));
        }
        if instances::get(tx, &original.from).map_err(db)?.is_none() {
            return Err(Error::user(
                "unknown_recipient",
                format!("the sender {:?} is no longer registered", original.from),
            ));
        }
        super::messaging::check_backlog(tx, &original.from, limit)?;
        let seq = messages::insert(
            tx,
            &NewMessage {
                id: &id,
                from: &me.id,
                to: &original.from,
                kind,
                content,
                sent_at_ms: clock::now_ms(),
                in_reply_to: Some(message_id),
            },
        )
        .map_err(db)?;
        Ok(Replied {
            message_id: id.clone(),
            seq,
            to: original.from,
            in_reply_to: message_id.to_owned(),
            kind,
        })
    })
}

/// What set_summary did.
#[derive(Debug, Clone, Serialize)]
pub struct SummarySet {
    pub id: String,
    pub summary: String,
}

impl Outcome for SummarySet {
    fn text(&self) -> String {
        format!("Summary of {} set: {}", self.id, self.summary)
    }
}

/// Records what the caller is working on.
pub fn set_summary(ctx: &mut Ctx, text: &str) -> Result<SummarySet> {
    let summary = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let chars = summary.chars().count();
    if chars > MAX_SUMMARY_CHARS {
        return Err(Error::invalid(
            "summary",
            format!("is {chars} characters; the limit is {MAX_SUMMARY_CHARS}"),
        ));
    }
    let (bus, me) = ctx.acting()?;
    instances::set_summary(bus.conn(), &me.id, &summary, clock::now_ms()).map_err(db)?;
    Ok(SummarySet { id: me.id, summary })
}

/// What `id` is working on: its summary, else its latest task contract's
/// target (`task: task-slug`), else nothing.
pub fn summary_of(conn: &crate::bus::Conn, id: &str, own: &str) -> Result<Option<String>> {
    if !own.is_empty() {
        return Ok(Some(own.to_owned()));
    }
    let task: Option<Message> = messages::latest_task_for(conn, id).map_err(db)?;
    Ok(task
        .and_then(|m| contract::parse(&m.content).ok())
        .map(|c| {
            format!(
                "{}: {}",
                c.aimfp_target.kind.as_str(),
                c.aimfp_target.idents()
            )
        }))
}
