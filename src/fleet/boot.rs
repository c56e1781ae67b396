//! Booting spawned workers together: one state machine per worker, all fed
//! by one batched capture of every pane per round.
//!
//! A worker goes: start-up screens, its dialogs answered by label through
//! [`Answering`] → ready → (when a wake is asked for) its own intercomm MCP
//! server connected → the wake through [`Ringing`] → done. A round captures
//! every pane still booting in one tmux call, steps each machine with its
//! screen, sends the keys and pastes they ask for (concurrently), checks the
//! bus once for MCP connections, and sleeps: [`KEY_POLL`] after keys were
//! sent, [`BUSY_POLL`] while a dialog or a wake is under way (or until the
//! instant a wake's Enter is due), while panes only boot [`BOOT_POLL`]
//! growing by half each round no pane changed what it shows (its state,
//! menu, input) up to [`BOOT_POLL_MAX`] (a booting fleet leaves the CPU to
//! the booting), and
//! a backoff from 10 ms to 500 ms while every pane left only waits for its
//! MCP server (reads gated by the bus's `data_version`).

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::dialog::{self, Answering, Step};
use super::spawn::{BootAction, SpawnRequest, boot_action, mcp_missing};
use super::wake::{RingStep, Ringing, refused};
use super::{Target, with_ctx};
use crate::bus::{messages, sessions};
use crate::error::{Error, Result};
use crate::ops::{Ctx, db};
use crate::screen::{self, PaneState, Screen};
use crate::tmux::Tmux;

/// Pause after keys were sent (a reaction is due).
pub const KEY_POLL: Duration = Duration::from_millis(5);
/// Pause while a dialog is being answered or a wake runs.
pub const BUSY_POLL: Duration = Duration::from_millis(5);
/// Pause while panes only boot, after a change.
pub const BOOT_POLL: Duration = Duration::from_millis(10);
/// Longest pause while panes only boot and nothing changes.
pub const BOOT_POLL_MAX: Duration = Duration::from_millis(25);
/// Longest pause of the MCP-connection backoff.
const MCP_POLL_MAX: Duration = Duration::from_millis(500);

/// What a machine asks the driver to send to its pane.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Act {
    Keys(Vec<&'static str>),
    Paste(String),
}

enum Phase {
    Booting,
    Answering(Box<Answering>, String),
    Mcp,
    Ringing(Box<Ringing>),
    Done,
}

/// One worker booting (see the module doc). Its outcome is in the public
/// fields once [`Boot::done`].
pub(super) struct Boot {
    pub target: Target,
    deadline: Instant,
    /// The wake prompt, when a wake is asked for.
    wake: Option<String>,
    phase: Phase,
    /// The last state seen (ready, running, a dialog left for the master, …).
    pub state: Option<PaneState>,
    /// Start-up dialogs answered, each once, in order.
    pub cleared: Vec<PaneState>,
    pub mcp_connected: bool,
    /// `Some(delivered)` once a wake was typed.
    pub woken: Option<bool>,
    pub error: Option<Error>,
    /// Progress lines not yet handed out.
    notes: Vec<String>,
}

impl Boot {
    /// A worker booting in `target` until `deadline`; `wake` rings it at the
    /// end with that prompt.
    pub fn new(target: Target, deadline: Instant, wake: Option<String>) -> Self {
        Self {
            target,
            deadline,
            wake,
            phase: Phase::Booting,
            state: None,
            cleared: Vec::new(),
            mcp_connected: false,
            woken: None,
            error: None,
            notes: Vec::new(),
        }
    }

    /// The target and the wake prompt, for a boot that runs elsewhere
    /// (on the target's host, [`super::host`]).
    pub fn into_parts(self) -> (Target, Option<String>) {
        (self.target, self.wake)
    }

    pub fn done(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    /// It will ring its worker (and so needs its MCP connection).
    fn rings(&self) -> bool {
        self.wake.is_some() || self.waits_for_mcp()
    }

    fn waits_for_mcp(&self) -> bool {
        matches!(self.phase, Phase::Mcp)
    }

    /// A dialog or a wake is under way: the screen changes soon.
    fn busy(&self) -> bool {
        matches!(self.phase, Phase::Answering(..) | Phase::Ringing(_))
    }

    fn finish(&mut self, state: Option<PaneState>) {
        if state.is_some() {
            self.state = state;
        }
        self.phase = Phase::Done;
    }

    fn fail(&mut self, error: Error) {
        self.error = Some(error);
        self.phase = Phase::Done;
    }

    /// Steps the machine with the capture `screen` taken at `now`;
    /// `mcp_up`: the worker's MCP server has recorded its connection.
    /// Returns what to send to the pane, if anything.
    fn step(
        &mut self,
        screen: &Screen,
        now: Instant,
        mcp_up: bool,
        req: &SpawnRequest,
    ) -> Option<Act> {
        let late = now >= self.deadline;
        loop {
            match &mut self.phase {
                Phase::Booting => match boot_action(screen, req) {
                    Err(e) => self.fail(e),
                    Ok(BootAction::Stop(PaneState::Ready)) if self.wake.is_some() => {
                        tracing::debug!(target: "fleet.boot", id = self.target.id, "ready; waiting for its MCP server");
                        self.state = Some(PaneState::Ready);
                        self.phase = Phase::Mcp;
                        continue;
                    }
                    Ok(BootAction::Stop(state)) => self.finish(Some(state)),
                    Ok(BootAction::Answer(choice)) => {
                        if let Some(option) = dialog::option_for(screen, choice) {
                            tracing::debug!(target: "fleet.boot", id = self.target.id, dialog = screen.state.as_str(), "dialog shown");
                            let answering = Answering::new(screen, option, now);
                            self.phase =
                                Phase::Answering(Box::new(answering), option.label.clone());
                            continue;
                        }
                        self.finish(Some(screen.state));
                    }
                    Ok(BootAction::Wait) if late => self.finish(Some(screen.state)),
                    Ok(BootAction::Wait) => {}
                },
                Phase::Answering(answering, label) => match answering.step(screen, now) {
                    Err(e) => self.fail(e),
                    Ok(Step::Press(keys)) => {
                        tracing::debug!(target: "fleet.boot", id = self.target.id, ?keys, "dialog keys");
                        return Some(Act::Keys(keys));
                    }
                    Ok(Step::Answered) => {
                        let state = answering.key().state;
                        self.notes.push(format!(
                            "{}: {} answered \"{label}\"",
                            self.target.id,
                            state.as_str()
                        ));
                        if !self.cleared.contains(&state) {
                            self.cleared.push(state);
                        }
                        self.phase = Phase::Booting;
                        continue;
                    }
                    Ok(Step::Gone) => {
                        self.phase = Phase::Booting;
                        continue;
                    }
                    // Still up at the deadline: left for the master.
                    Ok(Step::Look) if late => {
                        let state = answering.key().state;
                        self.finish(Some(state));
                    }
                    Ok(Step::Look) => {}
                },
                Phase::Mcp if mcp_up => {
                    tracing::debug!(target: "fleet.boot", id = self.target.id, "MCP server connected; ringing");
                    self.mcp_connected = true;
                    let text = self.wake.take().unwrap_or_default();
                    self.phase = Phase::Ringing(Box::new(Ringing::new(&text)));
                    continue;
                }
                Phase::Mcp if late => self.fail(Error::user(
                    "mcp_not_connected",
                    mcp_missing(req.ready_timeout_secs),
                )),
                Phase::Mcp => {}
                Phase::Ringing(ringing) => match ringing.step(screen, now) {
                    RingStep::Paste(text) => {
                        tracing::debug!(target: "fleet.boot", id = self.target.id, "wake pasted");
                        return Some(Act::Paste(text));
                    }
                    RingStep::Enter => {
                        tracing::debug!(target: "fleet.boot", id = self.target.id, "wake Enter");
                        return Some(Act::Keys(vec!["Enter"]));
                    }
                    RingStep::Done => {
                        let delivered = ringing.delivered();
                        tracing::debug!(target: "fleet.boot", id = self.target.id, delivered, "wake done");
                        self.woken = Some(delivered);
                        if delivered {
                            self.notes.push(format!("{}: woken", self.target.id));
                        }
                        self.finish(None);
                    }
                    RingStep::Refused(why) => {
                        let error = refused(&self.target, &why);
                        self.fail(error);
                    }
                    RingStep::Look | RingStep::LookAt(_) => {}
                },
                Phase::Done => {}
            }
            return None;
        }
    }

    /// When a wake wants its next look (its Enter is due then), if sooner
    /// than the next poll.
    fn look_at(&self) -> Option<Instant> {
        let Phase::Ringing(ringing) = &self.phase else {
            return None;
        };
        ringing.enter_due()
    }
}

/// Runs every machine in `boots` to its end (see the module doc). `ctx` is
/// needed only when a boot rings its worker (the MCP connection is read from
/// the bus). Progress lines go to `note`. Failures end up in each boot,
/// never aborting the others.
pub(super) async fn drive(
    ctx: Option<&Mutex<Ctx>>,
    tmux: &Tmux,
    boots: &mut [Boot],
    req: &SpawnRequest,
    note: &(dyn Fn(String) + Sync),
) {
    let mut seen_version = None;
    let mut connected: HashSet<String> = HashSet::new();
    let mut mcp_pause = Duration::from_millis(10);
    let mut boot_pause = BOOT_POLL;
    let mut last_seen: Vec<Option<Screen>> = vec![None; boots.len()];
    loop {
        let active: Vec<usize> = (0..boots.len()).filter(|&i| !boots[i].done()).collect();
        if active.is_empty() {
            return;
        }
        // Every worker to ring, in any phase: a connection recorded before
        // its pane was ready moves no data_version later.
        let unknown: Vec<String> = active
            .iter()
            .filter(|&&i| boots[i].rings() && !connected.contains(&boots[i].target.id))
            .map(|&i| boots[i].target.id.clone())
            .collect();
        if let (false, Some(ctx)) = (unknown.is_empty(), ctx) {
            match mcp_connections(ctx, &unknown, &mut seen_version) {
                Ok(ids) => connected.extend(ids),
                Err(e) => {
                    for &i in &active {
                        boots[i].fail(e.clone());
                    }
                    return;
                }
            }
        }
        let panes: Vec<String> = active
            .iter()
            .map(|&i| boots[i].target.pane.pane.clone())
            .collect();
        let shots = match tmux.capture_many(&panes).await {
            Ok(shots) => shots,
            Err(e) => {
                for &i in &active {
                    boots[i].fail(e.clone().into());
                }
                return;
            }
        };
        let now = Instant::now();
        let mut acts = Vec::new();
        let mut changed = false;
        for (&i, shot) in active.iter().zip(shots) {
            let boot = &mut boots[i];
            let Some(text) = shot else {
                boot.fail(Error::user("pane_gone", "its pane is gone"));
                continue;
            };
            let screen = screen::classify(&text);
            if last_seen[i].as_ref() != Some(&screen) {
                changed = true;
                last_seen[i] = Some(screen.clone());
            }
            let mcp_up = connected.contains(&boot.target.id);
            if let Some(act) = boot.step(&screen, now, mcp_up, req) {
                acts.push((i, act));
            }
            for line in boot.notes.drain(..) {
                note(line);
            }
        }
        // Every key of the round in one tmux call, the pastes beside it
        // (each through its own buffer, fed on stdin).
        let keys: Vec<(usize, &str, &[&str])> = acts
            .iter()
            .filter_map(|(i, act)| match act {
                Act::Keys(keys) => Some((*i, boots[*i].target.pane.pane.as_str(), keys.as_slice())),
                Act::Paste(_) => None,
            })
            .collect();
        let batch: Vec<(&str, &[&str])> = keys.iter().map(|(_, p, k)| (*p, *k)).collect();
        let pastes = acts.iter().filter_map(|(i, act)| match act {
            Act::Paste(text) => {
                let target = &boots[*i].target;
                Some(async move { (*i, target.tmux.paste(&target.pane.pane, text).await) })
            }
            Act::Keys(_) => None,
        });
        let (keyed, pasted) = futures::future::join(
            tmux.send_keys_many(&batch),
            futures::future::join_all(pastes),
        )
        .await;
        let failed: Vec<(usize, crate::tmux::TmuxError)> = keys
            .iter()
            .map(|(i, _, _)| *i)
            .zip(keyed)
            .chain(pasted)
            .filter_map(|(i, r)| r.err().map(|e| (i, e)))
            .collect();
        for (i, e) in failed {
            boots[i].fail(e.into());
        }
        let only_mcp = active
            .iter()
            .all(|&i| boots[i].done() || boots[i].waits_for_mcp());
        let pause = if !acts.is_empty() {
            KEY_POLL
        } else if only_mcp {
            let pause = mcp_pause;
            mcp_pause = (mcp_pause * 3 / 2).min(MCP_POLL_MAX);
            pause
        } else {
            let base = if active.iter().any(|&i| boots[i].busy()) {
                BUSY_POLL
            } else if changed {
                boot_pause = BOOT_POLL;
                BOOT_POLL
            } else {
                boot_pause = (boot_pause * 3 / 2).min(BOOT_POLL_MAX);
                boot_pause
            };
            active
                .iter()
                .filter_map(|&i| boots[i].look_at())
                .map(|at| at.saturating_duration_since(Instant::now()))
                .fold(base, Duration::min)
        };
        if !only_mcp {
            mcp_pause = Duration::from_millis(10);
        }
        let deadline = active
            .iter()
            .map(|&i| boots[i].deadline)
            .min()
            .map(|d| d.saturating_duration_since(Instant::now()));
        // Never sleep past a deadline by more than a poll.
        let pause = deadline.map_or(pause, |left| pause.min(left.max(KEY_POLL)));
        tokio::time::sleep(pause).await;
    }
}

/// Which of `ids` have their intercomm MCP server connected (recorded on
/// their session rows), read only when another process committed since the
/// last look (`data_version`).
fn mcp_connections(
    ctx: &Mutex<Ctx>,
    ids: &[String],
    seen_version: &mut Option<i64>,
) -> Result<Vec<String>> {
    with_ctx(ctx, |c| {
        let Some(bus) = c.existing_bus()? else {
            return Ok(Vec::new());
        };
        let version = messages::data_version(bus.conn()).map_err(db)?;
        if *seen_version == Some(version) {
            return Ok(Vec::new());
        }
        *seen_version = Some(version);
        let mut up = Vec::new();
        for id in ids {
            if sessions::mcp_connected_at(bus.conn(), id)
                .map_err(db)?
                .is_some()
            {
                up.push(id.clone());
            }
        }
        Ok(up)
    })
}
