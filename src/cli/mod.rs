//! The command line: clap definitions and thin adapters over [`crate::ops`].
//!
//! The CLI is the operator's (and scripts') view of the bus. It acts *as* an
//! existing instance (`--from`, `--id`) with the same validation as the MCP
//! tools (B15): unknown ids and types are errors with exit code 1 and one
//! line on stderr.
//!
//! Exit codes: 0 success, 1 a user error (bad input, refused), 2 usage
//! (clap), 255 an internal error (the bus or the machine).

mod doctor;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::bus::instances::Role;
use crate::bus::messages::MessageType;
use crate::error::{Error, Result};
use crate::location::{self, BusPaths};
use crate::ops::identity::{self, RegisterRequest};
use crate::ops::{Ctx, Identity, PaneRef, messaging};
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
    match dispatch(cli) {
        Ok(code) => code,
        Err(err) => output::error(&err, json),
    }
}

fn paths(root: Option<PathBuf>) -> Result<BusPaths> {
    let cwd = std::env::current_dir()
        .map_err(|e| Error::internal("cwd", format!("cannot read the current directory: {e}")))?;
    Ok(match root {
        Some(r) => BusPaths::new(&r, &cwd),
        None => location::discover(&cwd),
    })
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
            let outcome = identity::register(
                &mut ctx,
                RegisterRequest {
                    role,
                    force: args.force,
                    requested_id: args.id,
                },
            )?;
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
            let path = ctx.bus()?.path().display().to_string();
            output::outcome(&output::Initialized { bus: path }, json)
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

fn serve(root: Option<PathBuf>) -> Result<ExitCode> {
    let ctx = Ctx::new(paths(root)?, ProcessId::current(), PaneRef::from_env());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::internal("runtime", format!("cannot start the runtime: {e}")))?;
    runtime
        .block_on(crate::mcp::serve_stdio(ctx))
        .map_err(|e| Error::internal("mcp", format!("MCP server failed: {e}")))?;
    Ok(ExitCode::SUCCESS)
}
