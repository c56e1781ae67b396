//! The `messages` and `read_cursors` tables.
//!
//! Delivery order is `seq` (AUTOINCREMENT: increasing, never reused; writers
//! are serialised by SQLite, so a reader never sees seq N+1 before N). A
//! reader's cursor is the highest seq delivered to it; what it has not read
//! is every message above its cursor addressed to it, or broadcast by someone
//! else. Reads use the `(to_id, seq)` index, so their cost does not grow with
//! the size of the bus.
//!
//! On PostgreSQL sends commit side by side, and a seq taken at INSERT
//! becomes visible at COMMIT, out of order: a plain cursor would pass a
//! message that commits late. The seq fence (schema version 3) keeps the
//! guarantee without serialising writers: every message takes its seq from
//! `fenced_seq()`, which first takes a shared transaction lock keyed on the
//! last seq handed out, held until its commit is visible; readers read only
//! up to [`fence`], the highest seq with no such lock at or below it.

use super::store::{Arg, Conn, Result, Row, args};
use serde::{Deserialize, Serialize};

use crate::names::BROADCAST;

/// Largest message content, in bytes (1 MiB).
pub const MAX_CONTENT_BYTES: usize = 1 << 20;

/// The kinds of message, as in intercomm-aimfp 1.0.2: `task` (a task
/// contract, master → worker), `status`, `question`, `answer`, `announce`,
/// `done` (a worker's completion report).
// Variants carry no doc comments: schemars would turn them into a `oneOf`
// instead of the plain string enum the original's schema has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageType {
    Task,
    Status,
    Question,
    Answer,
    Announce,
    Done,
}

impl MessageType {
    /// Every type, in the original's order.
    pub const ALL: [MessageType; 6] = [
        Self::Task,
        Self::Status,
        Self::Question,
        Self::Answer,
        Self::Announce,
        Self::Done,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Task => "task",
            Self::Status => "status",
            Self::Question => "question",
            Self::Answer => "answer",
            Self::Announce => "announce",
            Self::Done => "done",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// A stored message. `kind` is the raw type text: buses written by older
/// releases may hold retired types, which are shown as they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub seq: i64,
    pub id: String,
    pub from: String,
    /// An instance id, or `all` for a broadcast.
    pub to: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub content: String,
    /// Epoch milliseconds.
    pub sent_at_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
}

impl Message {
    fn from_row(row: &Row<'_>) -> Result<Self> {
        Ok(Self {
            seq: row.get(0)?,
            id: row.get(1)?,
            from: row.get(2)?,
            to: row.get(3)?,
            kind: row.get(4)?,
            content: row.get(5)?,
            sent_at_ms: row.get(6)?,
            in_reply_to: row.get(7)?,
        })
    }
}

/// A message to store.
#[derive(Debug, Clone, Copy)]
pub struct NewMessage<'a> {
    pub id: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub kind: MessageType,
    pub content: &'a str,
    pub sent_at_ms: i64,
    pub in_reply_to: Option<&'a str>,
}

/// Stores a message; returns its seq.
///
/// On PostgreSQL the message takes the server's clock for `ts` (hosts'
/// clocks drift), its seq from `fenced_seq()` (see the module doc), and
/// storing an id already stored is a no-op that returns the stored seq: a
/// sender that lost the answer to a committed send can send the same id
/// again without making a duplicate. No lock is taken: sends commit side
/// by side.
pub fn insert(conn: &Conn, m: &NewMessage<'_>) -> Result<i64> {
    match conn {
        Conn::Sqlite(c) => {
            conn.execute(
                "INSERT INTO messages (id, from_id, to_id, type, content, ts, in_reply_to)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                args![
                    m.id,
                    m.from,
                    m.to,
                    m.kind.as_str(),
                    m.content,
                    m.sent_at_ms,
                    m.in_reply_to
                ],
            )?;
            Ok(c.last_insert_rowid())
        }
        Conn::Pg(_) => {
            let stored = conn.query_opt(
                "INSERT INTO messages (id, from_id, to_id, type, content, in_reply_to)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO NOTHING RETURNING seq",
                &pg_values(m, &[]),
                |r| r.get::<i64>(0),
            )?;
            match stored {
                Some(seq) => Ok(seq),
                None => {
                    conn.query_one("SELECT seq FROM messages WHERE id = ?1", args![m.id], |r| {
                        r.get(0)
                    })
                }
            }
        }
    }
}

/// The values of message `m` as PostgreSQL stores it, `?1` to `?6`: id,
/// from, to, type, content, in_reply_to (`ts` is the server's clock); then
/// `more`, from `?7`.
fn pg_values<'m>(m: &'m NewMessage<'_>, more: &[Arg<'m>]) -> Vec<Arg<'m>> {
    let mut values = vec![
        Arg::Text(m.id),
        Arg::Text(m.from),
        Arg::Text(m.to),
        Arg::Text(m.kind.as_str()),
        Arg::Text(m.content),
        m.in_reply_to.map_or(Arg::Null, Arg::Text),
    ];
    values.extend_from_slice(more);
    values
}

/// Stores a send on PostgreSQL in one statement (its own transaction), if
/// nothing stands in its way: the sender `m.from` holds its row with
/// `token`, the recipient `m.to` is registered, its backlog (the gap
/// between its cursor and the last seq) is under `limit`, and the id is
/// new. Returns the recipient's row and the message's seq when it was
/// stored; `None` when it was not (or on SQLite, or inside a transaction),
/// and then nothing was written and the caller takes the full path, which
/// says what stood in the way.
///
/// Why: a send through the full path is five round trips to the server
/// (`BEGIN`, the sender's row, the backlog, the recipient, the insert with
/// the commit), each through the connection's thread; with 16 senders the
/// round trips, not the server, set the rate.
pub fn insert_if_clear(
    conn: &Conn,
    m: &NewMessage<'_>,
    token: &str,
    limit: i64,
) -> Result<Option<(super::instances::Instance, i64)>> {
    let Some(pg) = conn.pg().filter(|pg| !pg.in_tx()) else {
        return Ok(None);
    };
    let width = super::instances::row_width();
    let rows = pg.write_query(
        &format!(
            "WITH rcpt AS (SELECT {} FROM instances WHERE id = ?3),
             span AS (SELECT COALESCE((SELECT last_read_seq FROM read_cursors
                                        WHERE instance_id = ?3), 0) AS cur,
                             COALESCE(pg_sequence_last_value('messages_seq_seq'), 0) AS last),
             stored AS (
                INSERT INTO messages (id, from_id, to_id, type, content, in_reply_to)
                SELECT ?1, ?2, ?3, ?4, ?5, ?6
                 WHERE EXISTS (SELECT 1 FROM instances WHERE id = ?2 AND {})
                   AND EXISTS (SELECT 1 FROM rcpt)
                   AND (SELECT last - cur FROM span) < ?8
                ON CONFLICT (id) DO NOTHING
                RETURNING seq)
             SELECT rcpt.*, (SELECT seq FROM stored) FROM rcpt",
            super::instances::columns(conn),
            super::instances::held_with("?7")
        ),
        &pg_values(m, args![token, limit]),
    )?;
    let Some(row) = rows.first().map(|r| Row::Pg(r)) else {
        return Ok(None);
    };
    let seq: Option<i64> = row.get(width)?;
    seq.map(|seq| Ok((super::instances::Instance::from_row(&row)?, seq)))
        .transpose()
}

/// The seq fence on PostgreSQL (`bus_fence()`, see the module doc): every
/// message with a seq at or below it that will ever be visible already is
/// to a statement that starts after this one, in a READ COMMITTED
/// transaction (each statement its own snapshot; [`super::Bus::write`]
/// asks for it) or none. `None` on SQLite, whose writers are serialised,
/// so every seq handed out is visible.
pub fn fence(conn: &Conn) -> Result<Option<i64>> {
    match conn {
        Conn::Sqlite(_) => Ok(None),
        Conn::Pg(_) => conn
            .query_one("SELECT bus_fence()", &[], |r| r.get(0))
            .map(Some),
    }
}

/// Up to `limit` messages for `reader` with seq above `after`, in seq order.
/// On PostgreSQL only those at or below the [`fence`], taken first: a
/// message with a lower seq may still commit.
pub fn inbox(conn: &Conn, reader: &str, after: i64, limit: i64) -> Result<Vec<Message>> {
    let upto = fence(conn)?.unwrap_or(i64::MAX);
    conn.query(
        "SELECT seq, id, from_id, to_id, type, content, ts, in_reply_to FROM messages
          WHERE to_id = ?1 AND seq > ?2 AND seq <= ?5 AND from_id <> ?1
         UNION ALL
         SELECT seq, id, from_id, to_id, type, content, ts, in_reply_to FROM messages
          WHERE to_id = ?3 AND seq > ?2 AND seq <= ?5 AND from_id <> ?1
         ORDER BY seq LIMIT ?4",
        args![reader, after, BROADCAST, limit, upto],
        Message::from_row,
    )
}

/// How many messages for `reader` lie above `after`, counting at most
/// `cap` of each kind (direct, broadcast): a huge backlog must not make a
/// status or read call slow.
pub fn count_inbox(conn: &Conn, reader: &str, after: i64, cap: i64) -> Result<i64> {
    conn.query_one(
        "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM messages
                  WHERE to_id = ?1 AND seq > ?2 AND from_id <> ?1 LIMIT ?4) AS direct)
              + (SELECT COUNT(*) FROM (SELECT 1 FROM messages
                  WHERE to_id = ?3 AND seq > ?2 AND from_id <> ?1 LIMIT ?4) AS broadcast)",
        args![reader, after, BROADCAST, cap],
        |r| r.get(0),
    )
}

/// One message by id.
pub fn get(conn: &Conn, id: &str) -> Result<Option<Message>> {
    conn.query_opt("SELECT seq, id, from_id, to_id, type, content, ts, in_reply_to FROM messages WHERE id = ?1", args![id], Message::from_row)
}

/// The highest seq ever handed out (0 on an empty bus). Survives deletion.
/// On PostgreSQL, the [`fence`]: it never counts a message that may yet
/// commit behind it, so a cursor set to it skips nothing.
pub fn last_seq(conn: &Conn) -> Result<i64> {
    if let Some(fence) = fence(conn)? {
        return Ok(fence.max(0));
    }
    let seq: Option<i64> = conn.query_opt(
        "SELECT seq FROM sqlite_sequence WHERE name = 'messages'",
        &[],
        |r| r.get(0),
    )?;
    Ok(seq.unwrap_or(0))
}

/// `reader`'s cursor and the highest seq handed out ([`cursor`] and
/// [`last_seq`] in one query): what a send's backlog check needs. On
/// PostgreSQL the seq may be one not yet visible (it is not the fence), so
/// the gap may count a message not yet delivered.
pub fn cursor_and_last_seq(conn: &Conn, reader: &str) -> Result<(i64, i64)> {
    let last = match conn {
        Conn::Sqlite(_) => "SELECT seq FROM sqlite_sequence WHERE name = 'messages'",
        Conn::Pg(_) => "SELECT pg_sequence_last_value('messages_seq_seq')",
    };
    conn.query_one(
        &format!(
            "SELECT COALESCE((SELECT last_read_seq FROM read_cursors WHERE instance_id = ?1), 0),
                    COALESCE(({last}), 0)"
        ),
        args![reader],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// `reader`'s cursor (0 when it has none).
pub fn cursor(conn: &Conn, reader: &str) -> Result<i64> {
    let seq: Option<i64> = conn.query_opt(
        "SELECT last_read_seq FROM read_cursors WHERE instance_id = ?1",
        args![reader],
        |r| r.get(0),
    )?;
    Ok(seq.unwrap_or(0))
}

/// Sets `reader`'s cursor.
pub fn set_cursor(conn: &Conn, reader: &str, seq: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO read_cursors (instance_id, last_read_seq) VALUES (?1, ?2)
         ON CONFLICT (instance_id) DO UPDATE SET last_read_seq = excluded.last_read_seq",
        args![reader, seq],
    )?;
    Ok(())
}

/// Deletes every message except the newest `keep`, sparing any message that
/// one of `protected` (reader id, cursor) has not read. Returns how many
/// were deleted.
pub fn prune(conn: &Conn, keep: i64, protected: &[(String, i64)]) -> Result<usize> {
    let readers = serde_json::to_string(protected).unwrap_or_else(|_| "[]".to_owned());
    conn.execute(&format!("{} DELETE FROM messages
          WHERE seq NOT IN (SELECT seq FROM messages ORDER BY seq DESC LIMIT ?1)
            AND NOT EXISTS (
                SELECT 1 FROM readers r
                 WHERE messages.seq > r.cur
                   AND (messages.to_id = r.id OR (messages.to_id = ?3 AND messages.from_id <> r.id)))", readers_cte(conn)), args![keep, readers, BROADCAST])
}

/// The `readers (id, cur)` table of a prune, from the JSON array of
/// `[id, cursor]` pairs bound as `?2`.
fn readers_cte(conn: &Conn) -> &'static str {
    match conn {
        Conn::Sqlite(_) => {
            "WITH readers (id, cur) AS (
            SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?2))"
        }
        Conn::Pg(_) => {
            "WITH readers (id, cur) AS (
            SELECT value->>0, (value->>1)::BIGINT FROM jsonb_array_elements(CAST(CAST(?2 AS TEXT) AS JSONB)))"
        }
    }
}

/// Total number of stored messages.
pub fn count(conn: &Conn) -> Result<i64> {
    conn.query_one("SELECT COUNT(*) FROM messages", &[], |r| r.get(0))
}

/// The first reply to message `question` sent by `from` to `to`, if any.
pub fn reply_to(conn: &Conn, question: &str, from: &str, to: &str) -> Result<Option<Message>> {
    conn.query_opt(
        "SELECT seq, id, from_id, to_id, type, content, ts, in_reply_to FROM messages
          WHERE in_reply_to = ?1 AND from_id = ?2 AND to_id = ?3 ORDER BY seq LIMIT 1",
        args![question, from, to],
        Message::from_row,
    )
}

/// A number that changes whenever another connection commits to the bus
/// (`PRAGMA data_version`; on PostgreSQL the `bus_changes` counter every
/// write moves after its commit): a cheap "anything new?" for waiting loops.
pub fn data_version(conn: &Conn) -> Result<i64> {
    match conn {
        // Cached: a watcher (top, watch, the hooks' waits) asks up to ten
        // times a second, and parsing the pragma each time was most of it.
        Conn::Sqlite(c) => Ok(c
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?),
        Conn::Pg(_) => conn.query_one("SELECT last_value FROM bus_changes", &[], |r| r.get(0)),
    }
}

/// The newest `task` message addressed to `id`.
pub fn latest_task_for(conn: &Conn, id: &str) -> Result<Option<Message>> {
    conn.query_opt(
        "SELECT seq, id, from_id, to_id, type, content, ts, in_reply_to FROM messages
          WHERE to_id = ?1 AND type = 'task' ORDER BY seq DESC LIMIT 1",
        args![id],
        Message::from_row,
    )
}

/// Deletes messages sent before `before_ms` that every one of `protected`
/// (reader id, cursor) has read; returns how many. Cheap when nothing is
/// that old: it first looks at the oldest message only.
pub fn prune_read_before(
    conn: &Conn,
    before_ms: i64,
    protected: &[(String, i64)],
) -> Result<usize> {
    let oldest: Option<i64> =
        conn.query_opt("SELECT ts FROM messages ORDER BY seq LIMIT 1", &[], |r| {
            r.get(0)
        })?;
    if oldest.is_none_or(|ts| ts >= before_ms) {
        return Ok(0);
    }
    let readers = serde_json::to_string(protected).unwrap_or_else(|_| "[]".to_owned());
    conn.execute(&format!("{} DELETE FROM messages
          WHERE ts < ?1
            AND NOT EXISTS (
                SELECT 1 FROM readers r
                 WHERE messages.seq > r.cur
                   AND (messages.to_id = r.id OR (messages.to_id = ?3 AND messages.from_id <> r.id)))", readers_cte(conn)), args![before_ms, readers, BROADCAST])
}

/// Whether `reader` has a cursor row.
pub fn has_cursor(conn: &Conn, reader: &str) -> Result<bool> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM read_cursors WHERE instance_id = ?1",
            args![reader],
            |_| Ok(()),
        )?
        .is_some())
}

/// When `from` last sent a message (epoch ms), if it ever did.
pub fn last_sent_at(conn: &Conn, from: &str) -> Result<Option<i64>> {
    conn.scalar(
        "SELECT MAX(ts) FROM messages WHERE from_id = ?1",
        args![from],
    )
}

/// The newest `n` messages, oldest first.
pub fn latest(conn: &Conn, n: i64) -> Result<Vec<Message>> {
    conn.query(
        "SELECT seq, id, from_id, to_id, type, content, ts, in_reply_to FROM
           (SELECT * FROM messages ORDER BY seq DESC LIMIT ?1) AS newest ORDER BY seq",
        args![n],
        Message::from_row,
    )
}

/// The newest 20 questions to `to` that no message answers, oldest first.
pub fn open_questions(conn: &Conn, to: &str) -> Result<Vec<Message>> {
    let mut out = conn.query(
        "SELECT seq, id, from_id, to_id, type, content, ts, in_reply_to FROM messages m
          WHERE to_id = ?1 AND type = 'question'
            AND NOT EXISTS (SELECT 1 FROM messages r WHERE r.in_reply_to = m.id)
          ORDER BY seq DESC LIMIT 20",
        args![to],
        Message::from_row,
    )?;
    out.reverse();
    Ok(out)
}

/// Whether `from` ever sent `to` a status message starting with `prefix`.
pub fn sent_status_with_prefix(conn: &Conn, from: &str, to: &str, prefix: &str) -> Result<bool> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM messages WHERE from_id = ?1 AND to_id = ?2 AND type = 'status'
               AND substr(content, 1, length(CAST(?3 AS TEXT))) = ?3 LIMIT 1",
            args![from, to, prefix],
            |_| Ok(()),
        )?
        .is_some())
}
