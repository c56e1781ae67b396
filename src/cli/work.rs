//! The loop's commands on the command line: `intercomm assign` and
//! `intercomm worktree add|list|status|remove`. Thin adapters over the same
//! operations as the MCP tools `intercomm_assign` and
//! `intercomm_worktree_*`, with the same validation and results.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::{AsMaster, block_on, cli_ctx, enum_arg, master_ctx, output};
use crate::bus::worktrees::WorktreeStatus;
use crate::contract::TargetType;
use crate::error::Result;
use crate::fleet::wake;
use crate::ops::assign::AssignRequest;
use crate::ops::worktree;

#[derive(Debug, Args)]
pub struct AssignArgs {
    /// The worker's id.
    pub worker: String,
    /// What the worker must do: owned files, what not to touch, its AIMFP
    /// user, how to validate (words are joined with spaces).
    #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
    pub role_instructions: Vec<String>,
    /// The kind of AIMFP entity: task, milestone, subtask, sidequest or item.
    #[arg(long = "type", default_value = "task", value_name = "TYPE")]
    pub target_type: String,
    /// The entity's slug (preferred: AIMFP ids are local to each clone).
    #[arg(long, value_name = "SLUG")]
    pub slug: Option<String>,
    /// The entity's integer id.
    #[arg(long, value_name = "ID")]
    pub id: Option<i64>,
    /// The role the worker plays.
    #[arg(long, default_value = "worker")]
    pub role: String,
    /// A field the `done` report must carry (repeatable; default branch and commit).
    #[arg(long = "report-back", value_name = "FIELD")]
    pub report_back: Vec<String>,
    /// Do not ring the worker's pane.
    #[arg(long)]
    pub no_wake: bool,
    #[command(flatten)]
    pub master: AsMaster,
}

#[derive(Debug, Args)]
pub struct WorktreeArgs {
    #[command(subcommand)]
    pub command: WorktreeCommand,
}

#[derive(Debug, Subcommand)]
pub enum WorktreeCommand {
    /// Create a worktree for a worker (as the master).
    Add {
        /// The worker's id (the worktree's key).
        worker_id: String,
        /// Commit-ish it starts from.
        #[arg(long, default_value = "main")]
        base: String,
        /// Folder (default <root>/../.intercomm-worktrees/<project folder name>/<worker_id>).
        #[arg(long)]
        path: Option<PathBuf>,
        /// Create and check out this new branch instead of a detached HEAD.
        #[arg(long)]
        branch: Option<String>,
        #[command(flatten)]
        master: AsMaster,
    },
    /// List the worktree registry.
    List,
    /// Record a worktree's status (as the master): active, done, queued,
    /// merging, verifying, merged, conflict, failed or removed.
    Status {
        /// The worker's id.
        worker_id: String,
        /// The new status.
        status: String,
        /// A branch that must exist; its commit is recorded.
        #[arg(long)]
        branch: Option<String>,
        #[command(flatten)]
        master: AsMaster,
    },
    /// Remove a worker's worktree folder; its branch is kept (as the master).
    Remove {
        /// The worker's id.
        worker_id: String,
        /// Remove it even with uncommitted or untracked changes.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        master: AsMaster,
    },
}

/// `intercomm assign`.
pub fn assign(root: Option<PathBuf>, a: AssignArgs, json: bool) -> Result<ExitCode> {
    let target_type = enum_arg::<TargetType>("--type", &a.target_type)?;
    let report_back = if a.report_back.is_empty() {
        vec!["branch".to_owned(), "commit".to_owned()]
    } else {
        a.report_back
    };
    let req = AssignRequest {
        worker: a.worker,
        role: a.role,
        role_instructions: a.role_instructions.join(" "),
        target_type,
        target_id: a.id,
        target_slug: a.slug,
        report_back,
        wake: !a.no_wake,
    };
    let ctx = master_ctx(root, &a.master)?;
    output::outcome(&block_on(wake::assign(&ctx, req))??, json)
}

/// `intercomm worktree …`.
pub fn worktree(root: Option<PathBuf>, a: WorktreeArgs, json: bool) -> Result<ExitCode> {
    match a.command {
        WorktreeCommand::Add {
            worker_id,
            base,
            path,
            branch,
            master,
        } => {
            let mut ctx = acting(root, &master)?;
            let req = worktree::AddRequest {
                worker_id,
                base,
                path: path.map(|p| p.display().to_string()),
                branch,
            };
            output::outcome(&worktree::add(&mut ctx, req)?, json)
        }
        WorktreeCommand::List => output::outcome(&worktree::list(&mut cli_ctx(root)?)?, json),
        WorktreeCommand::Status {
            worker_id,
            status,
            branch,
            master,
        } => {
            let status = enum_arg::<WorktreeStatus>("status", &status)?;
            let ctx = std::sync::Mutex::new(acting(root, &master)?);
            let set = super::block_on(crate::fleet::transfer::set_status(
                &ctx,
                &worker_id,
                status,
                branch.as_deref(),
            ))??;
            output::outcome(&set, json)
        }
        WorktreeCommand::Remove {
            worker_id,
            force,
            master,
        } => {
            let mut ctx = acting(root, &master)?;
            output::outcome(&worktree::remove(&mut ctx, &worker_id, force)?, json)
        }
    }
}

fn acting(root: Option<PathBuf>, who: &AsMaster) -> Result<crate::ops::Ctx> {
    let mut ctx = cli_ctx(root)?;
    super::acting_as(&mut ctx, &who.from)?;
    Ok(ctx)
}
