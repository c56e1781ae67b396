//! `intercomm host add|list|remove`: the hosts recorded on the bus, where
//! `intercomm spawn --host NAME` starts workers.

use serde::Serialize;

use super::HostUrl;
use crate::bus::hosts::{self, HostRow};
use crate::bus::sessions;
use crate::clock;
use crate::error::{Error, Result};
use crate::ops::{Ctx, Outcome, db};

/// `host add`: the host recorded.
#[derive(Debug, Clone, Serialize)]
pub struct Added {
    pub host: HostRow,
}

impl Outcome for Added {
    fn text(&self) -> String {
        format!("Host {} added: {}", self.host.name, self.host.url)
    }
}

/// `host list`: every recorded host.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub hosts: Vec<HostRow>,
}

impl Outcome for Listed {
    fn text(&self) -> String {
        if self.hosts.is_empty() {
            return "No hosts (intercomm host add NAME ssh://user@host adds one).".to_owned();
        }
        let mut out = format!("--- {} host(s) ---", self.hosts.len());
        for h in &self.hosts {
            out.push_str(&format!(
                "\n  {}  {}  added {}",
                h.name,
                h.url,
                clock::hms(h.added_at_ms)
            ));
        }
        out
    }
}

/// `host remove`: the host removed.
#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    pub name: String,
}

impl Outcome for Removed {
    fn text(&self) -> String {
        format!("Host {} removed.", self.name)
    }
}

/// Records host `name` at `url` (as the master). Errors: a bad name or URL
/// (naming which), a name already recorded.
pub fn add(ctx: &mut Ctx, name: &str, url: &str) -> Result<Added> {
    crate::names::check_id("name", name)?;
    if name == super::LOCAL {
        return Err(Error::invalid(
            "name",
            format!("{name:?} means this machine; give the host another name"),
        ));
    }
    let parsed = HostUrl::parse(url)?;
    let row = HostRow {
        name: name.to_owned(),
        url: parsed.to_string(),
        added_at_ms: clock::now_ms(),
    };
    ctx.write_acting(|conn, acting| {
        master_only(acting)?;
        if hosts::add(conn, &row).map_err(db)? {
            Ok(())
        } else {
            Err(Error::user(
                "host_exists",
                format!("a host named {name:?} is already recorded"),
            )
            .with_hint("intercomm host remove NAME first, or pick another name"))
        }
    })?;
    Ok(Added { host: row })
}

/// Every recorded host (an empty list when there is no bus yet).
pub fn list(ctx: &mut Ctx) -> Result<Listed> {
    let hosts = match ctx.existing_bus()? {
        Some(bus) => hosts::list(bus.conn()).map_err(db)?,
        None => Vec::new(),
    };
    Ok(Listed { hosts })
}

/// Removes host `name` (as the master). Refused while a session spawned
/// there has not ended (teardown first), so no worker is lost track of.
pub fn remove(ctx: &mut Ctx, name: &str) -> Result<Removed> {
    crate::names::check_id("name", name)?;
    ctx.write_acting(|conn, acting| {
        master_only(acting)?;
        let live: Vec<String> = hosts::sessions_on(conn, name)
            .map_err(db)?
            .into_iter()
            .filter(|s| {
                sessions::get(conn, s)
                    .ok()
                    .flatten()
                    .is_some_and(|row| row.ended_at_ms.is_none())
            })
            .collect();
        if !live.is_empty() {
            return Err(Error::user(
                "host_in_use",
                format!("workers still run on {name:?}: {}", live.join(", ")),
            )
            .with_hint("intercomm teardown stops them first"));
        }
        if hosts::remove(conn, name).map_err(db)? {
            Ok(())
        } else {
            Err(Error::user(
                "unknown_host",
                format!("no host named {name:?} is recorded"),
            )
            .with_hint("intercomm host list shows the recorded hosts"))
        }
    })?;
    Ok(Removed {
        name: name.to_owned(),
    })
}

fn master_only(acting: &crate::ops::Acting) -> Result<()> {
    if acting.role == crate::bus::instances::Role::Master {
        Ok(())
    } else {
        Err(Error::user("master_only", "Master-only action."))
    }
}
