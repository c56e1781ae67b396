//! A master displaced by a forced takeover is told at once: its pane is rung
//! with a fixed line (the safe wake: only into Claude at its prompt), so it
//! does not go on acting as master until its next call is refused. Its
//! status already says it no longer holds the id ([`crate::ops::identity::status`]).

use std::sync::Mutex;

use super::wake::ring;
use super::{Target, with_ctx};
use crate::ops::{Ctx, PaneRef};

/// What the displaced master's pane is rung with.
pub const DISPLACED_TEXT: &str = "[intercomm] Another instance took over as master (force=true). You are no longer the master: your master tools are refused. Call intercomm_status and tell the user.";

/// Rings the displaced master's `pane`; never fails: what happened, in words.
pub async fn tell_displaced(ctx: &Mutex<Ctx>, pane: &PaneRef) -> String {
    let home = match with_ctx(ctx, |c| Ok(c.tmux.clone())) {
        Ok(t) => t,
        Err(e) => return format!("not rung: {}", e.message),
    };
    let tmux = home.at(&pane.socket);
    let found = match tmux.list_panes().await {
        Ok(panes) => panes.into_iter().find(|p| p.pane == pane.pane),
        Err(e) => return format!("not rung: {e}"),
    };
    let Some(info) = found else {
        return format!("not rung: its pane {} is gone", pane.pane);
    };
    let target = Target {
        id: "the previous master".to_owned(),
        tmux,
        pane: info,
        host: super::host::Host::Local,
    };
    match ring(&target, DISPLACED_TEXT).await {
        Ok(r) if r.delivered => format!("its pane {} was rung", pane.pane),
        Ok(_) => format!(
            "its pane {} was typed into but not seen submitted",
            pane.pane
        ),
        Err(e) => format!("not rung: {}", e.message),
    }
}
