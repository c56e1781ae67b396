//! What a server restart does to a [`PgConn`](super::PgConn), and what
//! the bus does about it: the connection thread's retry on a new
//! connection (outside a transaction only, with the session's liveness
//! locks taken again), an idle holder's check of its server, and the grace
//! period in which a holder whose lock a restart dropped reads as
//! reconnecting.

use std::sync::mpsc;
use std::time::Duration;

use super::{Job, Session};
use crate::bus::store::{Result, StoreError};

/// How long a connection holding a liveness lock may sit idle before its
/// thread checks (one empty query) that the server is still there: after a
/// server restart, an idle holder takes its lock again within this of the
/// server accepting connections, without waiting for its next call.
pub const PROBE_EVERY: Duration = Duration::from_secs(4);

/// How long a reconnect keeps trying while the server is not back (refused,
/// then "the database system is starting up"), before the call fails.
/// Measured on PostgreSQL 15 (scripts/pg-test-cluster --fsync, `pg_ctl
/// restart -m immediate`): the server refused connections for 0.15 s, then
/// synced its data directory after the crash for 3.3 s before its redo
/// (one run's log); over 10 runs at load average 6–10 the restart took
/// 0.76–4.95 s.
pub const RECONNECT_WAIT: Duration = Duration::from_secs(10);

/// The grace period after the bus server started
/// (`pg_postmaster_start_time()`), in ms: a restart drops every session
/// lock at once, so within it a holder registered before the start whose
/// lock is free reads as reconnecting, not gone
/// ([`crate::bus::instances::Presence::Reconnecting`]), and an unforced master
/// takeover is refused. 15 s: the server accepted connections 3.4 s after
/// its start here ([`RECONNECT_WAIT`]), and an idle holder takes its lock
/// again within [`PROBE_EVERY`] (4 s) of that, its check or its reconnect
/// retrying; the rest is margin for a loaded machine or a bigger data
/// directory to sync. It matches the 15 s the bus gives a vanished host
/// (the server's keepalives free its lock within 11 s).
pub const RESTART_GRACE_MS: i64 = 15_000;

/// What a simple-query batch does to the connection's transaction: its
/// statements that open one (`BEGIN`, `START TRANSACTION`) and end one
/// (`COMMIT`, `ROLLBACK`, `END`, `ABORT`), read in order. The bus's batches
/// are fixed SQL with no `;` inside a literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TxControl {
    /// Some statement opens a transaction.
    begins: bool,
    /// Whether a transaction is open after the whole batch ran; `None` when
    /// no statement opens or ends one (as before the batch).
    open_after: Option<bool>,
}

impl TxControl {
    fn of(sql: &str) -> Self {
        let mut control = Self {
            begins: false,
            open_after: None,
        };
        for statement in sql.split(';') {
            let first = statement
                .trim_start()
                .split(|c: char| !c.is_ascii_alphabetic())
                .next()
                .unwrap_or_default()
                .to_ascii_uppercase();
            match first.as_str() {
                "BEGIN" | "START" => {
                    control.begins = true;
                    control.open_after = Some(true);
                }
                "COMMIT" | "ROLLBACK" | "END" | "ABORT" => control.open_after = Some(false),
                _ => {}
            }
        }
        control
    }
}

impl Session {
    /// Serves the jobs sent to the connection thread until its [`PgConn`](super::PgConn)
    /// is dropped; while a connection that holds a liveness lock is idle,
    /// checks every [`PROBE_EVERY`] that its server is still there.
    pub(super) fn serve(mut self, jobs: &mpsc::Receiver<Job>) {
        loop {
            match jobs.recv_timeout(PROBE_EVERY) {
                Ok(job) => job(&mut self),
                Err(mpsc::RecvTimeoutError::Timeout) => self.probe(),
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// Runs `f`. Outside a transaction, a connection already known closed
    /// is replaced first, and when `f` fails because the connection was lost
    /// (the server restarted, the link dropped), `f` runs once more on a new
    /// one, with the same session locks. Inside a transaction, `f` runs as
    /// it is, whatever happens.
    ///
    /// Outside a transaction `f` is one statement (or one self-contained
    /// batch) that commits on its own, and the bus's are idempotent: reads,
    /// `SET col = value` updates and upserts, a `BEGIN`, a locked read. A
    /// connection found closed ran nothing; one lost while a statement ran
    /// may have committed it, and the second run then changes nothing.
    pub(super) fn run<T>(&mut self, f: &dyn Fn(&mut Self) -> Result<T>) -> Result<T> {
        if self.tx_open {
            return f(self);
        }
        if self.client.is_closed() {
            self.reconnect()?;
        }
        match f(self) {
            Err(err) if self.lost() => {
                tracing::info!(target: "bus", %err, "the PostgreSQL bus connection was lost; retrying on a new one");
                self.reconnect()?;
                f(self)
            }
            out => out,
        }
    }

    /// Whether the connection is gone, after a statement failed: the client
    /// saw it close, or an empty query finds it closed (a server that
    /// answered with a `FATAL` error closes the socket next).
    fn lost(&mut self) -> bool {
        if self.client.is_closed() {
            return true;
        }
        self.client.batch_execute("").is_err() && self.client.is_closed()
    }

    /// An idle connection's check: an empty query, and a reconnect if the
    /// connection is gone. Only for a connection holding liveness locks
    /// (they vanish with it) and between transactions.
    fn probe(&mut self) {
        if self.held.is_empty() || self.tx_open {
            return;
        }
        if self.client.is_closed() || self.lost() {
            tracing::info!(target: "bus", "the PostgreSQL bus connection was lost while idle; reconnecting");
            let _ = self.reconnect();
        }
    }

    /// Records whether the simple-query batch `sql` left a transaction
    /// open (`ok`: whether it ran; see [`TxControl`]). A batch that failed
    /// ended any transaction it took part in: one it opened is rolled back
    /// here, unless the connection is gone (`BEGIN; SELECT
    /// pg_advisory_xact_lock(…)` whose lock failed), and a failed commit has
    /// rolled back on the server.
    pub(super) fn note_tx(&mut self, sql: &str, ok: bool) {
        let control = TxControl::of(sql);
        if ok {
            self.tx_open = control.open_after.unwrap_or(self.tx_open);
            return;
        }
        if control.begins && !self.client.is_closed() {
            let _ = self.client.batch_execute("ROLLBACK");
        }
        if control.open_after.is_some() {
            self.tx_open = false;
        }
    }

    /// A new connection in place of a lost one, with the same session
    /// locks, trying for up to [`RECONNECT_WAIT`] while the server is not
    /// back (a restart: refused, then "the database system is starting
    /// up"); the last connect error when it did not come back.
    fn reconnect(&mut self) -> Result<()> {
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(50);
        let client = loop {
            match self.url.client() {
                Ok(client) => break client,
                Err(err) if started.elapsed() + pause >= RECONNECT_WAIT => {
                    tracing::warn!(target: "bus", %err, "cannot reconnect to the PostgreSQL bus");
                    let why = match err {
                        StoreError::Pg(why) => why,
                        other => other.to_string(),
                    };
                    return Err(StoreError::Pg(format!(
                        "the connection was lost and the server did not come back within {} s ({why})",
                        RECONNECT_WAIT.as_secs()
                    )));
                }
                Err(_) => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
            }
        };
        self.client = client;
        self.statements.clear();
        self.tx_open = false;
        for (class, key) in self.held.clone() {
            if let Err(err) = self
                .client
                .batch_execute(&format!("SELECT pg_advisory_lock({class}, {key})"))
            {
                tracing::warn!(target: "bus", %err, "cannot take the liveness lock again");
            }
        }
        tracing::info!(target: "bus", "reconnected to the PostgreSQL bus");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_say_whether_they_leave_a_transaction_open() {
        let of = |sql: &str| {
            let c = TxControl::of(sql);
            (c.begins, c.open_after)
        };
        assert_eq!(of("BEGIN"), (true, Some(true)));
        assert_eq!(
            of("BEGIN; SELECT pg_advisory_xact_lock(7, -1)"),
            (true, Some(true))
        );
        assert_eq!(of("start transaction"), (true, Some(true)));
        assert_eq!(
            of("COMMIT; SELECT nextval('bus_changes')"),
            (false, Some(false))
        );
        assert_eq!(of("ROLLBACK"), (false, Some(false)));
        // A batch that ends one transaction, then opens and ends another.
        assert_eq!(
            of(
                "COMMIT; SELECT nextval('bus_changes'); BEGIN; SELECT pg_advisory_xact_lock(7, -1); \
                DELETE FROM hook_states; COMMIT; SELECT nextval('bus_changes')"
            ),
            (true, Some(false))
        );
        assert_eq!(of("\n  BEGIN;\n SELECT 1;\n COMMIT"), (true, Some(false)));
        assert_eq!(of("SELECT pg_advisory_lock(7, 3)"), (false, None));
        assert_eq!(
            of("CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('a')"),
            (false, None)
        );
    }
}
