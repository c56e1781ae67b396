//! `intercomm host add|list|remove` and `intercomm host-agent --stdio`:
//! thin adapters over [`crate::host`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::{AsMaster, acting_as, cli_ctx, output};
use crate::error::Result;
use crate::host::records;

#[derive(Debug, Args)]
pub struct HostArgs {
    #[command(subcommand)]
    pub command: HostCommand,
}

#[derive(Debug, Subcommand)]
pub enum HostCommand {
    /// Record a host workers can be spawned on (as the master).
    Add {
        /// Its name on this bus (letters, digits, '-' and '_').
        name: String,
        /// How to reach it: ssh://user@host or ssh://user@host:port.
        url: String,
        #[command(flatten)]
        master: AsMaster,
    },
    /// List the recorded hosts.
    List,
    /// Forget a host (as the master); refused while workers run there.
    Remove {
        /// The host's name.
        name: String,
        #[command(flatten)]
        master: AsMaster,
    },
}

/// Runs `intercomm host …`.
pub fn host(root: Option<PathBuf>, args: HostArgs, json: bool) -> Result<ExitCode> {
    let mut ctx = cli_ctx(root)?;
    match args.command {
        HostCommand::Add { name, url, master } => {
            acting_as(&mut ctx, &master.from)?;
            output::outcome(&records::add(&mut ctx, &name, &url)?, json)
        }
        HostCommand::List => output::outcome(&records::list(&mut ctx)?, json),
        HostCommand::Remove { name, master } => {
            acting_as(&mut ctx, &master.from)?;
            output::outcome(&records::remove(&mut ctx, &name)?, json)
        }
    }
}

#[derive(Debug, Args)]
pub struct HostAgentArgs {
    /// Serve the host protocol on stdin/stdout (the only mode; what the
    /// master's ssh runs).
    #[arg(long, required = true)]
    pub stdio: bool,
}

/// Runs `intercomm host-agent --stdio` until its stdin closes.
pub fn agent(_args: HostAgentArgs) -> Result<ExitCode> {
    super::block_on(crate::host::agent::serve_stdio())??;
    Ok(ExitCode::SUCCESS)
}
