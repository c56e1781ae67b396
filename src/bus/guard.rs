//! The bus folder and files are what intercomm made: never a symbolic link,
//! owned by this user, and the folder writable by nobody else.
//!
//! A symlinked `.intercomm-aimfp` or `intercomm.db` made intercomm chmod,
//! convert to WAL and write a file outside the project; a folder owned by
//! another user, or writable by others, lets someone else put such a link
//! (or their own database) there. Each is refused with the fix, before
//! anything is opened, changed or created. The database is then opened with
//! `SQLITE_OPEN_NOFOLLOW` as well, so a link put there after the check is
//! refused by SQLite.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::BusError;

/// Checks the bus folder `dir` if it exists; `Ok(false)` when it does not.
pub fn check_dir(dir: &Path) -> Result<bool, BusError> {
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(BusError::Io {
                what: "cannot inspect bus folder",
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    if meta.file_type().is_symlink() {
        return Err(refused(
            dir,
            format!("it is a symbolic link{}", target(dir)),
            "intercomm never follows a link for the bus: remove the link (the bus is created again on the next registration) or set INTERCOMM_DB_ROOT to the project the link points into",
        ));
    }
    if !meta.is_dir() {
        return Err(refused(
            dir,
            "it is not a folder".to_owned(),
            "remove or rename it",
        ));
    }
    check_owner(dir, &meta)?;
    if meta.permissions().mode() & 0o022 != 0 {
        return Err(refused(
            dir,
            format!(
                "it is writable by other users (mode {:o})",
                meta.permissions().mode() & 0o777
            ),
            &format!(
                "check nothing in it is foreign, then `chmod 700 {}`",
                dir.display()
            ),
        ));
    }
    Ok(true)
}

/// Checks a bus file (`intercomm.db`, its `-wal` or `-shm`) if it exists.
pub fn check_file(path: &Path) -> Result<(), BusError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(BusError::Io {
                what: "cannot inspect bus file",
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if meta.file_type().is_symlink() {
        return Err(refused(
            path,
            format!("it is a symbolic link{}", target(path)),
            "intercomm never follows a link for the bus: remove the link",
        ));
    }
    if !meta.is_file() {
        return Err(refused(
            path,
            "it is not a regular file".to_owned(),
            "remove or rename it",
        ));
    }
    check_owner(path, &meta)
}

fn check_owner(path: &Path, meta: &std::fs::Metadata) -> Result<(), BusError> {
    let Some(me) = euid() else { return Ok(()) };
    if meta.uid() != me {
        return Err(refused(
            path,
            format!("it belongs to user id {}, not to you ({me})", meta.uid()),
            "every instance of a project runs as one user: run intercomm as that user, or remove the folder (the bus is created again on the next registration)",
        ));
    }
    Ok(())
}

#[cfg(target_os = "linux")]
fn euid() -> Option<u32> {
    Some(rustix::process::geteuid().as_raw())
}

#[cfg(not(target_os = "linux"))]
fn euid() -> Option<u32> {
    None
}

fn target(link: &Path) -> String {
    std::fs::read_link(link)
        .map(|t| format!(" to {}", t.display()))
        .unwrap_or_default()
}

fn refused(path: &Path, problem: String, fix: &str) -> BusError {
    BusError::Unsafe {
        path: path.to_path_buf(),
        problem,
        fix: fix.to_owned(),
    }
}
