//! Spawning workers: each in its own tmux session (and worktree), booted in
//! parallel, boot dialogs cleared by label, then woken.
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

use super::dialog::{self, Choice};
use super::{Target, master, wake, with_ctx};
use crate::bus::sessions::{self, SessionRow};
use crate::bus::worktrees::{self, WorktreeRow, WorktreeStatus};
use crate::bus::{instances, messages};
use crate::clock;
use crate::error::{Error, Result};
use crate::git::Repo;
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
    names::check_id("prefix", &req.prefix)?;
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

    let tmux = with_ctx(ctx, |c| Ok(c.tmux.clone()))?;
    let taken_in_tmux: Vec<String> = tmux
        .list_panes()
        .await?
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
        if req.worktrees {
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

    let launch = Launch {
        ctx,
        tmux: &tmux,
        req: &req,
        argv: &argv,
        bootstrap,
        root: &paths.root,
        note: &note,
    };
    let boots = plans.into_iter().map(|plan| launch.boot(plan));
    let workers = futures::future::join_all(boots).await;
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
        let added = repo.add_worktree(name, path, base, None)?;
        let now = clock::now_ms();
        worktrees::put_new(
            c.bus()?.conn(),
            &WorktreeRow {
                worker_id: name.to_owned(),
                branch: String::new(),
                head_commit: added.commit,
                path: path.display().to_string(),
                base: base.to_owned(),
                status: WorktreeStatus::Active,
                created_at_ms: now,
                updated_at_ms: now,
            },
        )
        .map_err(db)
    })
}

/// What every worker of one spawn shares.
struct Launch<'a> {
    ctx: &'a Mutex<Ctx>,
    tmux: &'a Tmux,
    req: &'a SpawnRequest,
    /// Claude's argv, `--permission-mode` included.
    argv: &'a [String],
    bootstrap: Option<&'a str>,
    root: &'a std::path::Path,
    note: &'a (dyn Fn(String) + Sync),
}

impl Launch<'_> {
    /// Bootstraps, launches, boots and wakes one worker; failures end up in
    /// the worker's `error`, never aborting the others.
    async fn boot(&self, plan: Plan) -> SpawnedWorker {
        let Launch {
            ctx,
            tmux,
            req,
            argv,
            bootstrap,
            root,
            note,
        } = *self;
        let mut worker = SpawnedWorker {
            id: plan.id.clone(),
            pane: None,
            worktree: plan.worktree.clone(),
            state: None,
            dialogs_cleared: Vec::new(),
            mcp_connected: false,
            woken: false,
            error: plan.error.clone(),
        };
        if worker.error.is_some() {
            return worker;
        }
        if let Some(cmd) = bootstrap
            && let Err(e) = run_bootstrap(cmd, &plan.dir).await
        {
            worker.error = Some(format!("bootstrap: {e}"));
            return worker;
        }
        let mut env = vec![
            (crate::env::DB_ROOT.to_owned(), root.display().to_string()),
            (crate::env::WORKER_ID.to_owned(), plan.id.clone()),
        ];
        if req.perm_mode == PermMode::BypassPermissions
            && let Some(v) = crate::env::get("IS_SANDBOX")
        {
            env.push(("IS_SANDBOX".to_owned(), v));
        }
        let spec = NewSession {
            name: &plan.id,
            dir: &plan.dir,
            width: PANE_SIZE.0,
            height: PANE_SIZE.1,
            env: &env,
            argv,
        };
        let pane = match tmux.new_session(&spec).await {
            Ok(p) => p,
            Err(e) => {
                worker.error = Some(format!("tmux: {e}"));
                return worker;
            }
        };
        worker.pane = Some(pane.pane.clone());
        note(format!("{}: launched in {}", plan.id, pane.pane));
        let recorded = with_ctx(ctx, |c| {
            let conn = c.bus()?.conn();
            // Mail to the worker counts from now: a reused name inherits nothing (B8).
            let last = messages::last_seq(conn).map_err(db)?;
            messages::set_cursor(conn, &plan.id, last).map_err(db)?;
            sessions::put(
                conn,
                &SessionRow {
                    name: plan.id.clone(),
                    tmux_session_id: pane.session_id.clone(),
                    pane: pane.pane.clone(),
                    tmux_socket: pane.socket.clone(),
                    worktree: plan.worktree.clone().unwrap_or_default(),
                    perm_mode: req.perm_mode.as_str().to_owned(),
                    argv: argv.to_vec(),
                    spawned_at_ms: clock::now_ms(),
                    ended_at_ms: None,
                },
            )
            .map_err(db)
        });
        if let Err(e) = recorded {
            worker.error = Some(format!("bus: {}", e.message));
            return worker;
        }
        let target = Target {
            id: plan.id.clone(),
            tmux: tmux.at(&pane.socket),
            pane,
        };
        let deadline = Instant::now() + Duration::from_secs(req.ready_timeout_secs as u64);
        match clear_boot_dialogs(&target, req, deadline, &mut worker.dialogs_cleared, note).await {
            Ok(state) => worker.state = Some(state),
            Err(e) => {
                worker.error = Some(e.message);
                return worker;
            }
        }
        if worker.state == Some(PaneState::Ready) && req.wake {
            match wait_mcp_connected(ctx, &plan.id, deadline).await {
                Ok(true) => worker.mcp_connected = true,
                Ok(false) => {
                    worker.error = Some(mcp_missing(req.ready_timeout_secs));
                    return worker;
                }
                Err(e) => {
                    worker.error = Some(format!("bus: {}", e.message));
                    return worker;
                }
            }
        }
        match worker.state {
            Some(PaneState::Ready) if req.wake => {
                match wake::ring(&target, &wake_prompt(&plan.id)).await {
                    Ok(rung) => {
                        worker.woken = rung.delivered;
                        if !rung.delivered {
                            worker.error = Some("wake typed but not seen submitted".to_owned());
                        }
                        note(format!("{}: woken", plan.id));
                    }
                    Err(e) => worker.error = Some(format!("wake: {}", e.message)),
                }
            }
            Some(PaneState::Ready | PaneState::Running) => {}
            Some(other) => {
                worker.error = Some(format!(
                    "left on the {} screen for you: check it with intercomm_scan, answer with intercomm_approve",
                    other.as_str()
                ))
            }
            None => {}
        }
        worker
    }
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

/// Waits until the worker `id`'s own `intercomm mcp` has recorded that its
/// client listed its tools ([`note_mcp_connected`]), or `deadline` passes (false). Reads
/// the row only when another process committed (`data_version`), with a
/// backoff from 10 ms to 500 ms.
pub(super) async fn wait_mcp_connected(
    ctx: &Mutex<Ctx>,
    id: &str,
    deadline: Instant,
) -> Result<bool> {
    let mut pause = Duration::from_millis(10);
    let mut seen_version = None;
    loop {
        let connected = with_ctx(ctx, |c| {
            let Some(bus) = c.existing_bus()? else {
                return Ok(false);
            };
            let version = messages::data_version(bus.conn()).map_err(db)?;
            if seen_version == Some(version) {
                return Ok(false);
            }
            seen_version = Some(version);
            Ok(sessions::mcp_connected_at(bus.conn(), id)
                .map_err(db)?
                .is_some())
        })?;
        let left = deadline.saturating_duration_since(Instant::now());
        if connected || left.is_zero() {
            return Ok(connected);
        }
        tokio::time::sleep(pause.min(left)).await;
        pause = (pause * 3 / 2).min(Duration::from_millis(500));
    }
}

/// The error of a worker whose intercomm MCP server never connected.
fn mcp_missing(ready_timeout_secs: i64) -> String {
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

/// Waits for the pane to boot, answering trust, MCP approval and (when
/// asked for) bypass and API-key dialogs, each recorded once in `cleared`
/// when it went. Stops at anything else that needs a person: onboarding, an
/// unrequested dialog, a tool permission prompt; and at a dialog that did
/// not go by `deadline`.
pub(super) async fn clear_boot_dialogs(
    target: &Target,
    req: &SpawnRequest,
    deadline: Instant,
    cleared: &mut Vec<PaneState>,
    note: &(dyn Fn(String) + Sync),
) -> Result<PaneState> {
    loop {
        let screen = target.look().await?;
        match boot_action(&screen, req)? {
            BootAction::Stop(state) => return Ok(state),
            BootAction::Answer(choice) => {
                let Some(option) = dialog::option_for(&screen, choice).cloned() else {
                    return Ok(screen.state);
                };
                let remaining = deadline.saturating_duration_since(Instant::now());
                let out = dialog::answer(target, &screen, &option, remaining).await?;
                if out.answered {
                    if !cleared.contains(&screen.state) {
                        cleared.push(screen.state);
                    }
                    note(format!(
                        "{}: {} answered \"{}\"",
                        target.id,
                        screen.state.as_str(),
                        option.label
                    ));
                } else if dialog::DialogKey::of(&screen).shows(&out.screen) {
                    // Still up at the deadline: left for the master.
                    return Ok(screen.state);
                }
                continue;
            }
            BootAction::Wait => {}
        }
        if Instant::now() >= deadline {
            return Ok(screen.state);
        }
        tokio::time::sleep(super::POLL).await;
    }
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
