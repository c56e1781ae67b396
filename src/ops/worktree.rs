//! The worktree registry and the git worktrees behind it (reference §3.2
//! tools 10–13, §7). One key per worker everywhere: the worker's id (B6).
//! Relative paths are resolved against the bus root, never the process's
//! current directory (B12).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Ctx, Outcome, db};
use crate::bus::worktrees::{self, WorktreeRow, WorktreeStatus};
use crate::clock;
use crate::contract::js_trim;
use crate::error::{Error, Result};
use crate::git::Repo;
use crate::location::absolute;
use crate::names;

/// What worktree_add asks for.
#[derive(Debug, Clone, Default)]
pub struct AddRequest {
    pub worker_id: String,
    pub base: String,
    pub path: Option<String>,
    /// Create and check out this new branch instead of a detached HEAD.
    pub branch: Option<String>,
}

/// A created worktree.
#[derive(Debug, Clone, Serialize)]
pub struct Added {
    pub worker_id: String,
    pub path: String,
    pub base: String,
    pub commit: String,
    pub branch: Option<String>,
}

impl Outcome for Added {
    fn text(&self) -> String {
        match &self.branch {
            Some(b) => format!(
                "Worktree for {} created at {} on new branch {b} (from {} @ {}).",
                self.worker_id,
                self.path,
                self.base,
                short_sha(&self.commit)
            ),
            None => format!(
                "Worktree for {} created at {} (detached from {} @ {}). The worker should run AIMFP git_create_branch inside it to make its branch.",
                self.worker_id,
                self.path,
                self.base,
                short_sha(&self.commit)
            ),
        }
    }
}

fn short_sha(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// Creates a worktree for a worker and records it. Master only.
pub fn add(ctx: &mut Ctx, req: AddRequest) -> Result<Added> {
    names::check_id("worker_id", &req.worker_id)?;
    let base = match js_trim(&req.base) {
        "" => crate::git::DEFAULT_BASE.to_owned(),
        b => b.to_owned(),
    };
    let branch = req
        .branch
        .as_deref()
        .map(|b| js_trim(b).to_owned())
        .filter(|b| !b.is_empty());
    if let Some(b) = &branch
        && git2::Branch::name_is_valid(b) != Ok(true)
    {
        return Err(Error::invalid(
            "branch",
            format!("{b:?} is not a valid branch name"),
        ));
    }
    let root = ctx.paths.root.clone();
    let path = match req.path.as_deref().map(js_trim).filter(|p| !p.is_empty()) {
        Some(p) => absolute(Path::new(p), &root),
        None => ctx.paths.worktree_path(&req.worker_id),
    };
    let (bus, _) = ctx.acting_master()?;
    let repo = Repo::open(&root)?;
    let base = repo.worktree_base(&base);
    let added = repo.add_worktree(&req.worker_id, &path, &base, branch.as_deref())?;
    let now = clock::now_ms();
    let path_text = added.path.display().to_string();
    crate::bus::radar::forget(bus.conn(), &req.worker_id).map_err(db)?;
    worktrees::put_new(
        bus.conn(),
        &WorktreeRow {
            worker_id: req.worker_id.clone(),
            branch: added.branch.clone().unwrap_or_default(),
            head_commit: added.commit.clone(),
            path: path_text.clone(),
            base: base.clone(),
            status: WorktreeStatus::Active,
            created_at_ms: now,
            updated_at_ms: now,
        },
    )
    .map_err(db)?;
    Ok(Added {
        worker_id: req.worker_id,
        path: path_text,
        base,
        commit: added.commit,
        branch: added.branch,
    })
}

/// One registry row, with whether its folder exists.
#[derive(Debug, Clone, Serialize)]
pub struct WorktreeView {
    #[serde(flatten)]
    pub row: WorktreeRow,
    pub exists: bool,
}

/// The registry, and the merge radar over it.
#[derive(Debug, Clone, Serialize)]
pub struct WorktreeList {
    pub worktrees: Vec<WorktreeView>,
    pub radar: crate::radar::Radar,
}

impl Outcome for WorktreeList {
    fn text(&self) -> String {
        if self.worktrees.is_empty() {
            return "No worktrees registered.".to_owned();
        }
        let mut out = format!("--- {} worktree(s) ---", self.worktrees.len());
        for v in &self.worktrees {
            let r = &v.row;
            let branch = if r.branch.is_empty() {
                "(detached — no branch yet)".to_owned()
            } else if r.head_commit.is_empty() {
                r.branch.clone()
            } else {
                format!("{} @ {}", r.branch, short_sha(&r.head_commit))
            };
            out.push_str(&format!(
                "\n  {} [{}] — {} at {} (base: {}, updated: {}){}",
                r.worker_id,
                r.status.as_str(),
                branch,
                r.path,
                r.base,
                clock::hms(r.updated_at_ms),
                if v.exists || r.status == WorktreeStatus::Removed {
                    ""
                } else {
                    " [folder missing]"
                }
            ));
        }
        out.push_str(&super::radar::text(&self.radar));
        out
    }
}

/// Lists the registry (no registration needed; a missing bus is empty).
pub fn list(ctx: &mut Ctx) -> Result<WorktreeList> {
    let Some(bus) = ctx.existing_bus()? else {
        return Ok(WorktreeList {
            worktrees: Vec::new(),
            radar: crate::radar::Radar::default(),
        });
    };
    let rows = worktrees::list(bus.conn()).map_err(db)?;
    Ok(WorktreeList {
        radar: super::radar::read(bus.conn())?,
        worktrees: rows
            .into_iter()
            .map(|row| WorktreeView {
                exists: PathBuf::from(&row.path).exists(),
                row,
            })
            .collect(),
    })
}

/// A status change.
#[derive(Debug, Clone, Serialize)]
pub struct StatusSet {
    pub worker_id: String,
    pub status: WorktreeStatus,
    pub branch: Option<String>,
    pub commit: Option<String>,
}

impl Outcome for StatusSet {
    fn text(&self) -> String {
        let mut text = format!("Worktree {} → {}", self.worker_id, self.status.as_str());
        if let (Some(b), Some(c)) = (&self.branch, &self.commit) {
            text.push_str(&format!(", branch={b} @ {}", short_sha(c)));
        }
        text
    }
}

/// Records a worktree's status; a given branch must exist, and its commit is
/// recorded. Master only.
pub fn set_status(
    ctx: &mut Ctx,
    worker_id: &str,
    status: WorktreeStatus,
    branch: Option<&str>,
) -> Result<StatusSet> {
    names::check_id("worker_id", worker_id)?;
    let branch = branch.map(js_trim).filter(|b| !b.is_empty());
    let root = ctx.paths.root.clone();
    let (bus, _) = ctx.acting_master()?;
    if worktrees::get(bus.conn(), worker_id).map_err(db)?.is_none() {
        return Err(no_worktree(worker_id));
    }
    let commit = match branch {
        Some(b) => Some(Repo::open(&root)?.branch_commit(b)?),
        None => None,
    };
    let pair = branch.zip(commit.as_deref());
    worktrees::set_status(bus.conn(), worker_id, status, pair, clock::now_ms()).map_err(db)?;
    Ok(StatusSet {
        worker_id: worker_id.to_owned(),
        status,
        branch: branch.map(str::to_owned),
        commit,
    })
}

fn no_worktree(worker_id: &str) -> Error {
    Error::user(
        "unknown_worktree",
        format!("No worktree registered for \"{worker_id}\""),
    )
    .with_hint("intercomm_worktree_list shows registered worktrees")
}

/// A removal.
#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    pub worker_id: String,
    pub path: String,
    /// The row was already marked removed.
    pub already: bool,
}

impl Outcome for Removed {
    fn text(&self) -> String {
        if self.already {
            format!(
                "Worktree {} was already removed ({}).",
                self.worker_id, self.path
            )
        } else {
            format!("Worktree {} removed ({}).", self.worker_id, self.path)
        }
    }
}

/// Removes a worker's worktree (refusing uncommitted changes unless `force`)
/// and marks the row removed. Master only.
pub fn remove(ctx: &mut Ctx, worker_id: &str, force: bool) -> Result<Removed> {
    names::check_id("worker_id", worker_id)?;
    let root = ctx.paths.root.clone();
    let (bus, _) = ctx.acting_master()?;
    let Some(row) = worktrees::get(bus.conn(), worker_id).map_err(db)? else {
        return Err(no_worktree(worker_id));
    };
    let path = PathBuf::from(&row.path);
    if row.status == WorktreeStatus::Removed && !path.exists() {
        return Ok(Removed {
            worker_id: worker_id.to_owned(),
            path: row.path,
            already: true,
        });
    }
    Repo::open(&root)?.remove_worktree(worker_id, &path, force)?;
    worktrees::set_status(
        bus.conn(),
        worker_id,
        WorktreeStatus::Removed,
        None,
        clock::now_ms(),
    )
    .map_err(db)?;
    Ok(Removed {
        worker_id: worker_id.to_owned(),
        path: row.path,
        already: false,
    })
}
