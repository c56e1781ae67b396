//! Who a hook runs for: the spawned worker named by its environment, else
//! the instance registered from the hook's tmux pane.

use crate::bus::{Bus, instances, sessions};
use crate::clock;
use crate::error::Error;
use crate::ops::PaneRef;

/// Who is running the hook, from its environment.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// `INTERCOMM_WORKER_ID` (spawned workers).
    pub worker_id: Option<String>,
    /// `TMUX_PANE` and its server.
    pub pane: Option<PaneRef>,
    /// Mail delivery on (unless `INTERCOMM_HOOK_MAIL=0`).
    pub mail: bool,
}

impl Caller {
    /// From this process's environment.
    pub fn from_env() -> Self {
        Self {
            worker_id: crate::env::get(crate::env::WORKER_ID),
            pane: PaneRef::from_env(),
            mail: crate::env::get(super::MAIL_ENV).is_none_or(|v| v != "0"),
        }
    }
}

/// The instance this Claude is: the spawned worker's id, else the instance
/// that registered from this pane. `None` when the bus knows neither.
pub fn whoami(bus: &Bus, caller: &Caller) -> Result<Option<String>, Error> {
    let conn = bus.conn();
    if let Some(id) = &caller.worker_id {
        let known = instances::get(conn, id).map_err(crate::ops::db)?.is_some()
            || sessions::get(conn, id).map_err(crate::ops::db)?.is_some();
        return Ok(known.then(|| id.clone()));
    }
    let Some(pane) = &caller.pane else {
        return Ok(None);
    };
    let now = clock::now_ms();
    Ok(instances::list(conn)
        .map_err(crate::ops::db)?
        .into_iter()
        .filter(|r| {
            r.pane == pane.pane
                && (r.tmux_socket.is_empty()
                    || pane.socket.is_empty()
                    || r.tmux_socket == pane.socket)
        })
        .max_by_key(|r| (r.is_alive(now), r.registered_at))
        .map(|r| r.id))
}
