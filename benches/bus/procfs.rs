//! What Linux's `/proc` tells about the machine and the processes measured:
//! CPU time of a process, CPU count and load average.

use crate::common::R;

/// `USER_HZ`, the unit of `/proc/<pid>/stat` CPU times (100 on Linux).
pub const CLOCK_TICKS: f64 = 100.0;

/// User + system CPU time of `/proc/<pid>` (`self` for this process), in ticks.
pub fn cpu_ticks_of(pid: &str) -> R<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which may hold spaces: state is the 3rd
    // field, utime the 14th and stime the 15th.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or("unexpected /proc/<pid>/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| -> R<u64> {
        Ok(fields
            .get(i)
            .ok_or("short /proc/<pid>/stat")?
            .parse::<u64>()?)
    };
    Ok(field(11)? + field(12)?)
}

/// The summed [`cpu_ticks_of`] of `pids`.
pub fn cpu_ticks(pids: &[u32]) -> R<u64> {
    pids.iter().map(|p| cpu_ticks_of(&p.to_string())).sum()
}

/// CPU time of every thread of process `pid` so far, in nanoseconds (the
/// first field of `/proc/<pid>/task/<tid>/schedstat`): finer than
/// [`cpu_ticks_of`]'s 10 ms ticks.
pub fn cpu_ns(pid: u32) -> R<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let stat = std::fs::read_to_string(task?.path().join("schedstat"))?;
        total += stat
            .split_whitespace()
            .next()
            .ok_or("empty schedstat")?
            .parse::<u64>()?;
    }
    Ok(total)
}

/// The CPUs this process may run on; 0 if unknown.
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(0, usize::from)
}

/// The 1-minute load average from `/proc/loadavg`, as written there; `?` if
/// unreadable.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}
