//! `intercomm hook Rewake`: the wake without typing. Configured as an
//! `asyncRewake` command hook on Stop and SessionStart (plugin/hooks.json),
//! it runs in the background while the session is idle, waits on the bus
//! (no tight poll: [`crate::bus::watch`]) for this instance's new mail, a
//! wake asked by `intercomm_wake` (a poke), or for the master a new pending
//! permission request, and then exits 2 with a short notice on stderr:
//! senders, types and counts only; the content stays on the bus, read with
//! intercomm_read.
//!
//! Facts (measured on Claude Code 2.1.330 and 2.1.332, stand-in model): an
//! `asyncRewake` hook that exits 2 wakes the idle session with no
//! keystroke, the new model request coming 35–80 ms after it exits; the
//! text is taken from stderr; the model sees it as a system reminder
//! ("Stop hook blocking error from command …: <text>"). The hook runs
//! again after each woken turn (`stop_hook_active: true`), so a waiter that
//! always exits 2 loops forever: this one rings once per message (the
//! highest seq rung for is kept on the bus) and once per poke.
//!
//! It records that it is armed (`wake_hooks`: token, pid, expiry), so a
//! wake knows a path without keys exists; a newer waiter of the same
//! instance retires the older one (one ring, not two). It rings only while
//! the hooks last reported the instance `ready` (a busy session gets its
//! mail from the Stop and PreToolUse hooks), and gives up after
//! [`WAIT_ENV`] (default [`DEFAULT_WAIT_SECS`]), or when its Claude Code
//! is gone (its parent shell was reparented: [`Lineage`]).

use std::time::{Duration, Instant};

use super::{Ctx, Reply};
use crate::bus::permissions;
use crate::bus::wake_hooks::{self, Armed};
use crate::bus::watch::Changes;
use crate::bus::{hooks, messages};
use crate::clock;
use crate::error::Error;
use crate::names::MASTER_ID;
use crate::ops::db;

/// Seconds a wake hook waits before giving up (it is armed again at the
/// next Stop). Kept under the hook's timeout in plugin/hooks.json (3600 s).
pub const WAIT_ENV: &str = "INTERCOMM_REWAKE_WAIT";
/// The wait when [`WAIT_ENV`] is unset or unreadable, in seconds.
pub const DEFAULT_WAIT_SECS: u64 = 3300;
/// The longest pause between two looks at the bus.
const MAX_PAUSE: Duration = Duration::from_millis(200);

/// What a ring is about.
#[derive(Debug, Default, PartialEq)]
struct Due {
    /// (sender, type) of each new message, in seq order.
    mail: Vec<(String, String)>,
    /// The highest seq among them.
    seq: i64,
    /// New pending permission requests (the master's): (worker, tool).
    requests: Vec<(String, String)>,
    poked: bool,
}

/// Arms, waits, and rings (exit 2) or gives up (exit 0).
pub fn wait(ctx: &mut Ctx) -> Result<Reply, Error> {
    if !ctx.caller.mail {
        return Ok(Reply::default());
    }
    if super::features::running_has("asyncRewake") == Some(false) {
        // This Claude Code would run the waiter in the background (the hook
        // is also `async`) but never wake on its exit 2: left unarmed, the
        // sender sees no waiter and types the doorbell at once.
        tracing::info!(
            "wake hook not armed: this Claude Code ({}) has no asyncRewake",
            crate::env::get(super::features::AGENT_ENV).unwrap_or_default()
        );
        return Ok(Reply::default());
    }
    let secs = crate::env::get(WAIT_ENV)
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(DEFAULT_WAIT_SECS);
    let now = clock::now_ms();
    let me = crate::process::ProcessId::current();
    let token = uuid::Uuid::now_v7().to_string();
    let id = ctx.id.clone();
    // Mail already there is the Stop hook's to deliver (it runs beside
    // this one); this waiter rings for what comes later. A Stop that ends a
    // turn a Stop hook continued (`stop_hook_active`) delivers nothing, so
    // then this waiter rings for the unread mail too (once per message).
    let continued = ctx.payload.stop_hook_active == Some(true);
    let armed = ctx.bus.write(|c| {
        let rung_seq = if continued {
            messages::cursor(c, &id).map_err(db)?
        } else {
            messages::last_seq(c).map_err(db)?
        };
        let a = Armed {
            id: id.clone(),
            token: token.clone(),
            pid: me.pid,
            proc_start: me.start,
            armed_at: now,
            expires_at: now + (secs as i64) * 1000,
            rung_seq,
            fired_at: None,
            poke: None,
            poked_at: None,
        };
        wake_hooks::arm(c, &a).map_err(db)?;
        wake_hooks::get(c, &id).map_err(db)
    })?;
    let since_requests = armed.and_then(|a| a.fired_at).unwrap_or(now);
    let lineage = Lineage::now();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut changes = Changes::new(MAX_PAUSE).looking_anyway();
    loop {
        if changes.changed(ctx.bus.conn()).map_err(db)? {
            if let Some(notice) = displaced(ctx)? {
                let now = clock::now_ms();
                ctx.bus
                    .write(|c| wake_hooks::disarm(c, &id, &token, now).map_err(db))?;
                return Ok(Reply {
                    stdout: None,
                    stderr: Some(notice),
                    wake: true,
                });
            }
            let Some(row) = wake_hooks::get(ctx.bus.conn(), &id).map_err(db)? else {
                return Ok(Reply::default());
            };
            if row.token != token {
                return Ok(Reply::default()); // a newer waiter took over
            }
            let idle = hooks::get(ctx.bus.conn(), &id)
                .map_err(db)?
                .is_none_or(|h| h.state == "ready");
            let due = due(ctx, &row, since_requests)?;
            if idle && due != Due::default() {
                let now = clock::now_ms();
                let fired = ctx
                    .bus
                    .write(|c| wake_hooks::fired(c, &id, &token, due.seq, now).map_err(db))?;
                if !fired {
                    return Ok(Reply::default());
                }
                return Ok(Reply {
                    stdout: None,
                    stderr: Some(notice(&id, &due)),
                    wake: true,
                });
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || lineage.broken() {
            let now = clock::now_ms();
            ctx.bus
                .write(|c| wake_hooks::disarm(c, &id, &token, now).map_err(db))?;
            return Ok(Reply::default());
        }
        std::thread::sleep(changes.pause().min(left));
    }
}

/// The waiter's parent and grandparent (the shell Claude Code runs the hook
/// in, and Claude Code itself). When Claude Code is killed (teardown kills
/// its tmux session) the shell lives on, reparented: the waiter notices the
/// grandparent changed and gives up, instead of outliving its session.
struct Lineage {
    parent: u32,
    grandparent: Option<u32>,
}

impl Lineage {
    fn now() -> Self {
        let parent = std::os::unix::process::parent_id();
        Self {
            parent,
            grandparent: parent_of(parent),
        }
    }

    fn broken(&self) -> bool {
        std::os::unix::process::parent_id() != self.parent
            || parent_of(self.parent) != self.grandparent
    }
}

/// The parent pid of `pid` (field 4 of `/proc/<pid>/stat`, proc(5)).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The notice for a session whose id another live process took (a forced
/// master takeover, or a worker id registered elsewhere), if that
/// happened: the waiter wakes it at once, so it stops acting as that id
/// even when it is not in tmux (no pane to ring).
fn displaced(ctx: &Ctx) -> Result<Option<String>, Error> {
    let Some(holder) = crate::bus::instances::get(ctx.bus.conn(), &ctx.id).map_err(db)? else {
        return Ok(None);
    };
    if !holder.is_alive(clock::now_ms())
        || holder.process.tie_to_current() != crate::process::Tie::Foreign
    {
        return Ok(None);
    }
    Ok(Some(if ctx.id == MASTER_ID {
        crate::fleet::takeover::DISPLACED_TEXT.to_owned()
    } else {
        format!(
            "[intercomm] Another process (pid {}) now holds {}; this session no longer does, and its intercomm calls as {} are refused. Call intercomm_status and tell the user.",
            holder.process.pid, ctx.id, ctx.id
        )
    }))
}

/// What is new for the instance since the waiter's last ring.
fn due(ctx: &Ctx, row: &Armed, since_requests: i64) -> Result<Due, Error> {
    let conn = ctx.bus.conn();
    let cursor = messages::cursor(conn, &ctx.id).map_err(db)?;
    let after = cursor.max(row.rung_seq);
    let mut due = Due {
        poked: row.poke.is_some(),
        ..Due::default()
    };
    for m in messages::inbox(conn, &ctx.id, after, 50).map_err(db)? {
        due.seq = due.seq.max(m.seq);
        if m.kind != "status" && m.kind != "announce" {
            due.mail.push((m.from, m.kind));
        }
    }
    if due.mail.is_empty() {
        due.seq = 0; // status and announcements alone ring nobody
    }
    if ctx.id == MASTER_ID {
        due.requests = permissions::pending(conn, None, clock::now_ms())
            .map_err(db)?
            .into_iter()
            .filter(|r| r.asked_at > since_requests)
            .map(|r| (r.worker, r.tool))
            .collect();
    }
    Ok(due)
}

/// The notice the woken model reads: intercomm's own words, counts,
/// senders and types only.
fn notice(id: &str, due: &Due) -> String {
    let mut parts = Vec::new();
    if !due.mail.is_empty() {
        let mut from: Vec<String> = Vec::new();
        for (sender, kind) in &due.mail {
            let s = format!("{sender} ({kind})");
            if !from.contains(&s) {
                from.push(s);
            }
        }
        parts.push(format!(
            "{} new message(s) for {id} from {}: call intercomm_read and act on them per the intercomm protocol.",
            due.mail.len(),
            from.join(", ")
        ));
    }
    for (worker, tool) in &due.requests {
        parts.push(format!(
            "{worker} waits for your decision on a {tool} permission request: see intercomm_scan, answer with intercomm_approve."
        ));
    }
    if due.poked && parts.is_empty() {
        parts.push(
            "the master rang you (intercomm_wake): call intercomm_read, then carry on per the intercomm protocol."
                .to_owned(),
        );
    }
    format!("[intercomm] {}", parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_name_senders_types_and_counts_only() {
        let due = Due {
            mail: vec![
                ("master".into(), "task".into()),
                ("master".into(), "task".into()),
                ("worker-2".into(), "question".into()),
            ],
            seq: 9,
            requests: vec![("worker-1".into(), "Bash".into())],
            poked: false,
        };
        let text = notice("master", &due);
        assert!(text.starts_with(
            "[intercomm] 3 new message(s) for master from master (task), worker-2 (question)"
        ));
        assert!(text.contains("worker-1 waits for your decision on a Bash permission request"));
        let poke = Due {
            poked: true,
            ..Due::default()
        };
        assert!(notice("worker-1", &poke).contains("intercomm_wake"));
    }

    #[test]
    fn the_lineage_is_read_from_proc() {
        assert_eq!(
            parent_of(std::process::id()),
            Some(std::os::unix::process::parent_id())
        );
        assert!(!Lineage::now().broken());
    }
}
