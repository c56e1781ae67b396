//! The CLI's one printer: outcomes to stdout (text or `--json`), errors to
//! stderr as one line (plus a hint line), mapped to an exit code.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::process::ExitCode;

use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::ops::Outcome;

/// Prints an outcome; a closed stdout (e.g. `| head`) is not an error.
pub fn outcome<O: Outcome>(o: &O, json: bool) -> Result<ExitCode> {
    let text = if json {
        serde_json::to_string_pretty(o).unwrap_or_default()
    } else {
        o.text()
    };
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::internal(
            "stdout",
            format!("cannot write to stdout: {e}"),
        )),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// Prints any serialisable value as pretty JSON.
pub fn json_value<T: Serialize>(value: &T) -> Result<ExitCode> {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

/// One compact JSON document on stdout (a hook's answer to Claude Code).
pub fn json_line(value: &serde_json::Value) {
    println!("{value}");
}

/// One compact JSON document as a line on stdout, flushed at once (a
/// stream's reader sees each event as it happens); false once stdout is
/// closed.
pub fn json_line_flushed(value: &serde_json::Value) -> bool {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{value}").and_then(|()| out.flush()).is_ok()
}

/// Text on stdout as it is (a patch); a closed stdout is not an error.
pub fn raw(text: &str) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::internal(
            "stdout",
            format!("cannot write to stdout: {e}"),
        )),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// A line for people on stderr.
pub fn note(line: &str) {
    eprintln!("{line}");
}

/// A live progress line on stderr.
pub fn progress(line: &str) {
    eprintln!("  {line}");
}

/// Reports an error and returns its exit code (1 user, 255 internal).
pub fn error(err: &Error, json: bool) -> ExitCode {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "error": err })).unwrap_or_default()
        );
    }
    eprintln!("intercomm: {}", super::tool_names::for_cli(&err.message));
    if let Some(hint) = &err.hint {
        eprintln!("hint: {}", super::tool_names::for_cli(hint));
    }
    match err.kind {
        ErrorKind::User => ExitCode::from(1),
        ErrorKind::Internal => ExitCode::from(255),
    }
}

/// `intercomm init`'s result.
#[derive(Debug, Serialize)]
pub struct Initialized {
    pub bus: String,
}

impl Outcome for Initialized {
    fn text(&self) -> String {
        format!("Bus ready: {}", self.bus)
    }
}
