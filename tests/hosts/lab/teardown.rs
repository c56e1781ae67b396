//! Undoing the lab (see [`super`]): processes ended by pid (the user's,
//! from /proc; a namespace's, from `ip netns pids`), namespaces with their
//! /etc/netns files, and whatever an earlier run killed half-way left
//! behind ([`sweep_stale`]).

use std::path::Path;
use std::time::Duration;

use super::setup::netns_etc;
use super::{PREFIX, sh};

/// Whether process `pid` exists.
fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The pid in a lab name `icmh<pid>…`, if it is one.
fn owner_pid(name: &str) -> Option<u32> {
    let digits: String = name
        .strip_prefix(PREFIX)?
        .chars()
        .skip_while(|c| *c == '-')
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Pids of processes running as `uid`.
fn pids_of_uid(uid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find(|l| l.starts_with("Uid:"))
                        .and_then(|l| l.split_whitespace().nth(1))
                        .and_then(|u| u.parse::<u32>().ok())
                })
                == Some(uid)
        })
        .collect()
}

/// Sends SIGKILL to each of `pids` (those already gone are ignored).
pub(super) fn kill_all(pids: &[u32]) {
    for pid in pids {
        let _ = sh("kill", &["-KILL", &pid.to_string()]);
    }
}

/// Kills every process of user `name`, by pid.
pub(super) fn kill_user(name: &str) {
    let Ok(uid) = sh("id", &["-u", name]) else {
        return;
    };
    let Ok(uid) = uid.trim().parse::<u32>() else {
        return;
    };
    for _ in 0..5 {
        let pids = pids_of_uid(uid);
        if pids.is_empty() {
            break;
        }
        kill_all(&pids);
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Kills every process in namespace `ns`, by pid.
fn kill_netns(ns: &str) {
    for _ in 0..5 {
        let pids: Vec<u32> = sh("ip", &["netns", "pids", ns])
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        if pids.is_empty() {
            break;
        }
        kill_all(&pids);
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Ends namespace `ns`: its processes, itself (its veth pairs go with it)
/// and its files under /etc/netns (the folder too once empty).
pub(super) fn remove_netns(ns: &str) {
    kill_netns(ns);
    let _ = sh("ip", &["netns", "del", ns]);
    let _ = std::fs::remove_dir_all(netns_etc(ns));
    let _ = std::fs::remove_dir("/etc/netns");
}

/// Removes users, namespaces and folders of earlier runs whose test process
/// is gone. Only the lab's own names.
pub(super) fn sweep_stale() {
    if let Ok(list) = sh("ip", &["netns", "list"]) {
        for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
            if owner_pid(name).is_some_and(|pid| !pid_alive(pid)) {
                remove_netns(name);
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir("/etc/netns") {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if owner_pid(&name).is_some_and(|pid| !pid_alive(pid)) {
                remove_netns(&name);
            }
        }
    }
    if let Ok(passwd) = std::fs::read_to_string("/etc/passwd") {
        for user in passwd.lines().filter_map(|l| l.split(':').next()) {
            if owner_pid(user).is_some_and(|pid| !pid_alive(pid)) {
                kill_user(user);
                let _ = sh("userdel", &[user]);
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
