//! Registration, signoff and status: who is on the bus.
//!
//! Fixes over the original (reference §2.4, §15):
//! - allocation of `worker-N` happens inside `BEGIN IMMEDIATE`, so concurrent
//!   registrations get distinct ids (B2);
//! - a name is reused only when its holder is not alive, and an allocated
//!   name starts with a fresh cursor: no inherited backlog (B8), while a
//!   restarted master keeps the master's unread mail;
//! - master takeover needs the current master to be gone, or `force`; it
//!   never touches workers' rows, and the old master loses its powers at its
//!   next call because it no longer holds the row (B3);
//! - a registered worker may become master without restarting.

use serde::Serialize;

use super::{Acting, Ctx, Identity, Outcome, db, short};
use crate::bus::instances::{self, Instance, Presence, Role};
use crate::bus::pg::RESTART_GRACE_MS;
use crate::bus::{messages, worktrees};
use crate::clock;
use crate::error::{Error, Result};
use crate::names::{self, MASTER_ID};

/// Status counts each instance's unread mail up to this many (per kind).
pub const UNREAD_CAP: i64 = 1_000;

/// What a registration did.
#[derive(Debug, Clone, Serialize)]
pub struct Registered {
    pub id: String,
    pub role: Role,
    /// First 8 characters of this process's session token.
    pub session: String,
    pub pid: u32,
    /// The tmux pane recorded for wakes, if this process runs in tmux.
    pub pane: Option<String>,
    /// Set when a live master was displaced with `force`.
    pub displaced_master_pid: Option<u32>,
    /// The displaced master's pane, to ring it (not serialised).
    #[serde(skip)]
    pub displaced_master_pane: Option<super::PaneRef>,
    /// How the displaced master was told (set by the adapter that rang it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub displaced_master_told: Option<String>,
    /// Set when a worker became master: its old worker id, now inactive.
    pub previous_id: Option<String>,
}

impl Outcome for Registered {
    fn text(&self) -> String {
        let mut text = format!(
            "Registered as \"{}\" ({}). Session: {}",
            self.id,
            self.role.as_str(),
            self.session
        );
        if let Some(prev) = &self.previous_id {
            text.push_str(&format!("\nYour previous id {prev:?} was signed off."));
        }
        if let Some(pid) = self.displaced_master_pid {
            text.push_str(&format!(
                "\nForced takeover: the previous master (pid {pid}) was still alive and has lost master powers."
            ));
            if let Some(told) = &self.displaced_master_told {
                text.push_str(&format!(" It was told: {told}."));
            }
        }
        if self.pane.is_none() {
            text.push_str("\nNot in tmux: you can be messaged but not woken.");
        }
        text
    }
}

/// What a registration asks for.
#[derive(Debug, Clone, Default)]
pub struct RegisterRequest {
    pub role: Role,
    /// Take the master id from a live master.
    pub force: bool,
    /// Register under this id (from `INTERCOMM_WORKER_ID`) instead of allocating.
    pub requested_id: Option<String>,
}

/// Registers this process as `req.role`.
pub fn register(ctx: &mut Ctx, req: RegisterRequest) -> Result<Registered> {
    let previous = match ctx.identity.clone() {
        Some(Identity::Holder { id, role }) => {
            let still_held = ctx.acting().is_ok();
            match (still_held, role, req.role) {
                (false, _, _) => None,
                (true, Role::Worker, Role::Master) => Some(id),
                (true, _, _) => {
                    return Err(Error::user(
                        "already_registered",
                        format!("Already registered as \"{id}\" ({}).", role.as_str()),
                    )
                    .with_hint(if role == Role::Master {
                        "call intercomm_signoff first to register as a worker"
                    } else {
                        "you keep this id for the life of this process"
                    }));
                }
            }
        }
        Some(Identity::Operator { .. }) | None => None,
    };
    if let Some(id) = &req.requested_id {
        names::check_id(crate::env::WORKER_ID, id)?;
        if req.role == Role::Worker && id == MASTER_ID {
            return Err(Error::invalid(
                crate::env::WORKER_ID,
                "\"master\" is the master's id; a worker needs another",
            ));
        }
        if names::is_reserved(id) {
            return Err(Error::invalid(
                crate::env::WORKER_ID,
                format!("{id:?} is reserved: mail from it would read as from the user or everyone"),
            ));
        }
    }
    let now = clock::now_ms();
    let token = ctx.token.clone();
    let process = ctx.process.clone();
    let pane = ctx.pane.clone().unwrap_or_default();
    let bus = ctx.bus()?;
    let (id, displaced) = bus.write(|tx| -> Result<(String, Option<Instance>)> {
        let (id, displaced) = match req.role {
            Role::Master => (
                MASTER_ID.to_owned(),
                master_slot(tx, &token, req.force, now)?,
            ),
            Role::Worker => match &req.requested_id {
                Some(id) => (claim_named(tx, id, &token, now)?, None),
                None => (allocate_worker(tx, now)?, None),
            },
        };
        // Which backlog the holder gets. The master is a role, not a person:
        // a restarted master reads everything it had not read. A worker id
        // allocated anew starts at the end of the bus, inheriting nothing from
        // a dead predecessor (B8); a named worker (spawn, respawn) keeps the
        // inbox of its id when the id already exists.
        let fresh = match (req.role, &req.requested_id) {
            (Role::Master, _) => false,
            (Role::Worker, Some(_)) => {
                instances::get(tx, &id).map_err(db)?.is_none()
                    && !messages::has_cursor(tx, &id).map_err(db)?
            }
            (Role::Worker, None) => true,
        };
        instances::put(
            tx,
            &Instance {
                id: id.clone(),
                role: req.role,
                active: true,
                last_active: now,
                registered_at: now,
                session_id: token.clone(),
                process,
                pane: pane.pane.clone(),
                tmux_socket: pane.socket.clone(),
                summary: String::new(),
                connected: None,
                restarted_ms: None,
            },
        )
        .map_err(db)?;
        if fresh {
            let last = messages::last_seq(tx).map_err(db)?;
            messages::set_cursor(tx, &id, last).map_err(db)?;
        }
        if let Some(old) = &previous {
            instances::deactivate(tx, old, &token).map_err(db)?;
        }
        Ok((id, displaced))
    })?;
    ctx.identity = Some(Identity::Holder {
        id: id.clone(),
        role: req.role,
    });
    match super::messaging::prune_old_read(ctx.bus()?) {
        Ok(0) => {}
        Ok(n) => tracing::info!(target: "ops", pruned = n, "old read messages pruned"),
        Err(err) => tracing::warn!(target: "ops", %err, "pruning old read messages failed"),
    }
    Ok(Registered {
        id,
        role: req.role,
        session: short(&ctx.token).to_owned(),
        pid: ctx.process.pid,
        pane: ctx.pane.as_ref().map(|p| p.pane.clone()),
        displaced_master_pid: displaced.as_ref().map(|d| d.process.pid),
        displaced_master_pane: displaced
            .filter(|d| !d.pane.is_empty())
            .map(|d| super::PaneRef {
                pane: d.pane,
                socket: d.tmux_socket,
            }),
        displaced_master_told: None,
        previous_id: previous,
    })
}

/// Whether this process may take the master id; `Some(row)` of a live
/// master displaced by `force`.
///
/// A master whose lock a bus server restart dropped, and which has not
/// taken it again yet, counts as live for [`RESTART_GRACE_MS`] after the
/// restart: without force, a restart cannot hand the master role to
/// whoever registers first.
fn master_slot(
    tx: &crate::bus::Conn,
    token: &str,
    force: bool,
    now: i64,
) -> Result<Option<Instance>> {
    let Some(current) = instances::get(tx, MASTER_ID).map_err(db)? else {
        return Ok(None);
    };
    if current.session_id == token {
        return Ok(None);
    }
    let presence = current.presence(now);
    match presence {
        Presence::Gone | Presence::SignedOff => return Ok(None),
        Presence::Alive | Presence::Reconnecting if force => return Ok(Some(current)),
        Presence::Alive | Presence::Reconnecting => {}
    }
    match (presence, current.restarted_ms) {
        (Presence::Reconnecting, Some(ago)) => Err(Error::user(
            "master_reconnecting",
            format!(
                "the bus restarted {} s ago and the master (pid {}) has not reconnected yet: \
                 within {} s of a restart a master whose connection is not back counts as alive",
                ago / 1000,
                current.process.pid,
                RESTART_GRACE_MS / 1000
            ),
        )
        .with_hint(format!(
            "wait {} s and register again (the master is gone if it has not come back by then), \
             or pass force=true to take over now",
            (RESTART_GRACE_MS - ago + 999) / 1000
        ))),
        _ => Err(Error::user(
            "master_alive",
            format!(
                "the master id is held by a live process (pid {}, last call {} ago)",
                current.process.pid,
                clock::ago(now - current.last_active)
            ),
        )
        .with_hint(
            "register as a worker, or pass force=true to take over (the old master loses master powers)",
        )),
    }
}

/// Claims an id given by the environment (spawn names each worker).
fn claim_named(tx: &crate::bus::Conn, id: &str, token: &str, now: i64) -> Result<String> {
    if let Some(row) = instances::get(tx, id).map_err(db)?
        && row.session_id != token
        && row.is_alive(now)
    {
        return Err(Error::user(
            "id_in_use",
            format!(
                "id {id:?} is held by a live process (pid {})",
                row.process.pid
            ),
        )
        .with_hint(format!(
            "unset {} to get a free worker id",
            crate::env::WORKER_ID
        )));
    }
    Ok(id.to_owned())
}

/// The lowest `worker-N` whose holder is not alive and that no live session
/// spawned by this bus is named: a spawned worker that has not registered
/// yet keeps its name (and the contract already sent to it).
fn allocate_worker(tx: &crate::bus::Conn, now: i64) -> Result<String> {
    let rows = instances::list(tx).map_err(db)?;
    let mut taken: Vec<(String, Role, bool)> = rows
        .into_iter()
        .map(|r| {
            let alive = r.is_alive(now);
            (r.id, r.role, alive)
        })
        .collect();
    for s in crate::bus::sessions::live(tx).map_err(db)? {
        taken.push((s.name, Role::Worker, true));
    }
    Ok(lowest_free_worker(&taken))
}

/// `worker-N` for the lowest N ≥ 1 not used by a live worker row, as the
/// original computes it (`worker-01` counts as 1; other ids are ignored).
pub fn lowest_free_worker(rows: &[(String, Role, bool)]) -> String {
    let used: std::collections::BTreeSet<u64> = rows
        .iter()
        .filter(|(_, role, alive)| *role == Role::Worker && *alive)
        .filter_map(|(id, _, _)| names::worker_number(id))
        .collect();
    let n = (1..).find(|n| !used.contains(n)).unwrap_or(1);
    format!("worker-{n}")
}

/// What a signoff did.
#[derive(Debug, Clone, Serialize)]
pub struct SignedOff {
    pub id: String,
}

impl Outcome for SignedOff {
    fn text(&self) -> String {
        format!("Signed off \"{}\". Instance deactivated.", self.id)
    }
}

/// Marks this process's instance inactive and forgets its identity.
pub fn signoff(ctx: &mut Ctx) -> Result<SignedOff> {
    let (_, Acting { id, .. }) = ctx.acting()?;
    ctx.release();
    Ok(SignedOff { id })
}

/// One instance as status shows it.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceView {
    pub id: String,
    pub role: Role,
    /// Its holder process runs, or it is reconnecting (see `state`).
    pub alive: bool,
    /// `alive`, `reconnecting` (the PostgreSQL bus server restarted within
    /// the last 15 s and this holder, on another host, has not taken its
    /// lock again yet), `gone` (process exited) or `signed_off`.
    pub state: &'static str,
    pub pid: u32,
    pub session: String,
    pub last_active_ms: i64,
    pub idle_ms: i64,
    pub pane: Option<String>,
    /// Unread messages, counted up to [`UNREAD_CAP`] of each kind.
    pub unread: i64,
    /// The count stopped at the cap: there are at least `unread`.
    pub unread_capped: bool,
    pub worktree: Option<String>,
    pub branch: Option<String>,
    /// What it is working on: its own summary, else its task's target.
    pub summary: Option<String>,
    /// Tokens and dollars its Claude sessions spent so far (from their
    /// transcripts, see [`crate::cost`]); `None` when no hook named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<crate::cost::Spend>,
}

/// The instances on the bus.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub root: String,
    /// This process's id, if registered and still held by it.
    pub you: Option<String>,
    /// Why this process no longer holds the id it registered (taken over,
    /// signed off), if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost: Option<String>,
    pub instances: Vec<InstanceView>,
    /// Every instance's spend together; `None` when none is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleet_cost: Option<crate::cost::Spend>,
    /// The merge radar over the workers' worktrees.
    pub radar: crate::radar::Radar,
    /// Workers' tool permission requests waiting for the master's decision
    /// (oldest first; `intercomm_approve` answers them through the hook).
    pub permission_requests: Vec<crate::bus::permissions::Request>,
}

impl Outcome for Status {
    fn text(&self) -> String {
        if self.instances.is_empty() {
            return "No instances registered.".to_owned();
        }
        let mut out = format!(
            "You are: {}\nBus: {}\nInstances:",
            self.you.as_deref().unwrap_or("(not registered)"),
            crate::render::inline(&self.root)
        );
        if let Some(lost) = &self.lost {
            out = format!("{lost}\n{out}");
        }
        for i in &self.instances {
            out.push_str(&format!(
                "\n  {} [{}] — {} (pid {}, idle {}, session: {}",
                i.id,
                i.role.as_str(),
                i.state,
                i.pid,
                clock::ago(i.idle_ms),
                i.session
            ));
            if let Some(pane) = &i.pane {
                out.push_str(&format!(", tmux: {}", crate::render::inline(pane)));
            }
            if let Some(wt) = &i.worktree {
                out.push_str(&format!(", worktree: {}", crate::render::inline(wt)));
                if let Some(b) = &i.branch {
                    out.push_str(&format!(" @ {}", crate::render::inline(b)));
                }
            }
            if let Some(s) = &i.summary {
                out.push_str(&format!(", doing: {}", crate::render::inline(s)));
            }
            if i.unread > 0 {
                let plus = if i.unread_capped { "+" } else { "" };
                out.push_str(&format!(", unread: {}{plus}", i.unread));
            }
            if let Some(c) = &i.cost {
                out.push_str(&format!(", spent: {}", c.short()));
            }
            out.push(')');
        }
        if let Some(c) = &self.fleet_cost {
            out.push_str(&format!("\nFleet spent: {}", c.short()));
        }
        out.push_str(&super::radar::text(&self.radar));
        for r in &self.permission_requests {
            out.push_str(&format!(
                "\nWaiting for a decision: {} asks to run {} with {} [request {}] (intercomm_approve)",
                r.worker, r.tool, r.input, r.id
            ));
        }
        out
    }
}

/// Lists every instance with its liveness, pane, worktree and unread count.
/// A missing bus is "no instances", and is not created.
pub fn status(ctx: &mut Ctx) -> Result<Status> {
    let mut you = ctx.identity.as_ref().map(|i| i.id().to_owned());
    let held = match &ctx.identity {
        Some(Identity::Holder { id, role }) => Some((id.clone(), *role)),
        _ => None,
    };
    let token = ctx.token.clone();
    let root = ctx.paths.root.display().to_string();
    let Some(bus) = ctx.existing_bus()? else {
        return Ok(Status {
            root,
            you,
            lost: None,
            instances: Vec::new(),
            fleet_cost: None,
            radar: crate::radar::Radar::default(),
            permission_requests: Vec::new(),
        });
    };
    let conn = bus.conn();
    // A registered process says who it is only while it still holds the id:
    // after a forced takeover the old master is no longer "master".
    let mut lost = None;
    if let Some((id, role)) = held
        && !instances::holder(conn, &id, &token)
            .map_err(db)?
            .is_some_and(|(_, held)| held)
    {
        you = None;
        let row = instances::get(conn, &id).map_err(db)?;
        lost = Some(super::lost_identity(&id, role, row.as_ref()).message);
    }
    let now = clock::now_ms();
    let mut spends = crate::cost::spend_by_instance(conn).map_err(db)?;
    let fleet_cost = (!spends.is_empty()).then(|| crate::cost::total(spends.values()));
    let mut views = Vec::new();
    for row in instances::list(conn).map_err(db)? {
        let cursor = messages::cursor(conn, &row.id).map_err(db)?;
        let unread = messages::count_inbox(conn, &row.id, cursor, UNREAD_CAP).map_err(db)?;
        let wt = worktrees::get(conn, &row.id)
            .map_err(db)?
            .filter(|w| w.status != worktrees::WorktreeStatus::Removed);
        let presence = row.presence(now);
        let summary = super::threads::summary_of(conn, &row.id, &row.summary)?;
        views.push(InstanceView {
            summary,
            state: presence.as_str(),
            alive: matches!(presence, Presence::Alive | Presence::Reconnecting),
            pid: row.process.pid,
            session: short(&row.session_id).to_owned(),
            last_active_ms: row.last_active,
            idle_ms: now - row.last_active,
            pane: Some(row.pane.clone()).filter(|p| !p.is_empty()),
            unread,
            unread_capped: unread >= UNREAD_CAP,
            branch: wt
                .as_ref()
                .map(|w| w.branch.clone())
                .filter(|b| !b.is_empty()),
            worktree: wt.map(|w| w.path),
            role: row.role,
            cost: spends.remove(&row.id),
            id: row.id,
        });
    }
    Ok(Status {
        permission_requests: crate::bus::permissions::pending(conn, None, now).map_err(db)?,
        root,
        you,
        lost,
        instances: views,
        fleet_cost,
        radar: super::radar::read(conn)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_free_worker_follows_the_reference_vectors() {
        let row = |id: &str, role, alive| (id.to_owned(), role, alive);
        assert_eq!(lowest_free_worker(&[]), "worker-1");
        assert_eq!(
            lowest_free_worker(&[
                row("worker-1", Role::Worker, true),
                row("worker-2", Role::Worker, true)
            ]),
            "worker-3"
        );
        assert_eq!(
            lowest_free_worker(&[
                row("worker-1", Role::Worker, false),
                row("worker-2", Role::Worker, true)
            ]),
            "worker-1"
        );
        assert_eq!(
            lowest_free_worker(&[
                row("worker-1", Role::Worker, true),
                row("worker-3", Role::Worker, true)
            ]),
            "worker-2"
        );
        assert_eq!(
            lowest_free_worker(&[row("worker-01", Role::Worker, true)]),
            "worker-2"
        );
        assert_eq!(
            lowest_free_worker(&[
                row("worker-x", Role::Worker, true),
                row("worker-0", Role::Worker, true)
            ]),
            "worker-1"
        );
        assert_eq!(
            lowest_free_worker(&[row("worker-1", Role::Master, true)]),
            "worker-1"
        );
    }
}
