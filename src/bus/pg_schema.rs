//! The bus schema on PostgreSQL: the tables of the SQLite bus at its
//! version 11, in one schema per project, versioned in a `schema_version`
//! table (in place of SQLite's `PRAGMA user_version`) and migrated by
//! append-only steps, each in a transaction that holds the bus's migration
//! lock and re-reads the version first, so two processes opening a new bus
//! at once cannot both migrate.
//!
//! | version | what |
//! |---------|------|
//! | 1       | the SQLite bus's tables at its version 11, plus `instances.lock_key` (liveness), the `bus_changes` counter, and `messages.ts` from the server clock |
//! | 2       | `outbox`: sends committed but not yet given their seq (retired by 3) |
//! | 3       | the seq fence: `fenced_seq()` gives every message its seq, `bus_fence()` bounds reads (see [`super::messages`]); the outbox's rows move to `messages` and it is dropped |
//!
//! Types: every integer is `BIGINT`, every text `TEXT`, so that both stores
//! read the same columns as `i64` and `String`.

use super::pg::{MIGRATE_LOCK, PgConn};
use super::store::Result;
use super::{BusError, BusUrl};

const MIGRATIONS: &[&str] = &[V1, V2, V3];

/// The schema version this binary writes on PostgreSQL.
pub const PG_SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const V1: &str = "
CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('master','worker')),
    active BIGINT NOT NULL DEFAULT 1,
    last_active BIGINT NOT NULL,
    registered_at BIGINT NOT NULL,
    session_id TEXT NOT NULL DEFAULT '',
    tmux_target TEXT NOT NULL DEFAULT '',
    pid BIGINT NOT NULL DEFAULT 0,
    proc_start BIGINT NOT NULL DEFAULT 0,
    boot_id TEXT NOT NULL DEFAULT '',
    host TEXT NOT NULL DEFAULT '',
    pane TEXT NOT NULL DEFAULT '',
    tmux_socket TEXT NOT NULL DEFAULT '',
    summary TEXT NOT NULL DEFAULT '',
    summary_at BIGINT NOT NULL DEFAULT 0,
    lock_key BIGINT NOT NULL DEFAULT 0
);
CREATE SEQUENCE instance_locks MAXVALUE 2147483647 CYCLE;
CREATE TABLE messages (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    from_id TEXT NOT NULL,
    to_id TEXT NOT NULL,
    type TEXT NOT NULL,
    content TEXT NOT NULL,
    ts BIGINT NOT NULL
        DEFAULT (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT,
    in_reply_to TEXT
);
CREATE INDEX messages_to_seq ON messages (to_id, seq);
CREATE INDEX messages_reply ON messages (in_reply_to) WHERE in_reply_to IS NOT NULL;
CREATE INDEX messages_tasks ON messages (to_id, seq) WHERE type = 'task';
CREATE TABLE read_cursors (
    instance_id TEXT PRIMARY KEY,
    last_read_seq BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE worktrees (
    worker_id TEXT PRIMARY KEY,
    branch TEXT NOT NULL DEFAULT '',
    path TEXT NOT NULL,
    base TEXT NOT NULL DEFAULT 'main',
    status TEXT NOT NULL DEFAULT 'active',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    head_commit TEXT NOT NULL DEFAULT ''
);
CREATE TABLE sessions (
    name TEXT PRIMARY KEY,
    tmux_session_id TEXT NOT NULL,
    pane TEXT NOT NULL,
    tmux_socket TEXT NOT NULL,
    worktree TEXT NOT NULL DEFAULT '',
    perm_mode TEXT NOT NULL DEFAULT '',
    spawned_at BIGINT NOT NULL,
    ended_at BIGINT,
    argv TEXT NOT NULL DEFAULT '[]',
    mcp_connected_at BIGINT
);
CREATE TABLE hook_states (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    claude_session TEXT NOT NULL DEFAULT '',
    at BIGINT NOT NULL
);
CREATE TABLE transcripts (
    path TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    tally TEXT NOT NULL DEFAULT '{}',
    at BIGINT NOT NULL
);
CREATE INDEX transcripts_id ON transcripts (id);
CREATE TABLE touched_paths (
    worker_id TEXT NOT NULL,
    path TEXT NOT NULL,
    source TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (worker_id, path)
);
CREATE TABLE radar_notices (
    path TEXT PRIMARY KEY,
    workers TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE TABLE permission_requests (
    id TEXT PRIMARY KEY,
    worker TEXT NOT NULL,
    tool TEXT NOT NULL,
    input TEXT NOT NULL,
    suggestions TEXT NOT NULL DEFAULT '[]',
    claude_session TEXT NOT NULL DEFAULT '',
    asked_at BIGINT NOT NULL,
    deadline BIGINT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    decision TEXT,
    reason TEXT,
    decided_by TEXT,
    decided_at BIGINT,
    delivered_at BIGINT
);
CREATE INDEX permission_requests_worker ON permission_requests (worker, asked_at);
CREATE TABLE wake_hooks (
    id TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    pid BIGINT NOT NULL DEFAULT 0,
    proc_start BIGINT NOT NULL DEFAULT 0,
    armed_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    rung_seq BIGINT NOT NULL DEFAULT 0,
    fired_at BIGINT,
    poke TEXT,
    poked_at BIGINT
);
CREATE TABLE hosts (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    added_at BIGINT NOT NULL
);
CREATE TABLE session_hosts (
    name TEXT PRIMARY KEY,
    host TEXT NOT NULL
);
CREATE SEQUENCE bus_changes;
";

/// A send committed its message here, without the write lock, and the row
/// moved to `messages` (taking its seq) in a short locked statement that
/// moved every queued row at once; `ins` kept the order they came in.
/// Retired by [`V3`], which moves what is left.
const V2: &str = "
CREATE TABLE outbox (
    ins BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    from_id TEXT NOT NULL,
    to_id TEXT NOT NULL,
    type TEXT NOT NULL,
    content TEXT NOT NULL,
    ts BIGINT NOT NULL
        DEFAULT (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT,
    in_reply_to TEXT
);
";

/// The seq fence, which lets sends commit side by side without a reader's
/// cursor ever passing a message that commits late.
///
/// `fenced_seq()`, the default of `messages.seq`, first takes a shared
/// transaction advisory lock keyed on (the `messages` table's oid, the last
/// seq handed out, modulo 2^32: a bigint key, so `objsubid` 1, which the
/// bus's other locks never use), then takes the next seq, which is above
/// that key. The lock is released after the transaction's commit is
/// visible (PostgreSQL ends a transaction in the proc array before it
/// releases its locks).
///
/// `bus_fence()` reads the last seq handed out, then the keys of every
/// fence lock still held, and returns the highest seq below which every
/// message that will ever commit already has: the last seq, or one below
/// the oldest held key. A read then takes its rows in a later statement,
/// whose snapshot sees every message under the fence. Keys more than 2^31
/// ahead of the last seq are locks taken after it was read, whose seqs are
/// above it anyway. Both run with the schema's search path, fixed when they
/// are created.
const V3: &str = "
CREATE FUNCTION fenced_seq() RETURNS BIGINT LANGUAGE plpgsql VOLATILE
SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(
        ('messages'::regclass::oid::BIGINT << 32)
        | (COALESCE(pg_sequence_last_value('messages_seq_seq'), 0) & 4294967295));
    RETURN nextval('messages_seq_seq');
END $$;
CREATE FUNCTION bus_fence() RETURNS BIGINT LANGUAGE plpgsql VOLATILE
SET search_path FROM CURRENT AS $$
DECLARE
    last BIGINT := COALESCE(pg_sequence_last_value('messages_seq_seq'), 0);
    oldest BIGINT;
BEGIN
    SELECT MIN(last - behind) INTO oldest
      FROM (SELECT ((last - objid::BIGINT) % 4294967296 + 4294967296) % 4294967296 AS behind
              FROM pg_locks
             WHERE locktype = 'advisory' AND objsubid = 1
               AND classid = 'messages'::regclass::oid
               AND database = (SELECT oid FROM pg_database
                                WHERE datname = current_database())) AS held
     WHERE behind < 2147483648;
    RETURN LEAST(last, oldest - 1);
END $$;
ALTER TABLE messages ALTER COLUMN seq SET DEFAULT fenced_seq();
INSERT INTO messages (id, from_id, to_id, type, content, ts, in_reply_to)
SELECT id, from_id, to_id, type, content, ts, in_reply_to FROM outbox ORDER BY ins
ON CONFLICT (id) DO NOTHING;
DROP TABLE outbox;
";

/// The stored schema version, or `None` when the schema holds no bus.
pub fn version(conn: &PgConn) -> Result<Option<i64>> {
    let rows = conn.query("SELECT to_regclass('schema_version') IS NOT NULL", &[])?;
    let exists = matches!(
        rows.first().and_then(|r| r.first()),
        Some(super::pg::Value::Int(1))
    );
    if !exists {
        return Ok(None);
    }
    let rows = conn.query("SELECT MAX(version) FROM schema_version", &[])?;
    Ok(match rows.first().and_then(|r| r.first()) {
        Some(super::pg::Value::Int(v)) => Some(*v),
        _ => Some(0),
    })
}

/// Brings the bus in `url`'s schema up to [`PG_SCHEMA_VERSION`], creating
/// the schema first if `create`; refuses a newer one.
pub fn migrate(conn: &PgConn, url: &BusUrl, create: bool) -> std::result::Result<(), BusError> {
    if version(conn)? == Some(PG_SCHEMA_VERSION) {
        return Ok(());
    }
    let class = url.lock_class();
    loop {
        conn.batch(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({class}, {MIGRATE_LOCK})"
        ))?;
        let step = (|| -> std::result::Result<bool, BusError> {
            if create {
                conn.batch(&format!(
                    "CREATE SCHEMA IF NOT EXISTS {schema};
                     CREATE TABLE IF NOT EXISTS {schema}.schema_version (version BIGINT NOT NULL);",
                    schema = url.schema()
                ))?;
            }
            let found = version(conn)?.unwrap_or(0);
            if found > PG_SCHEMA_VERSION {
                return Err(BusError::TooNew {
                    found,
                    supported: PG_SCHEMA_VERSION,
                });
            }
            let Some(sql) = usize::try_from(found).ok().and_then(|v| MIGRATIONS.get(v)) else {
                return Ok(false);
            };
            conn.batch(sql).map_err(|e| BusError::PgMigration {
                version: found + 1,
                message: e.to_string(),
            })?;
            conn.batch(&format!(
                "DELETE FROM schema_version; INSERT INTO schema_version VALUES ({})",
                found + 1
            ))?;
            Ok(true)
        })();
        match step {
            Ok(more) => {
                conn.batch("COMMIT")?;
                if !more {
                    return Ok(());
                }
                tracing::info!(target: "bus", schema = url.schema(), "PostgreSQL bus schema migrated");
            }
            Err(e) => {
                let _ = conn.batch("ROLLBACK");
                return Err(e);
            }
        }
    }
}
