//! The merge radar's eyes: the paths a worker writes. PostToolUse records
//! the path of each write tool (Edit, Write, MultiEdit, NotebookEdit: their
//! `file_path`, or `notebook_path`); Stop records every path its worktree
//! changed (committed on its branch, uncommitted or untracked). The first
//! time two workers have written the same path, the master gets one
//! `status` message saying so (see [`crate::radar`] for what is left out).

use std::path::{Path, PathBuf};

use super::{Ctx, Reply};
use crate::bus::messages::{self, MessageType, NewMessage};
use crate::bus::radar::{self, Source};
use crate::bus::{instances, worktrees};
use crate::clock;
use crate::error::Error;
use crate::names::MASTER_ID;
use crate::ops::db;

/// The tools whose argument names a file they write (Claude Code 2.1.197).
const WRITE_TOOLS: [(&str, &str); 4] = [
    ("Edit", "file_path"),
    ("Write", "file_path"),
    ("MultiEdit", "file_path"),
    ("NotebookEdit", "notebook_path"),
];

/// PostToolUse: records the path a write tool wrote.
pub fn post_tool_use(ctx: &mut Ctx) -> Result<Reply, Error> {
    let tool = ctx.payload.tool_name.as_deref().unwrap_or_default();
    let Some((_, key)) = WRITE_TOOLS.iter().find(|(name, _)| *name == tool) else {
        return Ok(Reply::default());
    };
    let Some(file) = ctx
        .payload
        .tool_input
        .as_ref()
        .and_then(|i| i.get(*key))
        .and_then(|v| v.as_str())
    else {
        return Ok(Reply::default());
    };
    let root = worktree_root(ctx)?;
    if let Some(rel) = relative_to(Path::new(file), &root) {
        record(ctx, &[rel], Source::Tool)?;
    }
    Ok(Reply::default())
}

/// Stop: records every path the worktree changed relative to its base.
pub fn turn_ended(ctx: &mut Ctx) -> Result<(), Error> {
    let row = worktrees::get(ctx.bus.conn(), &ctx.id).map_err(db)?;
    let Some(row) = row.filter(|r| r.status != worktrees::WorktreeStatus::Removed) else {
        return Ok(());
    };
    let changes = crate::git::worktree_changes(Path::new(&row.path), &row.base)?;
    let files: Vec<String> = changes.files.into_iter().collect();
    record(ctx, &files, Source::Status)
}

/// The worker's worktree: the registered one, else the hook's directory
/// (Claude Code runs hooks in the session's directory).
fn worktree_root(ctx: &Ctx) -> Result<PathBuf, Error> {
    if let Some(row) = worktrees::get(ctx.bus.conn(), &ctx.id).map_err(db)? {
        return Ok(PathBuf::from(row.path));
    }
    std::env::current_dir()
        .map_err(|e| Error::internal("cwd", format!("cannot read the current directory: {e}")))
}

/// `file` relative to `root`, `/`-separated; `None` outside it. Tries the
/// paths as given, then with symlinks resolved (e.g. /tmp → /private/tmp).
fn relative_to(file: &Path, root: &Path) -> Option<String> {
    let file = if file.is_absolute() {
        file.to_path_buf()
    } else {
        root.join(file)
    };
    let rel = file.strip_prefix(root).map(Path::to_path_buf).or_else(|_| {
        let real_root = root.canonicalize().map_err(|_| ())?;
        let real_file = match file.canonicalize() {
            Ok(f) => f,
            // A deleted file: resolve its folder instead.
            Err(_) => file
                .parent()
                .and_then(|p| p.canonicalize().ok())
                .zip(file.file_name())
                .map(|(p, n)| p.join(n))
                .ok_or(())?,
        };
        real_file
            .strip_prefix(&real_root)
            .map(Path::to_path_buf)
            .map_err(|_| ())
    });
    let rel = rel.ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    (!parts.is_empty() && parts.iter().all(|p| p != "..")).then(|| parts.join("/"))
}

/// Records `paths` for the hook's worker, and tells the master once about
/// each path another worker wrote too.
fn record(ctx: &mut Ctx, paths: &[String], source: Source) -> Result<(), Error> {
    let me = ctx.id.clone();
    ctx.bus.write(|tx| {
        let now = clock::now_ms();
        for path in paths {
            radar::touch(tx, &me, path, source, now).map_err(db)?;
            if crate::radar::is_managed(path) || me == MASTER_ID {
                continue;
            }
            let others = radar::others_touching(tx, path, &me).map_err(db)?;
            if others.is_empty() || instances::get(tx, MASTER_ID).map_err(db)?.is_none() {
                continue;
            }
            let mut workers = others.clone();
            workers.push(me.clone());
            workers.sort();
            if !radar::claim_notice(tx, path, &workers.join(","), now).map_err(db)? {
                continue;
            }
            let text = format!(
                "merge radar: {} changed {path} that {} changed too. Merge the workers that overlap nobody first; intercomm_worktree_list shows the radar.",
                me,
                others.join(", ")
            );
            messages::insert(
                tx,
                &NewMessage {
                    id: &crate::ops::messaging::new_message_id(),
                    from: &me,
                    to: MASTER_ID,
                    kind: MessageType::Status,
                    content: &text,
                    sent_at_ms: now,
                    in_reply_to: None,
                },
            )
            .map_err(db)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_made_relative_to_the_worktree() {
        let root = Path::new("/w/wt1");
        assert_eq!(
            relative_to(Path::new("/w/wt1/src/a.py"), root).as_deref(),
            Some("src/a.py")
        );
        assert_eq!(
            relative_to(Path::new("src/b.py"), root).as_deref(),
            Some("src/b.py")
        );
        assert_eq!(relative_to(Path::new("/w/wt2/src/a.py"), root), None);
        assert_eq!(relative_to(Path::new("/w/wt1"), root), None);
    }

    #[test]
    fn symlinked_roots_are_resolved() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let real = dir.path().join("real");
        std::fs::create_dir_all(real.join("src"))?;
        std::fs::write(real.join("src/a.py"), "a")?;
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link)?;
        assert_eq!(
            relative_to(&link.join("src/a.py"), &real).as_deref(),
            Some("src/a.py")
        );
        Ok(())
    }
}
