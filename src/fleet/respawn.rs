//! `intercomm_respawn`: start a worker again whose Claude exited or whose
//! pane died, in the same worktree, under the same id, resuming its Claude
//! conversation; its unread mail is still on the bus for it.
//!
//! The Claude session id comes from the worker's SessionStart hook (the
//! `hook_states` table), else from the newest transcript Claude Code keeps
//! for that folder: `~/.claude/projects/<folder with / and . as ->/<id>.jsonl`
//! (source: Claude Code 2.1.x on disk; `CLAUDE_CONFIG_DIR` replaces
//! `~/.claude`). Without either, Claude starts a new conversation, and the
//! result says so.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::boot::{self, Boot};
use super::host::Host;
use super::spawn::{PANE_SIZE, PermMode, SpawnRequest};
use super::{master, with_ctx};
use crate::bus::sessions::{self, SessionRow};
use crate::bus::{hooks, instances, messages};
use crate::clock;
use crate::error::{Error, Result};
use crate::ops::{Ctx, Outcome, db};
use crate::screen::PaneState;
use crate::tmux::NewSession;

/// What a respawn did.
#[derive(Debug, Clone, Serialize)]
pub struct Respawned {
    pub id: String,
    pub pane: String,
    /// The Claude session resumed, if one was known.
    pub resumed: Option<String>,
    pub state: PaneState,
    pub woken: bool,
    /// Unread messages waiting for it.
    pub unread: i64,
}

impl Outcome for Respawned {
    fn text(&self) -> String {
        let how = match &self.resumed {
            Some(s) => format!("resuming Claude session {s}"),
            None => "with a new Claude conversation (no session id was known)".to_owned(),
        };
        format!(
            "Respawned {} in {} {how}: state {}, woken {}, {} unread message(s) waiting.",
            self.id,
            self.pane,
            self.state.as_str(),
            if self.woken { "yes" } else { "no" },
            self.unread
        )
    }
}

/// Starts `worker` again; refuses while its Claude still runs.
pub async fn respawn(ctx: &Mutex<Ctx>, worker: &str) -> Result<Respawned> {
    crate::names::check_id("worker", worker)?;
    master(ctx)?;
    let (home, session, alive, claude_session, on) = with_ctx(ctx, |c| {
        let home = c.tmux.clone();
        let Some(bus) = c.existing_bus()? else {
            return Err(not_spawned(worker));
        };
        let conn = bus.conn();
        let session = sessions::get(conn, worker)
            .map_err(db)?
            .ok_or_else(|| not_spawned(worker))?;
        let on = Host::of_session(conn, worker)?;
        let alive = instances::get(conn, worker)
            .map_err(db)?
            .filter(|r| r.is_alive(clock::now_ms()))
            .map(|r| r.process.pid);
        let hooked = hooks::get(conn, worker)
            .map_err(db)?
            .map(|h| h.claude_session)
            .filter(|s| !s.is_empty());
        Ok((home, session, alive, hooked, on))
    })?;
    if let Some(pid) = alive {
        return Err(Error::user(
            "worker_alive",
            format!("{worker} is alive (its MCP server, pid {pid}, runs); nothing to respawn"),
        )
        .with_hint("intercomm_wake rings it; intercomm_scan shows its pane"));
    }
    let tmux = home.at(&session.tmux_socket);
    let panes = on.panes(&home, &session.tmux_socket, &[]).await?.panes;
    if let Some(old) = panes
        .iter()
        .find(|p| p.session_id == session.tmux_session_id && p.session_name == session.name)
    {
        let target = super::host::target(on.clone(), &home, worker, old.clone());
        let screen = target.look().await?;
        if !matches!(screen.state, PaneState::Exited | PaneState::Unknown) {
            return Err(Error::user(
                "worker_alive",
                format!(
                    "Claude still shows in {worker}'s pane ({})",
                    screen.state.as_str()
                ),
            ));
        }
        let pair = [(old.session_name.clone(), old.session_id.clone())];
        super::host::kill(&on, &home, &session.tmux_socket, &pair).await?;
    }
    let dir = match (&on, session.worktree.is_empty()) {
        (_, false) => PathBuf::from(&session.worktree),
        (Host::Local, true) => with_ctx(ctx, |c| Ok(c.paths.root.clone()))?,
        // The host agent's own folder.
        (Host::Remote { .. }, true) => PathBuf::new(),
    };
    // Transcripts are on the worker's host: only a local one is read here.
    let resumed = claude_session
        .and_then(|s| session_uuid(&s, "its SessionStart hook"))
        .or_else(|| {
            (on == Host::Local)
                .then(|| newest_transcript(&dir))
                .flatten()
                .and_then(|s| session_uuid(&s, "its transcript"))
        });
    let mut argv = session.argv.clone();
    if argv.len() < 2 {
        return Err(Error::user(
            "no_argv",
            format!("{worker} was spawned by an older intercomm; spawn it again instead"),
        ));
    }
    if let Some(id) = &resumed {
        argv.push(format!("--resume={id}"));
    }
    let (root, bus) = with_ctx(ctx, |c| Ok((c.paths.root.clone(), c.paths.url.clone())))?;
    let mut env = vec![
        (crate::env::DB_ROOT.to_owned(), root.display().to_string()),
        (crate::env::WORKER_ID.to_owned(), worker.to_owned()),
    ];
    if let Some(url) = &bus {
        env.push((crate::env::BUS.to_owned(), url.as_given().to_owned()));
    }
    let spec = NewSession {
        name: worker,
        dir: &dir,
        width: PANE_SIZE.0,
        height: PANE_SIZE.1,
        env: &env,
        argv: &argv,
    };
    // Killing the old session may have emptied its tmux server, which then
    // exits (tmux's exit-empty); a client that connects while it shuts down
    // gets "server exited unexpectedly" (seen on tmux 3.x in this project's
    // respawn test, about 1 run in 5 under load). The next client starts a
    // new server, so one retry after a pause is enough.
    let started = match on {
        Host::Local => None,
        Host::Remote { .. } => Some(
            super::spawn::launch_remote(&on, std::slice::from_ref(&spec))
                .await?
                .pop()
                .ok_or_else(|| Error::internal("host_failed", "the host started no session"))??,
        ),
    };
    let pane = match started {
        Some(pane) => pane,
        None => match tmux.new_session(&spec).await {
            Err(crate::tmux::TmuxError::Failed { stderr, .. })
                if stderr.contains("server exited unexpectedly") =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
                tmux.new_session(&spec).await?
            }
            other => other?,
        },
    };
    with_ctx(ctx, |c| {
        sessions::put(
            c.bus()?.conn(),
            &SessionRow {
                tmux_session_id: pane.session_id.clone(),
                pane: pane.pane.clone(),
                tmux_socket: pane.socket.clone(),
                spawned_at_ms: clock::now_ms(),
                ended_at_ms: None,
                ..session.clone()
            },
        )
        .map_err(db)
    })?;
    let target = super::host::target(on.clone(), &tmux, worker, pane);
    let pane_id = target.pane.pane.clone();
    let req = SpawnRequest {
        count: 1,
        prefix: String::new(),
        perm_mode: serde_json::from_value(serde_json::Value::String(session.perm_mode.clone()))
            .unwrap_or(PermMode::AcceptEdits),
        claude_cmd: String::new(),
        worktrees: false,
        worktree_base: String::new(),
        bootstrap: None,
        ready_timeout_secs: 30,
        wake: true,
        accept_api_key: false,
        host: None,
    };
    // Booted like a spawned worker: dialogs answered, and the wake typed only
    // once its new intercomm MCP server is connected.
    let deadline = Instant::now() + Duration::from_secs(req.ready_timeout_secs as u64);
    let prompt = format!(
        "[intercomm] You were restarted as worker {worker}. Call intercomm_register, then intercomm_read: your unread mail is waiting."
    );
    let boot = Boot::new(target, deadline, Some(prompt));
    let (state, woken) = match on {
        Host::Local => {
            let mut boots = [boot];
            boot::drive(Some(ctx), &tmux, &mut boots, &req, &|_| {}).await;
            let [boot] = boots;
            if let Some(e) = boot.error {
                return Err(e);
            }
            (boot.state, boot.woken)
        }
        Host::Remote { .. } => {
            let root = with_ctx(ctx, |c| Ok(c.paths.root.clone()))?;
            let end = super::spawn::boot_remote(&on, &root, bus.as_ref(), &req, vec![boot])
                .await
                .pop()
                .ok_or_else(|| Error::internal("host_failed", "the host booted nothing"))?;
            if let Some(e) = end.error {
                return Err(Error::user("boot_failed", e));
            }
            (end.state, end.woken)
        }
    };
    let state = state.unwrap_or(PaneState::Unknown);
    let woken = woken == Some(true);
    let unread = with_ctx(ctx, |c| {
        let bus = c.bus()?;
        let cursor = messages::cursor(bus.conn(), worker).map_err(db)?;
        messages::count_inbox(bus.conn(), worker, cursor, 10_000).map_err(db)
    })?;
    Ok(Respawned {
        id: worker.to_owned(),
        pane: pane_id,
        resumed,
        state,
        woken,
        unread,
    })
}

fn not_spawned(worker: &str) -> Error {
    Error::user(
        "not_spawned",
        format!("{worker:?} was not spawned by this bus, so it cannot be respawned"),
    )
    .with_hint("intercomm_spawn starts new workers")
}

/// `raw` as a Claude Code session id: a UUID (Claude Code 2.1.x names
/// sessions and transcripts by UUID v4), in its hyphenated lowercase form;
/// `None`, logged, for anything else. The value comes from a hook payload or
/// a file name, so it is never trusted to be free of flags, and it is passed
/// as `--resume=<uuid>`: one argument Claude Code cannot read as another flag.
pub fn session_uuid(raw: &str, from: &str) -> Option<String> {
    match uuid::Uuid::try_parse(raw) {
        Ok(id) if raw.len() == 36 => Some(id.hyphenated().to_string()),
        _ => {
            tracing::warn!(target: "fleet", session = %raw.escape_debug(), from, "not a Claude session id (a UUID); starting a new conversation");
            None
        }
    }
}

/// The id of the newest Claude Code transcript kept for `dir`.
fn newest_transcript(dir: &Path) -> Option<String> {
    let config = crate::env::get("CLAUDE_CONFIG_DIR")
        .map(PathBuf::from)
        .or_else(|| crate::env::get("HOME").map(|h| PathBuf::from(h).join(".claude")))?;
    let folder: String = dir
        .display()
        .to_string()
        .chars()
        .map(|c| if c == '/' || c == '.' { '-' } else { c })
        .collect();
    let entries = std::fs::read_dir(config.join("projects").join(folder)).ok()?;
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max_by_key(|(t, _)| *t)
        .and_then(|(_, p)| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
}

#[cfg(test)]
mod tests {
    use super::session_uuid;

    #[test]
    fn only_a_uuid_is_a_session_id() {
        assert_eq!(
            session_uuid("0B9A0E4C-1D2E-4F3A-8B5C-6D7E8F9A0B1C", "t").as_deref(),
            Some("0b9a0e4c-1d2e-4f3a-8b5c-6d7e8f9a0b1c")
        );
        for bad in [
            "--permission-mode=bypassPermissions",
            "-p",
            "",
            "abcd-1234",
            "0b9a0e4c1d2e4f3a8b5c6d7e8f9a0b1c",
            "{0b9a0e4c-1d2e-4f3a-8b5c-6d7e8f9a0b1c}",
            "urn:uuid:0b9a0e4c-1d2e-4f3a-8b5c-6d7e8f9a0b1c",
            "0b9a0e4c-1d2e-4f3a-8b5c-6d7e8f9a0b1c --dangerously-skip-permissions",
        ] {
            assert_eq!(session_uuid(bad, "t"), None, "{bad:?} accepted");
        }
    }
}
