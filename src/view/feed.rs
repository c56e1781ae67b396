//! The feed of models: re-reads the bus when it changes, runs the fleet
//! scan and the git progress no more often than needed, and says when what
//! a view shows changed. Shared by `top` and `watch`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::model::{Model, Seen};
use super::snapshot::Snapshot;
use crate::bus::watch::Changes;
use crate::clock;
use crate::error::{Error, Result};
use crate::fleet::scan;
use crate::git::{Checkout, Progress};
use crate::ops::{Ctx, db};
use crate::radar::Radar;

/// Least time between two scans prompted by bus changes.
pub const SCAN_EVERY: Duration = Duration::from_secs(1);
/// Time between scans while the bus does not change (a dialog can appear
/// on a screen without any hook firing).
pub const SCAN_IDLE: Duration = Duration::from_secs(5);
/// Least time between two git progress counts prompted by bus changes.
pub const GIT_EVERY: Duration = Duration::from_secs(2);
/// Time between git progress counts while the bus does not change.
pub const GIT_IDLE: Duration = Duration::from_secs(15);
/// The longest pause between two looks at the bus's `data_version`: a
/// change shows within it (the target is 200 ms).
pub const MAX_PAUSE: Duration = Duration::from_millis(100);

/// A source of models for one bus.
pub struct Feed {
    /// A read-only connection: the view never writes to what it watches.
    conn: crate::bus::Conn,
    changes: Changes,
    ctx: Mutex<Ctx>,
    prefix: String,
    snap: Snapshot,
    seen: BTreeMap<String, Seen>,
    progress: BTreeMap<String, Progress>,
    radar: Radar,
    last_scan: Option<Instant>,
    last_git: Option<Instant>,
    dirty_scan: bool,
    dirty_git: bool,
    scan_failed: bool,
}

impl Feed {
    /// A feed of the bus of `ctx`, scanning the panes of `prefix`-N as the
    /// instance `ctx` acts as (the master, for the scan). The bus must exist.
    pub fn open(mut ctx: Ctx, prefix: &str) -> Result<Self> {
        crate::names::check_id("prefix", prefix)?;
        let Some(bus) = ctx.existing_bus()? else {
            return Err(
                Error::user("no_bus", format!("no bus at {}", ctx.paths.db().display())).with_hint(
                    "start the fleet first (intercomm register master, intercomm spawn)",
                ),
            );
        };
        let conn = bus.reader()?;
        Ok(Self {
            conn,
            changes: Changes::new(MAX_PAUSE),
            ctx: Mutex::new(ctx),
            prefix: prefix.to_owned(),
            snap: Snapshot::default(),
            seen: BTreeMap::new(),
            progress: BTreeMap::new(),
            radar: Radar::default(),
            last_scan: None,
            last_git: None,
            dirty_scan: true,
            dirty_git: true,
            scan_failed: false,
        })
    }

    /// The context actions run in (acting as the master).
    pub fn ctx(&self) -> &Mutex<Ctx> {
        &self.ctx
    }

    /// What to show now.
    pub fn model(&self) -> Model {
        let mut model = Model::build(&self.snap, &self.seen, &self.progress, clock::now_ms());
        model.radar = self.radar.clone();
        model.utc_offset_s = chrono::Local::now().offset().local_minus_utc();
        model
    }

    /// How long to wait before the next [`Feed::step`] (growing by half
    /// while nothing changes, up to [`MAX_PAUSE`]).
    pub fn pause(&mut self) -> Duration {
        self.changes.pause()
    }

    /// Forces a scan and a git count at the next step (after an action).
    pub fn poke(&mut self) {
        self.last_scan = None;
        self.last_git = None;
        self.dirty_scan = true;
        self.dirty_git = true;
    }

    /// One check: re-reads the bus if it changed, and scans or counts when
    /// due. Returns whether anything shown may have changed.
    pub async fn step(&mut self) -> Result<bool> {
        let mut changed = false;
        if self.changes.changed(&self.conn).map_err(db)? {
            self.snap = Snapshot::load(&self.conn).map_err(db)?;
            self.dirty_scan = true;
            self.dirty_git = true;
            changed = true;
        }
        let due = |last: Option<Instant>, dirty: bool, every: Duration, idle: Duration| {
            last.is_none_or(|t| {
                let e = t.elapsed();
                (dirty && e >= every) || e >= idle
            })
        };
        if due(self.last_scan, self.dirty_scan, SCAN_EVERY, SCAN_IDLE) {
            self.last_scan = Some(Instant::now());
            self.dirty_scan = false;
            let seen = self.scan().await;
            if seen != self.seen {
                self.seen = seen;
                changed = true;
            }
        }
        if due(self.last_git, self.dirty_git, GIT_EVERY, GIT_IDLE) {
            self.last_git = Some(Instant::now());
            self.dirty_git = false;
            let progress = self.count_progress();
            if progress != self.progress {
                self.progress = progress;
                changed = true;
            }
            let radar = crate::ops::radar::read(&self.conn).unwrap_or_else(|err| {
                tracing::debug!(target: "view", %err, "no merge radar");
                Radar::default()
            });
            if radar != self.radar {
                self.radar = radar;
                changed = true;
            }
        }
        Ok(changed)
    }

    async fn scan(&mut self) -> BTreeMap<String, Seen> {
        match scan::scan(&self.ctx, &self.prefix).await {
            Ok(s) => {
                self.scan_failed = false;
                s.panes
                    .into_iter()
                    .map(|p| {
                        // A request waiting on the bus names its tool and
                        // input; the screen's dialog is the same request.
                        let (tool, detail) = match &p.permission {
                            Some(r) => (Some(r.tool.clone()), Some(input_line(&r.input))),
                            None => (p.tool, p.detail),
                        };
                        (
                            p.id,
                            Seen {
                                state: p.state,
                                tool,
                                detail,
                            },
                        )
                    })
                    .collect()
            }
            Err(err) => {
                // Not a warning: stderr is the screen while top runs.
                if !self.scan_failed {
                    tracing::info!(target: "view", %err, "fleet scan failed; states come from hooks only");
                }
                self.scan_failed = true;
                BTreeMap::new()
            }
        }
    }

    fn count_progress(&self) -> BTreeMap<String, Progress> {
        let mut out = BTreeMap::new();
        for m in &self.snap.members {
            let (Some(path), Some(base)) = (&m.worktree, &m.base) else {
                continue;
            };
            match Checkout::open(std::path::Path::new(path)).and_then(|c| c.progress(base)) {
                Ok(p) => {
                    out.insert(m.id.clone(), p);
                }
                Err(err) => tracing::debug!(target: "view", id = %m.id, %err, "no git progress"),
            }
        }
        out
    }
}

/// A tool input in one line: a command or a file path as it is, anything
/// else as compact JSON.
fn input_line(input: &serde_json::Value) -> String {
    ["command", "file_path", "path", "url", "pattern"]
        .iter()
        .find_map(|k| input.get(k).and_then(|v| v.as_str()))
        .map_or_else(|| input.to_string(), str::to_owned)
}
