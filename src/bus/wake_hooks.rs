//! The `wake_hooks` table: per instance, the `asyncRewake` hook waiting on
//! the bus for its mail (`intercomm hook Rewake`). One row per instance,
//! replaced by each new arming; a newer `token` retires an older waiter.

use super::store::{Conn, Result, args};
use serde::Serialize;

/// An armed wake hook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Armed {
    pub id: String,
    /// Names one waiting hook process (a UUID).
    pub token: String,
    /// The waiting process and its start time (`/proc`, for liveness).
    pub pid: u32,
    pub proc_start: u64,
    pub armed_at: i64,
    /// When the waiter gives up on its own (ms since the epoch).
    pub expires_at: i64,
    /// The highest message seq the hook has rung for (never rung twice).
    pub rung_seq: i64,
    /// When it last woke its session (ms), if it did.
    pub fired_at: Option<i64>,
    /// A wake without mail (`intercomm_wake`'s short text), waiting for the
    /// hook to ring, and when it was asked for.
    pub poke: Option<String>,
    pub poked_at: Option<i64>,
}

/// Arms (replacing any earlier waiter of `a.id`), keeping the seq already
/// rung for.
pub fn arm(conn: &Conn, a: &Armed) -> Result<()> {
    conn.execute(
        "INSERT INTO wake_hooks (id, token, pid, proc_start, armed_at, expires_at, rung_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (id) DO UPDATE SET token = excluded.token, pid = excluded.pid,
            proc_start = excluded.proc_start, armed_at = excluded.armed_at,
            expires_at = excluded.expires_at,
            rung_seq = CASE WHEN wake_hooks.rung_seq > excluded.rung_seq
                            THEN wake_hooks.rung_seq ELSE excluded.rung_seq END",
        args![
            a.id,
            a.token,
            a.pid,
            a.proc_start as i64,
            a.armed_at,
            a.expires_at,
            a.rung_seq
        ],
    )?;
    Ok(())
}

/// The wake hook of `id`, armed or not.
pub fn get(conn: &Conn, id: &str) -> Result<Option<Armed>> {
    conn.query_opt(
        "SELECT id, token, pid, proc_start, armed_at, expires_at, rung_seq, fired_at, poke,
                poked_at
           FROM wake_hooks WHERE id = ?1",
        args![id],
        |r| {
            Ok(Armed {
                id: r.get(0)?,
                token: r.get(1)?,
                pid: r.get(2)?,
                proc_start: r.get::<i64>(3)? as u64,
                armed_at: r.get(4)?,
                expires_at: r.get(5)?,
                rung_seq: r.get(6)?,
                fired_at: r.get(7)?,
                poke: r.get(8)?,
                poked_at: r.get(9)?,
            })
        },
    )
}

/// The waiter `token` rang for mail up to `seq` (and any poke) at
/// `now_ms`, and is done (`expires_at` set to now); `false` if another
/// waiter replaced it.
pub fn fired(conn: &Conn, id: &str, token: &str, seq: i64, now_ms: i64) -> Result<bool> {
    let n = conn.execute(
        "UPDATE wake_hooks SET rung_seq = CASE WHEN rung_seq > ?3 THEN rung_seq ELSE ?3 END, fired_at = ?4, expires_at = ?4,
                    poke = NULL
              WHERE id = ?1 AND token = ?2",
        args![id, token, seq, now_ms],
    )?;
    Ok(n == 1)
}

/// Asks the armed waiter of `id` to ring with `text` (no mail involved).
pub fn poke(conn: &Conn, id: &str, text: &str, now_ms: i64) -> Result<bool> {
    let n = conn.execute(
        "UPDATE wake_hooks SET poke = ?2, poked_at = ?3 WHERE id = ?1",
        args![id, text, now_ms],
    )?;
    Ok(n == 1)
}

/// The waiter `token` gave up (timed out, or its session ended).
pub fn disarm(conn: &Conn, id: &str, token: &str, now_ms: i64) -> Result<()> {
    conn.execute(
        "UPDATE wake_hooks SET expires_at = ?3 WHERE id = ?1 AND token = ?2",
        args![id, token, now_ms],
    )?;
    Ok(())
}
