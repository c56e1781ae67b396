//! The one error type that operations return, and how it is classified.
//!
//! Subsystems (`bus`, `git`) have their own thiserror enums; operations in
//! [`crate::ops`] turn them into an [`Error`] whose [`ErrorKind`] decides how an
//! adapter reports it:
//!
//! | kind       | MCP                                   | CLI exit code |
//! |------------|---------------------------------------|---------------|
//! | `User`     | `isError: true` result with the hint  | 1             |
//! | `Internal` | `isError: true` result, logged        | 255           |
//!
//! A user error is anything the caller can fix by calling differently (a bad
//! argument, not registered, not the master, a dirty worktree). An internal
//! error is the machine's fault (SQLite I/O, a corrupt bus).

use std::fmt;

use serde::Serialize;

/// Who can fix the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The caller: bad input, wrong role, a state that forbids the call.
    User,
    /// The machine: storage or invariant failures.
    Internal,
}

/// An operation's failure: a stable machine `code`, a one-line `message`
/// naming what was wrong, and an optional `hint` saying how to fix it.
#[derive(Debug, Clone, Serialize)]
pub struct Error {
    pub kind: ErrorKind,
    /// Stable snake_case identifier, e.g. `not_registered`, `invalid_argument`.
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// Shorthand for results of operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A caller-fixable error.
    pub fn user(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::User,
            code,
            message: message.into(),
            hint: None,
        }
    }

    /// A failure of the machine rather than of the call.
    pub fn internal(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Internal,
            code,
            message: message.into(),
            hint: None,
        }
    }

    /// An argument that failed validation; `field` is the parameter's name.
    pub fn invalid(field: &str, problem: impl fmt::Display) -> Self {
        Self::user("invalid_argument", format!("invalid `{field}`: {problem}"))
    }

    /// Adds a sentence telling the caller how to recover.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The message and hint as one text, as a model or a person reads it.
    pub fn to_text(&self) -> String {
        match &self.hint {
            Some(hint) => format!("Error: {}\nHint: {hint}", self.message),
            None => format!("Error: {}", self.message),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl From<crate::bus::BusError> for Error {
    fn from(err: crate::bus::BusError) -> Self {
        use crate::bus::BusError;
        match err {
            BusError::TooNew { found, supported } => Self::user(
                "bus_too_new",
                format!(
                    "the bus schema is version {found}, newer than this intercomm understands (up to {supported})"
                ),
            )
            .with_hint("upgrade intercomm (cargo install --path . in a newer checkout)"),
            BusError::Io { ref source, .. }
                if source.kind() == std::io::ErrorKind::ReadOnlyFilesystem =>
            {
                Self::internal("bus_read_only", err.to_string()).with_hint(
                    "remount that filesystem read-write, or keep the project (INTERCOMM_DB_ROOT) on a writable one: even reading mail writes to the bus",
                )
            }
            BusError::Io { .. } => Self::internal("bus_io", err.to_string()),
            BusError::BadVersion { .. } => Self::user("bus_bad_version", err.to_string())
                .with_hint("the file is not an intercomm bus, or was edited: move .intercomm-aimfp aside (a new bus is created by the next registration)"),
            BusError::Unsafe { ref fix, .. } => {
                let fix = fix.clone();
                Self::user("bus_unsafe", err.to_string()).with_hint(fix)
            }
            BusError::Sqlite(ref e) => match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::DiskFull) => Self::internal("bus_disk_full", err.to_string())
                    .with_hint("free space on the filesystem that holds the bus (.intercomm-aimfp); nothing was written"),
                Some(rusqlite::ErrorCode::ReadOnly) => Self::internal("bus_read_only", err.to_string())
                    .with_hint("the bus file or its folder is read-only; intercomm needs to write to it"),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                    Self::internal("bus_busy", err.to_string())
                        .with_hint("another process held the bus for over 5 s; try again")
                }
                _ => Self::internal("bus_sqlite", err.to_string()),
            },
            BusError::Migration { .. } => Self::internal("bus_sqlite", err.to_string()),
            BusError::Pg { .. } | BusError::PgMigration { .. } => {
                Self::internal("bus_postgres", err.to_string()).with_hint(
                    "check INTERCOMM_BUS (or --bus) and that the PostgreSQL server is up: intercomm doctor",
                )
            }
            BusError::Column(_) => Self::internal("bus_column", err.to_string()),
        }
    }
}

impl From<crate::git::GitError> for Error {
    fn from(err: crate::git::GitError) -> Self {
        use crate::git::GitError;
        match &err {
            GitError::NotARepo { .. } => Self::user("not_a_git_repo", err.to_string())
                .with_hint("run the master inside a git checkout, or set INTERCOMM_DB_ROOT to one"),
            GitError::BadRevision { .. }
            | GitError::NoBranch { .. }
            | GitError::PathExists { .. }
            | GitError::InsideGitDir { .. }
            | GitError::BranchExists { .. }
            | GitError::WorktreeExists { .. }
            | GitError::Command { .. } => Self::user("git_refused", err.to_string()),
            GitError::Dirty { .. } => Self::user("worktree_dirty", err.to_string())
                .with_hint("commit or stash the changes, or pass force=true to discard them"),
            GitError::Io { .. } | GitError::Git { .. } => Self::internal("git", err.to_string()),
        }
    }
}
