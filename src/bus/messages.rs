//! The `messages` and `read_cursors` tables.
//!
//! Delivery order is `seq` (AUTOINCREMENT: increasing, never reused; writers
//! are serialised by SQLite, so a reader never sees seq N+1 before N). A
//! reader's cursor is the highest seq delivered to it; what it has not read
//! is every message above its cursor addressed to it, or broadcast by someone
//! else. Reads use the `(to_id, seq)` index, so their cost does not grow with
//! the size of the bus.
//!
//! On PostgreSQL a seq is handed out only under the bus's write lock, held
//! until the commit is visible, for the same guarantee: either by
//! [`insert`] in a locked transaction, or by [`flush_outbox`], which moves
//! the sends queued by [`post`] into `messages` in one statement.

use super::store::{Conn, Result, Row, args};
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
/// clocks drift), and storing an id already stored is a no-op that returns
/// the stored seq: a sender that lost the answer to a committed send can
/// send the same id again without making a duplicate. Run it inside
/// [`super::Bus::write`], whose lock makes seq order the order in which
/// messages become visible.
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
        Conn::Pg(pg) => {
            pg.lock_for_write()?;
            let stored = conn.query_opt(
                "INSERT INTO messages (id, from_id, to_id, type, content, in_reply_to)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO NOTHING RETURNING seq",
                args![
                    m.id,
                    m.from,
                    m.to,
                    m.kind.as_str(),
                    m.content,
                    m.in_reply_to
                ],
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

/// Where [`post`] left a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posted {
    /// Stored with this seq (SQLite, or a PostgreSQL transaction that holds
    /// the write lock).
    Stored(i64),
    /// Committed to PostgreSQL's `outbox` with its transaction; it takes its
    /// seq when [`sequence`] moves it into `messages`.
    Queued,
}

/// Stores a message from a send, whose transaction need not hold the
/// bus's write lock.
///
/// On PostgreSQL, outside the write lock, the message goes to the `outbox`
/// table (a retry of an id already stored or queued is a no-op), and after
/// the commit [`sequence`] gives it its seq. Why: a seq taken at INSERT
/// becomes visible at COMMIT, so seq order is visibility order only if the
/// lock is held from the insert through the commit (see [`insert`]), and
/// then every send waits in line for the one before it to reach the disk
/// (460 msgs/s for 16 senders, measured). Queued sends commit side by side
/// (the server flushes their commits together), and one short locked
/// statement gives seqs to all queued messages at once.
pub fn post(conn: &Conn, m: &NewMessage<'_>) -> Result<Posted> {
    match conn {
        Conn::Pg(pg) if !pg.holds_write_lock() => {
            pg.note_queued(m.id);
            conn.execute(
                "INSERT INTO outbox (id, from_id, to_id, type, content, in_reply_to)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6
                  WHERE NOT EXISTS (SELECT 1 FROM messages WHERE id = ?1)
                 ON CONFLICT (id) DO NOTHING",
                args![
                    m.id,
                    m.from,
                    m.to,
                    m.kind.as_str(),
                    m.content,
                    m.in_reply_to
                ],
            )?;
            Ok(Posted::Queued)
        }
        _ => insert(conn, m).map(Posted::Stored),
    }
}

/// Queues a send on PostgreSQL in one statement (its own transaction), if
/// nothing stands in its way: the sender `m.from` holds its row with
/// `token`, the recipient `m.to` is registered, its backlog (the gap
/// between its cursor and the last seq) is under `limit`, and the id is
/// new. Returns the recipient's row when it was queued; `None` when it was
/// not (or on SQLite), and then nothing was written and the caller takes the
/// full path, which says what stood in the way. After it, [`move_queued`]
/// gives the message its seq.
///
/// Why: a send through the full path is six round trips to the server
/// (`BEGIN`, the sender's row, the backlog, the recipient, the insert, the
/// commit with the move), each through the connection's thread; with 16
/// senders the round trips, not the server, set the rate (taking two of
/// them away raised the fan-in from 1,349 to 1,703 msgs/s, measured).
pub fn post_if_clear(
    conn: &Conn,
    m: &NewMessage<'_>,
    token: &str,
    limit: i64,
) -> Result<Option<super::instances::Instance>> {
    if conn.pg().is_none_or(|pg| pg.in_tx()) {
        return Ok(None);
    }
    let width = super::instances::row_width();
    let row = conn.query_opt(
        &format!(
            "WITH rcpt AS (SELECT {} FROM instances WHERE id = ?3),
             span AS (SELECT COALESCE((SELECT last_read_seq FROM read_cursors
                                        WHERE instance_id = ?3), 0) AS cur,
                             (SELECT CASE WHEN is_called THEN last_value ELSE 0 END
                                FROM messages_seq_seq) AS last),
             queued AS (
                INSERT INTO outbox (id, from_id, to_id, type, content, in_reply_to)
                SELECT ?1, ?2, ?3, ?4, ?5, ?6
                 WHERE EXISTS (SELECT 1 FROM instances
                                WHERE id = ?2 AND active = 1 AND session_id = ?7)
                   AND EXISTS (SELECT 1 FROM rcpt)
                   AND (SELECT last - cur FROM span) < ?8
                   AND NOT EXISTS (SELECT 1 FROM messages WHERE id = ?1)
                ON CONFLICT (id) DO NOTHING
                RETURNING 1)
             SELECT rcpt.*, (SELECT COUNT(*) FROM queued) FROM rcpt",
            super::instances::columns(conn)
        ),
        args![
            m.id,
            m.from,
            m.to,
            m.kind.as_str(),
            m.content,
            m.in_reply_to,
            token,
            limit
        ],
        |r| {
            let queued: i64 = r.get(width)?;
            (queued > 0)
                .then(|| super::instances::Instance::from_row(r))
                .transpose()
        },
    )?;
    Ok(row.flatten())
}

/// The seq of message `id`, [`post`]ed as [`Posted::Queued`] in a
/// transaction that has committed. Usually known without a query: the
/// commit of a send's transaction also moved the outbox
/// ([`commit_and_move`]). Else the message was moved by another process
/// meanwhile, or (a retry, a sender that died) is still queued and moved now.
///
/// Errors: the store's, and [`super::store::StoreError::Pg`] when the
/// message is neither queued nor stored (its transaction never committed).
pub fn sequence(conn: &Conn, id: &str) -> Result<i64> {
    if let Conn::Pg(pg) = conn
        && let Some(seq) = pg.moved_seq(id)
    {
        return Ok(seq);
    }
    let stored = |conn: &Conn| {
        conn.query_opt("SELECT seq FROM messages WHERE id = ?1", args![id], |r| {
            r.get::<i64>(0)
        })
    };
    if let Some(seq) = stored(conn)? {
        return Ok(seq);
    }
    flush_outbox(conn)?;
    stored(conn)?
        .ok_or_else(|| super::store::StoreError::Pg(format!("message {id} was not stored")))
}

/// Moves every queued message from the outbox into `messages`, in the order
/// they were queued, each taking its seq; returns the moved rows' `id, seq`.
/// Runs with the bus's write lock held, taken before this statement starts
/// so that it reads the outbox after every move before it has committed.
const MOVE: &str = "WITH moved AS (DELETE FROM outbox
                   RETURNING ins, id, from_id, to_id, type, content, ts, in_reply_to)
             INSERT INTO messages (id, from_id, to_id, type, content, ts, in_reply_to)
             SELECT id, from_id, to_id, type, content, ts, in_reply_to FROM moved ORDER BY ins
             ON CONFLICT (id) DO NOTHING
             RETURNING id, seq";

/// Moves every message queued in PostgreSQL's outbox into `messages`
/// ([`MOVE`]). Outside a transaction it is one round trip (`BEGIN`, the
/// write lock, the move, `COMMIT`); in one it takes the write lock first.
/// A no-op on SQLite, which has no outbox.
///
/// Readers run it too, so a message whose sender died between its commit
/// and its move is delivered by the next read anyone makes.
pub fn flush_outbox(conn: &Conn) -> Result<()> {
    let Conn::Pg(pg) = conn else {
        return Ok(());
    };
    if pg.in_tx() {
        pg.lock_for_write()?;
        return pg.batch(MOVE);
    }
    move_in(pg, "", "")
}

/// Commits the open transaction of a send that queued messages `queued`
/// and moves the outbox in the same round trip, keeping for [`sequence`]
/// the seqs it gave and those of `queued` (moved by this move or an
/// earlier one: ids of the form [`plain_id`] only, as they are written into
/// the statement).
///
/// Why a queue and a move rather than inserting under the lock: a seq
/// taken at INSERT becomes visible at COMMIT, so seq order is visibility
/// order only if the write lock is held from the insert through the commit
/// (see [`insert`]), and then every send waits in line for the one before
/// it to reach the disk (16 senders: 460 msgs/s, measured). Queued sends
/// commit side by side (the server flushes their commits to disk
/// together), and each move gives seqs to everything queued by the time it
/// holds the lock, so while one move waits for the disk, the sends that
/// commit meanwhile are all moved by the next.
pub(super) fn commit_and_move(pg: &super::pg::PgConn, queued: &[String]) -> Result<()> {
    move_with(pg, &format!("COMMIT; {};", super::pg::BUMP), queued)
}

/// Moves the outbox ([`MOVE`]) after messages `queued` were committed
/// outside a transaction ([`post_if_clear`]), keeping their seqs for
/// [`sequence`]: one round trip.
pub fn move_queued(conn: &Conn, queued: &[String]) -> Result<()> {
    match conn {
        Conn::Pg(pg) => move_with(pg, "", queued),
        Conn::Sqlite(_) => Ok(()),
    }
}

/// [`move_in`] after `first`, looking up the seqs of `queued` too.
fn move_with(pg: &super::pg::PgConn, first: &str, queued: &[String]) -> Result<()> {
    let ids: Vec<String> = queued
        .iter()
        .filter(|id| plain_id(id))
        .map(|id| format!("'{id}'"))
        .collect();
    let lookup = if ids.is_empty() {
        String::new()
    } else {
        format!(
            "; SELECT id, seq FROM messages WHERE id IN ({})",
            ids.join(", ")
        )
    };
    move_in(pg, first, &lookup)
}

/// Whether message id `id` can be written into a statement as a literal as
/// it is: 1 to 64 ASCII letters, digits, `-` and `_` (a UUID, as
/// [`crate::ops::messaging::new_message_id`] makes them).
fn plain_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Runs `first` (statements ending a transaction, or nothing), the outbox
/// move in a transaction of its own, and `last` (a lookup of `id, seq`
/// rows, or nothing), in one round trip.
fn move_in(pg: &super::pg::PgConn, first: &str, last: &str) -> Result<()> {
    let sql = format!(
        "{first} BEGIN; {}; {MOVE}; COMMIT; {}{last}",
        pg.write_lock_sql(),
        super::pg::BUMP
    );
    // On failure the connection's thread rolls back a batch that began a
    // transaction.
    let rows = pg.batch_rows(&sql, &["id", "seq"])?;
    let moved = rows
        .into_iter()
        .filter_map(|r| match r.as_slice() {
            [Some(id), Some(seq)] => Some((id.clone(), seq.parse().ok()?)),
            _ => None,
        })
        .collect();
    pg.set_moved(moved);
    Ok(())
}

/// Up to `limit` messages for `reader` with seq above `after`, in seq order.
pub fn inbox(conn: &Conn, reader: &str, after: i64, limit: i64) -> Result<Vec<Message>> {
    conn.query(
        "SELECT seq, id, from_id, to_id, type, content, ts, in_reply_to FROM messages
          WHERE to_id = ?1 AND seq > ?2 AND from_id <> ?1
         UNION ALL
         SELECT seq, id, from_id, to_id, type, content, ts, in_reply_to FROM messages
          WHERE to_id = ?3 AND seq > ?2 AND from_id <> ?1
         ORDER BY seq LIMIT ?4",
        args![reader, after, BROADCAST, limit],
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
/// On PostgreSQL it is read under the bus's write lock, so it never counts
/// a message that is not yet visible.
pub fn last_seq(conn: &Conn) -> Result<i64> {
    let seq: Option<i64> = match conn {
        Conn::Sqlite(_) => conn.query_opt(
            "SELECT seq FROM sqlite_sequence WHERE name = 'messages'",
            &[],
            |r| r.get(0),
        )?,
        Conn::Pg(pg) => pg
            .locked_query(
                "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM messages_seq_seq",
                &[],
            )?
            .first()
            .and_then(|r| r.first())
            .and_then(|v| match v {
                super::pg::Value::Int(v) => Some(*v),
                _ => None,
            }),
    };
    Ok(seq.unwrap_or(0))
}

/// `reader`'s cursor and the highest seq handed out ([`cursor`] and
/// [`last_seq`] in one query): what a send's backlog check needs. On
/// PostgreSQL inside a transaction without the write lock, the seq may be
/// one not yet visible, so the gap may count a message not yet delivered.
pub fn cursor_and_last_seq(conn: &Conn, reader: &str) -> Result<(i64, i64)> {
    let last = match conn {
        Conn::Sqlite(_) => "SELECT seq FROM sqlite_sequence WHERE name = 'messages'",
        Conn::Pg(_) => {
            "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM messages_seq_seq"
        }
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

#[cfg(test)]
mod tests {
    use super::plain_id;

    #[test]
    fn only_plain_ids_are_written_into_a_statement() {
        assert!(plain_id(&crate::ops::messaging::new_message_id()));
        assert!(plain_id("w0-0001"));
        for bad in ["", "a'b", "a b", "a;b", "ü", &"x".repeat(65)] {
            assert!(!plain_id(bad), "{bad:?}");
        }
    }
}
