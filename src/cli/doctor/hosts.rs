//! doctor's host checks: each host recorded on the bus is reached the way
//! the master reaches it (a new ssh link to `intercomm host-agent --stdio`,
//! whose handshake compares the intercomm versions), and the outcome says
//! what to fix.

use super::{Check, Verdict, check};
use crate::bus::Bus;
use crate::host::link;
use crate::location::BusPaths;

/// One check per recorded host; none when the bus has no hosts (or is
/// missing, or a file older than this intercomm: doctor never migrates it).
pub fn run(paths: &BusPaths) -> Vec<Check> {
    // A file bus is read only at this schema (doctor never migrates it).
    if paths.url.is_none()
        && !matches!(crate::bus::schema_version(&paths.db()), Ok(v) if v == crate::bus::SCHEMA_VERSION)
    {
        return Vec::new();
    }
    let hosts = match Bus::open_existing(paths) {
        Ok(Some(bus)) => crate::bus::hosts::list(bus.conn()).unwrap_or_default(),
        _ => return Vec::new(),
    };
    if hosts.is_empty() {
        return Vec::new();
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            return vec![check(
                "hosts",
                Verdict::Warn,
                format!("cannot start a runtime to reach the hosts: {e}"),
                None,
            )];
        }
    };
    hosts
        .into_iter()
        .map(|h| match runtime.block_on(link::probe(&h.name, &h.url)) {
            Ok(p) => check(
                "host",
                Verdict::Ok,
                format!(
                    "{} ({}): reachable, intercomm {} ({} ms to connect)",
                    h.name, h.url, p.version, p.millis
                ),
                None,
            ),
            Err(e) => check(
                "host",
                Verdict::Fail,
                format!("{} ({}): {}", h.name, h.url, e.message),
                Some(
                    "check that `ssh -o BatchMode=yes USER@HOST intercomm --version` works from here \
                     (key login, known host key) and prints this intercomm's version",
                ),
            ),
        })
        .collect()
}
