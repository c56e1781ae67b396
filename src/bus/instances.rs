//! The `instances` table: one row per id (`master`, `worker-N`, …), holding
//! who currently holds the id (a process, identified for liveness) and where
//! its tmux pane is.
//!
//! A row's holder is identified by `session_id`, a random token each
//! registering process makes. Every call checks that its own token still
//! holds the row, so a process whose id was taken over loses its powers at
//! once (B3).

use super::store::{Conn, Result, Row, args};
use serde::{Deserialize, Serialize};

use crate::process::{Liveness, ProcessId};

/// Legacy liveness, for rows written by intercomm-aimfp (no pid recorded): an
/// instance is alive while it has made a call within this many milliseconds.
pub const LEGACY_STALE_MS: i64 = 30_000;

/// An instance's role.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Master,
    #[default]
    Worker,
}

impl Role {
    /// `master` or `worker`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Master => "master",
            Self::Worker => "worker",
        }
    }

    fn parse(s: &str) -> Self {
        if s == "master" {
            Self::Master
        } else {
            Self::Worker
        }
    }
}

/// One row of `instances`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    pub role: Role,
    /// Cleared by signoff, teardown and a clean exit.
    pub active: bool,
    /// Last call made by the holder, epoch ms (display only).
    pub last_active: i64,
    pub registered_at: i64,
    /// Token of the holding process.
    pub session_id: String,
    pub process: ProcessId,
    /// tmux pane id (`%N`), or empty when not in tmux.
    pub pane: String,
    /// tmux server socket path of that pane, or empty.
    pub tmux_socket: String,
    /// What the instance says it is working on (≤ 200 chars), or empty.
    pub summary: String,
    /// On PostgreSQL, whether the holder's connection lives (its session
    /// lock is held, see `bus::pg`); `None` on SQLite and when writing.
    pub connected: Option<bool>,
    /// On PostgreSQL, when the bus server (re)started after this holder
    /// registered and less than
    /// [`RESTART_GRACE_MS`](super::pg::RESTART_GRACE_MS) ago: how long ago,
    /// in ms (the server's clock, from `pg_postmaster_start_time()`; the
    /// registration time is the holder's clock). `None` otherwise, on
    /// SQLite, and when writing.
    pub restarted_ms: Option<i64>,
}

/// Whether an instance's holder is there, as status and scan show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Its process runs, or its connection holds its lock.
    Alive,
    /// The PostgreSQL bus server restarted less than
    /// [`RESTART_GRACE_MS`](super::pg::RESTART_GRACE_MS) ago, after this
    /// holder registered; the restart dropped every session lock and this
    /// holder has not taken its lock again yet, and its process cannot be
    /// checked from here (another host). It counts as alive: its id is not
    /// given away, and an unforced master takeover is refused.
    Reconnecting,
    /// Active, but its process exited (or its connection ended).
    Gone,
    /// Signed off, torn down, or exited cleanly.
    SignedOff,
}

impl Presence {
    /// `alive`, `reconnecting`, `gone` or `signed_off`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Alive => "alive",
            Self::Reconnecting => "reconnecting",
            Self::Gone => "gone",
            Self::SignedOff => "signed_off",
        }
    }
}

impl Instance {
    /// Whether the holder is running: `active`, and its process alive (rows
    /// from another host, or from intercomm-aimfp, use what can be known),
    /// or [`Presence::Reconnecting`].
    ///
    /// On PostgreSQL the holder is alive while its connection holds its
    /// session lock; a holder on this machine is also alive while its
    /// process runs (a CLI registration lives as long as its shell, not its
    /// connection). A holder on another host with its lock free is gone,
    /// unless the bus server restarted within the grace period.
    pub fn is_alive(&self, now_ms: i64) -> bool {
        matches!(
            self.presence(now_ms),
            Presence::Alive | Presence::Reconnecting
        )
    }

    /// Whether the holder is there (see [`Instance::is_alive`]).
    pub fn presence(&self, now_ms: i64) -> Presence {
        if !self.active {
            return Presence::SignedOff;
        }
        if self.connected == Some(true) {
            return Presence::Alive;
        }
        let liveness = self.process.liveness();
        let runs = if self.process.pid == 0 {
            self.connected.is_none() && now_ms - self.last_active <= LEGACY_STALE_MS
        } else {
            match (self.connected, liveness) {
                (_, Liveness::Alive) => true,
                (Some(_), _) => false,
                (None, liveness) => liveness != Liveness::Dead,
            }
        };
        if runs {
            Presence::Alive
        } else if self.connected == Some(false)
            && liveness != Liveness::Dead
            && self.restarted_ms.is_some()
        {
            Presence::Reconnecting
        } else {
            Presence::Gone
        }
    }

    pub(super) fn from_row(row: &Row<'_>) -> Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            role: Role::parse(&row.get::<String>(1)?),
            active: row.get::<i64>(2)? != 0,
            last_active: row.get(3)?,
            registered_at: row.get(4)?,
            session_id: row.get(5)?,
            process: ProcessId {
                pid: row.get(6)?,
                start: row.get::<i64>(7)?.try_into().unwrap_or(0),
                boot: row.get(8)?,
                host: row.get(9)?,
            },
            pane: row.get(10)?,
            tmux_socket: row.get(11)?,
            summary: row.get(12)?,
            connected: row.get(13)?,
            restarted_ms: row.get(14)?,
        })
    }
}

const COLUMNS: &str = "id, role, active, last_active, registered_at, session_id, \
                       pid, proc_start, boot_id, host, pane, tmux_socket, summary";

/// The columns [`Instance::from_row`] reads: [`COLUMNS`], then whether the
/// holder's session lock is held and [`Instance::restarted_ms`]
/// (PostgreSQL), or NULLs (SQLite).
pub(super) fn columns(conn: &Conn) -> String {
    match conn.pg() {
        None => format!("{COLUMNS}, NULL, NULL"),
        Some(pg) => format!(
            "{COLUMNS}, EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory'
                AND l.classid = {class} AND l.objid::text::bigint = instances.lock_key
                AND l.objsubid = 2 AND l.granted),
             CASE WHEN clock_timestamp() - pg_postmaster_start_time()
                       < interval '{grace} milliseconds'
                   AND instances.registered_at
                       < EXTRACT(EPOCH FROM pg_postmaster_start_time()) * 1000
             THEN CAST(EXTRACT(EPOCH FROM clock_timestamp() - pg_postmaster_start_time())
                       * 1000 AS BIGINT) END",
            class = pg.url().lock_class(),
            grace = super::pg::RESTART_GRACE_MS
        ),
    }
}

/// How many columns [`columns`] names: a query that adds its own after
/// them finds the first at this index.
pub(super) fn row_width() -> usize {
    COLUMNS.split(',').count() + 2
}

/// The row for `id`, if any.
pub fn get(conn: &Conn, id: &str) -> Result<Option<Instance>> {
    conn.query_opt(
        &format!("SELECT {} FROM instances WHERE id = ?1", columns(conn)),
        args![id],
        Instance::from_row,
    )
}

/// The rule of who holds an instance row: the row is active and carries
/// the caller's session token. SQL over a row of `instances`, `token` being
/// the token's placeholder in the statement: [`holder`] reports it for the
/// per-call gate, and a statement that writes only for the holder (the
/// quick send, [`super::messages::insert_if_clear`]) puts it in its
/// `WHERE`, so the two never disagree.
pub(super) fn held_with(token: &str) -> String {
    format!("active = 1 AND session_id = {token}")
}

/// Who holds `id`: its role, and whether session `token` holds it
/// ([`held_with`]); the per-call identity check, lighter than [`get`].
pub fn holder(conn: &Conn, id: &str, token: &str) -> Result<Option<(Role, bool)>> {
    // Built once: this runs on every tool call.
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT role, CASE WHEN {} THEN 1 ELSE 0 END FROM instances WHERE id = ?1",
            held_with("?2")
        )
    });
    conn.query_opt(&SQL, args![id, token], |r| {
        Ok((Role::parse(&r.get::<String>(0)?), r.get::<i64>(1)? != 0))
    })
}

/// Every row, oldest registration first.
pub fn list(conn: &Conn) -> Result<Vec<Instance>> {
    conn.query(
        &format!(
            "SELECT {} FROM instances ORDER BY registered_at, id",
            columns(conn)
        ),
        &[],
        Instance::from_row,
    )
}

/// Writes `inst` as the row for its id, replacing any previous holder.
pub fn put(conn: &Conn, inst: &Instance) -> Result<()> {
    conn.execute("INSERT INTO instances (id, role, active, last_active, registered_at, session_id,
                                tmux_target, pid, proc_start, boot_id, host, pane, tmux_socket, summary)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, '', ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT (id) DO UPDATE SET
            role = excluded.role, active = excluded.active, last_active = excluded.last_active,
            registered_at = excluded.registered_at, session_id = excluded.session_id,
            tmux_target = '', pid = excluded.pid, proc_start = excluded.proc_start,
            boot_id = excluded.boot_id, host = excluded.host, pane = excluded.pane,
            tmux_socket = excluded.tmux_socket, summary = excluded.summary", args![inst.id, inst.role.as_str(), inst.active, inst.last_active, inst.registered_at, inst.session_id, inst.process.pid, i64::try_from(inst.process.start).unwrap_or(0), inst.process.boot, inst.process.host, inst.pane, inst.tmux_socket, inst.summary])?;
    if let Some(pg) = conn.pg() {
        // A fresh key per registration: a holder displaced by force may
        // still hold the old one until its connection ends.
        let key = conn.query_one(
            "UPDATE instances SET lock_key = nextval('instance_locks') WHERE id = ?1
             RETURNING lock_key",
            args![inst.id],
            |r| r.get::<i64>(0),
        )?;
        let key = i32::try_from(key).map_err(|_| super::StoreError::Column {
            index: 0,
            problem: format!("lock key {key} is not a 32-bit integer"),
        })?;
        pg.hold_lock(pg.url().lock_class(), key)?;
    }
    Ok(())
}

/// Marks `id` inactive if `session_id` still holds it; returns whether it did.
pub fn deactivate(conn: &Conn, id: &str, session_id: &str) -> Result<bool> {
    let n = conn.execute(
        "UPDATE instances SET active = 0 WHERE id = ?1 AND session_id = ?2",
        args![id, session_id],
    )?;
    Ok(n > 0)
}

/// Records a call by the holder `session_id` of `id` (display staleness).
pub fn touch(conn: &Conn, id: &str, session_id: &str, now_ms: i64) -> Result<()> {
    conn.execute(
        "UPDATE instances SET last_active = ?3 WHERE id = ?1 AND session_id = ?2",
        args![id, session_id, now_ms],
    )?;
    Ok(())
}

/// Sets what `id` says it is working on.
pub fn set_summary(conn: &Conn, id: &str, summary: &str, now_ms: i64) -> Result<()> {
    conn.execute(
        "UPDATE instances SET summary = ?2, summary_at = ?3 WHERE id = ?1",
        args![id, summary, now_ms],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PostgreSQL row held from another host (its pid cannot be checked
    /// here), with its lock held or not, read `restarted_ms` after a restart.
    fn remote(connected: bool, restarted_ms: Option<i64>) -> Instance {
        Instance {
            id: "worker-1".to_owned(),
            role: Role::Worker,
            active: true,
            last_active: 0,
            registered_at: 0,
            session_id: "s".to_owned(),
            process: ProcessId {
                pid: 4242,
                start: 1,
                boot: String::new(),
                host: "another-host.invalid".to_owned(),
            },
            pane: String::new(),
            tmux_socket: String::new(),
            summary: String::new(),
            connected: Some(connected),
            restarted_ms,
        }
    }

    #[test]
    fn a_free_lock_reads_reconnecting_only_within_the_grace_period() {
        let now = 1_000_000;
        assert_eq!(remote(true, None).presence(now), Presence::Alive);
        assert_eq!(remote(true, Some(2_000)).presence(now), Presence::Alive);
        let back_soon = remote(false, Some(2_000));
        assert_eq!(back_soon.presence(now), Presence::Reconnecting);
        assert!(back_soon.is_alive(now), "reconnecting counts as alive");
        let gone = remote(false, None);
        assert_eq!(gone.presence(now), Presence::Gone);
        assert!(!gone.is_alive(now));
        let signed_off = Instance {
            active: false,
            ..remote(false, Some(2_000))
        };
        assert_eq!(signed_off.presence(now), Presence::SignedOff);
        // A holder on this machine whose process has exited will not
        // reconnect: gone, grace or not.
        let exited = Instance {
            process: ProcessId {
                pid: u32::MAX - 1,
                ..ProcessId::current()
            },
            ..remote(false, Some(2_000))
        };
        assert_eq!(exited.presence(now), Presence::Gone);
    }
}
