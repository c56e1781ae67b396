//! When the bus's write-ahead log is copied back into the database file (a
//! checkpoint): this replaces SQLite's automatic checkpoint.
//!
//! SQLite's automatic checkpoint runs a PASSIVE checkpoint after every
//! commit that leaves 1000 frames or more in the WAL
//! (sqlite.org/wal.html#automatic_checkpoint). The WAL starts over only when
//! a writer begins after a checkpoint copied all of it (sqlite3.c
//! `walRestartLog`). With many writers, another commit nearly always lands
//! while a checkpoint syncs, so the WAL stays above 1000 frames and every
//! commit checkpoints: one fsync of the WAL and a few pages copied each.
//! Measured (`perf record` of fsync during `cargo bench --bench bus`,
//! fan-in, 16 writers × 300 messages): 750–920 WAL fsyncs per run; 27–29
//! with the rule below.
//!
//! After each commit ([`install`], `sqlite3_wal_hook`):
//! - below [`CHECKPOINT_FRAMES`] frames in the WAL, nothing;
//! - a PASSIVE checkpoint once [`CHECKPOINT_FRAMES`] frames are not yet
//!   copied (the counts come from a NOOP checkpoint, which takes no lock):
//!   about one per 1000 frames written, whichever process commits them;
//! - a TRUNCATE checkpoint once the WAL holds [`MAX_FRAMES`] frames. It
//!   waits for the writers and readers (through the busy handler), copies
//!   everything and empties the file, so the WAL stays bounded even when
//!   writers never pause, which PASSIVE checkpoints alone cannot promise.
//!   While it waits, it keeps every other writer out (sqlite.org/c3ref/
//!   wal_checkpoint_v2.html: RESTART and TRUNCATE block new writers while
//!   pending), so the wait is bounded by [`TRUNCATE_WAIT`], not the busy
//!   timeout: a reader that holds an old snapshot (a stopped process, an
//!   open `sqlite3` shell) made every commit wait 5 s and concurrent sends
//!   fail with "database is locked". When the wait runs out, the processes
//!   holding WAL read marks are logged ([`super::readers`]) and this
//!   connection tries again only after [`CHECKPOINT_FRAMES`] more frames.
//!
//! Failures are logged and never returned: the hook runs after the commit,
//! and an error from it would make a committed write look failed
//! (sqlite.org/c3ref/wal_hook.html).

use std::ffi::c_int;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::hooks::Wal;
use rusqlite::wal::CheckpointMode;

/// Frames not yet copied that trigger a PASSIVE checkpoint: SQLite's
/// default automatic checkpoint size (sqlite.org/pragma.html#pragma_wal_autocheckpoint).
pub const CHECKPOINT_FRAMES: c_int = 1000;

/// Frames in the WAL that trigger a TRUNCATE checkpoint (about 16 MiB with
/// the bus's 1 KiB pages).
pub const MAX_FRAMES: c_int = 16 * CHECKPOINT_FRAMES;

/// Longest wait of a TRUNCATE checkpoint for readers and writers: a read
/// transaction of the bus lasts well under a millisecond, so only a stuck
/// reader outlasts it.
pub const TRUNCATE_WAIT: Duration = Duration::from_millis(20);

/// Replaces SQLite's automatic checkpoint on `conn` with the rule of this
/// module; `shm` is the bus's `-shm` file (to name stuck readers).
pub(super) fn install(conn: &mut Connection, shm: PathBuf) -> rusqlite::Result<()> {
    install_with(conn, CHECKPOINT_FRAMES, MAX_FRAMES, shm)
}

/// [`install`] with other sizes, in frames.
fn install_with(
    conn: &mut Connection,
    every: c_int,
    max: c_int,
    shm: PathBuf,
) -> rusqlite::Result<()> {
    // The WAL size at which this connection's last TRUNCATE ran out of
    // time: the next try waits for `every` more frames.
    let mut failed_at: Option<c_int> = None;
    conn.wal_hook(Some(move |wal: &mut Wal, frames: c_int| {
        after_commit(wal, frames, every, max, &mut failed_at, &shm);
        Ok(())
    }))
}

/// The hook: `frames` is the size of the WAL after the commit.
fn after_commit(
    wal: &mut Wal,
    frames: c_int,
    every: c_int,
    max: c_int,
    failed_at: &mut Option<c_int>,
    shm: &Path,
) {
    // A WAL that started over since a TRUNCATE failed: the stuck reader is
    // gone (SQLite restarts the log only when no reader uses it), and the
    // file still has its old size: empty it now.
    let restarted = failed_at.is_some_and(|f| frames < f);
    if frames < every && !restarted {
        return;
    }
    let mode = if restarted {
        *failed_at = None;
        Some(CheckpointMode::TRUNCATE)
    } else {
        match wal.checkpoint_v2(CheckpointMode::NOOP) {
            Ok((log, copied)) => due(log, copied, every, max),
            Err(err) => {
                tracing::warn!(target: "bus", %err, "cannot read the WAL's size");
                return;
            }
        }
    };
    let mode = match mode {
        None => return,
        Some(CheckpointMode::TRUNCATE) if failed_at.is_some_and(|f| frames < f + every) => {
            CheckpointMode::PASSIVE
        }
        Some(mode) => mode,
    };
    let truncate = matches!(mode, CheckpointMode::TRUNCATE);
    let outcome = if truncate {
        super::with_busy_limit(TRUNCATE_WAIT, || wal.checkpoint_v2(mode))
    } else {
        wal.checkpoint_v2(mode)
    };
    match outcome {
        Ok(_) => {
            if truncate {
                *failed_at = None;
            }
        }
        // Another process is checkpointing (PASSIVE), or the wait for
        // writers and readers ran out (TRUNCATE): a later commit retries.
        Err(err) if err.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {
            if truncate {
                *failed_at = Some(frames);
                let readers = super::readers::wal_readers(shm);
                tracing::warn!(
                    target: "bus",
                    frames,
                    ?readers,
                    "the bus's WAL is past its bound and cannot be emptied: a process holds an old snapshot (readers: pids {readers:?}); it grows until that reader ends its transaction"
                );
            }
        }
        Err(err) => tracing::warn!(target: "bus", %err, "checkpoint failed"),
    }
}

/// The checkpoint due for a WAL of `log` frames of which `copied` are in
/// the database already, if any.
fn due(log: c_int, copied: c_int, every: c_int, max: c_int) -> Option<CheckpointMode> {
    if log >= max {
        Some(CheckpointMode::TRUNCATE)
    } else if log - copied >= every {
        Some(CheckpointMode::PASSIVE)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// A WAL database with one table, `every` and `max` as given, and no
    /// busy wait (rusqlite's default is 5 s).
    fn open(path: &std::path::Path, every: c_int, max: c_int) -> rusqlite::Result<Connection> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::ZERO)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch("CREATE TABLE IF NOT EXISTS t (x TEXT)")?;
        install_with(&mut conn, every, max, path.with_extension("shm"))?;
        Ok(conn)
    }

    /// (frames in the WAL, frames copied), as a NOOP checkpoint reports.
    fn counts(conn: &Connection) -> rusqlite::Result<(c_int, c_int)> {
        conn.wal_checkpoint_v2(None::<&str>, CheckpointMode::NOOP)
    }

    #[test]
    fn a_checkpoint_is_due_per_batch_of_uncopied_frames_not_per_commit() {
        let due = |log, copied| due(log, copied, 1000, 16_000);
        assert!(due(999, 0).is_none());
        assert!(matches!(due(1000, 0), Some(CheckpointMode::PASSIVE)));
        // A big WAL mostly copied already (another writer committed while
        // the last checkpoint ran): no checkpoint for every commit.
        assert!(due(5_000, 4_990).is_none());
        assert!(matches!(due(5_000, 4_000), Some(CheckpointMode::PASSIVE)));
        assert!(matches!(
            due(16_000, 15_999),
            Some(CheckpointMode::TRUNCATE)
        ));
    }

    #[test]
    fn a_lone_writer_keeps_the_wal_short() -> TestResult {
        let dir = tempfile::tempdir()?;
        let conn = open(&dir.path().join("db"), 10, 1_000)?;
        let mut longest = 0;
        for i in 0..200 {
            conn.execute("INSERT INTO t (x) VALUES (?1)", [i.to_string()])?;
            longest = longest.max(counts(&conn)?.0);
        }
        // Each commit writes one or two frames; without checkpoints the
        // WAL would hold 200 or more.
        assert!(longest < 10 + 3, "WAL reached {longest} frames");
        Ok(())
    }

    #[test]
    fn a_wal_at_its_bound_is_emptied_once_no_reader_holds_it() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("db");
        let writer = open(&path, 10, 60)?;
        let reader = open(&path, 10, 60)?;
        // An open read transaction keeps checkpoints from copying what came
        // after it, and the TRUNCATE fails at once (no busy wait here).
        reader.execute_batch("BEGIN")?;
        reader.query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0))?;
        let mut i = 0;
        while counts(&writer)?.0 < 70 {
            writer.execute("INSERT INTO t (x) VALUES (?1)", [i.to_string()])?;
            i += 1;
        }
        let (log, copied) = counts(&writer)?;
        assert!(copied < log, "the reader should have held the WAL");
        reader.execute_batch("COMMIT")?;
        // The failed TRUNCATE is tried again once the WAL started over or
        // `every` more frames came.
        for _ in 0..10 {
            writer.execute("INSERT INTO t (x) VALUES (?1)", [i.to_string()])?;
            i += 1;
            if counts(&writer)?.0 == 0 {
                break;
            }
        }
        // A PASSIVE checkpoint would have copied the WAL but left it whole.
        assert_eq!(counts(&writer)?, (0, 0));
        assert_eq!(std::fs::metadata(dir.path().join("db-wal"))?.len(), 0);
        Ok(())
    }
}
