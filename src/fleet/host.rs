//! The host seam: where a worker's pane lives, this machine or a host
//! reached over SSH ([`crate::host`]), and the pane operations that run on
//! that host.
//!
//! - [`Host::Local`]: tmux is called here, as always.
//! - [`Host::Remote`]: one request per operation goes over the host's link
//!   to its agent, which runs [`serve`] (this same code) against its own
//!   tmux. Only whole operations cross the network: a wake's paste → Enter
//!   → verify loop and a dialog's keys → re-capture loop run on the host.
//!
//! A session's host is what spawn recorded in `session_hosts`; an instance
//! registered from a pane without such a row is on this machine.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Target;
use super::boot::{self, Boot};
use super::dialog::{self, Choice};
use super::spawn::SpawnRequest;
use crate::bus::hosts;
use crate::error::{Error, Result};
use crate::host::link;
use crate::host::protocol::{
    Booted, Launched, PaneAnswer, PaneAt, Panes, RemotePane, Request, WireError, Woken,
};
use crate::location::BusPaths;
use crate::ops::{Ctx, db};
use crate::screen;
use crate::tmux::{NewSession, PaneInfo, Tmux};

/// How long a pane listing or capture on a host may take before the host
/// counts as unreachable (scan, resolve, look).
pub const LOOK_TIMEOUT: Duration = Duration::from_secs(8);
/// How long a typed wake may take on a host (its own waits are ~3 s at most).
pub const WAKE_TIMEOUT: Duration = Duration::from_secs(20);
/// Extra time on top of an operation's own timeout, for the round trip.
pub const MARGIN: Duration = Duration::from_secs(10);

/// Where a pane lives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Host {
    /// This machine.
    #[default]
    Local,
    /// A recorded host: its name and `ssh://` URL.
    Remote { name: String, url: String },
}

impl Host {
    /// The recorded host `name` (`"local"` is this machine). Errors:
    /// `unknown_host`.
    pub fn named(conn: &crate::bus::Conn, name: &str) -> Result<Self> {
        if name == crate::host::LOCAL {
            return Ok(Self::Local);
        }
        crate::names::check_id("host", name)?;
        match hosts::get(conn, name).map_err(db)? {
            Some(row) => Ok(Self::Remote {
                name: row.name,
                url: row.url,
            }),
            None => Err(Error::user(
                "unknown_host",
                format!("no host named {name:?} is recorded"),
            )
            .with_hint("intercomm host add NAME ssh://user@host records one")),
        }
    }

    /// The host session `name` was spawned on. A session recorded on a host
    /// that was since removed is an error (`unknown_host`).
    pub fn of_session(conn: &crate::bus::Conn, name: &str) -> Result<Self> {
        match hosts::session_host(conn, name).map_err(db)? {
            Some(h) => Self::named(conn, &h),
            None => Ok(Self::Local),
        }
    }

    /// The host's name; `None` for this machine.
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Local => None,
            Self::Remote { name, .. } => Some(name),
        }
    }

    /// Runs `request` on a remote host. Errors: `host_unreachable`, the
    /// agent's own error; on this machine, an internal error (a bug).
    pub async fn call<T: DeserializeOwned>(
        &self,
        request: Request,
        timeout: Duration,
    ) -> Result<T> {
        match self {
            Self::Remote { name, url } => link::call(name, url, request, timeout).await,
            Self::Local => Err(Error::internal(
                "host_seam",
                format!("a {} request was addressed to this machine", request.op()),
            )),
        }
    }

    /// Lists the panes of the tmux server at `socket` on this host, and
    /// captures the live ones of `capture` (in order; `None`: gone). `home`
    /// is this machine's tmux client.
    pub async fn panes(&self, home: &Tmux, socket: &str, capture: &[PaneAt]) -> Result<Panes> {
        match self {
            Self::Local => read_panes(&home.at(socket), capture).await,
            Self::Remote { .. } => {
                self.call(
                    Request::Panes {
                        socket: socket.to_owned(),
                        capture: capture.to_vec(),
                    },
                    LOOK_TIMEOUT,
                )
                .await
            }
        }
    }
}

/// [`Request::Panes`] against `tmux`: one `list-panes` and one batched
/// capture of the panes of `capture` that still exist (and still belong to
/// their session, when one is named).
pub async fn read_panes(tmux: &Tmux, capture: &[PaneAt]) -> Result<Panes> {
    let panes = tmux.list_panes().await?;
    let live: Vec<usize> = (0..capture.len())
        .filter(|&i| {
            let want = &capture[i];
            panes.iter().any(|p| {
                p.pane == want.pane && want.session_id.as_ref().is_none_or(|s| *s == p.session_id)
            })
        })
        .collect();
    let ids: Vec<String> = live.iter().map(|&i| capture[i].pane.clone()).collect();
    let shots = tmux.capture_many(&ids).await?;
    let mut captures = vec![None; capture.len()];
    for (k, &i) in live.iter().enumerate() {
        captures[i] = shots.get(k).cloned().flatten();
    }
    Ok(Panes { panes, captures })
}

/// Captures and classifies a target's pane, on its host.
pub async fn look(target: &Target) -> Result<screen::Screen> {
    if target.host == Host::Local {
        return Ok(screen::classify(
            &target.tmux.capture(&target.pane.pane).await?,
        ));
    }
    let at = PaneAt {
        pane: target.pane.pane.clone(),
        session_id: Some(target.pane.session_id.clone()),
    };
    let home = Tmux::from_env();
    let got = target
        .host
        .panes(&home, &target.pane.socket, std::slice::from_ref(&at))
        .await?;
    match got.captures.into_iter().next().flatten() {
        Some(shot) => Ok(screen::classify(&shot)),
        None => Err(Error::user(
            "pane_gone",
            format!(
                "the pane of {:?} ({}) no longer exists",
                target.id, target.pane.pane
            ),
        )),
    }
}

fn remote_pane(target: &Target) -> RemotePane {
    RemotePane {
        id: target.id.clone(),
        pane: target.pane.clone(),
    }
}

/// The typed wake of a remote target ([`super::wake::ring`] on its host).
pub async fn ring_remote(target: &Target, text: &str) -> Result<super::wake::Rung> {
    let w: Woken = target
        .host
        .call(
            Request::Wake {
                target: remote_pane(target),
                text: text.to_owned(),
            },
            WAKE_TIMEOUT,
        )
        .await?;
    Ok(super::wake::Rung {
        id: target.id.clone(),
        pane: target.pane.pane.clone(),
        state_before: w.state_before,
        text: w.text,
        delivered: w.delivered,
        queued: w.queued,
        enters: w.enters,
        millis: w.millis,
        via: "keys",
        note: None,
    })
}

/// Answers the dialog on `target`'s pane with keys, on its host: the
/// option for `choice` is pressed and the dialog awaited gone, at most
/// `timeout_secs`. A pane with no dialog is reported untouched.
pub async fn answer_with_keys(
    target: &Target,
    choice: Choice,
    timeout_secs: i64,
) -> Result<PaneAnswer> {
    if target.host != Host::Local {
        return target
            .host
            .call(
                Request::Approve {
                    target: remote_pane(target),
                    choice,
                    timeout_secs,
                },
                Duration::from_secs(timeout_secs.max(1) as u64) + MARGIN,
            )
            .await;
    }
    let before = look(target).await?;
    let mut outcome = PaneAnswer {
        before: before.state,
        after: before.state,
        tool: before.tool.clone(),
        detail: before.detail.clone(),
        option: None,
        cleared: false,
    };
    if !before.state.is_dialog() {
        return Ok(outcome);
    }
    let Some(option) = dialog::option_for(&before, choice).cloned() else {
        let labels: Vec<&str> = before.options.iter().map(|o| o.label.as_str()).collect();
        return Err(Error::user(
            "no_such_option",
            format!(
                "the {} dialog offers no option for choice {:?} (options: {})",
                before.state.as_str(),
                choice,
                labels.join(" | ")
            ),
        ));
    };
    let timeout = Duration::from_secs(timeout_secs.max(1) as u64);
    let answered = dialog::answer(target, &before, &option, timeout).await?;
    outcome.after = answered.screen.state;
    // Cleared means the dialog went: a moved cursor alone is not an answer.
    outcome.cleared = answered.answered || answered.screen.state != before.state;
    outcome.option = Some(option.label);
    Ok(outcome)
}

/// Kills the sessions `(name, session id)` of the server at `socket` that
/// still exist; `true` for each one killed.
pub async fn kill(
    host: &Host,
    home: &Tmux,
    socket: &str,
    sessions: &[(String, String)],
) -> Result<Vec<bool>> {
    match host {
        Host::Remote { .. } => {
            host.call(
                Request::Kill {
                    socket: socket.to_owned(),
                    sessions: sessions.to_vec(),
                },
                LOOK_TIMEOUT,
            )
            .await
        }
        Host::Local => {
            let tmux = home.at(socket);
            let panes = tmux.list_panes().await?;
            let mut out = Vec::new();
            for (name, id) in sessions {
                let exists = panes
                    .iter()
                    .any(|p| p.session_id == *id && p.session_name == *name);
                // The session may end on its own meanwhile; not a failure.
                out.push(exists && tmux.kill_session(id).await.is_ok());
            }
            Ok(out)
        }
    }
}

fn json<T: Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value)
        .map_err(|e| Error::internal("encode", format!("cannot encode an answer: {e}")))
}

/// A target on the agent's own host, from what the master sent: only a
/// pane id (`%N`) is taken as a tmux target (never a name tmux would
/// match), as on the master (B11).
fn local_target(home: &Tmux, p: RemotePane) -> Result<Target> {
    crate::names::check_id("id", &p.id)?;
    if !crate::tmux::parse::is_pane_id(&p.pane.pane) {
        return Err(Error::invalid(
            "pane",
            format!("{:?} is not a pane id (%N)", p.pane.pane),
        ));
    }
    Ok(Target {
        id: p.id,
        tmux: home.at(&p.pane.socket),
        pane: p.pane,
        host: Host::Local,
    })
}

/// Runs one request on this machine: what `intercomm host-agent` does
/// with each request after the hello. `home` is this host's tmux client.
pub async fn serve(request: Request, home: &Tmux) -> Result<serde_json::Value> {
    match request {
        Request::Hello { .. } => Err(Error::user("bad_request", "hello comes once, first")),
        Request::Panes { socket, capture } => json(&read_panes(&home.at(&socket), &capture).await?),
        Request::Launch { sessions } => {
            // An empty folder: this agent's own (the login's home).
            let here = std::env::current_dir().unwrap_or_else(|_| "/".into());
            let dirs: Vec<std::path::PathBuf> = sessions
                .iter()
                .map(|s| {
                    if s.dir.is_empty() {
                        here.clone()
                    } else {
                        s.dir.clone().into()
                    }
                })
                .collect();
            let specs: Vec<NewSession<'_>> = sessions
                .iter()
                .zip(&dirs)
                .map(|(s, dir)| NewSession {
                    name: &s.name,
                    dir,
                    width: super::spawn::PANE_SIZE.0,
                    height: super::spawn::PANE_SIZE.1,
                    env: &s.env,
                    argv: &s.argv,
                })
                .collect();
            for s in &sessions {
                crate::names::check_id("name", &s.name)?;
                if s.argv.len() < 2 {
                    return Err(Error::invalid("argv", "needs a program and an argument"));
                }
            }
            let launched: Launched = home
                .new_sessions(&specs)
                .await
                .into_iter()
                .map(|r| {
                    r.map_err(|e| match e {
                        crate::tmux::TmuxError::Failed { stderr, .. } => stderr,
                        other => other.to_string(),
                    })
                })
                .collect();
            json(&launched)
        }
        Request::Boot {
            bus_root,
            bus,
            perm_mode,
            accept_api_key,
            ready_timeout_secs,
            workers,
        } => {
            if !(1..=600).contains(&ready_timeout_secs) {
                return Err(Error::invalid("ready_timeout", "must be 1 to 600 seconds"));
            }
            let req = SpawnRequest {
                count: workers.len() as i64,
                prefix: String::new(),
                perm_mode,
                claude_cmd: String::new(),
                worktrees: false,
                worktree_base: String::new(),
                bootstrap: None,
                ready_timeout_secs,
                wake: true,
                accept_api_key,
                host: None,
            };
            let root = std::path::PathBuf::from(&bus_root);
            let url = bus
                .as_deref()
                .map(crate::bus::BusUrl::parse)
                .transpose()
                .map_err(|e| Error::invalid("bus", e))?;
            let mut ctx = Ctx::new(
                BusPaths::new(&root, &root).with_bus(url),
                crate::process::ProcessId::current(),
                None,
            );
            ctx.tmux = home.clone();
            let ctx = std::sync::Mutex::new(ctx);
            let deadline = Instant::now() + Duration::from_secs(ready_timeout_secs as u64);
            let mut boots: Vec<Boot> = workers
                .into_iter()
                .map(|w| Ok(Boot::new(local_target(home, w.target)?, deadline, w.wake)))
                .collect::<Result<_>>()?;
            boot::drive(Some(&ctx), home, &mut boots, &req, &|_| {}).await;
            let out: Vec<Booted> = boots
                .into_iter()
                .map(|b| Booted {
                    state: b.state,
                    cleared: b.cleared,
                    mcp_connected: b.mcp_connected,
                    woken: b.woken,
                    error: b.error.as_ref().map(WireError::from),
                })
                .collect();
            json(&out)
        }
        Request::Wake { target, text } => {
            let rung = super::wake::ring(&local_target(home, target)?, &text).await?;
            json(&Woken {
                state_before: rung.state_before,
                text: rung.text,
                delivered: rung.delivered,
                queued: rung.queued,
                enters: rung.enters,
                millis: rung.millis,
            })
        }
        Request::Approve {
            target,
            choice,
            timeout_secs,
        } => {
            if !(1..=600).contains(&timeout_secs) {
                return Err(Error::invalid("timeout", "must be 1 to 600 seconds"));
            }
            json(&answer_with_keys(&local_target(home, target)?, choice, timeout_secs).await?)
        }
        Request::Kill { socket, sessions } => {
            json(&kill(&Host::Local, home, &socket, &sessions).await?)
        }
        Request::WorktreeAdd {
            repo,
            name,
            commit,
            bundle,
        } => json(&super::transfer::add_here(&repo, &name, &commit, &bundle)?),
        Request::BranchBack { repo, branch, base } => {
            json(&super::transfer::branch_here(&repo, &branch, &base)?)
        }
        Request::WorktreeRemove { repo, name, force } => {
            super::transfer::remove_here(&repo, &name, force)?;
            Ok(serde_json::Value::Bool(true))
        }
    }
}

/// The pane `info` of a session on `host`, as a target.
pub fn target(host: Host, home: &Tmux, id: &str, info: PaneInfo) -> Target {
    Target {
        id: id.to_owned(),
        tmux: home.at(&info.socket),
        pane: info,
        host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pane(id: &str) -> PaneInfo {
        PaneInfo {
            session_id: "$1".into(),
            session_name: "w-1".into(),
            pane: id.into(),
            pid: 1,
            dead: false,
            command: "claude".into(),
            socket: "/nonexistent/intercomm-test.sock".into(),
        }
    }

    #[tokio::test]
    async fn the_agent_takes_only_pane_ids_and_ids_as_targets() {
        let home = Tmux::new(crate::tmux::Socket::Path("/nonexistent/t.sock".into()));
        for (id, p) in [("w-1", "w-1:0"), ("w-1", "%1;kill"), ("../x", "%1")] {
            let err = serve(
                Request::Wake {
                    target: RemotePane {
                        id: id.into(),
                        pane: pane(p),
                    },
                    text: "hi".into(),
                },
                &home,
            )
            .await
            .err();
            assert_eq!(err.map(|e| e.code), Some("invalid_argument"), "{id} {p}");
        }
    }

    #[tokio::test]
    async fn a_second_hello_is_a_bad_request() {
        let home = Tmux::new(crate::tmux::Socket::Path("/nonexistent/t.sock".into()));
        let err = serve(
            Request::Hello {
                protocol: 1,
                version: "x".into(),
            },
            &home,
        )
        .await
        .err();
        assert_eq!(err.map(|e| e.code), Some("bad_request"));
    }
}
