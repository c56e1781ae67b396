//! Spawning workers: each in its own tmux session (and worktree), all
//! started by one tmux call, booted together by `fleet::boot` (one capture
//! of every pane per round), boot dialogs cleared by label, then woken once
//! each worker's own intercomm MCP server is connected.
//!
//! Fixes over the original (reference §4.2, §15): names are picked exactly
//! (no tmux session and no live instance holds them); the worktree is made
//! first and a git failure fails that worker (B4); Claude starts as an argv
//! through `tmux new-session -- …`, so no shell ever parses a path or an
//! argument (S1); `claude_cmd` is split with shell-words rules; `bootstrap`
//! runs with `sh -c` in the worktree and its failure is reported; a tool
//! permission prompt is never approved by spawn (B10).

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

use super::boot::{self, Boot};
use super::dialog::{self, Choice};
use super::host::Host;
use super::{master, with_ctx};
use crate::bus::sessions::{self, SessionRow};
use crate::bus::worktrees::{self, WorktreeRow, WorktreeStatus};
use crate::bus::{instances, messages};
use crate::clock;
use crate::error::{Error, Result};
use crate::git::Repo;
use crate::host::protocol::{BootSpec, Booted, LaunchSpec, RemotePane, Request};
use crate::names;
use crate::ops::{Ctx, Outcome, db};
use crate::screen::PaneState;
use crate::tmux::{NewSession, Tmux};

/// Most workers one spawn starts.
pub const MAX_COUNT: i64 = 64;
/// Pane size of a worker session (columns, rows).
pub const PANE_SIZE: (u16, u16) = (200, 50);
/// Longest a bootstrap command may run.
const BOOTSTRAP_TIMEOUT: Duration = Duration::from_secs(600);

/// Claude Code permission modes a worker can start in (`--permission-mode`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum PermMode {
    #[default]
    #[serde(rename = "acceptEdits")]
    AcceptEdits,
    #[serde(rename = "auto")]
    Auto,
    #[serde(rename = "bypassPermissions")]
    BypassPermissions,
    #[serde(rename = "default")]
    Default,
    #[serde(rename = "dontAsk")]
    DontAsk,
    #[serde(rename = "plan")]
    Plan,
}

impl PermMode {
    /// The flag value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AcceptEdits => "acceptEdits",
            Self::Auto => "auto",
            Self::BypassPermissions => "bypassPermissions",
            Self::Default => "default",
            Self::DontAsk => "dontAsk",
            Self::Plan => "plan",
        }
    }
}

/// What the master asks for.
#[derive(Debug, Clone)]
pub struct SpawnRequest {
    pub count: i64,
    pub prefix: String,
    pub perm_mode: PermMode,
    pub claude_cmd: String,
    pub worktrees: bool,
    pub worktree_base: String,
    pub bootstrap: Option<String>,
    pub ready_timeout_secs: i64,
    pub wake: bool,
    /// Answer "Yes" on the custom API key dialog (default: leave it).
    pub accept_api_key: bool,
    /// The recorded host to start them on; `None` or `local`: this machine.
    pub host: Option<String>,
}

/// One worker's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct SpawnedWorker {
    /// Session name = instance id = worktree key.
    pub id: String,
    pub pane: Option<String>,
    pub worktree: Option<String>,
    /// Pane state at the end, or `None` if it never started.
    pub state: Option<PaneState>,
    pub dialogs_cleared: Vec<PaneState>,
    /// Its own `intercomm mcp` finished the MCP handshake (what the wake
    /// waits for: the prompt asks it to call intercomm tools).
    pub mcp_connected: bool,
    pub woken: bool,
    pub error: Option<String>,
}

/// The whole spawn.
#[derive(Debug, Clone, Serialize)]
pub struct Spawned {
    pub root: String,
    pub worktrees_dir: Option<String>,
    pub workers: Vec<SpawnedWorker>,
    pub millis: u64,
}

impl Outcome for Spawned {
    fn text(&self) -> String {
        let ok = self.workers.iter().filter(|w| w.error.is_none()).count();
        let mut out = format!(
            "Spawned {ok} of {} worker(s) in {:.1} s — bus root: {}",
            self.workers.len(),
            self.millis as f64 / 1000.0,
            self.root
        );
        if let Some(dir) = &self.worktrees_dir {
            out.push_str(&format!(", worktrees under: {dir}"));
        }
        for w in &self.workers {
            let yes_no = |b: bool| if b { "yes" } else { "no" };
            out.push_str(&format!(
                "\n  {}  pane={}  state={}  mcp={}  woken={}  worktree={}",
                w.id,
                w.pane.as_deref().unwrap_or("-"),
                w.state.map_or("failed", |s| s.as_str()),
                yes_no(w.mcp_connected),
                yes_no(w.woken),
                w.worktree.as_deref().unwrap_or("-")
            ));
            if !w.dialogs_cleared.is_empty() {
                let names: Vec<&str> = w.dialogs_cleared.iter().map(|s| s.as_str()).collect();
                out.push_str(&format!("  cleared={}", names.join(",")));
            }
            if let Some(e) = &w.error {
                out.push_str(&format!("\n      {e}"));
            }
        }
        out.push_str(
            "\nEach worker registers under its session name (id = session = worktree key). \
             Panes left on a dialog: intercomm_scan, then intercomm_approve.",
        );
        out
    }
}

/// The short start-up doorbell of a spawned worker.
fn wake_prompt(id: &str) -> String {
    format!(
        "[intercomm] You are worker {id}. Call intercomm_register, then intercomm_read, and follow your task contract. Report to the master through intercomm; never ask the user."
    )
}

/// Spawns `req.count` workers. Progress lines go to `progress` as they happen.
pub async fn spawn(
    ctx: &Mutex<Ctx>,
    req: SpawnRequest,
    progress: Option<UnboundedSender<String>>,
) -> Result<Spawned> {
    let started = Instant::now();
    if !(1..=MAX_COUNT).contains(&req.count) {
        return Err(Error::invalid(
            "count",
            format!("{} is out of range 1..={MAX_COUNT}", req.count),
        ));
    }
    if !(1..=600).contains(&req.ready_timeout_secs) {
        return Err(Error::invalid("ready_timeout", "must be 1 to 600 seconds"));
    }
    names::check_prefix("prefix", &req.prefix)?;
    let mut argv = shell_words::split(&req.claude_cmd)
        .map_err(|e| Error::invalid("claude_cmd", format!("cannot split into words: {e}")))?;
    if argv.is_empty() {
        return Err(Error::invalid("claude_cmd", "is empty"));
    }
    argv.extend([
        "--permission-mode".to_owned(),
        req.perm_mode.as_str().to_owned(),
    ]);
    let bootstrap = req
        .bootstrap
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty());
    master(ctx)?;
    let on = match req.host.as_deref() {
        None => Host::Local,
        Some(name) => with_ctx(ctx, |c| Host::named(c.bus()?.conn(), name))?,
    };
    if on != Host::Local && bootstrap.is_some() {
        return Err(Error::invalid(
            "bootstrap",
            "runs on this machine only; on a host, put it in the worker's task",
        ));
    }
    // A relative path runs in each worker's folder: only tmux can tell. On
    // another host, its agent's tmux finds the program (or reports it gone).
    if on == Host::Local
        && (!argv[0].contains('/') || argv[0].starts_with('/'))
        && crate::env::find_program(&argv[0]).is_none()
    {
        return Err(Error::user(
            "claude_not_found",
            format!(
                "claude not found: `{}` is not an executable on PATH",
                argv[0]
            ),
        )
        .with_hint(
            "install Claude Code (npm install -g @anthropic-ai/claude-code), \
             or give its full path in claude_cmd",
        ));
    }

    let tmux = with_ctx(ctx, |c| Ok(c.tmux.clone()))?;
    let taken_in_tmux: Vec<String> = on
        .panes(&tmux, "", &[])
        .await?
        .panes
        .into_iter()
        .map(|p| p.session_name)
        .collect();
    let (paths, names) = with_ctx(ctx, |c| {
        let now = clock::now_ms();
        let bus = c.bus()?;
        let live: Vec<String> = instances::list(bus.conn())
            .map_err(db)?
            .into_iter()
            .filter(|r| r.is_alive(now))
            .map(|r| r.id)
            .collect();
        let recorded: Vec<String> = sessions::live(bus.conn())
            .map_err(db)?
            .into_iter()
            .map(|s| s.name)
            .collect();
        let names: Vec<String> = (1..)
            .map(|n| format!("{}-{n}", req.prefix))
            .filter(|name| {
                !taken_in_tmux.contains(name) && !live.contains(name) && !recorded.contains(name)
            })
            .take(req.count as usize)
            .collect();
        Ok((c.paths.clone(), names))
    })?;
    let note = |msg: String| {
        if let Some(tx) = &progress {
            let _ = tx.send(msg);
        }
    };

    // Worktrees first, one at a time (git2 is not shared across tasks).
    let mut plans = Vec::new();
    for name in &names {
        let mut plan = Plan {
            id: name.clone(),
            dir: paths.root.clone(),
            worktree: None,
            error: None,
        };
        if req.worktrees && on != Host::Local {
            match super::transfer::add_worktree(ctx, &on, name, &req.worktree_base).await {
                Ok(path) => {
                    note(format!(
                        "{name}: worktree {path} on {}",
                        on.name().unwrap_or("?")
                    ));
                    plan.dir = PathBuf::from(&path);
                    plan.worktree = Some(path);
                }
                Err(e) => plan.error = Some(format!("worktree: {}", e.message)),
            }
        } else if on != Host::Local {
            // The host's own folder for the session (its agent's working
            // folder, the login's home), not a path of this machine.
            plan.dir = PathBuf::new();
        } else if req.worktrees {
            let path = paths.worktree_path(name);
            match add_worktree(ctx, name, &path, &req.worktree_base) {
                Ok(()) => {
                    note(format!("{name}: worktree {}", path.display()));
                    plan.dir = path.clone();
                    plan.worktree = Some(path.display().to_string());
                }
                Err(e) => plan.error = Some(format!("worktree: {}", e.message)),
            }
        }
        plans.push(plan);
    }

    bootstrap_all(&mut plans, bootstrap).await;
    let workers = launch(ctx, &on, &tmux, &req, &argv, &paths.root, plans, &note).await?;
    Ok(Spawned {
        root: paths.root.display().to_string(),
        worktrees_dir: req
            .worktrees
            .then(|| paths.worktrees_dir().display().to_string()),
        workers,
        millis: started.elapsed().as_millis() as u64,
    })
}

struct Plan {
    id: String,
    dir: PathBuf,
    worktree: Option<String>,
    error: Option<String>,
}

fn add_worktree(ctx: &Mutex<Ctx>, name: &str, path: &std::path::Path, base: &str) -> Result<()> {
    with_ctx(ctx, |c| {
        let repo = Repo::open(&c.paths.root)?;
        let base = repo.worktree_base(base);
        let added = repo.add_worktree(name, path, &base, None)?;
        let now = clock::now_ms();
        worktrees::put_new(
            c.bus()?.conn(),
            &WorktreeRow {
                worker_id: name.to_owned(),
                branch: String::new(),
                head_commit: added.commit,
                path: path.display().to_string(),
                base,
                status: WorktreeStatus::Active,
                created_at_ms: now,
                updated_at_ms: now,
            },
        )
        .map_err(db)
    })
}

/// Runs each plan's bootstrap (concurrently) in its folder; a failure
/// fails that worker only.
async fn bootstrap_all(plans: &mut [Plan], bootstrap: Option<&str>) {
    let Some(cmd) = bootstrap else {
        return;
    };
    let runs = plans.iter().map(|plan| async move {
        match &plan.error {
            Some(_) => Ok(()),
            None => run_bootstrap(cmd, &plan.dir).await,
        }
    });
    let results = futures::future::join_all(runs).await;
    for (plan, result) in plans.iter_mut().zip(results) {
        if let Err(e) = result {
            plan.error = Some(format!("bootstrap: {e}"));
        }
    }
}

/// Launches every plan without an error in one tmux call, records their
/// sessions, then boots, clears and wakes them together ([`boot::drive`]).
/// Failures end up in each worker's `error`, never aborting the others.
#[allow(clippy::too_many_arguments)]
async fn launch(
    ctx: &Mutex<Ctx>,
    on: &Host,
    tmux: &Tmux,
    req: &SpawnRequest,
    argv: &[String],
    root: &std::path::Path,
    plans: Vec<Plan>,
    note: &(dyn Fn(String) + Sync),
) -> Result<Vec<SpawnedWorker>> {
    let mut workers: Vec<SpawnedWorker> = plans
        .iter()
        .map(|plan| SpawnedWorker {
            id: plan.id.clone(),
            pane: None,
            worktree: plan.worktree.clone(),
            state: None,
            dialogs_cleared: Vec::new(),
            mcp_connected: false,
            woken: false,
            error: plan.error.clone(),
        })
        .collect();
    let go: Vec<usize> = (0..plans.len())
        .filter(|&i| plans[i].error.is_none())
        .collect();
    let bus = with_ctx(ctx, |c| Ok(c.paths.url.clone()))?;
    let envs: Vec<Vec<(String, String)>> = go
        .iter()
        .map(|&i| session_env(req, root, bus.as_ref(), &plans[i].id))
        .collect();
    let specs: Vec<NewSession<'_>> = go
        .iter()
        .zip(&envs)
        .map(|(&i, env)| NewSession {
            name: &plans[i].id,
            dir: &plans[i].dir,
            width: PANE_SIZE.0,
            height: PANE_SIZE.1,
            env,
            argv,
        })
        .collect();
    let panes = match on {
        Host::Local => tmux.new_sessions(&specs).await,
        Host::Remote { .. } => launch_remote(on, &specs).await?,
    };
    let deadline = Instant::now() + Duration::from_secs(req.ready_timeout_secs as u64);
    let mut boots = Vec::new();
    let mut booted = Vec::new();
    for (&i, pane) in go.iter().zip(panes) {
        match pane {
            Ok(pane) => {
                note(format!("{}: launched in {}", plans[i].id, pane.pane));
                workers[i].pane = Some(pane.pane.clone());
                let target = super::host::target(on.clone(), tmux, &plans[i].id, pane);
                let wake = req.wake.then(|| wake_prompt(&plans[i].id));
                boots.push(Boot::new(target, deadline, wake));
                booted.push(i);
            }
            Err(e) => workers[i].error = Some(format!("tmux: {e}")),
        }
    }
    record_sessions(ctx, on, req, argv, &plans, &booted, &boots)?;
    let ends: Vec<BootEnd> = match on {
        Host::Local => {
            boot::drive(Some(ctx), tmux, &mut boots, req, note).await;
            boots
                .into_iter()
                .map(|b| BootEnd {
                    state: b.state,
                    cleared: b.cleared,
                    mcp_connected: b.mcp_connected,
                    woken: b.woken,
                    error: b.error.map(|e| e.message),
                })
                .collect()
        }
        Host::Remote { .. } => boot_remote(on, root, bus.as_ref(), req, boots).await,
    };
    for (i, boot) in booted.into_iter().zip(ends) {
        let w = &mut workers[i];
        w.state = boot.state;
        w.dialogs_cleared = boot.cleared;
        w.mcp_connected = boot.mcp_connected;
        w.woken = boot.woken == Some(true);
        w.error = match (boot.error, w.state) {
            (Some(e), _) => Some(e),
            (None, _) if boot.woken == Some(false) => {
                Some("wake typed but not seen submitted".to_owned())
            }
            (None, Some(PaneState::Ready | PaneState::Running) | None) => None,
            (None, Some(other)) => Some(format!(
                "left on the {} screen for you: check it with intercomm_scan, answer with intercomm_approve",
                other.as_str()
            )),
        };
    }
    Ok(workers)
}

/// How one worker's boot ended, on whichever host.
pub(super) struct BootEnd {
    pub state: Option<PaneState>,
    pub cleared: Vec<PaneState>,
    pub mcp_connected: bool,
    pub woken: Option<bool>,
    pub error: Option<String>,
}

/// Starts the sessions of `specs` on a remote host in one request.
pub(super) async fn launch_remote(
    on: &Host,
    specs: &[NewSession<'_>],
) -> Result<Vec<std::result::Result<crate::tmux::PaneInfo, crate::tmux::TmuxError>>> {
    let sessions = specs
        .iter()
        .map(|s| LaunchSpec {
            name: s.name.to_owned(),
            dir: s.dir.display().to_string(),
            env: s.env.to_vec(),
            argv: s.argv.to_vec(),
        })
        .collect();
    let launched: crate::host::protocol::Launched = on
        .call(Request::Launch { sessions }, super::host::LOOK_TIMEOUT)
        .await?;
    Ok(launched
        .into_iter()
        .map(|r| {
            r.map_err(|stderr| crate::tmux::TmuxError::Failed {
                command: "new-session".to_owned(),
                stderr,
            })
        })
        .collect())
}

/// Boots launched workers on their remote host: the same machines as
/// [`boot::drive`], run there by its agent. A host lost meanwhile fails
/// every worker with the reason.
pub(super) async fn boot_remote(
    on: &Host,
    root: &std::path::Path,
    bus: Option<&crate::bus::BusUrl>,
    req: &SpawnRequest,
    boots: Vec<Boot>,
) -> Vec<BootEnd> {
    let count = boots.len();
    let workers = boots
        .into_iter()
        .map(|b| {
            let (target, wake) = b.into_parts();
            BootSpec {
                target: RemotePane {
                    id: target.id,
                    pane: target.pane,
                },
                wake,
            }
        })
        .collect();
    let request = Request::Boot {
        bus_root: root.display().to_string(),
        bus: bus.map(|u| u.as_given().to_owned()),
        perm_mode: req.perm_mode,
        accept_api_key: req.accept_api_key,
        ready_timeout_secs: req.ready_timeout_secs,
        workers,
    };
    let timeout = Duration::from_secs(req.ready_timeout_secs as u64) + super::host::MARGIN;
    match on.call::<Vec<Booted>>(request, timeout).await {
        Ok(ends) => ends
            .into_iter()
            .map(|b| BootEnd {
                state: b.state,
                cleared: b.cleared,
                mcp_connected: b.mcp_connected,
                woken: b.woken,
                error: b.error.map(|e| e.message),
            })
            .collect(),
        Err(e) => (0..count)
            .map(|_| BootEnd {
                state: None,
                cleared: Vec::new(),
                mcp_connected: false,
                woken: None,
                error: Some(format!("boot: {}", e.message)),
            })
            .collect(),
    }
}

/// The environment of a worker's session: the bus root, the PostgreSQL bus
/// URL when there is one, and its id (and IS_SANDBOX, which Claude Code
/// wants for bypassPermissions as root; and the master's
/// INTERCOMM_PERMISSION_WAIT, which the worker's hook reads).
fn session_env(
    req: &SpawnRequest,
    root: &std::path::Path,
    bus: Option<&crate::bus::BusUrl>,
    id: &str,
) -> Vec<(String, String)> {
    let mut env = vec![
        (crate::env::DB_ROOT.to_owned(), root.display().to_string()),
        (crate::env::WORKER_ID.to_owned(), id.to_owned()),
    ];
    if let Some(url) = bus {
        env.push((crate::env::BUS.to_owned(), url.as_given().to_owned()));
    }
    if req.perm_mode == PermMode::BypassPermissions
        && let Some(v) = crate::env::get("IS_SANDBOX")
    {
        env.push(("IS_SANDBOX".to_owned(), v));
    }
    if let Some(v) = crate::env::get(crate::hook::permission::WAIT_ENV) {
        env.push((crate::hook::permission::WAIT_ENV.to_owned(), v));
    }
    env
}

/// Records the launched sessions on the bus, in one locked section. Mail to
/// a worker counts from now: a reused name inherits nothing (B8).
fn record_sessions(
    ctx: &Mutex<Ctx>,
    on: &Host,
    req: &SpawnRequest,
    argv: &[String],
    plans: &[Plan],
    booted: &[usize],
    boots: &[Boot],
) -> Result<()> {
    with_ctx(ctx, |c| {
        let conn = c.bus()?.conn();
        let last = messages::last_seq(conn).map_err(db)?;
        for (&i, boot) in booted.iter().zip(boots) {
            let pane = &boot.target.pane;
            messages::set_cursor(conn, &plans[i].id, last).map_err(db)?;
            crate::bus::hosts::set_session_host(conn, &plans[i].id, on.name()).map_err(db)?;
            sessions::put(
                conn,
                &SessionRow {
                    name: plans[i].id.clone(),
                    tmux_session_id: pane.session_id.clone(),
                    pane: pane.pane.clone(),
                    tmux_socket: pane.socket.clone(),
                    worktree: plans[i].worktree.clone().unwrap_or_default(),
                    perm_mode: req.perm_mode.as_str().to_owned(),
                    argv: argv.to_vec(),
                    spawned_at_ms: clock::now_ms(),
                    ended_at_ms: None,
                },
            )
            .map_err(db)?;
        }
        Ok(())
    })
}

/// `intercomm mcp` calls this when its client first lists its tools (the
/// client is connected and can offer them to the model): in a spawned worker
/// (INTERCOMM_WORKER_ID set) it records that on the worker's live session
/// row, which spawn waits for before ringing it. Only an existing bus
/// is opened (S4); no bus, no row, or a failure is logged and ignored, so
/// the handshake never fails because of it.
pub fn note_mcp_connected(ctx: &Mutex<Ctx>) {
    let Some(id) = crate::env::get(crate::env::WORKER_ID) else {
        return;
    };
    let marked = with_ctx(ctx, |c| match c.existing_bus()? {
        Some(bus) => sessions::mark_mcp_connected(bus.conn(), &id, clock::now_ms()).map_err(db),
        None => Ok(false),
    });
    match marked {
        Ok(true) => tracing::debug!(target: "mcp", id, "recorded the MCP connection for spawn"),
        Ok(false) => {
            tracing::debug!(target: "mcp", id, "no live spawned session to record the handshake on")
        }
        Err(e) => {
            tracing::warn!(target: "mcp", id, "cannot record the MCP connection: {}", e.message)
        }
    }
}

/// The error of a worker whose intercomm MCP server never connected.
pub(super) fn mcp_missing(ready_timeout_secs: i64) -> String {
    format!(
        "its intercomm MCP server did not connect within {ready_timeout_secs} s, so it was not woken \
         (the wake prompt asks it to call intercomm tools): check that the worker's Claude Code has \
         intercomm in its MCP config (.mcp.json or the plugin) and that the server was approved"
    )
}

/// What a boot screen calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum BootAction {
    /// Booted (ready or running), or stopped at a screen that needs a
    /// person (onboarding, an unrequested dialog, a permission prompt).
    Stop(PaneState),
    /// A start-up dialog to answer with this choice.
    Answer(Choice),
    /// Still booting: look again.
    Wait,
}

/// Decides what to do with a boot screen. Errors: Claude exited.
pub(super) fn boot_action(
    screen: &crate::screen::Screen,
    req: &SpawnRequest,
) -> Result<BootAction> {
    let choice = match screen.state {
        PaneState::Ready | PaneState::Running => return Ok(BootAction::Stop(screen.state)),
        PaneState::Trust | PaneState::McpApproval => Choice::Yes,
        PaneState::Bypass if req.perm_mode == PermMode::BypassPermissions => Choice::Yes,
        PaneState::ApiKey if req.accept_api_key => Choice::Yes,
        PaneState::Exited => {
            return Err(Error::user(
                "claude_exited",
                "Claude exited during start-up (the pane shows a shell)",
            ));
        }
        PaneState::Unknown => return Ok(BootAction::Wait),
        other => return Ok(BootAction::Stop(other)),
    };
    Ok(match dialog::option_for(screen, choice) {
        Some(_) => BootAction::Answer(choice),
        None => BootAction::Stop(screen.state),
    })
}

/// Runs `sh -c <cmd>` in `dir`; the error carries the exit status and the
/// end of its output.
async fn run_bootstrap(cmd: &str, dir: &std::path::Path) -> std::result::Result<(), String> {
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(BOOTSTRAP_TIMEOUT, child)
        .await
        .map_err(|_| format!("timed out after {} s", BOOTSTRAP_TIMEOUT.as_secs()))?
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        return Ok(());
    }
    let mut tail = String::from_utf8_lossy(&out.stderr).into_owned();
    if tail.trim().is_empty() {
        tail = String::from_utf8_lossy(&out.stdout).into_owned();
    }
    let tail: String = tail
        .trim()
        .chars()
        .rev()
        .take(300)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    Err(format!("`{cmd}` failed ({}): {tail}", out.status))
}
