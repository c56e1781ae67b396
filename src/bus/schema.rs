//! Schema versions, as `PRAGMA user_version`, and the append-only migrations
//! between them. Each migration runs in its own `BEGIN IMMEDIATE` transaction
//! that re-reads the version first, so two processes opening a new bus at the
//! same moment cannot both migrate (B13). Never edit a shipped migration:
//! append a new one.
//!
//! | version | what |
//! |---------|------|
//! | 0       | empty file, or a bus written by intercomm-aimfp (any release)      |
//! | 1       | the intercomm-aimfp 1.0.2 schema, normalised (ms cursor → seq)     |
//! | 2       | intercomm: message `seq` never reused, liveness, pane, indexes     |
//! | 3       | `sessions`: the tmux sessions this bus spawned                     |
//! | 4       | `hook_states`: what Claude Code's hooks last reported per instance |
//! | 5       | instance summaries; the argv a session was started with (respawn)  |
//! | 6       | a partial index on task messages (a worker's latest contract)      |
//! | 7       | when a spawned worker's `intercomm mcp` was first listed           |
//! | 8       | `transcripts`: each session's transcript and its counted usage     |
//! | 9       | the merge radar: paths workers wrote, overlaps already reported    |
//! | 10      | permission requests answered on the bus; armed wake hooks          |
//! | 11      | `hosts` (other machines reached over SSH), each remote session's host |

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::BusError;

type Migration = fn(&Transaction<'_>) -> rusqlite::Result<()>;

const MIGRATIONS: &[Migration] = &[
    adopt_legacy,
    intercomm_v1,
    spawned_sessions,
    hook_states,
    summaries_and_respawn,
    task_index,
    mcp_connected,
    transcripts,
    radar,
    hooks_first,
    super::hosts::migration,
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the bus up to [`SCHEMA_VERSION`], refusing a newer one.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), BusError> {
    if user_version(conn)? == SCHEMA_VERSION {
        return Ok(());
    }
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version = user_version(&tx)?;
        if version < 0 {
            return Err(BusError::BadVersion { found: version });
        }
        if version > SCHEMA_VERSION {
            return Err(BusError::TooNew {
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        let Some(step) = usize::try_from(version)
            .ok()
            .and_then(|v| MIGRATIONS.get(v))
        else {
            return Ok(());
        };
        step(&tx).map_err(|source| BusError::Migration {
            version: version + 1,
            source,
        })?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
        tracing::info!(target: "bus", version = version + 1, "bus schema migrated");
    }
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

fn columns(tx: &Transaction<'_>, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = tx.prepare(&format!("PRAGMA table_info({table})"))?;
    let names = stmt.query_map([], |r| r.get::<_, String>(1))?;
    names.collect()
}

/// 0 → 1: creates the 1.0.2 tables, or brings an older intercomm-aimfp bus to
/// that shape (missing columns added; the millisecond cursor `last_read_ts`
/// converted to a message rowid, as the original converts it).
fn adopt_legacy(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS instances (
            id TEXT PRIMARY KEY,
            role TEXT NOT NULL CHECK (role IN ('master','worker')),
            active INTEGER NOT NULL DEFAULT 1,
            last_active INTEGER NOT NULL,
            registered_at INTEGER NOT NULL,
            session_id TEXT NOT NULL DEFAULT '',
            tmux_target TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE IF NOT EXISTS messages (
            id TEXT PRIMARY KEY,
            from_id TEXT NOT NULL,
            to_id TEXT NOT NULL,
            type TEXT NOT NULL,
            content TEXT NOT NULL,
            ts INTEGER NOT NULL
        );
        CREATE TABLE IF NOT EXISTS read_cursors (
            instance_id TEXT PRIMARY KEY,
            last_read_seq INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE IF NOT EXISTS worktrees (
            worker_id TEXT PRIMARY KEY,
            branch TEXT NOT NULL DEFAULT '',
            path TEXT NOT NULL,
            base TEXT NOT NULL DEFAULT 'main',
            status TEXT NOT NULL DEFAULT 'active',
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        );",
    )?;
    let inst = columns(tx, "instances")?;
    for col in ["session_id", "tmux_target"] {
        if !inst.iter().any(|c| c == col) {
            tx.execute_batch(&format!(
                "ALTER TABLE instances ADD COLUMN {col} TEXT NOT NULL DEFAULT ''"
            ))?;
        }
    }
    let cursors = columns(tx, "read_cursors")?;
    let has = |c: &str| cursors.iter().any(|x| x == c);
    if has("last_read_ts") {
        if !has("last_read_seq") {
            tx.execute_batch(
                "ALTER TABLE read_cursors ADD COLUMN last_read_seq INTEGER NOT NULL DEFAULT 0",
            )?;
        }
        tx.execute_batch(
            "UPDATE read_cursors SET last_read_seq = COALESCE(
                (SELECT MAX(m.rowid) FROM messages m WHERE m.ts <= read_cursors.last_read_ts), 0);
             ALTER TABLE read_cursors DROP COLUMN last_read_ts;",
        )?;
    }
    Ok(())
}

/// 1 → 2: the intercomm schema.
/// - `messages` is rebuilt with `seq INTEGER PRIMARY KEY AUTOINCREMENT`: the
///   old implicit rowid becomes `seq` (so stored cursors stay valid), and
///   AUTOINCREMENT never hands out a number twice, even after `clear` empties
///   the table (B7). The sequence starts above every stored cursor, so a
///   cursor left past the end by the original's rowid reuse cannot hide new
///   mail. The type CHECK is dropped (old buses hold retired types); types are
///   validated in code.
/// - `instances` gains the columns liveness needs, and the tmux pane.
/// - `worktrees` records the commit a reported branch pointed at.
fn intercomm_v1(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE messages_v2 (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            from_id TEXT NOT NULL,
            to_id TEXT NOT NULL,
            type TEXT NOT NULL,
            content TEXT NOT NULL,
            ts INTEGER NOT NULL,
            in_reply_to TEXT
        );
        INSERT INTO messages_v2 (seq, id, from_id, to_id, type, content, ts)
            SELECT rowid, id, from_id, to_id, type, content, ts FROM messages ORDER BY rowid;
        DROP TABLE messages;
        ALTER TABLE messages_v2 RENAME TO messages;
        CREATE INDEX messages_to_seq ON messages (to_id, seq);
        CREATE INDEX messages_reply ON messages (in_reply_to) WHERE in_reply_to IS NOT NULL;
        -- sqlite_sequence has no unique key: update the row, or add it.
        CREATE TEMP TABLE seq_floor AS SELECT MAX(
            (SELECT COALESCE(MAX(seq), 0) FROM messages),
            (SELECT COALESCE(MAX(last_read_seq), 0) FROM read_cursors)) AS v;
        UPDATE sqlite_sequence SET seq = (SELECT v FROM seq_floor) WHERE name = 'messages';
        INSERT INTO sqlite_sequence (name, seq)
            SELECT 'messages', v FROM seq_floor
             WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'messages');
        DROP TABLE seq_floor;
        ALTER TABLE instances ADD COLUMN pid INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE instances ADD COLUMN proc_start INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE instances ADD COLUMN boot_id TEXT NOT NULL DEFAULT '';
        ALTER TABLE instances ADD COLUMN host TEXT NOT NULL DEFAULT '';
        ALTER TABLE instances ADD COLUMN pane TEXT NOT NULL DEFAULT '';
        ALTER TABLE instances ADD COLUMN tmux_socket TEXT NOT NULL DEFAULT '';
        ALTER TABLE worktrees ADD COLUMN head_commit TEXT NOT NULL DEFAULT '';",
    )
}

/// 2 → 3: the tmux sessions spawn started, so that scan and teardown act on
/// this bus's fleet only, addressed by session and pane id (B11).
fn spawned_sessions(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE sessions (
            name TEXT PRIMARY KEY,
            tmux_session_id TEXT NOT NULL,
            pane TEXT NOT NULL,
            tmux_socket TEXT NOT NULL,
            worktree TEXT NOT NULL DEFAULT '',
            perm_mode TEXT NOT NULL DEFAULT '',
            spawned_at INTEGER NOT NULL,
            ended_at INTEGER
        );",
    )
}

/// 3 → 4: the state Claude Code's hooks last reported for each instance
/// (`intercomm hook`), which scan prefers to the screen.
fn hook_states(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE hook_states (
            id TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '',
            claude_session TEXT NOT NULL DEFAULT '',
            at INTEGER NOT NULL
        );",
    )
}

/// 4 → 5: what each instance says it is working on, and the Claude argv a
/// spawned session was started with, so respawn can start it again.
fn summaries_and_respawn(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "ALTER TABLE instances ADD COLUMN summary TEXT NOT NULL DEFAULT '';
         ALTER TABLE instances ADD COLUMN summary_at INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE sessions ADD COLUMN argv TEXT NOT NULL DEFAULT '[]';",
    )
}

/// 5 → 6: finding a worker's latest contract (its summary until it sets
/// one) walked all its mail; a partial index over task messages only costs
/// nothing on ordinary sends.
fn task_index(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch("CREATE INDEX messages_tasks ON messages (to_id, seq) WHERE type = 'task';")
}

/// 6 → 7: when a spawned worker's own `intercomm mcp` was first asked for its
/// tools, so that spawn rings the worker only once its Claude Code can offer
/// them.
fn mcp_connected(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch("ALTER TABLE sessions ADD COLUMN mcp_connected_at INTEGER;")
}

/// 7 → 8: the transcript each Claude session writes (from its hooks'
/// `transcript_path`), and how much of its token usage was counted, so
/// that cost and caps read only what was appended since.
fn transcripts(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE transcripts (
            path TEXT PRIMARY KEY,
            id TEXT NOT NULL,
            tally TEXT NOT NULL DEFAULT '{}',
            at INTEGER NOT NULL
        );
        CREATE INDEX transcripts_id ON transcripts (id);",
    )
}

/// 8 → 9: the merge radar. The paths each worker's hooks saw it write (its
/// write tools, its worktree's git status when a turn ends), and each path
/// whose overlap the master was already told about, so it is told once.
fn radar(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE touched_paths (
            worker_id TEXT NOT NULL,
            path TEXT NOT NULL,
            source TEXT NOT NULL,
            at INTEGER NOT NULL,
            PRIMARY KEY (worker_id, path)
        );
        CREATE TABLE radar_notices (
            path TEXT PRIMARY KEY,
            workers TEXT NOT NULL,
            at INTEGER NOT NULL
        );",
    )
}

/// 9 → 10: a worker's tool permission requests, recorded by its
/// PermissionRequest hook and decided by the master (every decision kept:
/// who, when, what); and the wake hooks armed per instance (an `asyncRewake`
/// hook waiting on the bus for its mail), so that a wake knows a path without
/// keystrokes exists.
fn hooks_first(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE permission_requests (
            id TEXT PRIMARY KEY,
            worker TEXT NOT NULL,
            tool TEXT NOT NULL,
            input TEXT NOT NULL,
            suggestions TEXT NOT NULL DEFAULT '[]',
            claude_session TEXT NOT NULL DEFAULT '',
            asked_at INTEGER NOT NULL,
            deadline INTEGER NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            decision TEXT,
            reason TEXT,
            decided_by TEXT,
            decided_at INTEGER,
            delivered_at INTEGER
        );
        CREATE INDEX permission_requests_worker ON permission_requests (worker, asked_at);
        CREATE TABLE wake_hooks (
            id TEXT PRIMARY KEY,
            token TEXT NOT NULL,
            pid INTEGER NOT NULL DEFAULT 0,
            proc_start INTEGER NOT NULL DEFAULT 0,
            armed_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            rung_seq INTEGER NOT NULL DEFAULT 0,
            fired_at INTEGER,
            poke TEXT,
            poked_at INTEGER
        );",
    )
}
