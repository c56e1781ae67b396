//! The `intercomm` binary: parse, log to stderr, run, exit.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    intercomm::logging::init();
    intercomm::cli::run(intercomm::cli::Cli::parse())
}
