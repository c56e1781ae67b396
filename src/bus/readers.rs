//! Which processes read the bus's write-ahead log: the holders of SQLite's
//! WAL read locks, found in `/proc/locks`. Used only to name a reader that
//! keeps the WAL from being emptied.
//!
//! SQLite (sqlite3.c, `WALINDEX_LOCK_OFFSET` = 120, `WAL_READ_LOCK(I)` =
//! 3 + I) takes a POSIX shared lock on byte 123 + I of the `-shm` file for a
//! read transaction that uses read mark I: mark 0 (byte 123) reads the
//! database file alone, as of before the WAL's frames, and marks 1–4 (bytes
//! 124–127) a snapshot that ends inside the WAL. Either keeps a checkpoint
//! from copying the frames after it. `/proc/locks` lists each lock
//! as `N: POSIX ADVISORY READ <pid> <major>:<minor>:<inode> <start> <end>`
//! (major and minor in hex; proc(5)).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// First and last byte of the WAL read marks 0–4 in the `-shm` file.
const READ_MARKS: (u64, u64) = (123, 127);

/// The pids holding a WAL read mark on the `-shm` file at `shm`, other than
/// this process; empty when it cannot be known (no `/proc/locks`, no file).
pub fn wal_readers(shm: &Path) -> Vec<u32> {
    let Ok(meta) = std::fs::metadata(shm) else {
        return Vec::new();
    };
    let Ok(locks) = std::fs::read_to_string("/proc/locks") else {
        return Vec::new();
    };
    let dev = meta.dev();
    // Linux's dev_t: major in bits 8–19 and 32–63, minor in 0–7 and 20–31.
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let me = std::process::id();
    let mut pids: Vec<u32> = parse(&locks, major, minor, meta.ino())
        .into_iter()
        .filter(|p| *p != me)
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// The pids in `/proc/locks` text holding a shared POSIX lock on a WAL read
/// mark of the file `major:minor:inode`.
fn parse(locks: &str, major: u64, minor: u64, inode: u64) -> Vec<u32> {
    locks
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // A blocked waiter's line has "->" after the number.
            let f = match fields.get(1) {
                Some(&"->") => fields.get(2..)?,
                _ => fields.get(1..)?,
            };
            let [kind, _, mode, pid, file, start, end, ..] = f else {
                return None;
            };
            if *kind != "POSIX" || *mode != "READ" {
                return None;
            }
            let mut parts = file.split(':');
            let (maj, min, ino) = (parts.next()?, parts.next()?, parts.next()?);
            let same = u64::from_str_radix(maj, 16).ok()? == major
                && u64::from_str_radix(min, 16).ok()? == minor
                && ino.parse::<u64>().ok()? == inode;
            let (start, end) = (start.parse::<u64>().ok()?, end.parse::<u64>().ok()?);
            (same && start <= READ_MARKS.1 && end >= READ_MARKS.0).then(|| pid.parse().ok())?
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_shared_locks_on_the_read_marks_of_one_file() {
        let locks = "\
1: POSIX  ADVISORY  READ 4242 fe:00:777 124 124
2: POSIX  ADVISORY  READ 4343 fe:00:777 123 123
3: POSIX  ADVISORY  WRITE 4444 fe:00:777 120 120
4: POSIX  ADVISORY  READ 4545 fe:00:778 125 125
5: FLOCK  ADVISORY  READ 4646 fe:00:777 0 EOF
6: POSIX  ADVISORY  READ 4747 fe:01:777 126 126
6: -> POSIX  ADVISORY  READ 4848 fe:00:777 127 127
7: OFDLCK ADVISORY  READ -1 fe:00:777 124 124
";
        assert_eq!(parse(locks, 0xfe, 0, 777), [4242, 4343, 4848]);
        assert!(parse("", 0xfe, 0, 777).is_empty());
        assert!(parse("garbage\n1:\n", 0xfe, 0, 777).is_empty());
    }

    #[test]
    fn an_open_read_transaction_is_seen() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("db");
        let writer = rusqlite::Connection::open(&path)?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        writer.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1)")?;
        let shm = dir.path().join("db-shm");
        // A reader in another process: this process's own locks are left out.
        let mut child = std::process::Command::new("python3")
            .args([
                "-c",
                "import sqlite3,sys,time\nc=sqlite3.connect(sys.argv[1],isolation_level=None)\nc.execute('BEGIN');c.execute('SELECT * FROM t').fetchall()\nprint('ready',flush=True)\ntime.sleep(30)",
            ])
            .arg(&path)
            .stdout(std::process::Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line)?;
        }
        let seen = wal_readers(&shm);
        child.kill()?;
        child.wait()?;
        assert_eq!(line.trim(), "ready");
        assert_eq!(seen, [child.id()]);
        Ok(())
    }
}
