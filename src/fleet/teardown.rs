//! Teardown: stop the workers this bus spawned, and only those (B11); remove
//! their worktrees (a dirty one is kept unless forced); mark them gone (B5).
//! A worktree kept by an earlier teardown (its session already ended) is
//! still in the registry, so a later `teardown(worktrees, force)` removes it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

use super::host::Host;
use super::{master, with_ctx};
use crate::bus::{instances, sessions, worktrees};
use crate::clock;
use crate::error::Result;
use crate::git::Repo;
use crate::ops::{Ctx, Outcome, db};

/// What teardown did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TornDown {
    /// Sessions killed.
    pub killed: Vec<String>,
    /// Recorded sessions that had already ended.
    pub already_gone: Vec<String>,
    pub worktrees_removed: Vec<String>,
    /// Worktrees kept, with the reason (e.g. uncommitted changes).
    pub worktrees_kept: Vec<(String, String)>,
    /// Instance rows marked inactive.
    pub instances_ended: Vec<String>,
    /// Sessions on hosts that could not be reached, with why: not ended on
    /// the bus (they may still run); teardown again once the host is back.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreachable: Vec<(String, String)>,
}

impl Outcome for TornDown {
    fn text(&self) -> String {
        let list = |v: &[String]| {
            if v.is_empty() {
                "(none)".to_owned()
            } else {
                v.join(", ")
            }
        };
        let mut out = format!(
            "Torn down {} session(s): {}\nAlready gone: {}\nWorktrees removed: {}\nInstances marked gone: {}",
            self.killed.len(),
            list(&self.killed),
            list(&self.already_gone),
            list(&self.worktrees_removed),
            list(&self.instances_ended)
        );
        for (id, why) in &self.worktrees_kept {
            out.push_str(&format!("\nKept worktree of {id}: {why}"));
        }
        for (id, why) in &self.unreachable {
            out.push_str(&format!("\nNot torn down: {id}: {why}"));
        }
        out
    }
}

/// Stops the spawned sessions named `<prefix>-*`.
pub async fn teardown(
    ctx: &Mutex<Ctx>,
    prefix: &str,
    remove_worktrees: bool,
    force: bool,
) -> Result<TornDown> {
    crate::names::check_id("prefix", prefix)?;
    master(ctx)?;
    let wanted = format!("{prefix}-");
    let (home, recorded) = with_ctx(ctx, |c| {
        let home = c.tmux.clone();
        match c.existing_bus()? {
            Some(bus) => Ok((home, sessions::live(bus.conn()).map_err(db)?)),
            None => Ok((home, Vec::new())),
        }
    })?;
    let mut report = TornDown::default();
    let ours: Vec<(sessions::SessionRow, Host)> = with_ctx(ctx, |c| {
        let Some(bus) = c.existing_bus()? else {
            return Ok(Vec::new());
        };
        recorded
            .into_iter()
            .filter(|s| s.name.starts_with(&wanted))
            .map(|s| {
                let on = Host::of_session(bus.conn(), &s.name)?;
                Ok((s, on))
            })
            .collect()
    })?;
    // One kill request per host and tmux server, not per session.
    let mut groups: BTreeMap<(Option<String>, String), Vec<usize>> = BTreeMap::new();
    for (i, (s, on)) in ours.iter().enumerate() {
        groups
            .entry((on.name().map(str::to_owned), s.tmux_socket.clone()))
            .or_default()
            .push(i);
    }
    let mut killed: Vec<std::result::Result<bool, String>> = vec![Ok(false); ours.len()];
    for ((_, socket), idx) in groups {
        let on = &ours[idx[0]].1;
        let pairs: Vec<(String, String)> = idx
            .iter()
            .map(|&i| (ours[i].0.name.clone(), ours[i].0.tmux_session_id.clone()))
            .collect();
        match super::host::kill(on, &home, &socket, &pairs).await {
            Ok(done) => {
                for (&i, k) in idx.iter().zip(done) {
                    killed[i] = Ok(k);
                }
            }
            Err(e) if *on != Host::Local => {
                for &i in &idx {
                    killed[i] = Err(e.message.clone());
                }
            }
            Err(e) => return Err(e),
        }
    }
    for ((s, on), outcome) in ours.into_iter().zip(killed) {
        match outcome {
            Ok(true) => report.killed.push(s.name.clone()),
            Ok(false) => report.already_gone.push(s.name.clone()),
            Err(why) => {
                report.unreachable.push((s.name.clone(), why));
                continue;
            }
        }
        with_ctx(ctx, |c| {
            let bus = c.bus()?;
            sessions::end(bus.conn(), &s.name, clock::now_ms()).map_err(db)?;
            if let Some(row) = instances::get(bus.conn(), &s.name).map_err(db)?
                && row.active
            {
                instances::deactivate(bus.conn(), &row.id, &row.session_id).map_err(db)?;
                report.instances_ended.push(row.id);
            }
            Ok(())
        })?;
        if remove_worktrees && !s.worktree.is_empty() {
            remove_one(ctx, &on, &s.name, &s.worktree, force, &mut report).await;
        }
    }
    if remove_worktrees {
        // Worktrees of this prefix that an earlier teardown kept.
        let left = with_ctx(ctx, |c| match c.existing_bus()? {
            Some(bus) => worktrees::list(bus.conn()).map_err(db),
            None => Ok(Vec::new()),
        })?;
        for row in left {
            let handled = report.worktrees_removed.contains(&row.worker_id)
                || report
                    .worktrees_kept
                    .iter()
                    .any(|(id, _)| *id == row.worker_id);
            if row.worker_id.starts_with(&wanted)
                && row.status != worktrees::WorktreeStatus::Removed
                && !handled
            {
                let on = with_ctx(ctx, |c| match c.existing_bus()? {
                    Some(bus) => Host::of_session(bus.conn(), &row.worker_id),
                    None => Ok(Host::Local),
                })?;
                remove_one(ctx, &on, &row.worker_id, &row.path, force, &mut report).await;
            }
        }
    }
    Ok(report)
}

/// Removes worker `id`'s worktree at `path` (on its host `on`) and marks
/// its row removed; reports it removed, or kept with git's reason.
async fn remove_one(
    ctx: &Mutex<Ctx>,
    on: &Host,
    id: &str,
    path: &str,
    force: bool,
    report: &mut TornDown,
) {
    let there = match on {
        Host::Local => Ok(()),
        Host::Remote { .. } => super::transfer::remove_worktree(ctx, on, id, force).await,
    };
    let removed = there.and_then(|()| {
        with_ctx(ctx, |c| {
            if *on == Host::Local {
                let repo = Repo::open(&c.paths.root)?;
                repo.remove_worktree(id, std::path::Path::new(path), force)?;
            }
            worktrees::set_status(
                c.bus()?.conn(),
                id,
                worktrees::WorktreeStatus::Removed,
                None,
                clock::now_ms(),
            )
            .map_err(db)
        })
    });
    match removed {
        Ok(()) => report.worktrees_removed.push(id.to_owned()),
        Err(e) => report.worktrees_kept.push((id.to_owned(), e.message)),
    }
}
