//! A new bus is made whole in a private file and then published under its
//! name, so no process ever opens a half-made bus.
//!
//! Before, every process that found no bus created the file in place and
//! then switched it to WAL and migrated it, racing the others: on a new
//! file still in rollback-journal mode each switch needs an EXCLUSIVE lock
//! while the others hold SHARED ones, SQLite answers SQLITE_BUSY at once
//! (deadlock, no busy handler: sqlite.org/c3ref/busy_handler.html), and
//! every retry takes a SHARED lock again; then each process ran the schema
//! steps in turn. With 32 processes registering on a new bus under load
//! 27, one waited out the 5 s busy timeout ("database is locked",
//! `processes::thirty_two_concurrent_registrations_get_distinct_ids`).
//! Now the file under the bus's name is always a WAL bus with the current
//! schema: the creator builds it as `<name>.new-<uuid>`, closes it (SQLite
//! then copies the WAL in and removes `-wal` and `-shm`; WAL mode persists
//! in the file's header, sqlite.org/wal.html#persistence_of_wal_mode) and
//! links it to the bus's name with link(2), which fails if the name exists:
//! of processes racing, one bus wins and the others open it.

use std::fs;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{Bus, BusError};

/// Makes the bus at `path` if there is none. `Ok` when a bus is there now,
/// made by this process or another.
pub(super) fn publish(path: &Path) -> Result<(), BusError> {
    let private = PathBuf::from(format!(
        "{}.new-{}",
        path.display(),
        uuid::Uuid::new_v4().simple()
    ));
    let made = make(&private);
    let linked = made.and_then(|()| match fs::hard_link(&private, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(BusError::Io {
            what: "cannot publish the new bus at",
            path: path.to_path_buf(),
            source,
        }),
    });
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = fs::remove_file(format!("{}{suffix}", private.display()));
    }
    linked
}

/// A whole bus (WAL mode, current schema, mode 0600) at the new path
/// `private`, closed.
fn make(private: &Path) -> Result<(), BusError> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(private)
        .map_err(|source| BusError::Io {
            what: "cannot create bus file",
            path: private.to_path_buf(),
            source,
        })?;
    drop(Bus::open_path(private)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_published_bus_is_whole_and_racing_makers_share_one()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("intercomm.db");
        std::thread::scope(|s| {
            let makers: Vec<_> = (0..8).map(|_| s.spawn(|| publish(&path))).collect();
            makers
                .into_iter()
                .all(|m| m.join().is_ok_and(|r| r.is_ok()))
        })
        .then_some(())
        .ok_or("a maker failed")?;
        let names: Vec<_> = fs::read_dir(dir.path())?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("intercomm.db")]);
        let conn = rusqlite::Connection::open(&path)?;
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        assert_eq!(mode, "wal");
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        assert_eq!(version, super::super::SCHEMA_VERSION);
        Ok(())
    }
}
