//! Looking at one worker closely: its diff against its base, shown in the
//! user's pager, and its pane, attached to in this terminal.

use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;

use crate::bus::{sessions, worktrees};
use crate::error::{Error, Result};
use crate::fleet::resolve;
use crate::git::Checkout;
use crate::ops::{Ctx, db};

/// The pager when `$PAGER` is unset: `less` without `-R`, so that escape
/// sequences in a diffed file are shown (`^[`), never run by the terminal.
pub const DEFAULT_PAGER: &str = "less";

/// Where `worker`'s work is: its worktree and the base it started from.
pub fn worktree_of(ctx: &mut Ctx, worker: &str) -> Result<(PathBuf, String)> {
    crate::names::check_id("worker", worker)?;
    let Some(bus) = ctx.existing_bus()? else {
        return Err(Error::user("no_bus", "no bus here: nothing was spawned"));
    };
    let conn = bus.conn();
    let row = worktrees::get(conn, worker)
        .map_err(db)?
        .filter(|w| w.status != worktrees::WorktreeStatus::Removed);
    if let Some(w) = row {
        return Ok((PathBuf::from(w.path), w.base));
    }
    if let Some(s) = sessions::get(conn, worker).map_err(db)?
        && !s.worktree.is_empty()
    {
        return Err(Error::user(
            "no_base",
            format!("{worker}'s worktree {} has no recorded base", s.worktree),
        ));
    }
    Err(Error::user(
        "no_worktree",
        format!("{worker:?} has no worktree on this bus"),
    )
    .with_hint("intercomm_worktree_list shows the recorded worktrees"))
}

/// `worker`'s patch against where it forked from its base: commits,
/// staged, unstaged and untracked changes, as `git diff` prints them.
pub fn patch(ctx: &mut Ctx, worker: &str) -> Result<String> {
    let (path, base) = worktree_of(ctx, worker)?;
    let git = |e: crate::git::GitError| Error::user("git", e.to_string());
    Checkout::open(&path)
        .and_then(|c| c.patch(&base))
        .map_err(git)
}

/// Shows `text` in `$PAGER` (split into words like a shell would, never
/// run by one), else [`DEFAULT_PAGER`]; waits for it to exit.
pub fn page(text: &str) -> Result<()> {
    let command = crate::env::get("PAGER").unwrap_or_else(|| DEFAULT_PAGER.to_owned());
    let words = shell_words::split(&command)
        .map_err(|e| Error::invalid("PAGER", format!("{command:?}: {e}")))?;
    let Some((program, args)) = words.split_first() else {
        return Err(Error::invalid("PAGER", "is empty"));
    };
    let mut child = std::process::Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| Error::user("pager", format!("cannot run the pager {program:?}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A pager quit before reading everything closes the pipe: not an error.
        let _ = stdin.write_all(text.as_bytes());
    }
    child
        .wait()
        .map_err(|e| Error::user("pager", format!("the pager failed: {e}")))?;
    Ok(())
}

/// Attaches this terminal to `worker`'s pane and returns when the person
/// detaches (or the session ends).
pub async fn attach(ctx: &Mutex<Ctx>, worker: &str) -> Result<()> {
    let target = resolve(ctx, "worker", worker).await?;
    let status = target
        .tmux
        .attach_command(&target.pane)
        .status()
        .map_err(|e| Error::user("tmux_failed", format!("cannot run tmux attach: {e}")))?;
    if !status.success() {
        return Err(Error::user(
            "tmux_failed",
            format!("tmux attach to {} ended with {status}", target.pane.pane),
        ));
    }
    Ok(())
}
