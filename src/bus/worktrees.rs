//! The `worktrees` table: the registry of workers' git worktrees, keyed by
//! the worker's id (the same id as its instance and its tmux session, B6).
//! Rows are kept after removal (status `removed`) as a record.

use super::store::{Conn, Result, Row, args};
use serde::{Deserialize, Serialize};

/// A worktree's place in the merge lifecycle: `active` (editing), `done`
/// (reported complete), `queued` (in the merge queue), `merging`,
/// `verifying`, `merged`, `conflict` (sent back), `failed`, `removed` (torn
/// down). Any status may follow any other: the master records what happened.
// No variant docs: they would make schemars emit `oneOf` (see MessageType).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WorktreeStatus {
    Active,
    Done,
    Queued,
    Merging,
    Verifying,
    Merged,
    Conflict,
    Failed,
    Removed,
}

impl WorktreeStatus {
    const ALL: [WorktreeStatus; 9] = [
        Self::Active,
        Self::Done,
        Self::Queued,
        Self::Merging,
        Self::Verifying,
        Self::Merged,
        Self::Conflict,
        Self::Failed,
        Self::Removed,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Done => "done",
            Self::Queued => "queued",
            Self::Merging => "merging",
            Self::Verifying => "verifying",
            Self::Merged => "merged",
            Self::Conflict => "conflict",
            Self::Failed => "failed",
            Self::Removed => "removed",
        }
    }

    fn parse(s: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .unwrap_or(Self::Active)
    }
}

/// One registry row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorktreeRow {
    pub worker_id: String,
    /// Branch the master recorded, or empty.
    pub branch: String,
    /// Commit `branch` pointed at when recorded, or empty.
    pub head_commit: String,
    pub path: String,
    pub base: String,
    pub status: WorktreeStatus,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl WorktreeRow {
    fn from_row(row: &Row<'_>) -> Result<Self> {
        Ok(Self {
            worker_id: row.get(0)?,
            branch: row.get(1)?,
            head_commit: row.get(2)?,
            path: row.get(3)?,
            base: row.get(4)?,
            status: WorktreeStatus::parse(&row.get::<String>(5)?),
            created_at_ms: row.get(6)?,
            updated_at_ms: row.get(7)?,
        })
    }
}

const COLUMNS: &str = "worker_id, branch, head_commit, path, base, status, created_at, updated_at";

/// The row for `worker_id`, if any.
pub fn get(conn: &Conn, worker_id: &str) -> Result<Option<WorktreeRow>> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM worktrees WHERE worker_id = ?1"),
        args![worker_id],
        WorktreeRow::from_row,
    )
}

/// Every row, oldest first.
pub fn list(conn: &Conn) -> Result<Vec<WorktreeRow>> {
    conn.query(
        &format!("SELECT {COLUMNS} FROM worktrees ORDER BY created_at, worker_id"),
        &[],
        WorktreeRow::from_row,
    )
}

/// Records a freshly added worktree. A re-added id starts a new lifecycle:
/// branch, commit and creation time are reset, not inherited (B8).
pub fn put_new(conn: &Conn, row: &WorktreeRow) -> Result<()> {
    conn.execute(
        "INSERT INTO worktrees
            (worker_id, branch, head_commit, path, base, status, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (worker_id) DO UPDATE SET branch = excluded.branch,
            head_commit = excluded.head_commit, path = excluded.path, base = excluded.base,
            status = excluded.status, created_at = excluded.created_at,
            updated_at = excluded.updated_at",
        args![
            row.worker_id,
            row.branch,
            row.head_commit,
            row.path,
            row.base,
            row.status.as_str(),
            row.created_at_ms,
            row.updated_at_ms
        ],
    )?;
    Ok(())
}

/// Sets a status, and the branch and its commit when given.
pub fn set_status(
    conn: &Conn,
    worker_id: &str,
    status: WorktreeStatus,
    branch: Option<(&str, &str)>,
    now_ms: i64,
) -> Result<()> {
    match branch {
        Some((name, commit)) => conn.execute(
            "UPDATE worktrees SET status = ?2, branch = ?3, head_commit = ?4, updated_at = ?5
                  WHERE worker_id = ?1",
            args![worker_id, status.as_str(), name, commit, now_ms],
        )?,
        None => conn.execute(
            "UPDATE worktrees SET status = ?2, updated_at = ?3 WHERE worker_id = ?1",
            args![worker_id, status.as_str(), now_ms],
        )?,
    };
    Ok(())
}
