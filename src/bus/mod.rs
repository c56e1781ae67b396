//! The bus: one WAL-mode SQLite file per project, shared by every intercomm
//! process of that project (one MCP server per Claude instance, plus CLI calls).
//!
//! ```text
//! instances     id PK ─┐  role, active, pid/proc_start/boot_id/host (liveness),
//!                      │  session_id (the registering process's token), pane
//! read_cursors  instance_id PK → last_read_seq (highest seq delivered)
//! messages      seq PK AUTOINCREMENT (delivery order, never reused),
//!               id UUID UNIQUE, from_id, to_id ('all' = broadcast), type, content, ts
//! worktrees     worker_id PK → path, base, branch, head_commit, status
//! sessions      name PK (= worker id) → tmux session id, pane id, socket: what spawn started
//! hook_states   id PK → state (running/ready/blocked/gone), detail, Claude session id, time
//! transcripts   path PK → instance id, counted token usage (cost)
//! permission_requests  id PK → worker, tool, input, suggestions, status, decision, who, when
//! wake_hooks    id PK → the armed asyncRewake waiter (token, pid, expiry, seq rung for)
//! hosts         name PK → ssh destination (`ssh://user@host[:port]`): where workers may run
//! session_hosts name PK → host: the host of a session spawn started elsewhere
//! ```
//!
//! Invariants:
//! - every read-then-write runs in `BEGIN IMMEDIATE` ([`Bus::write`]), so
//!   allocation and cursors cannot race (B2, B13);
//! - the file is created only by a write (register, worktree add), never by a
//!   server merely starting (S4): see [`Bus::open_existing`];
//! - the folder is 0700, the database and its `-wal`/`-shm` files 0600 (S3);
//! - neither is ever a symbolic link, and both belong to this user; the
//!   folder is writable by no one else (refused otherwise, by `guard`).

mod checkpoint;
mod create;
mod guard;
pub mod hooks;
pub mod hosts;
pub mod instances;
pub mod messages;
pub mod permissions;
pub mod pg;
pub mod pg_schema;
pub mod pg_tls;
pub mod radar;
pub mod readers;
mod schema;
pub mod sessions;
pub mod store;
pub mod transcripts;
pub mod wake_hooks;
pub mod watch;
pub mod worktrees;

use std::cell::Cell;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::location::BusPaths;

pub use pg::BusUrl;
pub use schema::SCHEMA_VERSION;
pub use store::{Conn, StoreError};

/// How long a statement waits for another process's write lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Failures of the bus layer.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("bus database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("bus schema version {found} is newer than this intercomm (supports up to {supported})")]
    TooNew { found: i64, supported: i64 },
    #[error("bus schema version {found} is below 0: no intercomm wrote it")]
    BadVersion { found: i64 },
    #[error("refusing the bus at {path}: {problem}")]
    Unsafe {
        path: PathBuf,
        problem: String,
        /// What the user can do about it.
        fix: String,
    },
    #[error("migrating the bus to schema version {version} failed: {source}")]
    Migration {
        version: i64,
        #[source]
        source: rusqlite::Error,
    },
    /// The PostgreSQL bus refused or failed a statement, or cannot be reached.
    #[error("PostgreSQL bus: {message}")]
    Pg { message: String },
    #[error("migrating the PostgreSQL bus to schema version {version} failed: {message}")]
    PgMigration { version: i64, message: String },
    /// A bus column held a value of another type.
    #[error("{0}")]
    Column(String),
}

impl From<StoreError> for BusError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Sqlite(e) => Self::Sqlite(e),
            StoreError::Pg(message) => Self::Pg { message },
            e @ StoreError::Column { .. } => Self::Column(e.to_string()),
        }
    }
}

/// An open bus connection (one per process).
#[derive(Debug)]
pub struct Bus {
    conn: Conn,
    place: Place,
}

/// Where a bus lives.
#[derive(Debug, Clone)]
enum Place {
    File(PathBuf),
    Url(BusUrl),
}

impl Bus {
    /// Opens the bus if its file exists; `Ok(None)` if it does not. Never
    /// creates anything (S4), but migrates an existing older schema.
    pub fn open_existing(paths: &BusPaths) -> Result<Option<Self>, BusError> {
        if let Some(url) = &paths.url {
            return Self::open_pg(url, false);
        }
        if !guard::check_dir(&paths.dir())? {
            return Ok(None);
        }
        let path = paths.db();
        if std::fs::symlink_metadata(&path).is_err() {
            return Ok(None);
        }
        Self::open_path(&path).map(Some)
    }

    /// Opens the bus, creating the folder (0700) and the file (0600) first if
    /// needed, and tightening the modes of an existing bus.
    pub fn open_or_create(paths: &BusPaths) -> Result<Self, BusError> {
        if let Some(url) = &paths.url {
            return Self::open_pg(url, true)?.ok_or_else(|| BusError::Pg {
                message: format!("{url}: the schema was not created"),
            });
        }
        let dir = paths.dir();
        if !paths.root.is_dir() {
            return Err(BusError::Io {
                what: "bus root is not a directory:",
                path: paths.root.clone(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        }
        guard::check_dir(&dir)?;
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                guard::check_dir(&dir)?;
                restrict(&dir, 0o700);
            }
            Err(source) => {
                return Err(BusError::Io {
                    what: "cannot create bus folder",
                    path: dir,
                    source,
                });
            }
        }
        let path = paths.db();
        if fs::symlink_metadata(&path).is_err() {
            create::publish(&path)?;
        }
        for suffix in ["", "-wal", "-shm"] {
            let file = PathBuf::from(format!("{}{suffix}", path.display()));
            guard::check_file(&file)?;
            restrict(&file, 0o600);
        }
        Self::open_path(&path)
    }

    fn open_path(path: &Path) -> Result<Self, BusError> {
        Self::open_path_rw(path).map_err(|err| read_only_cause(path, err))
    }

    fn open_path_rw(path: &Path) -> Result<Self, BusError> {
        for suffix in ["", "-wal", "-shm"] {
            guard::check_file(Path::new(&format!("{}{suffix}", path.display())))?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let mut conn = Connection::open_with_flags(path, flags)?;
        // The busy wait must be in force before anything takes a lock,
        // including the switch to WAL (B13).
        conn.busy_handler(Some(busy_wait))?;
        // A new bus gets 1 KiB pages (ignored for an existing one): a send
        // writes 4-5 pages to the WAL, and checksumming and copying 4 KiB
        // pages doubled the time each writer held the lock (scripts/bench,
        // fan-in of 16 writers: 3.9k msgs/s with 4 KiB, 6.6k with 1 KiB).
        conn.pragma_update(None, "page_size", 1024)?;
        let mode = switch_to_wal(&conn)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(target: "bus", %mode, "bus is not in WAL mode");
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // rusqlite clears bindings when a cached statement is returned, and
        // SQLite then re-prepares any statement whose plan used a bound value
        // (our `LIMIT ?`s): 14% of a server's CPU (cargo bench --bench bus,
        // profiled). The query-planner stability guarantee keeps each plan.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )?;
        // 1 MiB of page cache (SQLite's default is 2 MiB): a bus is mostly
        // appended to and read at its end; this keeps a server under 10 MiB.
        conn.pragma_update(None, "cache_size", -1024)?;
        checkpoint::install(&mut conn, shm_of(path))?;
        schema::migrate(&mut conn)?;
        Ok(Self {
            conn: Conn::Sqlite(conn),
            place: Place::File(path.to_path_buf()),
        })
    }

    /// Connects to the PostgreSQL bus at `url`: `Ok(None)` when its schema
    /// holds no bus and `create` is false (S4, as for the file); migrates
    /// an older schema.
    fn open_pg(url: &BusUrl, create: bool) -> Result<Option<Self>, BusError> {
        let named = |e: StoreError| match BusError::from(e) {
            BusError::Pg { message } => BusError::Pg {
                message: format!("{url}: {message}"),
            },
            other => other,
        };
        let conn = pg::PgConn::connect(url).map_err(named)?;
        if !create && pg_schema::version(&conn).map_err(named)?.is_none() {
            return Ok(None);
        }
        pg_schema::migrate(&conn, url, create)?;
        Ok(Some(Self {
            conn: Conn::Pg(conn),
            place: Place::Url(url.clone()),
        }))
    }

    /// The database file (`None` for a PostgreSQL bus).
    pub fn path(&self) -> Option<&Path> {
        match &self.place {
            Place::File(p) => Some(p),
            Place::Url(_) => None,
        }
    }

    /// Where the bus is, for people: the file's path, or the URL without
    /// its password.
    pub fn describe(&self) -> String {
        match &self.place {
            Place::File(p) => p.display().to_string(),
            Place::Url(u) => u.to_string(),
        }
    }

    /// A second, read-only connection to the same bus, for a reader that
    /// polls on its own thread (the view): on SQLite a read-only handle with
    /// the plain busy timeout.
    pub fn reader(&self) -> Result<Conn, BusError> {
        let path = match &self.place {
            Place::File(p) => p,
            Place::Url(url) => return Ok(Conn::Pg(pg::PgConn::connect(url)?)),
        };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok(Conn::Sqlite(conn))
    }

    /// The connection, for reads outside a transaction.
    pub fn conn(&self) -> &Conn {
        &self.conn
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction, committing on `Ok` and
    /// rolling back on `Err`.
    ///
    /// `BEGIN IMMEDIATE` and `COMMIT` are cached statements: rusqlite's
    /// `Transaction` re-parses them on every call, which was a sixth of a
    /// send's instructions (callgrind).
    pub fn write<T, E>(&mut self, f: impl FnOnce(&Conn) -> Result<T, E>) -> Result<T, E>
    where
        E: From<BusError>,
    {
        self.write_locking(true, f)
    }

    /// [`Bus::write`] for a send: its reads (the gate, the recipient, the
    /// backlog) need not be serialised with other writers. The same as
    /// `write` on SQLite; on PostgreSQL the transaction takes no write lock,
    /// so sends commit side by side, and the seq fence
    /// ([`messages::fence`]) keeps readers from passing a message that
    /// commits late. A backlog bound may be passed by as many sends as race
    /// for it.
    pub fn write_send<T, E>(&mut self, f: impl FnOnce(&Conn) -> Result<T, E>) -> Result<T, E>
    where
        E: From<BusError>,
    {
        self.write_locking(false, f)
    }

    fn write_locking<T, E>(
        &mut self,
        lock_first: bool,
        f: impl FnOnce(&Conn) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<BusError>,
    {
        let conn = match &self.conn {
            Conn::Sqlite(c) => c,
            Conn::Pg(pg) => return pg_write(&self.conn, pg, lock_first, f),
        };
        run_cached(conn, "BEGIN IMMEDIATE").map_err(BusError::from)?;
        let outcome = f(&self.conn).and_then(|value| match run_cached(conn, "COMMIT") {
            Ok(()) => Ok(value),
            Err(e) => Err(BusError::from(e).into()),
        });
        if outcome.is_err()
            && !conn.is_autocommit()
            && let Err(err) = run_cached(conn, "ROLLBACK")
        {
            tracing::warn!(target: "bus", %err, "rollback failed");
        }
        outcome
    }
}

/// [`Bus::write`] on PostgreSQL: `BEGIN`, the bus's write lock (so writes
/// are serialised as `BEGIN IMMEDIATE` serialises them on SQLite; not for a
/// send), `f`, `COMMIT`; then the change counter moves (see [`pg::BUMP`]).
///
/// After a server restart the connection is found closed at the `BEGIN`,
/// before anything ran: that `BEGIN` runs again on a new connection (with
/// the session's liveness locks taken again, [`pg::PgConn`]), so the
/// transaction does not fail. A connection lost after the `BEGIN` fails
/// the transaction: `f` is not run twice, and a `COMMIT` whose answer was
/// lost is never sent again (its outcome is unknown); the next call
/// reconnects.
fn pg_write<T, E>(
    conn: &Conn,
    pg: &pg::PgConn,
    lock_first: bool,
    f: impl FnOnce(&Conn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<BusError>,
{
    // READ COMMITTED whatever the server's default: a read takes the seq
    // fence in one statement and its rows in a later one, whose snapshot
    // must be newer than the fence (see `messages::fence`).
    const BEGIN: &str = "BEGIN ISOLATION LEVEL READ COMMITTED";
    if lock_first {
        pg.batch(&format!("{BEGIN}; {}", pg.write_lock_sql()))
    } else {
        pg.batch(BEGIN)
    }
    .map_err(BusError::from)?;
    pg.set_in_tx(true);
    let outcome = match f(conn) {
        Ok(value) => pg
            .batch(&format!("COMMIT; {}", pg::BUMP))
            .map(|()| value)
            .map_err(|e| BusError::from(e).into()),
        Err(e) => {
            // The change counter moves after a rollback too: a waiter that
            // read nothing past the fence of a message rolled back here looks
            // again now rather than at the next commit.
            if let Err(err) = pg.batch(&format!("ROLLBACK; {}", pg::BUMP)) {
                tracing::warn!(target: "bus", %err, "rollback failed");
            }
            Err(e)
        }
    };
    pg.set_in_tx(false);
    outcome
}

/// SQLite answers "unable to open database file" when a WAL bus on a
/// read-only filesystem cannot create its `-shm` file (the file itself
/// opens read-only): this names the cause, when that is it.
fn read_only_cause(path: &Path, err: BusError) -> BusError {
    let BusError::Sqlite(ref e) = err else {
        return err;
    };
    if !matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly)
    ) {
        return err;
    }
    match fs::OpenOptions::new().append(true).open(path) {
        Err(source) if source.kind() == std::io::ErrorKind::ReadOnlyFilesystem => BusError::Io {
            what: "the bus is on a read-only filesystem:",
            path: path.to_path_buf(),
            source,
        },
        _ => err,
    }
}

/// Switches the bus to WAL, retrying while another process does the same.
///
/// On a new file still in rollback mode, two connections switching at once
/// each hold a SHARED lock and want EXCLUSIVE; SQLite detects the deadlock
/// and returns SQLITE_BUSY at once, without calling the busy handler
/// (sqlite.org/c3ref/busy_handler.html). Seen as 2 failures in 480 racing
/// registrations. Once one switch succeeds the rest are no-ops.
fn switch_to_wal(conn: &Connection) -> Result<String, BusError> {
    let started = std::time::Instant::now();
    let mut pause = Duration::from_micros(200);
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0)) {
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && started.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            other => return Ok(other?),
        }
    }
}

/// The `-shm` file beside the database at `path`.
fn shm_of(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}-shm", path.display()))
}

fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

/// The schema version of the bus at `path`, read without changing it.
pub fn schema_version(path: &Path) -> Result<i64, BusError> {
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NOFOLLOW,
    )?;
    conn.busy_handler(Some(busy_wait))?;
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Retries a locked bus, for at most [`BUSY_TIMEOUT`] in all (this is the
/// busy timeout, with finer steps): first [`YIELD_TRIES`] times after
/// giving the CPU away, then after randomised sleeps.
///
/// A bus transaction holds the write lock for ~50 µs, so a waiter that
/// yields finds it free within a few tries, and its CPU went to whichever
/// process could use it: on 2 CPUs shared by 17 processes that is often
/// the lock holder, preempted. Sleeping left the lock idle and the holder
/// waiting for a CPU alike (fan-in bench, 16 senders, interleaved runs:
/// 8,000–8,400 msgs/s at ~150 µs of server CPU each with sleeps only;
/// 12,000–12,700 at ~95 µs with yields first). SQLite's own busy timeout
/// sleeps 1, 2, 5 … 50 ms (sqlite3.c `sqliteDefaultBusyCallback`), far
/// longer than a hold. The sleeps, for a lock held longer (a big clear),
/// start at 50–100 µs and double each try up to 1.6–3.2 ms; the jitter
/// keeps writers from retrying in lockstep.
fn busy_wait(tries: i32) -> bool {
    use std::hash::{BuildHasher, Hasher};
    use std::time::Instant;
    thread_local!(static STARTED: Cell<Option<Instant>> = const { Cell::new(None) });
    let started = STARTED.with(|s| {
        if tries == 0 || s.get().is_none() {
            s.set(Some(Instant::now()));
        }
        s.get().unwrap_or_else(Instant::now)
    });
    if started.elapsed() >= BUSY_LIMIT.with(Cell::get) {
        return false;
    }
    if tries < YIELD_TRIES {
        std::thread::yield_now();
        return true;
    }
    let base = 50u64 << (tries - YIELD_TRIES).clamp(0, 5);
    let jitter = std::hash::RandomState::new().build_hasher().finish() % base;
    std::thread::sleep(Duration::from_micros(base + jitter));
    true
}

thread_local!(static BUSY_LIMIT: Cell<Duration> = const { Cell::new(BUSY_TIMEOUT) });

/// Runs `f` with this thread's busy wait bounded by `limit` instead of
/// [`BUSY_TIMEOUT`] (a checkpoint that must not hold other writers up).
fn with_busy_limit<T>(limit: Duration, f: impl FnOnce() -> T) -> T {
    let before = BUSY_LIMIT.with(|l| l.replace(limit));
    let out = f();
    BUSY_LIMIT.with(|l| l.set(before));
    out
}

/// How many busy retries come after a yield rather than a sleep.
const YIELD_TRIES: i32 = 100;

/// Best effort: narrows a path's mode, logging (not failing) when it cannot.
fn restrict(path: &Path, mode: u32) {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return;
    };
    if meta.file_type().is_symlink() {
        return;
    }
    if meta.permissions().mode() & 0o777 == mode {
        return;
    }
    if let Err(err) = fs::set_permissions(path, fs::Permissions::from_mode(mode)) {
        tracing::warn!(target: "bus", path = %path.display(), %err, "cannot restrict mode");
    }
}
