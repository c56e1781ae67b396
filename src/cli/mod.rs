//! The command line: clap definitions and thin adapters over [`crate::ops`].
//!
//! The CLI is the operator's (and scripts') view of the bus. It acts *as* an
//! existing instance (`--from`, `--id`) with the same validation as the MCP
//! tools (B15): unknown ids and types are errors with exit code 1 and one
//! line on stderr.
//!
//! Exit codes: 0 success, 1 a user error (bad input, refused), 2 usage
//! (clap), 255 an internal error (the bus or the machine).

mod claude_setup;
mod doctor;
mod host;
mod output;
mod tool_names;
mod view;
mod work;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use clap::{Args, Parser, Subcommand};

use crate::bus::instances::Role;
use crate::bus::messages::MessageType;
use crate::error::{Error, Result};
use crate::fleet::dialog::Choice;
use crate::fleet::spawn::{self, PermMode, SpawnRequest};
use crate::fleet::{ask, respawn, scan, teardown, wake};
use crate::location::{self, BusPaths};
use crate::ops::identity::{self, RegisterRequest};
use crate::ops::{Ctx, Identity, PaneRef, messaging, threads};
use crate::process::ProcessId;

/// Run a fleet of Claude Code instances over one SQLite bus.
#[derive(Debug, Parser)]
#[command(name = "intercomm", version, about, long_about = None)]
#[command(after_help = "Exit codes: 0 ok, 1 refused or bad input, 2 usage, 255 internal error.")]
pub struct Cli {
    /// Project root holding the bus (default: $INTERCOMM_DB_ROOT, else the
    /// main working tree of the git repository, else the current directory).
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// A PostgreSQL bus, `postgres://USER@HOST[:PORT]/DB[?schema=NAME]`,
    /// in place of the SQLite file under the root (default:
    /// $INTERCOMM_BUS; unset means the file).
    #[arg(long, global = true, value_name = "URL")]
    pub bus: Option<String>,
    /// Print results as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve MCP on stdin/stdout (what Claude Code launches).
    Mcp,
    /// List instances on the bus.
    Status,
    /// Register an instance that lives as long as the calling shell or script.
    Register(RegisterArgs),
    /// Send a message as an instance.
    Send(SendArgs),
    /// Send a message to every instance.
    Broadcast(BroadcastArgs),
    /// Show an instance's unread messages.
    Read(ReadArgs),
    /// Delete old messages (as the master), sparing unread ones.
    Clear(ClearArgs),
    /// Create the bus now (it is otherwise created by the first registration).
    Init,
    /// Check tmux, git, claude and the bus, and say what to fix.
    Doctor,
    /// Start Claude Code workers in tmux (as the master); exits 1 when any
    /// worker failed.
    Spawn(SpawnArgs),
    /// Show every worker pane's state (as the master).
    Scan(ScanArgs),
    /// Answer the dialog on a worker's pane (as the master).
    Approve(ApproveArgs),
    /// Ring a worker's pane with a short prompt (as the master).
    Wake(WakeArgs),
    /// Stop the workers this bus spawned (as the master).
    Teardown(TeardownArgs),
    /// Classify a captured Claude Code screen (FILE, or - for stdin) and print it as JSON.
    Classify(ClassifyArgs),
    /// Handle a Claude Code hook (JSON on stdin); always exits 0.
    Hook(HookArgs),
    /// Answer a message (by its id) as an instance.
    Reply(ReplyArgs),
    /// Ask an instance a question and wait for its reply.
    Ask(AskArgs),
    /// Set what an instance is working on.
    Summary(SummaryArgs),
    /// Restart a worker whose Claude is gone (as the master).
    Respawn(RespawnArgs),
    /// Send a worker a task contract and ring its pane (as the master).
    Assign(work::AssignArgs),
    /// Manage the workers' git worktrees: add, list, status, remove.
    Worktree(work::WorktreeArgs),
    /// A live full-screen view of the fleet: states, decisions, messages, branches, cost.
    Top(view::TopArgs),
    /// Print the fleet's events as JSON lines (state changes, messages, decisions, spawns, exits).
    Watch(view::WatchArgs),
    /// Show a worker's changes against its base in the pager.
    Diff(view::DiffArgs),
    /// Attach this terminal to a worker's tmux pane (detach to come back).
    Attach(view::AttachArgs),
    /// List workers' permission requests and the decisions made on them.
    Decisions(DecisionsArgs),
    /// Manage the hosts workers can run on over SSH: add, list, remove.
    Host(host::HostArgs),
    /// Serve a master's requests for this host over SSH (run by the master's ssh).
    HostAgent(host::HostAgentArgs),
}

#[derive(Debug, Args)]
pub struct DecisionsArgs {
    /// Only this worker's requests.
    #[arg(long)]
    pub worker: Option<String>,
    /// How many, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
}

#[derive(Debug, Args)]
pub struct ReplyArgs {
    /// Sender: a registered instance id.
    #[arg(long, value_name = "ID")]
    pub from: String,
    /// Message type of the reply.
    #[arg(long = "type", default_value = "answer", value_name = "TYPE")]
    pub kind: String,
    /// The id of the message answered.
    pub message_id: String,
    /// The answer (words are joined with spaces).
    #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
    pub message: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AskArgs {
    /// Sender: a registered instance id.
    #[arg(long, value_name = "ID")]
    pub from: String,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 90)]
    pub wait: i64,
    /// Who to ask.
    pub to: String,
    /// The question (words are joined with spaces).
    #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
    pub question: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SummaryArgs {
    /// The instance: a registered id.
    #[arg(long, value_name = "ID")]
    pub from: String,
    /// The summary (words are joined with spaces).
    #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
    pub text: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RespawnArgs {
    /// The worker's id.
    pub worker: String,
    #[command(flatten)]
    pub master: AsMaster,
}

#[derive(Debug, Args)]
pub struct HookArgs {
    /// The event, as Claude Code names it: SessionStart, UserPromptSubmit,
    /// PreToolUse, PostToolUse, PermissionRequest, Notification, Stop, SessionEnd.
    pub event: String,
}

/// `--from`: the instance a fleet command acts as; must be the master.
#[derive(Debug, Args)]
pub struct AsMaster {
    /// Acting instance; must be the registered master.
    #[arg(long, value_name = "ID", default_value = "master")]
    pub from: String,
}

#[derive(Debug, Args)]
pub struct SpawnArgs {
    /// How many workers.
    pub count: i64,
    /// Session name prefix: workers are PREFIX-N.
    #[arg(long, default_value = "worker")]
    pub prefix: String,
    /// Claude Code permission mode: acceptEdits, auto, bypassPermissions, default, dontAsk, plan.
    #[arg(long, default_value = "acceptEdits")]
    pub perm_mode: String,
    /// The Claude Code command, split into words like a shell would (never run by one).
    #[arg(long, default_value = "claude")]
    pub claude_cmd: String,
    /// Give each worker its own git worktree.
    #[arg(long)]
    pub worktrees: bool,
    /// Commit-ish the worktrees start from (`main`: in a repository
    /// without `main`, its current branch).
    #[arg(long, default_value = crate::git::DEFAULT_BASE)]
    pub worktree_base: String,
    /// Command run with `sh -c` in each worktree before Claude starts.
    #[arg(long)]
    pub bootstrap: Option<String>,
    /// Seconds to wait for each worker to boot.
    #[arg(long, default_value_t = 20)]
    pub ready_timeout: i64,
    /// Do not send the start-up prompt.
    #[arg(long)]
    pub no_wake: bool,
    /// Answer yes to Claude's custom API key dialog.
    #[arg(long)]
    pub accept_api_key: bool,
    /// Start them on this host (from `intercomm host add`; default: this machine).
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    #[command(flatten)]
    pub master: AsMaster,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Session name prefix of the fleet.
    #[arg(long, default_value = "worker")]
    pub prefix: String,
    #[command(flatten)]
    pub master: AsMaster,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The worker's id.
    pub worker: String,
    /// yes, always or no.
    #[arg(long, default_value = "yes")]
    pub choice: String,
    /// Seconds to wait for the dialog to clear.
    #[arg(long, default_value_t = 5)]
    pub timeout: i64,
    /// The permission request to answer (default: the worker's oldest).
    #[arg(long)]
    pub request: Option<String>,
    /// With --choice no: why, told to the worker's model.
    #[arg(long)]
    pub reason: Option<String>,
    #[command(flatten)]
    pub master: AsMaster,
}

#[derive(Debug, Args)]
pub struct WakeArgs {
    /// The worker's id.
    pub worker: String,
    /// Short text to type at its prompt (words are joined with spaces).
    #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
    pub message: Vec<String>,
    #[command(flatten)]
    pub master: AsMaster,
}

#[derive(Debug, Args)]
pub struct TeardownArgs {
    /// Session name prefix of the fleet.
    #[arg(long, default_value = "worker")]
    pub prefix: String,
    /// Also remove the workers' worktrees.
    #[arg(long)]
    pub worktrees: bool,
    /// Remove worktrees even with uncommitted changes.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub master: AsMaster,
}

#[derive(Debug, Args)]
pub struct ClassifyArgs {
    /// A file holding `tmux capture-pane -p` output; - or nothing for stdin.
    pub file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// `master` or `worker`.
    #[arg(value_enum, default_value = "worker")]
    pub role: RoleArg,
    /// Take the master id even if its holder is alive.
    #[arg(long)]
    pub force: bool,
    /// Register under this id instead of allocating `worker-N`.
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
}

/// Role names on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    Master,
    Worker,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// Sender: a registered instance id.
    #[arg(long, value_name = "ID")]
    pub from: String,
    /// Message type: task, status, question, answer, announce or done.
    #[arg(long = "type", default_value = "status", value_name = "TYPE")]
    pub kind: String,
    /// Recipient instance id.
    pub to: String,
    /// Message text (words are joined with spaces).
    #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
    pub message: Vec<String>,
}

#[derive(Debug, Args)]
pub struct BroadcastArgs {
    /// Sender: a registered instance id.
    #[arg(long, value_name = "ID")]
    pub from: String,
    /// Message type: task, status, question, answer, announce or done.
    #[arg(long = "type", default_value = "announce", value_name = "TYPE")]
    pub kind: String,
    /// Message text (words are joined with spaces).
    #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
    pub message: Vec<String>,
}

/// Parses `--type` here rather than in clap, so that a bad value is a user
/// error (exit 1, one line) like every other refusal.
fn message_type(value: &str) -> Result<MessageType> {
    MessageType::parse(value).ok_or_else(|| {
        let names: Vec<&str> = MessageType::ALL.iter().map(|t| t.as_str()).collect();
        Error::invalid(
            "--type",
            format!("unknown type {value:?}; use one of {}", names.join(", ")),
        )
    })
}

#[derive(Debug, Args)]
pub struct ReadArgs {
    /// Whose messages: a registered instance id.
    #[arg(long, value_name = "ID")]
    pub id: String,
    /// From the start of the bus, not from the cursor.
    #[arg(long)]
    pub all: bool,
    /// Move the instance's cursor past what is shown. Refused while another
    /// live process holds the id.
    #[arg(long)]
    pub mark_read: bool,
    /// Most messages to show.
    #[arg(long, default_value_t = messaging::READ_LIMIT_DEFAULT)]
    pub limit: i64,
}

#[derive(Debug, Args)]
pub struct ClearArgs {
    /// Acting instance; must be the master.
    #[arg(long, value_name = "ID", default_value = "master")]
    pub from: String,
    /// How many of the newest messages to keep.
    #[arg(long, default_value_t = 100)]
    pub keep: i64,
}

/// Runs a parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let json = cli.json;
    if let Some(url) = &cli.bus {
        // Read by `paths`, so every command, the MCP server and the hooks
        // take the flag as they take $INTERCOMM_BUS.
        let _ = BUS_FLAG.set(url.clone());
    }
    match dispatch(cli) {
        Ok(code) => code,
        Err(err) => output::error(&err, json),
    }
}

/// The `--bus` flag of this process, if given (it wins over $INTERCOMM_BUS).
static BUS_FLAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn paths(root: Option<PathBuf>) -> Result<BusPaths> {
    let cwd = std::env::current_dir()
        .map_err(|e| Error::internal("cwd", format!("cannot read the current directory: {e}")))?;
    let paths = match root {
        Some(r) => {
            let paths = BusPaths::new(&r, &cwd);
            check_root(&paths.root)?;
            paths
        }
        None => location::discover(&cwd),
    };
    Ok(paths.with_bus(bus_url()?))
}

/// The PostgreSQL bus asked for by `--bus` or $INTERCOMM_BUS, if any.
fn bus_url() -> Result<Option<crate::bus::BusUrl>> {
    let (given, name) = match BUS_FLAG.get() {
        Some(url) => (Some(url.clone()), "--bus"),
        None => (crate::env::get(crate::env::BUS), crate::env::BUS),
    };
    given
        .map(|url| {
            crate::bus::BusUrl::parse(&url).map_err(|problem| {
                Error::invalid(name, problem)
                    .with_hint("unset it to use the SQLite file under the project root")
            })
        })
        .transpose()
}

/// `--root` must name an existing folder: a typo would otherwise start a
/// bus nowhere anyone else looks.
fn check_root(root: &std::path::Path) -> Result<()> {
    let problem = match std::fs::metadata(root) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => "is not a directory",
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "does not exist",
        Err(_) => "cannot be read",
    };
    Err(Error::user(
        "bad_root",
        format!("--root {} {problem}", root.display()),
    )
    .with_hint("pass the project's folder (the main checkout of its git repository), or leave --root out inside the project"))
}

/// A context for a one-shot command: the calling shell or script is the
/// process that a registration lives as long as.
fn cli_ctx(root: Option<PathBuf>) -> Result<Ctx> {
    let process = ProcessId::parent().unwrap_or_else(ProcessId::current);
    Ok(Ctx::new(paths(root)?, process, PaneRef::from_env()))
}

fn acting_as(ctx: &mut Ctx, id: &str) -> Result<()> {
    crate::names::check_id("--from/--id", id)?;
    ctx.identity = Some(Identity::Operator { id: id.to_owned() });
    Ok(())
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    let json = cli.json;
    match cli.command {
        Command::Mcp => serve(cli.root),
        Command::Status => {
            let mut ctx = cli_ctx(cli.root)?;
            output::outcome(&identity::status(&mut ctx)?, json)
        }
        Command::Register(args) => {
            let mut ctx = cli_ctx(cli.root)?;
            let role = match args.role {
                RoleArg::Master => Role::Master,
                RoleArg::Worker => Role::Worker,
            };
            let mut outcome = identity::register(
                &mut ctx,
                RegisterRequest {
                    role,
                    force: args.force,
                    requested_id: args.id,
                },
            )?;
            // A displaced master is told at once, as intercomm_register does.
            if let Some(pane) = outcome.displaced_master_pane.clone() {
                let ctx = std::sync::Mutex::new(ctx);
                outcome.displaced_master_told = Some(block_on(
                    crate::fleet::takeover::tell_displaced(&ctx, &pane),
                )?);
            }
            output::outcome(&outcome, json)
        }
        Command::Send(args) => {
            let mut ctx = cli_ctx(cli.root)?;
            acting_as(&mut ctx, &args.from)?;
            let text = args.message.join(" ");
            output::outcome(
                &messaging::send(&mut ctx, &args.to, &text, message_type(&args.kind)?)?,
                json,
            )
        }
        Command::Broadcast(args) => {
            let mut ctx = cli_ctx(cli.root)?;
            acting_as(&mut ctx, &args.from)?;
            let text = args.message.join(" ");
            output::outcome(
                &messaging::broadcast(&mut ctx, &text, message_type(&args.kind)?)?,
                json,
            )
        }
        Command::Read(args) => {
            let mut ctx = cli_ctx(cli.root)?;
            acting_as(&mut ctx, &args.id)?;
            output::outcome(
                &messaging::read(&mut ctx, args.all, args.limit, args.mark_read)?,
                json,
            )
        }
        Command::Clear(args) => {
            let mut ctx = cli_ctx(cli.root)?;
            acting_as(&mut ctx, &args.from)?;
            output::outcome(&messaging::clear(&mut ctx, args.keep)?, json)
        }
        Command::Init => {
            let mut ctx = cli_ctx(cli.root)?;
            let path = ctx.bus()?.describe();
            output::outcome(&output::Initialized { bus: path }, json)
        }
        Command::Spawn(a) => {
            let perm_mode = enum_arg::<PermMode>("--perm-mode", &a.perm_mode)?;
            let req = SpawnRequest {
                count: a.count,
                prefix: a.prefix,
                perm_mode,
                claude_cmd: a.claude_cmd,
                worktrees: a.worktrees,
                worktree_base: a.worktree_base,
                bootstrap: a.bootstrap,
                ready_timeout_secs: a.ready_timeout,
                wake: !a.no_wake,
                accept_api_key: a.accept_api_key,
                host: a.host,
            };
            let ctx = master_ctx(cli.root, &a.master)?;
            let spawned = block_on(async {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
                let lines = async move {
                    while let Some(line) = rx.recv().await {
                        output::progress(&line);
                    }
                };
                let (spawned, ()) = tokio::join!(spawn::spawn(&ctx, req, Some(tx)), lines);
                spawned
            })??;
            output::outcome(&spawned, json)?;
            let failed = spawned.workers.iter().any(|w| w.error.is_some());
            Ok(if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Scan(a) => {
            let ctx = master_ctx(cli.root, &a.master)?;
            output::outcome(&block_on(scan::scan(&ctx, &a.prefix))??, json)
        }
        Command::Approve(a) => {
            let choice = enum_arg::<Choice>("--choice", &a.choice)?;
            let ctx = master_ctx(cli.root, &a.master)?;
            output::outcome(
                &block_on(scan::approve(
                    &ctx,
                    &a.worker,
                    choice,
                    a.timeout,
                    a.request.as_deref(),
                    a.reason.as_deref(),
                ))??,
                json,
            )
        }
        Command::Wake(a) => {
            let ctx = master_ctx(cli.root, &a.master)?;
            let text = a.message.join(" ");
            output::outcome(&block_on(wake::wake(&ctx, &a.worker, &text))??, json)
        }
        Command::Teardown(a) => {
            let ctx = master_ctx(cli.root, &a.master)?;
            output::outcome(
                &block_on(teardown::teardown(&ctx, &a.prefix, a.worktrees, a.force))??,
                json,
            )
        }
        Command::Classify(a) => {
            let text = match a.file.as_deref() {
                None => read_stdin()?,
                Some(p) if p.as_os_str() == "-" => read_stdin()?,
                Some(p) => std::fs::read_to_string(p).map_err(|e| {
                    Error::user("unreadable", format!("cannot read {}: {e}", p.display()))
                })?,
            };
            output::json_value(&crate::screen::classify(&text))
        }
        Command::Hook(a) => Ok(hook(cli.root, &a.event)),
        Command::Reply(a) => {
            let mut ctx = cli_ctx(cli.root)?;
            acting_as(&mut ctx, &a.from)?;
            let text = a.message.join(" ");
            let kind = message_type(&a.kind)?;
            output::outcome(&threads::reply(&mut ctx, &a.message_id, &text, kind)?, json)
        }
        Command::Ask(a) => {
            let mut ctx = cli_ctx(cli.root)?;
            acting_as(&mut ctx, &a.from)?;
            let ctx = Mutex::new(ctx);
            let question = a.question.join(" ");
            output::outcome(&block_on(ask::ask(&ctx, &a.to, &question, a.wait))??, json)
        }
        Command::Summary(a) => {
            let mut ctx = cli_ctx(cli.root)?;
            acting_as(&mut ctx, &a.from)?;
            output::outcome(&threads::set_summary(&mut ctx, &a.text.join(" "))?, json)
        }
        Command::Respawn(a) => {
            let ctx = master_ctx(cli.root, &a.master)?;
            output::outcome(&block_on(respawn::respawn(&ctx, &a.worker))??, json)
        }
        Command::Assign(a) => work::assign(cli.root, a, json),
        Command::Worktree(a) => work::worktree(cli.root, a, json),
        Command::Top(a) => view::top(cli.root, a),
        Command::Watch(a) => view::watch(cli.root, a),
        Command::Diff(a) => view::diff(cli.root, a),
        Command::Attach(a) => view::attach(cli.root, a),
        Command::Host(a) => host::host(cli.root, a, json),
        Command::HostAgent(a) => host::agent(a),
        Command::Decisions(a) => {
            let mut ctx = cli_ctx(cli.root)?;
            output::outcome(
                &crate::fleet::decide::decisions(&mut ctx, a.worker.as_deref(), a.limit)?,
                json,
            )
        }
        Command::Doctor => {
            let report = doctor::run(&paths(cli.root)?);
            let failed = report.failed();
            output::outcome(&report, json)?;
            Ok(if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

/// A context acting as the master (fleet commands), behind the lock the
/// fleet operations take.
fn master_ctx(root: Option<PathBuf>, who: &AsMaster) -> Result<Mutex<Ctx>> {
    let mut ctx = cli_ctx(root)?;
    acting_as(&mut ctx, &who.from)?;
    Ok(Mutex::new(ctx))
}

/// Parses a flag's value with the same names the MCP tools accept.
fn enum_arg<T: serde::de::DeserializeOwned>(flag: &str, value: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(value.to_owned()))
        .map_err(|e| Error::invalid(flag, format!("{value:?}: {e}")))
}

fn read_stdin() -> Result<String> {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
        .map_err(|e| Error::user("unreadable", format!("cannot read stdin: {e}")))?;
    Ok(text)
}

/// `intercomm hook`: whatever happens, exit 0 so Claude's session goes on
/// (exit 2 only when the Rewake hook wakes its idle session).
fn hook(root: Option<PathBuf>, event: &str) -> ExitCode {
    let Some(event) = crate::hook::Event::parse(event) else {
        output::note(&format!(
            "intercomm hook: unknown event {event:?} (ignored)"
        ));
        return ExitCode::SUCCESS;
    };
    let mut input = String::new();
    let read = std::io::Read::read_to_string(
        &mut std::io::Read::take(std::io::stdin(), 16 << 20),
        &mut input,
    );
    if let Err(e) = read {
        output::note(&format!(
            "intercomm hook: cannot read the payload: {e} (ignored)"
        ));
        return ExitCode::SUCCESS;
    }
    let reply = match paths(root) {
        Ok(paths) => crate::hook::handle(event, &input, &paths, &crate::hook::Caller::from_env()),
        Err(e) => crate::hook::Reply {
            stdout: None,
            stderr: Some(format!("intercomm hook: {e} (ignored)")),
            wake: false,
        },
    };
    if let Some(json) = &reply.stdout {
        output::json_line(json);
    }
    if let Some(line) = &reply.stderr {
        output::note(line);
    }
    if reply.wake {
        // An asyncRewake hook's exit 2 wakes the idle model (src/hook/rewake.rs).
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}

/// Runs a future on a fresh single-threaded runtime.
fn block_on<F: std::future::Future>(future: F) -> Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::internal("runtime", format!("cannot start the runtime: {e}")))?;
    Ok(runtime.block_on(future))
}

fn serve(root: Option<PathBuf>) -> Result<ExitCode> {
    let ctx = Ctx::new(paths(root)?, ProcessId::current(), PaneRef::from_env());
    block_on(crate::mcp::serve_stdio(ctx))?
        .map_err(|e| Error::internal("mcp", format!("MCP server failed: {e}")))?;
    Ok(ExitCode::SUCCESS)
}
