//! Scan (every pane of this bus's fleet, in few tmux calls) and approve (one
//! dialog answered on purpose).
//!
//! The fleet is what this bus knows: sessions spawn recorded and instances
//! registered from a tmux pane, whose id starts with `<prefix>-`. Other
//! tmux sessions, whatever their names, are never looked at (B11).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::dialog::Choice;
use super::host::Host;
use super::{master, resolve, with_ctx};
use crate::bus::hooks::HookState;
use crate::bus::permissions::{self, Request};
use crate::bus::{hooks, instances, sessions, worktrees};
use crate::clock;
use crate::error::{Error, Result};
use crate::host::protocol::PaneAt;
use crate::ops::{Ctx, Outcome, db};
use crate::screen::{self, MenuOption, PaneState};

/// One pane of the fleet.
#[derive(Debug, Clone, Serialize)]
pub struct PaneView {
    pub id: String,
    /// The host it runs on; absent for this machine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub pane: String,
    /// The session name, when the pane still exists.
    pub session: Option<String>,
    /// The state scan reports: what the hooks last said, unless the screen
    /// shows something hooks cannot see (a dialog, Claude exited); `None`
    /// when the pane is gone.
    pub state: Option<PaneState>,
    /// What the screen shows.
    pub screen_state: Option<PaneState>,
    /// What Claude Code's hooks last reported (`running`, `ready`, `blocked`,
    /// `gone`), and how long ago.
    pub hook_state: Option<String>,
    /// What that hook report named: the tool about to run (`running`) or
    /// asking for permission (`blocked`), or a notification's text.
    pub hook_detail: Option<String>,
    pub hook_age_ms: Option<i64>,
    /// Set when the hooks and the screen disagree.
    pub disagreement: Option<String>,
    /// The instance's MCP server runs (or is reconnecting).
    pub registered_alive: bool,
    /// Its MCP server, on another host, has not taken its liveness lock
    /// again since the PostgreSQL bus server restarted (within 15 s of it):
    /// it counts as alive meanwhile.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reconnecting: bool,
    pub worktree: Option<String>,
    /// What it is working on (its summary, else its task's target).
    pub summary: Option<String>,
    /// blocked: the tool asking, and its command or arguments.
    pub tool: Option<String>,
    pub detail: Option<String>,
    pub options: Vec<MenuOption>,
    /// The oldest permission request of this worker waiting on the bus for
    /// the master's decision (its PermissionRequest hook waits): the exact
    /// tool and input. While it waits the state is `waiting`, and approve
    /// answers through the hook, never with keys.
    pub permission: Option<Request>,
    /// Its `asyncRewake` wake hook waits on the bus: mail wakes it with no
    /// key typed ([`super::hook_wake`]).
    pub wake_hook: bool,
    /// Why the master should look, if it should.
    pub attention: Option<String>,
}

/// The scan.
#[derive(Debug, Clone, Serialize)]
pub struct Scanned {
    pub prefix: String,
    pub panes: Vec<PaneView>,
    pub need_attention: usize,
    /// Time to read the panes, in ms (the radar not included).
    pub millis: u64,
    /// The merge radar over the workers' worktrees.
    pub radar: crate::radar::Radar,
    /// Hosts that could not be read, with why: their panes show as gone
    /// and their workers' mail waits on the bus.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreachable: Vec<(String, String)>,
}

impl Outcome for Scanned {
    fn text(&self) -> String {
        if self.panes.is_empty() {
            return format!("No worker panes found (prefix: {}-).", self.prefix);
        }
        let mut out = format!("--- {} worker pane(s) ---", self.panes.len());
        for p in &self.panes {
            out.push_str(&format!(
                "\n  {}  {}  {}",
                p.id,
                p.pane,
                p.state.map_or("gone", |s| s.as_str())
            ));
            if let Some(h) = &p.host {
                out.push_str(&format!("  on {h}"));
            }
            if p.reconnecting {
                out.push_str("  (reconnecting to the bus)");
            }
            if let Some(s) = &p.summary {
                out.push_str(&format!("  [{s}]"));
            }
            if let Some(a) = &p.attention {
                out.push_str(&format!("  <- {a}"));
            }
            if let Some(d) = &p.disagreement {
                out.push_str(&format!("  (disagree: {d})"));
            }
        }
        out.push_str(&format!(
            "\n{} of {} need attention.",
            self.need_attention,
            self.panes.len()
        ));
        for (_, why) in &self.unreachable {
            out.push_str(&format!("\n{why}"));
        }
        out.push_str(&crate::ops::radar::text(&self.radar));
        out
    }
}

struct Member {
    id: String,
    host: Host,
    socket: String,
    pane: String,
    session_id: Option<String>,
    alive: bool,
    reconnecting: bool,
    worktree: Option<String>,
    hook: Option<HookState>,
    summary: Option<String>,
    permission: Option<Request>,
    wake_hook: bool,
}

fn fleet(ctx: &mut Ctx, prefix: &str) -> Result<Vec<Member>> {
    let Some(bus) = ctx.existing_bus()? else {
        return Ok(Vec::new());
    };
    let conn = bus.conn();
    let now = clock::now_ms();
    let wanted = format!("{prefix}-");
    let rows = instances::list(conn).map_err(db)?;
    let alive = |id: &str| rows.iter().any(|r| r.id == id && r.is_alive(now));
    let reconnecting = |id: &str| {
        rows.iter()
            .any(|r| r.id == id && r.presence(now) == instances::Presence::Reconnecting)
    };
    let summary = |id: &str| {
        let own = rows
            .iter()
            .find(|r| r.id == id)
            .map_or("", |r| r.summary.as_str());
        crate::ops::threads::summary_of(conn, id, own)
    };
    let mut members: BTreeMap<String, Member> = BTreeMap::new();
    for s in sessions::live(conn).map_err(db)? {
        if s.name.starts_with(&wanted) {
            members.insert(
                s.name.clone(),
                Member {
                    host: Host::of_session(conn, &s.name)?,
                    alive: alive(&s.name),
                    reconnecting: reconnecting(&s.name),
                    hook: hooks::get(conn, &s.name).map_err(db)?,
                    permission: first_pending(conn, &s.name, now)?,
                    wake_hook: wake_armed(conn, &s.name, now)?,
                    summary: summary(&s.name)?,
                    id: s.name,
                    socket: s.tmux_socket,
                    pane: s.pane,
                    session_id: Some(s.tmux_session_id),
                    worktree: Some(s.worktree).filter(|w| !w.is_empty()),
                },
            );
        }
    }
    for r in &rows {
        if r.id.starts_with(&wanted)
            && !r.pane.is_empty()
            && r.is_alive(now)
            && !members.contains_key(&r.id)
        {
            let wt = worktrees::get(conn, &r.id).map_err(db)?.map(|w| w.path);
            members.insert(
                r.id.clone(),
                Member {
                    host: Host::Local,
                    hook: hooks::get(conn, &r.id).map_err(db)?,
                    permission: first_pending(conn, &r.id, now)?,
                    wake_hook: wake_armed(conn, &r.id, now)?,
                    summary: summary(&r.id)?,
                    id: r.id.clone(),
                    socket: r.tmux_socket.clone(),
                    pane: r.pane.clone(),
                    session_id: None,
                    alive: true,
                    reconnecting: reconnecting(&r.id),
                    worktree: wt,
                },
            );
        }
    }
    Ok(members.into_values().collect())
}

fn wake_armed(conn: &crate::bus::Conn, id: &str, now: i64) -> Result<bool> {
    Ok(crate::bus::wake_hooks::get(conn, id)
        .map_err(db)?
        .is_some_and(|a| super::hook_wake::is_armed(&a, now)))
}

fn first_pending(conn: &crate::bus::Conn, id: &str, now: i64) -> Result<Option<Request>> {
    Ok(permissions::pending(conn, Some(id), now)
        .map_err(db)?
        .into_iter()
        .next())
}

/// A pending permission request overrides the combined state: `waiting`
/// (the dialog the screen shows meanwhile is the same request). A screen
/// showing something else is reported as a disagreement.
fn with_request(
    combined: (Option<PaneState>, Option<String>),
    screen: Option<PaneState>,
    request: Option<&Request>,
) -> (Option<PaneState>, Option<String>) {
    let (Some(r), Some(_)) = (request, combined.0) else {
        return combined;
    };
    let note = match screen {
        Some(PaneState::Blocked) | None => combined.1,
        Some(seen) => Some(format!(
            "the bus holds {}'s pending request for {}, the screen shows {}",
            r.worker,
            r.tool,
            seen.as_str()
        )),
    };
    (Some(PaneState::Waiting), note)
}

/// The reported state: hooks first, the screen second. Hooks decide between
/// ready and running (the screen's footer lags and varies by version); the
/// screen wins where hooks are blind or stale (boot dialogs, permission
/// prompts, Claude gone, the pane gone). A disagreement is described.
fn combine(
    screen: Option<PaneState>,
    hook: Option<&HookState>,
) -> (Option<PaneState>, Option<String>) {
    let Some(hook) = hook else {
        return (screen, None);
    };
    let hooked = match hook.state.as_str() {
        "running" => PaneState::Running,
        "ready" => PaneState::Ready,
        "blocked" => PaneState::Blocked,
        _ => PaneState::Exited,
    };
    let Some(seen) = screen else {
        return (
            None,
            Some(format!("hooks say {}, but the pane is gone", hook.state)),
        );
    };
    let note = (seen != hooked).then(|| {
        format!(
            "hooks say {}, the screen shows {}",
            hook.state,
            seen.as_str()
        )
    });
    // A permission prompt is visible: the screen is the fresher witness of
    // it, both when it shows one and when a hook's "blocked" is stale (the
    // prompt was answered and no hook has fired since).
    let state = match (seen, hooked) {
        (PaneState::Ready | PaneState::Running, PaneState::Ready | PaneState::Running) => hooked,
        _ => seen,
    };
    (Some(state), note)
}

/// Why a pane in `state` needs the master.
fn attention(state: Option<PaneState>, screen: &screen::Screen) -> Option<String> {
    let state = state?;
    match state {
        PaneState::Ready | PaneState::Running => None,
        PaneState::Blocked => Some(format!(
            "blocked: {} `{}` (intercomm_approve)",
            screen.tool.as_deref().unwrap_or("tool"),
            screen.detail.as_deref().unwrap_or("?")
        )),
        PaneState::Exited => Some("exited: Claude is gone, the pane shows a shell".to_owned()),
        PaneState::Unknown => Some("unknown screen".to_owned()),
        other => Some(format!("{} dialog (intercomm_approve)", other.as_str())),
    }
}

/// Reads every pane of the fleet: one `list-panes` and one batched capture
/// per tmux server.
pub async fn scan(ctx: &Mutex<Ctx>, prefix: &str) -> Result<Scanned> {
    let started = Instant::now();
    crate::names::check_id("prefix", prefix)?;
    master(ctx)?;
    let (home, members) = with_ctx(ctx, |c| Ok((c.tmux.clone(), fleet(c, prefix)?)))?;
    let mut by_place: BTreeMap<(Option<String>, String), Vec<usize>> = BTreeMap::new();
    for (i, m) in members.iter().enumerate() {
        by_place
            .entry((m.host.name().map(str::to_owned), m.socket.clone()))
            .or_default()
            .push(i);
    }
    let mut views: Vec<Option<PaneView>> = members.iter().map(|_| None).collect();
    let mut unreachable: Vec<(String, String)> = Vec::new();
    let now = clock::now_ms();
    // One request per host and server, all hosts at once.
    let reads = by_place.iter().map(|((_, socket), idx)| {
        let on = members[idx[0]].host.clone();
        let wanted: Vec<PaneAt> = idx
            .iter()
            .map(|&i| PaneAt {
                pane: members[i].pane.clone(),
                session_id: members[i].session_id.clone(),
            })
            .collect();
        let home = home.clone();
        async move { on.panes(&home, socket, &wanted).await }
    });
    let results = futures::future::join_all(reads).await;
    for (((host_name, _), idx), read) in by_place.into_iter().zip(results) {
        let (panes, captures, lost) = match (read, &host_name) {
            (Ok(p), _) => (p.panes, p.captures, None),
            (Err(e), None) => return Err(e),
            (Err(e), Some(h)) => {
                if !unreachable.iter().any(|(n, _)| n == h) {
                    unreachable.push((h.clone(), e.message.clone()));
                }
                (Vec::new(), vec![None; idx.len()], Some(e.message))
            }
        };
        for &i in &idx {
            let m = &members[i];
            let capture = idx
                .iter()
                .position(|&j| j == i)
                .and_then(|k| captures.get(k).cloned().flatten());
            let session = panes
                .iter()
                .find(|p| p.pane == m.pane)
                .map(|p| p.session_name.clone());
            let screen = capture.as_deref().map(screen::classify);
            let screen_state = screen.as_ref().map(|s| s.state);
            let shown = screen.unwrap_or_else(|| screen::classify(""));
            let (state, disagreement) = with_request(
                combine(screen_state, m.hook.as_ref()),
                screen_state,
                m.permission.as_ref(),
            );
            views[i] = Some(PaneView {
                id: m.id.clone(),
                host: m.host.name().map(str::to_owned),
                pane: m.pane.clone(),
                session: session.filter(|_| state.is_some()),
                state,
                screen_state,
                hook_state: m.hook.as_ref().map(|h| h.state.clone()),
                hook_detail: m
                    .hook
                    .as_ref()
                    .map(|h| h.detail.clone())
                    .filter(|d| !d.is_empty()),
                hook_age_ms: m.hook.as_ref().map(|h| now - h.at_ms),
                disagreement,
                registered_alive: m.alive,
                reconnecting: m.reconnecting,
                worktree: m.worktree.clone(),
                summary: m.summary.clone(),
                attention: match (state, &m.permission) {
                    (None, _) if lost.is_some() => Some(format!(
                        "{} (its mail waits on the bus)",
                        lost.as_deref().unwrap_or_default()
                    )),
                    (None, _) => Some("pane gone (teardown cleans up)".to_owned()),
                    (Some(_), Some(r)) => Some(format!(
                        "waiting: {} {} (intercomm_approve decides through its hook)",
                        r.tool, r.input
                    )),
                    (s, None) => attention(s, &shown),
                },
                tool: m
                    .permission
                    .as_ref()
                    .map(|r| r.tool.clone())
                    .or_else(|| shown.tool.clone()),
                detail: shown.detail.clone(),
                options: shown.options.clone(),
                permission: m.permission.clone(),
                wake_hook: m.wake_hook,
            });
        }
    }
    let panes: Vec<PaneView> = views.into_iter().flatten().collect();
    let millis = started.elapsed().as_millis() as u64;
    let radar = with_ctx(ctx, |c| match c.existing_bus()? {
        Some(bus) => crate::ops::radar::read(bus.conn()),
        None => Ok(crate::radar::Radar::default()),
    })?;
    Ok(Scanned {
        prefix: prefix.to_owned(),
        need_attention: panes.iter().filter(|p| p.attention.is_some()).count(),
        panes,
        millis,
        radar,
        unreachable,
    })
}

/// What an approval did.
#[derive(Debug, Clone, Serialize)]
pub struct Approved {
    pub worker: String,
    pub pane: String,
    pub before: PaneState,
    pub after: PaneState,
    pub choice: Choice,
    /// The option chosen, as the dialog labels it.
    pub option: Option<String>,
    /// What was approved: the tool and its command or arguments.
    pub tool: Option<String>,
    pub detail: Option<String>,
    pub cleared: bool,
    /// How it was answered: `hook` (decided on the bus; the worker's
    /// PermissionRequest hook answered Claude Code, no key sent), `keys`
    /// (the dialog on screen), or `none` (nothing to answer).
    pub via: &'static str,
    /// The permission request decided on the bus (`via: hook`).
    pub request_id: Option<String>,
    /// The tool's full input, as the request recorded it (`via: hook`).
    pub input: Option<serde_json::Value>,
}

impl Outcome for Approved {
    fn text(&self) -> String {
        if self.via == "hook" {
            let tool = self.tool.as_deref().unwrap_or("tool");
            let input = self
                .input
                .as_ref()
                .map(|i| i.to_string())
                .unwrap_or_default();
            let taken = if self.cleared {
                "its hook handed the decision to Claude Code"
            } else {
                "decided on the bus, but its hook has not taken the decision yet (intercomm_scan)"
            };
            return format!(
                "Approve {}: {:?} for {tool} {input} through the hook (no key sent): {taken} [request {}]",
                self.worker,
                self.choice,
                self.request_id.as_deref().unwrap_or("?")
            );
        }
        let what = match (&self.tool, &self.detail) {
            (Some(t), Some(d)) => format!(" {t} `{d}`"),
            _ => String::new(),
        };
        let verdict = match (&self.option, self.cleared) {
            (None, _) => " (nothing to answer)".to_owned(),
            (Some(o), true) => format!(" (answered \"{o}\"{what})"),
            (Some(o), false) => {
                format!(" (pressed \"{o}\" but the dialog is still shown — inspect the pane)")
            }
        };
        format!(
            "Approve {}: {} -> {}{verdict}",
            self.worker,
            self.before.as_str(),
            self.after.as_str()
        )
    }
}

/// Answers `worker`'s permission request waiting on the bus (the oldest, or
/// `request_id`) through its hook ([`super::decide`]), else the dialog on
/// its pane with keys. A pane with no dialog is reported, not touched.
/// `reason` (with `no` only) is what the worker's model is told.
pub async fn approve(
    ctx: &Mutex<Ctx>,
    worker: &str,
    choice: Choice,
    timeout_secs: i64,
    request_id: Option<&str>,
    reason: Option<&str>,
) -> Result<Approved> {
    if !(1..=600).contains(&timeout_secs) {
        return Err(Error::invalid("timeout", "must be 1 to 600 seconds"));
    }
    let me = master(ctx)?;
    crate::names::check_id("worker", worker)?;
    let timeout = Duration::from_secs(timeout_secs as u64);
    let decided =
        super::decide::through_hook(ctx, &me.id, worker, choice, request_id, reason, timeout)
            .await?;
    if let Some(d) = decided {
        return Ok(Approved {
            worker: worker.to_owned(),
            pane: String::new(),
            before: PaneState::Waiting,
            after: if d.delivered {
                PaneState::Running
            } else {
                PaneState::Waiting
            },
            choice,
            option: None,
            tool: Some(d.request.tool.clone()),
            detail: None,
            cleared: d.delivered,
            via: "hook",
            request_id: Some(d.request.id.clone()),
            input: Some(d.request.input.clone()),
        });
    }
    if let Some(id) = request_id {
        return Err(Error::user(
            "no_such_request",
            format!("permission request {id} does not wait for {worker}"),
        ));
    }
    if reason.is_some() {
        return Err(Error::invalid(
            "reason",
            "only reaches a worker through its hook, and no request of this worker waits on the bus",
        ));
    }
    let target = resolve(ctx, "worker", worker).await?;
    let keys = super::host::answer_with_keys(&target, choice, timeout_secs).await?;
    let answered = keys.option.is_some();
    if keys.cleared && keys.before == PaneState::Blocked {
        super::decide::record_keys(ctx, &me.id, worker, choice)?;
    }
    Ok(Approved {
        worker: worker.to_owned(),
        pane: target.pane.pane.clone(),
        before: keys.before,
        after: keys.after,
        choice,
        option: keys.option,
        tool: keys.tool,
        detail: keys.detail,
        cleared: keys.cleared,
        via: if answered { "keys" } else { "none" },
        request_id: None,
        input: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(state: &str) -> HookState {
        HookState {
            id: "w".into(),
            state: state.into(),
            detail: String::new(),
            claude_session: String::new(),
            at_ms: 0,
        }
    }

    #[test]
    fn hooks_decide_ready_and_running_the_screen_the_rest() {
        use PaneState::*;
        assert_eq!(
            combine(Some(Ready), Some(&hook("running"))).0,
            Some(Running)
        );
        assert!(combine(Some(Ready), Some(&hook("running"))).1.is_some());
        assert_eq!(
            combine(Some(Running), Some(&hook("running"))),
            (Some(Running), None)
        );
        assert_eq!(
            combine(Some(Running), Some(&hook("blocked"))).0,
            Some(Running)
        );
        assert_eq!(
            combine(Some(Blocked), Some(&hook("running"))).0,
            Some(Blocked)
        );
        assert_eq!(combine(Some(Trust), Some(&hook("ready"))).0, Some(Trust));
        assert_eq!(combine(Some(Exited), None), (Some(Exited), None));
        assert_eq!(combine(None, Some(&hook("ready"))).0, None);
    }

    /// Issue #13 point 3: a disagreement names both witnesses.
    #[test]
    fn a_disagreement_names_both_sides() {
        use PaneState::*;
        assert_eq!(
            combine(Some(Ready), Some(&hook("running"))).1.as_deref(),
            Some("hooks say running, the screen shows ready")
        );
        assert_eq!(
            combine(Some(Trust), Some(&hook("ready"))).1.as_deref(),
            Some("hooks say ready, the screen shows trust")
        );
        assert_eq!(
            combine(None, Some(&hook("running"))).1.as_deref(),
            Some("hooks say running, but the pane is gone")
        );
        assert_eq!(combine(Some(Ready), Some(&hook("ready"))).1, None);
        assert_eq!(combine(Some(Ready), None).1, None);

        let request = Request {
            id: "r1".into(),
            worker: "worker-1".into(),
            tool: "Bash".into(),
            input: serde_json::json!({"command": "rm -rf build"}),
            suggestions: serde_json::Value::Null,
            claude_session: String::new(),
            asked_at: 0,
            deadline: 1,
            status: "pending".into(),
            decision: None,
            reason: None,
            decided_by: None,
            decided_at: None,
            delivered_at: None,
        };
        // The dialog on screen is the same request: waiting, no note.
        assert_eq!(
            with_request((Some(Blocked), None), Some(Blocked), Some(&request)),
            (Some(Waiting), None)
        );
        // The screen shows something else: waiting, both sides said.
        assert_eq!(
            with_request((Some(Running), None), Some(Running), Some(&request)),
            (
                Some(Waiting),
                Some(
                    "the bus holds worker-1's pending request for Bash, the screen shows running"
                        .to_owned()
                )
            )
        );
        assert_eq!(
            with_request((Some(Ready), None), Some(Ready), None),
            (Some(Ready), None)
        );
    }
}
