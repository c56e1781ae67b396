//! The fleet: Claude Code workers in tmux panes. Spawn starts them and
//! boot clears their start-up dialogs, wake rings a pane, scan reads every
//! pane, approve answers one dialog on purpose, teardown stops what this bus
//! spawned.
//!
//! Every action on a pane starts from a capture classified by
//! [`crate::screen`], and every key sent is chosen from what the screen shows
//! (never a blind Enter). Bus access happens in short locked sections of the
//! process's [`Ctx`]; tmux work runs between them without holding the lock.

pub mod ask;
mod boot;
pub mod decide;
pub mod dialog;
pub mod hook_wake;
pub mod host;
pub mod respawn;
pub mod scan;
pub mod spawn;
pub mod takeover;
pub mod teardown;
pub mod transfer;
pub mod wake;

use std::sync::Mutex;
use std::time::Duration;

use crate::bus::{instances, sessions};
use crate::error::{Error, Result};
use crate::names;
use crate::ops::{Acting, Ctx, db};
use crate::screen::Screen;
use crate::tmux::{PaneInfo, Tmux, TmuxError};

/// How often wait loops re-capture a pane.
pub const POLL: Duration = Duration::from_millis(25);

/// Runs `f` on the locked context.
pub fn with_ctx<T>(ctx: &Mutex<Ctx>, f: impl FnOnce(&mut Ctx) -> Result<T>) -> Result<T> {
    let mut guard = ctx
        .lock()
        .map_err(|_| Error::internal("poisoned", "server state is unusable after a panic"))?;
    f(&mut guard)
}

/// The master-only gate, for fleet operations.
pub fn master(ctx: &Mutex<Ctx>) -> Result<Acting> {
    with_ctx(ctx, |c| c.acting_master().map(|(_, a)| a))
}

impl From<TmuxError> for Error {
    fn from(err: TmuxError) -> Self {
        match err {
            TmuxError::NotInstalled => Error::user("tmux_missing", err.to_string())
                .with_hint("install tmux (e.g. apt-get install tmux)"),
            TmuxError::Failed { .. } | TmuxError::Io { .. } => {
                Error::user("tmux_failed", err.to_string())
            }
        }
    }
}

/// A worker's pane, found through the bus and verified on its tmux server.
#[derive(Debug, Clone)]
pub struct Target {
    /// The instance id (= session name for spawned workers).
    pub id: String,
    /// This machine's client of the pane's server (for a pane on this
    /// machine; a remote pane is reached through [`Target::host`]).
    pub tmux: Tmux,
    pub pane: PaneInfo,
    /// Where the pane lives.
    pub host: host::Host,
}

impl Target {
    /// Captures and classifies the pane (on its host).
    pub async fn look(&self) -> Result<Screen> {
        host::look(self).await
    }
}

/// Where the bus says an id's pane is: the session spawn recorded (and its
/// host), else the pane the instance registered from (on this machine).
/// `(host, socket, pane, session id if spawned)`.
type Recorded = (host::Host, String, String, Option<String>);

fn recorded_pane(ctx: &mut Ctx, id: &str) -> Result<Option<Recorded>> {
    let Some(bus) = ctx.existing_bus()? else {
        return Ok(None);
    };
    if let Some(s) = sessions::get(bus.conn(), id).map_err(db)?
        && s.ended_at_ms.is_none()
    {
        let on = host::Host::of_session(bus.conn(), id)?;
        return Ok(Some((on, s.tmux_socket, s.pane, Some(s.tmux_session_id))));
    }
    Ok(instances::get(bus.conn(), id)
        .map_err(db)?
        .filter(|r| !r.pane.is_empty())
        .map(|r| (host::Host::Local, r.tmux_socket, r.pane, None)))
}

/// Resolves an instance id to its live pane. Only ids are accepted (never a
/// raw tmux target, B11); the pane must still exist and, for a spawned
/// worker, still belong to the session spawn recorded.
pub async fn resolve(ctx: &Mutex<Ctx>, field: &str, id: &str) -> Result<Target> {
    names::check_id(field, id)?;
    let (home, recorded) = with_ctx(ctx, |c| Ok((c.tmux.clone(), recorded_pane(c, id)?)))?;
    let Some((on, socket, pane, session_id)) = recorded else {
        return Err(Error::user(
            "no_pane",
            format!("{id:?} has no known tmux pane (not spawned by this bus, and not registered from tmux)"),
        )
        .with_hint("intercomm_status lists instances and their panes"));
    };
    let panes = on.panes(&home, &socket, &[]).await?.panes;
    let found = panes
        .into_iter()
        .find(|p| p.pane == pane && session_id.as_ref().is_none_or(|s| *s == p.session_id));
    match found {
        Some(pane) => Ok(host::target(on, &home, id, pane)),
        None => Err(Error::user(
            "pane_gone",
            format!("the pane of {id:?} ({pane}) no longer exists"),
        )
        .with_hint("the worker's session ended; intercomm_teardown cleans up, intercomm_spawn starts a new one")),
    }
}
