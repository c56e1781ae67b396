//! Who a hook runs for: the spawned worker named by its environment, else
//! the instance registered from the hook's tmux pane; and only when the
//! hook belongs to that instance's Claude Code: an instance held by a live
//! process that is not the hook's (its MCP server's parent, or the shell
//! that registered it, is not among the hook's ancestors:
//! [`crate::process::ProcessId::tie_to_current`]) is refused, so a shell
//! with `INTERCOMM_WORKER_ID=master` can neither take the master's mail nor
//! record its state.

use std::time::Duration;

use crate::bus::{Bus, instances, sessions};
use crate::clock;
use crate::error::Error;
use crate::ops::PaneRef;
use crate::process::Tie;

/// Who is running the hook, from its environment.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// `INTERCOMM_WORKER_ID` (spawned workers).
    pub worker_id: Option<String>,
    /// `TMUX_PANE` and its server.
    pub pane: Option<PaneRef>,
    /// Mail delivery on (unless `INTERCOMM_HOOK_MAIL=0`).
    pub mail: bool,
    /// How long a PermissionRequest waits for the master's decision
    /// (`INTERCOMM_PERMISSION_WAIT`).
    pub permission_wait: Duration,
}

impl Caller {
    /// From this process's environment.
    pub fn from_env() -> Self {
        Self {
            worker_id: crate::env::get(crate::env::WORKER_ID),
            pane: PaneRef::from_env(),
            mail: crate::env::get(super::MAIL_ENV).is_none_or(|v| v != "0"),
            permission_wait: super::permission::wait_from_env(),
        }
    }
}

/// The instance this Claude is: the spawned worker's id, else the instance
/// that registered from this pane. `None` when the bus knows neither.
pub fn whoami(bus: &Bus, caller: &Caller) -> Result<Option<String>, Error> {
    let conn = bus.conn();
    let now = clock::now_ms();
    if let Some(id) = &caller.worker_id {
        let row = instances::get(conn, id).map_err(crate::ops::db)?;
        if let Some(r) = &row
            && r.is_alive(now)
            && r.process.tie_to_current() == Tie::Foreign
        {
            return Err(Error::user(
                "not_this_session",
                format!(
                    "{id} is held by pid {}, which is not this hook's Claude Code; a hook acts only for its own instance",
                    r.process.pid
                ),
            ));
        }
        let known = row.is_some() || sessions::get(conn, id).map_err(crate::ops::db)?.is_some();
        return Ok(known.then(|| id.clone()));
    }
    let Some(pane) = &caller.pane else {
        return Ok(None);
    };
    Ok(instances::list(conn)
        .map_err(crate::ops::db)?
        .into_iter()
        .filter(|r| {
            r.pane == pane.pane
                && (r.tmux_socket.is_empty()
                    || pane.socket.is_empty()
                    || r.tmux_socket == pane.socket)
                && !(r.is_alive(now) && r.process.tie_to_current() == Tie::Foreign)
        })
        .max_by_key(|r| (r.is_alive(now), r.registered_at))
        .map(|r| r.id))
}
