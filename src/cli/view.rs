//! The commands that look at the fleet: `watch`, `diff`, `attach` (and
//! `top`), thin adapters over [`crate::view`].

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use clap::Args;

use super::{AsMaster, acting_as, block_on, cli_ctx, output};
use crate::error::Result;
use crate::view::{feed::Feed, review, watch};

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Session name prefix of the fleet.
    #[arg(long, default_value = "worker")]
    pub prefix: String,
    #[command(flatten)]
    pub master: AsMaster,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The worker's id.
    pub worker: String,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// The worker's id.
    pub worker: String,
}

/// `intercomm watch`: events as JSON lines until stdout closes.
pub fn watch(root: Option<PathBuf>, a: WatchArgs) -> Result<ExitCode> {
    let mut ctx = cli_ctx(root)?;
    acting_as(&mut ctx, &a.master.from)?;
    let feed = Feed::open(ctx, &a.prefix)?;
    block_on(watch::run(feed, output::json_line_flushed))??;
    Ok(ExitCode::SUCCESS)
}

/// `intercomm diff WORKER`: the patch in the pager, or on stdout when it
/// is not a terminal.
pub fn diff(root: Option<PathBuf>, a: DiffArgs) -> Result<ExitCode> {
    let mut ctx = cli_ctx(root)?;
    let patch = review::patch(&mut ctx, &a.worker)?;
    if std::io::stdout().is_terminal() {
        review::page(&patch)?;
        Ok(ExitCode::SUCCESS)
    } else {
        output::raw(&patch)
    }
}

/// `intercomm attach WORKER`: this terminal shows the worker's pane until
/// the person detaches.
pub fn attach(root: Option<PathBuf>, a: AttachArgs) -> Result<ExitCode> {
    let ctx = Mutex::new(cli_ctx(root)?);
    block_on(review::attach(&ctx, &a.worker))??;
    Ok(ExitCode::SUCCESS)
}
