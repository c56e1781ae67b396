//! Sending, reading and pruning messages, and a worker's escalation.
//!
//! Rules (reference §3.2 tools 2–4, 8, 16 with B7, B15, B16 fixed):
//! - the recipient must be a registered instance; `all` only by broadcast;
//!   sending to yourself is refused (it would never be delivered);
//! - content is at most 1 MiB; only the master sends `task`, and a task must
//!   be a valid contract;
//! - read returns messages in seq order and moves the cursor past them;
//! - clear keeps the newest `keep` and never deletes what an active instance
//!   has not read; sequence numbers are never reused, so nothing sent after a
//!   clear is lost.

use serde::Serialize;

use super::{Acting, Ctx, Outcome, check_content, db};
use crate::bus::instances::{self, Role};
use crate::bus::messages::{self, Message, MessageType, NewMessage};
use crate::clock;
use crate::contract;
use crate::error::{Error, Result};
use crate::names::{self, BROADCAST, MASTER_ID};

/// Most unread messages one recipient may have before sends to it are
/// refused (`INTERCOMM_MAX_BACKLOG`, default 10,000).
pub fn max_backlog() -> i64 {
    crate::env::get(MAX_BACKLOG_ENV)
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(10_000)
}

/// The variable that overrides [`max_backlog`].
pub const MAX_BACKLOG_ENV: &str = "INTERCOMM_MAX_BACKLOG";

/// A new message id: a UUID v7, time-ordered, so the unique index on ids
/// grows at its end instead of at random pages (a WAL page saved per send).
pub fn new_message_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Default and largest page of [`read`].
pub const READ_LIMIT_DEFAULT: i64 = 50;
/// Largest page of [`read`].
pub const READ_LIMIT_MAX: i64 = 500;
/// A read counts what remains after its page up to this many (per kind).
pub const REMAINING_CAP: i64 = 10_000;
/// Most content bytes one page of [`read`] (and the Stop hook) carries: a
/// page stops before the message that would pass it, and a first message
/// larger than this is shown in part, the rest fetched by
/// [`read_rest`] (`intercomm_read(message_id, offset)`). 64 KiB is about
/// 16k tokens, under Claude Code's default cap on a tool result (25k tokens,
/// `MAX_MCP_OUTPUT_TOKENS`, Claude Code 2.1.x docs).
pub const READ_PAGE_BYTES: usize = 64 * 1024;

/// A stored message, as the sender learns of it.
#[derive(Debug, Clone, Serialize)]
pub struct Sent {
    pub message_id: String,
    pub seq: i64,
    pub to: String,
    #[serde(rename = "type")]
    pub kind: MessageType,
    /// For a direct message: whether the recipient's process runs now.
    pub recipient_alive: Option<bool>,
}

impl Outcome for Sent {
    fn text(&self) -> String {
        let mut text = if self.to == BROADCAST {
            format!("Broadcast ({}) to all", self.kind.as_str())
        } else {
            format!("Sent ({}) to {}", self.kind.as_str(), self.to)
        };
        text.push_str(&format!(" [msg_id: {}]", self.message_id));
        if self.recipient_alive == Some(false) {
            text.push_str(&format!(
                "\nNote: {} is not running; the message waits in its inbox.",
                self.to
            ));
        }
        text
    }
}

/// Sends `content` to instance `to`.
pub fn send(ctx: &mut Ctx, to: &str, content: &str, kind: MessageType) -> Result<Sent> {
    if to == BROADCAST {
        return Err(Error::invalid("to", "\"all\" is not an instance")
            .with_hint("use intercomm_broadcast to message every instance"));
    }
    names::check_id("to", to)?;
    check_content("message", content)?;
    let now = clock::now_ms();
    let id = new_message_id();
    let limit = max_backlog();
    if kind != MessageType::Task
        && let Some((seq, recipient)) = ctx.quick_send(&id, to, kind, content, limit)?
    {
        return Ok(Sent {
            message_id: id,
            seq,
            to: to.to_owned(),
            kind,
            recipient_alive: Some(recipient.is_alive(now)),
        });
    }
    // The gate, the checks and the insert share one write transaction: a
    // sender takes the bus lock once and reads one snapshot.
    let (seq, recipient) = ctx.send_acting(|tx, me| {
        check_type(me, kind, content)?;
        if to == me.id {
            return Err(Error::invalid(
                "to",
                "you cannot send a message to yourself",
            ));
        }
        check_backlog(tx, to, limit)?;
        let Some(recipient) = recipient(tx, to)? else {
            return Err(unknown_recipient(tx, to));
        };
        let message = NewMessage {
            id: &id,
            from: &me.id,
            to,
            kind,
            content,
            sent_at_ms: now,
            in_reply_to: None,
        };
        let seq = messages::insert(tx, &message).map_err(db)?;
        Ok((seq, recipient))
    })?;
    // Liveness reads /proc: done after the commit, outside the write lock.
    Ok(Sent {
        message_id: id,
        seq,
        to: to.to_owned(),
        kind,
        recipient_alive: Some(recipient.is_some_and(|r| r.is_alive(now))),
    })
}

/// The error for a message to an id nobody registered, listing those that did.
fn unknown_recipient(conn: &crate::bus::Conn, to: &str) -> Error {
    let known: Vec<String> = match instances::list(conn) {
        Ok(rows) => rows.into_iter().map(|r| r.id).collect(),
        Err(err) => return db(err),
    };
    Error::user(
        "unknown_recipient",
        format!("No instance registered with id \"{to}\""),
    )
    .with_hint(format!("registered ids: {}", list_or_none(&known)))
}

/// Sends `content` to every other instance.
pub fn broadcast(ctx: &mut Ctx, content: &str, kind: MessageType) -> Result<Sent> {
    check_content("message", content)?;
    let id = new_message_id();
    let now = clock::now_ms();
    let limit = max_backlog();
    let seq = ctx.send_acting(|tx, me| {
        check_type(me, kind, content)?;
        // A broadcast lands in every inbox: refused while any live
        // recipient is at the bound (a dead one's inbox waits for its
        // return, and is pruned with the rest of the bus).
        for r in instances::list(tx).map_err(db)? {
            if r.id != me.id && r.is_alive(now) {
                check_backlog(tx, &r.id, limit)?;
            }
        }
        messages::insert(
            tx,
            &NewMessage {
                id: &id,
                from: &me.id,
                to: BROADCAST,
                kind,
                content,
                sent_at_ms: now,
                in_reply_to: None,
            },
        )
        .map_err(db)
    })?;
    Ok(Sent {
        message_id: id,
        seq,
        to: BROADCAST.to_owned(),
        kind,
        recipient_alive: None,
    })
}

/// Refuses a recipient with `limit` ([`max_backlog`]) or more unread
/// messages. Runs in the send's write transaction, so the bound is exact,
/// and is O(1) unless the recipient is that far behind: unread mail lies
/// between its cursor and the last seq, so the capped count is needed only
/// when that gap is large.
pub(super) fn check_backlog(conn: &crate::bus::Conn, to: &str, limit: i64) -> Result<()> {
    let (cursor, last) = messages::cursor_and_last_seq(conn, to).map_err(db)?;
    if last - cursor < limit {
        return Ok(());
    }
    let backlog = messages::count_inbox(conn, to, cursor, limit).map_err(db)?;
    if backlog >= limit {
        return Err(Error::user(
            "backlog_full",
            format!("{to} already has {backlog}+ unread messages; it is not reading its mail"),
        )
        .with_hint("check it with intercomm_scan or intercomm_status; set INTERCOMM_MAX_BACKLOG to raise the bound"));
    }
    Ok(())
}

/// A message's addressee: a registered instance (`Some(row)`), or a worker
/// spawned by this bus that has not registered yet (`Some(None)`: its mail
/// waits for it); `None` if neither.
pub fn recipient(conn: &crate::bus::Conn, to: &str) -> Result<Option<Option<instances::Instance>>> {
    if let Some(row) = instances::get(conn, to).map_err(db)? {
        return Ok(Some(Some(row)));
    }
    let spawned = crate::bus::sessions::get(conn, to)
        .map_err(db)?
        .is_some_and(|s| s.ended_at_ms.is_none());
    Ok(spawned.then_some(None))
}

/// Workers never delegate (B16), and a task is always a valid contract.
fn check_type(me: &Acting, kind: MessageType, content: &str) -> Result<()> {
    if kind != MessageType::Task {
        return Ok(());
    }
    if me.role != Role::Master {
        return Err(
            Error::invalid("type", "only the master sends task messages")
                .with_hint("report to the master with type status, question or done"),
        );
    }
    contract::parse(content).map_err(|e| {
        Error::invalid("message", format!("not a valid task contract: {e}"))
            .with_hint("use intercomm_assign to build a contract")
    })?;
    Ok(())
}

fn list_or_none(ids: &[String]) -> String {
    if ids.is_empty() {
        "(none)".to_owned()
    } else {
        ids.join(", ")
    }
}

/// A delivered message, with its contract checked when it is a task.
#[derive(Debug, Clone, Serialize)]
pub struct Delivered {
    #[serde(flatten)]
    pub message: Message,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contract: Option<contract::Contract>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contract_error: Option<String>,
    /// Set when `content` is only part of the message (it was larger than a
    /// page): where the part starts and ends and the whole size, in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partial: Option<Partial>,
}

/// Which bytes of a message's content a page shows.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Partial {
    /// First byte shown.
    pub offset: usize,
    /// One past the last byte shown: pass it as `offset` for the rest.
    pub end: usize,
    /// The whole content's size.
    pub total: usize,
}

impl Delivered {
    /// Cuts the content to at most `budget` bytes from byte `offset` (at
    /// character boundaries), recording what was cut.
    fn cut(mut self, offset: usize, budget: usize) -> Self {
        let total = self.message.content.len();
        if offset == 0 && total <= budget {
            return self;
        }
        let content = &self.message.content;
        let start = (0..=offset.min(total))
            .rev()
            .find(|i| content.is_char_boundary(*i))
            .unwrap_or(0);
        let end = (start..=(start + budget).min(total))
            .rev()
            .find(|i| content.is_char_boundary(*i))
            .unwrap_or(start);
        self.message.content = content[start..end].to_owned();
        self.partial = Some(Partial {
            offset: start,
            end,
            total,
        });
        self
    }
}

/// What a read returned.
#[derive(Debug, Clone, Serialize)]
pub struct ReadResult {
    pub messages: Vec<Delivered>,
    pub count: usize,
    /// Unread messages left after this page (counted up to
    /// [`REMAINING_CAP`] of each kind).
    pub remaining: i64,
    /// Asked to mark read, but the cursor could not move (the bus's disk is
    /// full): the page was delivered anyway and comes again next time.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub not_marked_read: bool,
}

impl Outcome for ReadResult {
    fn text(&self) -> String {
        let entries: Vec<_> = self.messages.iter().map(Delivered::entry).collect();
        let mut text =
            crate::render::mail(&entries, self.remaining, self.remaining >= REMAINING_CAP);
        if self.not_marked_read {
            text.push_str(
                "\n(Not marked read: the disk that holds the bus is full. These messages come again at your next read; free space on that filesystem.)",
            );
        }
        text
    }
}

impl Delivered {
    /// This message as the renderer shows it.
    pub fn entry(&self) -> crate::render::Entry<'_> {
        crate::render::Entry {
            message: &self.message,
            contract: self.contract.as_ref(),
            contract_error: self.contract_error.as_deref(),
            partial: self.partial.map(|p| (p.offset, p.end, p.total)),
        }
    }
}

/// Returns up to `limit` unread messages (from the start of the bus with
/// `all`) and, with `mark_read`, moves the cursor past them.
///
/// At the command line (an operator identity) marking read is refused while
/// the id's holder is alive, unless the holder is the calling script itself:
/// it would steal that instance's messages (B15).
pub fn read(ctx: &mut Ctx, all: bool, limit: i64, mark_read: bool) -> Result<ReadResult> {
    if !(1..=READ_LIMIT_MAX).contains(&limit) {
        return Err(Error::invalid(
            "limit",
            format!("{limit} is out of range 1..={READ_LIMIT_MAX}"),
        ));
    }
    let operator = matches!(ctx.identity, Some(super::Identity::Operator { .. }));
    let caller_pid = ctx.process.pid;
    // The gate and the read share one write transaction (one lock, one
    // snapshot per call).
    let taken = ctx.write_acting(|tx, me| {
        if operator && mark_read {
            let now = clock::now_ms();
            if let Some(row) = instances::get(tx, &me.id).map_err(db)?
                && row.is_alive(now)
                && row.process.pid != caller_pid
            {
                return Err(Error::user(
                    "would_steal",
                    format!(
                        "{} is held by a live process (pid {}); marking its messages read would hide them from it",
                        me.id, row.process.pid
                    ),
                )
                .with_hint("leave out --mark-read to look without marking"));
            }
        }
        take_unread_in(tx, &me.id, all, limit, mark_read)
    });
    match taken {
        Err(e) if e.code == DISK_FULL && mark_read => read_on_full_disk(ctx, all, limit),
        other => other,
    }
}

/// The error code of a write refused for lack of space ([`Error`]'s
/// conversion of SQLite's `SQLITE_FULL`).
const DISK_FULL: &str = "bus_disk_full";

/// Delivers first: on a full disk the cursor cannot move (moving it is a
/// write), so the page is read without marking it, and says so. Nothing is
/// written, not even the call's `last_active`.
fn read_on_full_disk(ctx: &mut Ctx, all: bool, limit: i64) -> Result<ReadResult> {
    ctx.last_touch_ms = clock::now_ms();
    let (bus, me) = ctx.acting()?;
    let mut taken = take_unread_in(bus.conn(), &me.id, all, limit, false)?;
    taken.not_marked_read = true;
    tracing::warn!(target: "ops", id = %me.id, "disk full: mail delivered without moving the cursor");
    Ok(taken)
}

/// The rest of message `message_id` (addressed to the caller, directly or by
/// broadcast) from byte `offset`, at most [`READ_PAGE_BYTES`]; the cursor
/// does not move.
pub fn read_rest(ctx: &mut Ctx, message_id: &str, offset: usize) -> Result<ReadResult> {
    let (bus, me) = ctx.acting()?;
    let Some(m) = messages::get(bus.conn(), message_id).map_err(db)? else {
        return Err(
            Error::invalid("message_id", format!("no message with id {message_id:?}"))
                .with_hint("copy the msg_id shown by intercomm_read"),
        );
    };
    if !(m.to == me.id || (m.to == BROADCAST && m.from != me.id)) {
        return Err(Error::invalid(
            "message_id",
            format!("message {message_id} was sent to {}, not to you", m.to),
        ));
    }
    if offset > m.content.len() {
        return Err(Error::invalid(
            "offset",
            format!(
                "{offset} is past the message's end ({} bytes)",
                m.content.len()
            ),
        ));
    }
    let d = check_contract(m).cut(offset, READ_PAGE_BYTES);
    Ok(ReadResult {
        count: 1,
        messages: vec![d],
        remaining: 0,
        not_marked_read: false,
    })
}

/// In one transaction: up to `limit` messages for `reader` above its cursor
/// (above 0 with `all`), how many remain, and, with `mark_read`, the cursor
/// moved past the page. Shared by `intercomm_read` and the Stop hook, so
/// mail is marked read the same way whoever delivers it.
pub fn take_unread(
    bus: &mut crate::bus::Bus,
    reader: &str,
    all: bool,
    limit: i64,
    mark_read: bool,
) -> Result<ReadResult> {
    bus.write(|tx| take_unread_in(tx, reader, all, limit, mark_read))
}

/// [`take_unread`] inside the caller's write transaction `tx`.
fn take_unread_in(
    tx: &crate::bus::Conn,
    reader: &str,
    all: bool,
    limit: i64,
    mark_read: bool,
) -> Result<ReadResult> {
    let current = messages::cursor(tx, reader).map_err(db)?;
    let after = if all { 0 } else { current };
    let page = messages::inbox(tx, reader, after, limit).map_err(db)?;
    let fetched_last = page.last().map_or(after, |m| m.seq);
    let remaining = if page.len() as i64 == limit {
        messages::count_inbox(tx, reader, fetched_last, REMAINING_CAP).map_err(db)?
    } else {
        0
    };
    // The page ends before the first message that would pass the byte
    // bound (never skipping one: the cursor moves past what is shown).
    let fetched = page.len() as i64;
    let mut messages: Vec<Delivered> = Vec::with_capacity(page.len());
    let mut bytes = 0;
    let mut last = after;
    for m in page {
        let size = m.content.len();
        if !messages.is_empty() && bytes + size > READ_PAGE_BYTES {
            break;
        }
        bytes += size;
        last = m.seq;
        messages.push(check_contract(m).cut(0, READ_PAGE_BYTES));
    }
    let remaining = remaining + fetched - messages.len() as i64;
    if mark_read && (all || last > current) && !messages.is_empty() {
        messages::set_cursor(tx, reader, last).map_err(db)?;
    }
    Ok(ReadResult {
        count: messages.len(),
        messages,
        remaining,
        not_marked_read: false,
    })
}

/// A task's contract, parsed only when the master sent it: a task from
/// anyone else (a bus written by another tool, a demoted master's id) is
/// never shown as a contract.
fn check_contract(message: Message) -> Delivered {
    let (contract, contract_error) = if message.kind != MessageType::Task.as_str() {
        (None, None)
    } else if !crate::render::may_carry_contract(&message) {
        (
            None,
            Some(format!(
                "a task from {:?}, not from the master, is not a contract",
                message.from
            )),
        )
    } else {
        match contract::parse(&message.content) {
            Ok(c) => (Some(c), None),
            Err(e) => (None, Some(e)),
        }
    };
    Delivered {
        message,
        contract,
        contract_error,
        partial: None,
    }
}

/// What a clear did.
#[derive(Debug, Clone, Serialize)]
pub struct Cleared {
    pub deleted: usize,
    pub keep: i64,
    pub remaining: i64,
}

impl Outcome for Cleared {
    fn text(&self) -> String {
        format!(
            "Cleared {} old messages (kept last {}; {} remain, including any an active instance has not read).",
            self.deleted, self.keep, self.remaining
        )
    }
}

/// How long read mail is kept, in hours (`INTERCOMM_RETAIN_READ_HOURS`,
/// default 168: a week). Unread mail of active instances is always kept.
pub fn retain_read_hours() -> i64 {
    crate::env::get("INTERCOMM_RETAIN_READ_HOURS")
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|h| *h > 0)
        .unwrap_or(168)
}

/// Every active instance, and every live session this bus spawned whose
/// worker has not registered yet, with its cursor: whose unread mail is
/// kept (a spawned worker's contract waits for it before it registers).
fn protected_readers(conn: &crate::bus::Conn) -> Result<Vec<(String, i64)>> {
    let mut protected = Vec::new();
    let rows = instances::list(conn).map_err(db)?;
    for row in &rows {
        if row.active {
            let cursor = messages::cursor(conn, &row.id).map_err(db)?;
            protected.push((row.id.clone(), cursor));
        }
    }
    for s in crate::bus::sessions::live(conn).map_err(db)? {
        if !rows.iter().any(|r| r.id == s.name && r.active) {
            let cursor = messages::cursor(conn, &s.name).map_err(db)?;
            protected.push((s.name, cursor));
        }
    }
    Ok(protected)
}

/// Deletes read mail older than the retention age (at registration: the
/// first write of a process). Returns how many messages went.
pub fn prune_old_read(bus: &mut crate::bus::Bus) -> Result<usize> {
    let before = clock::now_ms() - retain_read_hours() * 3_600_000;
    bus.write(|tx| {
        let protected = protected_readers(tx)?;
        messages::prune_read_before(tx, before, &protected).map_err(db)
    })
}

/// Deletes all but the newest `keep` messages, sparing unread mail of every
/// active instance. Master only.
pub fn clear(ctx: &mut Ctx, keep: i64) -> Result<Cleared> {
    if keep < 0 {
        return Err(Error::invalid("keep", "must be 0 or more"));
    }
    let (bus, _) = ctx.acting_master()?;
    bus.write(|tx| {
        let protected = protected_readers(tx)?;
        let deleted = messages::prune(tx, keep, &protected).map_err(db)?;
        Ok(Cleared {
            deleted,
            keep,
            remaining: messages::count(tx).map_err(db)?,
        })
    })
}

/// Which way an escalation leans.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum EscalationKind {
    #[default]
    Question,
    Decision,
}

/// What an escalation did.
#[derive(Debug, Clone, Serialize)]
pub struct Escalated {
    /// The escalating worker.
    pub from: String,
    /// `question` or `decision`.
    pub kind_word: &'static str,
    pub persisted: bool,
    pub message_id: String,
    pub master_alive: bool,
    pub master_pane: Option<String>,
    pub woke: bool,
    /// How the master was woken (its wake hook, or keys), or why it was not.
    pub reason: Option<String>,
}

impl Outcome for Escalated {
    fn text(&self) -> String {
        let head = if self.woke {
            "Escalation persisted and master woken.".to_owned()
        } else {
            "Escalation persisted (master not woken — it will see the question on its next intercomm_read).".to_owned()
        };
        match (&self.reason, self.woke) {
            (Some(r), true) => format!("{head}\nHow: {r}. [msg_id: {}]", self.message_id),
            (Some(r), false) => format!("{head}\nReason: {r}. [msg_id: {}]", self.message_id),
            (None, _) => format!("{head} [msg_id: {}]", self.message_id),
        }
    }
}

/// A worker's question to the master: stored first, then the master's state
/// reported. Ringing the master's pane is the fleet layer's job
/// ([`crate::fleet::wake::escalate`]).
pub fn escalate(
    ctx: &mut Ctx,
    text: &str,
    kind: EscalationKind,
    needs_user: bool,
) -> Result<Escalated> {
    if contract::js_trim(text).is_empty() {
        return Err(Error::invalid("message", "must not be empty"));
    }
    check_content("message", text)?;
    let (bus, me) = ctx.acting()?;
    if me.role == Role::Master {
        return Err(Error::user(
            "worker_only",
            "intercomm_escalate is a worker->master tool; the master coordinates with the user directly.",
        ));
    }
    let kind_word = match kind {
        EscalationKind::Question => "question",
        EscalationKind::Decision => "decision",
    };
    let flag = if needs_user { " needs_user" } else { "" };
    let content = format!("[escalation kind={kind_word}{flag}] {text}");
    let now = clock::now_ms();
    let id = new_message_id();
    let limit = max_backlog();
    let master = bus.write(|tx| -> Result<_> {
        check_backlog(tx, MASTER_ID, limit)?;
        messages::insert(
            tx,
            &NewMessage {
                id: &id,
                from: &me.id,
                to: MASTER_ID,
                kind: MessageType::Question,
                content: &content,
                sent_at_ms: now,
                in_reply_to: None,
            },
        )
        .map_err(db)?;
        instances::get(tx, MASTER_ID).map_err(db)
    })?;
    let master_alive = master.as_ref().is_some_and(|m| m.is_alive(now));
    let master_pane = master.map(|m| m.pane).filter(|p| !p.is_empty());
    let reason = if !master_alive {
        Some("no live master registered".to_owned())
    } else if master_pane.is_none() {
        Some("master not in tmux (message-only)".to_owned())
    } else {
        None
    };
    Ok(Escalated {
        from: me.id,
        kind_word,
        persisted: true,
        message_id: id,
        master_alive,
        master_pane,
        woke: false,
        reason,
    })
}
