//! Process identity and liveness: an instance is alive while the process that
//! registered it runs (this replaces the original's 30-second "touch", B1).
//!
//! A pid alone is not an identity (pids are reused), so a row records the pid
//! with the process's start time (field 22 of `/proc/<pid>/stat`, clock ticks
//! since boot), the kernel's boot id and the host name. The same pid with a
//! different start time, or another boot, is a different process.
//!
//! Source of the `/proc` formats: proc(5). On systems without `/proc` the
//! start time is 0 and liveness of another process cannot be proved; such rows
//! are treated as alive while their `active` flag is set.

use std::fs;
use std::sync::OnceLock;

/// Who a process is, as recorded in an instance row.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcessId {
    pub pid: u32,
    /// Start time in clock ticks since boot; 0 when unknown.
    pub start: u64,
    /// `/proc/sys/kernel/random/boot_id`, or empty.
    pub boot: String,
    /// The host name, or empty.
    pub host: String,
}

/// Whether a recorded process still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    Alive,
    Dead,
    /// Another host, or no `/proc`: cannot be checked from here.
    Unknown,
}

impl ProcessId {
    /// The identity of process `pid` on this machine, if it exists.
    pub fn of(pid: u32) -> Option<Self> {
        let start = start_ticks(pid)?;
        Some(Self {
            pid,
            start,
            boot: boot_id(),
            host: host_name(),
        })
    }

    /// This process.
    pub fn current() -> Self {
        let pid = std::process::id();
        Self::of(pid).unwrap_or_else(|| Self {
            pid,
            start: 0,
            boot: boot_id(),
            host: host_name(),
        })
    }

    /// The parent of this process (a CLI registration lives as long as the
    /// shell or script that ran it).
    pub fn parent() -> Option<Self> {
        Self::of(std::os::unix::process::parent_id())
    }

    /// Whether this recorded process still runs, checked from here.
    pub fn liveness(&self) -> Liveness {
        if self.pid == 0 {
            return Liveness::Unknown;
        }
        if self.host != host_name() {
            return Liveness::Unknown;
        }
        let here = boot_id();
        if !self.boot.is_empty() && !here.is_empty() && self.boot != here {
            return Liveness::Dead;
        }
        match start_ticks(self.pid) {
            Some(start) if self.start == 0 || start == self.start => Liveness::Alive,
            Some(_) => Liveness::Dead,
            None if has_proc() => Liveness::Dead,
            None => Liveness::Unknown,
        }
    }
}

/// Whether a hook process acts for a recorded (registered) process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tie {
    /// The recorded process is this process or one of its ancestors, or an
    /// intercomm process whose parent is one of them.
    Ours,
    /// Both run here, and the recorded process is not ours.
    Foreign,
    /// Cannot be told from here (no `/proc`, another host, a dead process).
    Unknown,
}

impl ProcessId {
    /// Whether this process (a hook) belongs to the same Claude Code as the
    /// recorded process `self`. Claude Code starts both its MCP server (an
    /// `intercomm mcp` process, recorded at registration) and its hooks
    /// (through `sh -c`), so a hook of the same Claude has the server's
    /// parent among its ancestors; a CLI registration records the calling
    /// shell, which a hook run from it has among its ancestors. A process
    /// counts as intercomm's by its command name (`/proc/<pid>/comm`, the
    /// executable's name, as ours). Source: proc(5); the process layout is
    /// the one the rewake waiter's lineage check relies on (a hook's shell
    /// is a child of Claude Code, [`crate::hook::rewake`]). A server whose
    /// parent is the plugin's launcher (its first-build handover) counts
    /// the launcher's parent as its Claude Code.
    pub fn tie_to_current(&self) -> Tie {
        if self.liveness() != Liveness::Alive || !has_proc() {
            return Tie::Unknown;
        }
        let ancestors = ancestors_of_current();
        let is_ancestor = |pid: u32, start: u64| {
            ancestors
                .iter()
                .any(|&(p, s)| p == pid && (start == 0 || s == start))
        };
        if is_ancestor(self.pid, self.start) {
            return Tie::Ours;
        }
        let same_program = comm(self.pid).is_some() && comm(self.pid) == comm(std::process::id());
        let Some((mut parent, _)) = stat_fields(self.pid).filter(|_| same_program) else {
            return Tie::Foreign;
        };
        // The plugin's launcher runs the server as its child while the
        // first build hands over (scripts/intercomm-launcher, `handover`).
        if comm(parent).is_some_and(|c| c.starts_with(LAUNCHER_COMM))
            && let Some((above, _)) = stat_fields(parent)
        {
            parent = above;
        }
        match stat_fields(parent) {
            Some((_, start)) if is_ancestor(parent, start) => Tie::Ours,
            _ => Tie::Foreign,
        }
    }
}

/// The command name of scripts/intercomm-launcher (a script's name, cut to
/// 15 bytes by the kernel: proc(5), `comm`).
const LAUNCHER_COMM: &str = "intercomm-launc";

/// This process and its ancestors, as (pid, start time), nearest first; at
/// most 64 (a deeper chain is cut).
fn ancestors_of_current() -> Vec<(u32, u64)> {
    let mut chain = Vec::new();
    let mut pid = std::process::id();
    while pid > 0 && chain.len() < 64 {
        let Some((parent, start)) = stat_fields(pid) else {
            break;
        };
        chain.push((pid, start));
        pid = parent;
    }
    chain
}

/// (parent pid, start time) of a live process, from `/proc/<pid>/stat`.
fn stat_fields(pid: u32) -> Option<(u32, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let start = parse_stat(&stat)?;
    let rest = &stat[stat.rfind(')')? + 1..];
    // Field 4 (ppid) is the second after the command name.
    let parent = rest.split_whitespace().nth(1)?.parse().ok()?;
    Some((parent, start))
}

/// A process's command name (`/proc/<pid>/comm`).
fn comm(pid: u32) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|c| c.trim_end().to_owned())
}

/// Start time of a live (non-zombie) process, from `/proc/<pid>/stat`.
///
/// A process found alive stays watched through a pidfd ([`WATCHED`]), so a
/// repeated check (every send checks its recipient) is one `poll` that
/// returns at once. Reading its stat file each time, even one kept open,
/// was 3.8% of the servers' CPU under fan-in (perf record during `cargo
/// bench --bench bus`; the kernel formats all 52 fields for it) and 5-10%
/// of an uncontended send's (perf stat). A pidfd refers to one process, never to a later one
/// with the same pid, and polls readable once that process has exited,
/// zombie or reaped (pidfd_open(2)).
fn start_ticks(pid: u32) -> Option<u64> {
    let mut watched = WATCHED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(w) = watched.get(&pid) {
        if !pidfd::has_exited(&w.pidfd) {
            return Some(w.start);
        }
        watched.remove(&pid);
    }
    // The pidfd is opened before the stat file is read. If the stat file
    // shows a live process, the pidfd is either of that process or of an
    // earlier holder of the pid, which has exited: the next check sees
    // that and looks again.
    let pidfd = pidfd::open(pid);
    let start = read_start(pid)?;
    if let Some(pidfd) = pidfd
        && watched.len() < WATCHED_MAX
    {
        watched.insert(pid, Watched { pidfd, start });
    }
    Some(start)
}

/// A live process being watched, by pid (at most [`WATCHED_MAX`]).
static WATCHED: std::sync::Mutex<std::collections::BTreeMap<u32, Watched>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// How many processes stay watched (more are checked by reading their
/// stat file each time).
const WATCHED_MAX: usize = 64;

struct Watched {
    pidfd: std::os::fd::OwnedFd,
    /// The start time its stat file showed.
    start: u64,
}

/// The start time in `/proc/<pid>/stat`, read into a stack buffer. Start
/// time is field 22, within the first ~500 bytes (a name of at most 64
/// bytes, then numbers), so a line cut at 1 KiB still holds it.
fn read_start(pid: u32) -> Option<u64> {
    use std::io::Read;
    let mut buf = [0u8; 1024];
    let n = fs::File::open(format!("/proc/{pid}/stat"))
        .and_then(|mut f| f.read(&mut buf))
        .ok()?;
    parse_stat(&String::from_utf8_lossy(&buf[..n]))
}

/// Process file descriptors (Linux 5.3 and later, pidfd_open(2)).
#[cfg(target_os = "linux")]
mod pidfd {
    use std::os::fd::OwnedFd;

    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    use rustix::process::{Pid, PidfdFlags, pidfd_open};

    /// A pidfd for whichever process has `pid` now, if any.
    pub(super) fn open(pid: u32) -> Option<OwnedFd> {
        let pid = Pid::from_raw(i32::try_from(pid).ok()?)?;
        pidfd_open(pid, PidfdFlags::empty()).ok()
    }

    /// Whether the pidfd's process has exited, without waiting. A failed
    /// poll counts as exited, so that the caller looks afresh.
    pub(super) fn has_exited(pidfd: &OwnedFd) -> bool {
        let mut fds = [PollFd::new(pidfd, PollFlags::IN)];
        let now = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        poll(&mut fds, Some(&now)).map_or(true, |ready| ready > 0)
    }
}

/// Without pidfds nothing is watched: every check reads the stat file.
#[cfg(not(target_os = "linux"))]
mod pidfd {
    use std::os::fd::OwnedFd;

    pub(super) fn open(_pid: u32) -> Option<OwnedFd> {
        None
    }

    pub(super) fn has_exited(_pidfd: &OwnedFd) -> bool {
        true
    }
}

/// Parses `/proc/<pid>/stat`: `pid (comm) state ppid … starttime …`. The
/// command name may contain spaces and parentheses, so fields are counted from
/// the last `)`. Zombies (`Z`) and dead (`X`) processes count as gone.
fn parse_stat(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    // After the state (field 3) come fields 4.., so starttime (22) is the 19th.
    fields.nth(18)?.parse().ok()
}

/// This machine's boot id; read once (it cannot change while we run).
fn boot_id() -> String {
    static BOOT: OnceLock<String> = OnceLock::new();
    BOOT.get_or_init(|| {
        fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    })
    .clone()
}

/// This machine's host name; read once.
fn host_name() -> String {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| fs::read_to_string("/etc/hostname"))
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    })
    .clone()
}

/// Whether this system has `/proc` (checked once).
fn has_proc() -> bool {
    static PROC: OnceLock<bool> = OnceLock::new();
    *PROC.get_or_init(|| fs::metadata("/proc/self/stat").is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_command_names() {
        let stat =
            "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 120 0 0 0 1 0 0 0 20 0 1 0 987654 1000 100";
        assert_eq!(parse_stat(stat), Some(987_654));
        let zombie = "7 (x) Z 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55 0 0";
        assert_eq!(parse_stat(zombie), None);
    }

    #[test]
    fn this_process_is_alive_and_a_changed_start_time_is_not() {
        let me = ProcessId::current();
        assert_eq!(me.liveness(), Liveness::Alive);
        let reused = ProcessId {
            start: me.start + 1,
            ..me.clone()
        };
        assert_eq!(reused.liveness(), Liveness::Dead);
        let elsewhere = ProcessId {
            host: "another-host".into(),
            ..me
        };
        assert_eq!(elsewhere.liveness(), Liveness::Unknown);
    }

    #[test]
    fn a_hook_is_tied_to_its_ancestors_only() -> std::io::Result<()> {
        // This test process is the recorded one: a child would be tied.
        assert_eq!(ProcessId::current().tie_to_current(), Tie::Ours);
        if let Some(parent) = ProcessId::parent() {
            assert_eq!(parent.tie_to_current(), Tie::Ours);
        }
        // A process of another line (our child) is not.
        let mut child = std::process::Command::new("sleep").arg("30").spawn()?;
        let tie = ProcessId::of(child.id()).map(|c| c.tie_to_current());
        child.kill()?;
        child.wait()?;
        if let Some(tie) = tie {
            assert_eq!(tie, Tie::Foreign);
        }
        Ok(())
    }

    #[test]
    fn an_exited_child_is_dead() -> std::io::Result<()> {
        let mut child = std::process::Command::new("true").spawn()?;
        let id = ProcessId::of(child.id());
        child.wait()?;
        if let Some(id) = id {
            assert_eq!(id.liveness(), Liveness::Dead);
        }
        Ok(())
    }

    #[test]
    fn a_child_checked_while_running_is_dead_once_it_exits() -> std::io::Result<()> {
        let mut child = std::process::Command::new("sleep").arg("30").spawn()?;
        let Some(id) = ProcessId::of(child.id()) else {
            child.kill()?;
            child.wait()?;
            return Ok(());
        };
        // The first check reads the stat file and watches the process;
        // later ones poll its pidfd.
        assert_eq!(id.liveness(), Liveness::Alive);
        assert_eq!(id.liveness(), Liveness::Alive);
        child.kill()?;
        // Killed but not reaped: a zombie, which counts as gone.
        while start_ticks(id.pid).is_some() {
            std::thread::yield_now();
        }
        assert_eq!(id.liveness(), Liveness::Dead);
        child.wait()?;
        assert_eq!(id.liveness(), Liveness::Dead);
        Ok(())
    }
}
