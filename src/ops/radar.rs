//! The merge radar as status, scan and worktree_list show it: for every
//! worktree still in play (not `merged` or `removed`), what git says it
//! changed ([`crate::git::worktree_changes`]) together with the paths its
//! hooks saw it write, run through [`crate::radar::analyse`].

use std::collections::BTreeSet;
use std::path::Path;

use crate::bus::Conn;

use super::db;
use crate::bus::radar as touched;
use crate::bus::worktrees::{self, WorktreeStatus};
use crate::error::Result;
use crate::radar::{self, Radar, WorkerChanges};

/// The radar over the registered worktrees. A worktree git cannot read (its
/// folder gone, its base unknown) contributes the paths its hooks recorded.
pub fn read(conn: &Conn) -> Result<Radar> {
    let mut all = Vec::new();
    for row in worktrees::list(conn).map_err(db)? {
        if matches!(row.status, WorktreeStatus::Merged | WorktreeStatus::Removed) {
            continue;
        }
        let mut changes = WorkerChanges {
            worker: row.worker_id.clone(),
            ..WorkerChanges::default()
        };
        match crate::git::worktree_changes(Path::new(&row.path), &row.base) {
            Ok(c) => {
                changes.commits_ahead = c.commits_ahead;
                changes.files = c.files;
                changes.base_changed = c.base_changed;
            }
            Err(err) => {
                tracing::debug!(target: "radar", worker = %row.worker_id, %err, "cannot read the worktree");
            }
        }
        let seen: BTreeSet<String> = touched::touched_by(conn, &row.worker_id)
            .map_err(db)?
            .into_iter()
            .collect();
        changes.files.extend(seen);
        all.push(changes);
    }
    Ok(radar::analyse(&all))
}

/// The radar's lines under a heading, or nothing when no worker changed
/// anything.
pub fn text(radar: &Radar) -> String {
    let lines = radar.lines();
    if lines.is_empty() {
        return String::new();
    }
    let mut out = "\n--- merge radar ---".to_owned();
    for l in lines {
        out.push_str("\n  ");
        out.push_str(&l);
    }
    out
}
