//! The network namespace of a world and what lives in it: creating it,
//! running commands inside, listing and killing its processes, and sweeping
//! what earlier runs left behind.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::host::run;
use super::{World, fail};

/// Prefix of everything the harness names (namespaces, temp folders).
pub(super) const PREFIX: &str = "icm-e2e";

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The pid of the test process that named `name` (`<PREFIX>-<pid>-…`), if
/// it is one of ours.
fn owner_pid(name: &str) -> Option<u32> {
    name.strip_prefix(&format!("{PREFIX}-"))?
        .split('-')
        .next()?
        .parse()
        .ok()
}

/// Removes namespaces and folders of earlier runs whose test process died
/// without cleaning up (e.g. killed by a timeout). Only our own names.
pub(super) fn sweep_stale() {
    if let Ok(list) = run(Command::new("ip").args(["netns", "list"])) {
        for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
            if owner_pid(name).is_some_and(|pid| !pid_alive(pid)) {
                kill_netns_processes(name);
                let _ = run(Command::new("ip").args(["netns", "del", name]));
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if owner_pid(&name).is_some_and(|pid| !pid_alive(pid)) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// Kills (SIGKILL, by pid) every process in namespace `ns`; returns their
/// command lines.
pub(super) fn kill_netns_processes(ns: &str) -> Vec<String> {
    let mut killed = Vec::new();
    for _ in 0..5 {
        let pids: Vec<String> = run(Command::new("ip").args(["netns", "pids", ns]))
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if pids.is_empty() {
            break;
        }
        for pid in &pids {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|b| {
                    String::from_utf8_lossy(&b)
                        .replace('\0', " ")
                        .trim()
                        .to_owned()
                })
                .unwrap_or_default();
            if run(Command::new("kill").args(["-KILL", pid])).is_ok() {
                killed.push(format!("{pid} {cmdline}"));
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    killed
}

/// A process seen in the namespace.
#[derive(Debug, Clone)]
pub struct Proc {
    pub pid: u32,
    pub cmdline: String,
    /// Its INTERCOMM_WORKER_ID, if set (a worker's Claude or MCP server).
    pub worker_id: Option<String>,
}

impl World {
    pub(super) fn make_netns(&mut self) {
        if let Err(e) = run(Command::new("ip").args(["netns", "add", &self.ns])) {
            fail(format!(
                "cannot create network namespace {} (needs root and iproute2): {e}",
                self.ns
            ));
        }
        self.ns_created = true;
        if let Err(e) = self.in_ns(&["ip", "link", "set", "lo", "up"]) {
            fail(format!("cannot bring up lo in {}: {e}", self.ns));
        }
        let links = self
            .in_ns(&["ip", "-o", "link"])
            .unwrap_or_else(|e| fail(format!("ip link in {}: {e}", self.ns)));
        let names: Vec<&str> = links
            .lines()
            .filter_map(|l| l.split(':').nth(1))
            .map(str::trim)
            .collect();
        if names != ["lo"] {
            fail(format!("namespace {} has more than lo: {names:?}", self.ns));
        }
    }

    fn in_ns(&self, argv: &[&str]) -> Result<String, String> {
        run(Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .args(argv))
    }

    /// The processes living in the namespace now.
    pub fn processes(&self) -> Vec<Proc> {
        run(Command::new("ip").args(["netns", "pids", &self.ns]))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
            .map(|pid| {
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
                    .map(|b| {
                        String::from_utf8_lossy(&b)
                            .replace('\0', " ")
                            .trim()
                            .to_owned()
                    })
                    .unwrap_or_default();
                let worker_id = std::fs::read(format!("/proc/{pid}/environ"))
                    .ok()
                    .and_then(|b| {
                        b.split(|c| *c == 0)
                            .filter_map(|kv| std::str::from_utf8(kv).ok())
                            .find_map(|kv| {
                                kv.strip_prefix("INTERCOMM_WORKER_ID=").map(str::to_owned)
                            })
                    });
                Proc {
                    pid,
                    cmdline,
                    worker_id,
                }
            })
            .collect()
    }
}

/// The environment of a process, as `KEY=VALUE` strings.
pub fn environ(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter_map(|kv| std::str::from_utf8(kv).ok().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
