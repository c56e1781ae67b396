//! Operations: what intercomm does, once, for both adapters. Every MCP tool
//! and every CLI subcommand is a few lines over a function here, which returns
//! a serialisable outcome with a readable [`Outcome::text`].
//!
//! [`Ctx`] is one process's view: the bus location, the bus connection
//! (opened lazily, created only by a write), who this process is, and which
//! instance it acts as.

pub mod assign;
pub mod identity;
pub mod messaging;
pub mod radar;
pub mod threads;
pub mod worktree;

use serde::Serialize;

use crate::bus::Bus;
use crate::bus::instances::{self, Instance, Role};
use crate::bus::messages;
use crate::clock;
use crate::error::{Error, Result};
use crate::location::BusPaths;
use crate::process::ProcessId;
use crate::tmux::Tmux;

/// A result a person or a model reads (`text`) and a program parses (the
/// serialised value, which carries the same facts).
pub trait Outcome: Serialize {
    /// The readable form.
    fn text(&self) -> String;
}

/// How often a registered process records a call in `last_active`, at most.
const TOUCH_EVERY_MS: i64 = 1_000;

/// Where this process's tmux pane is, from `TMUX_PANE` and `TMUX`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaneRef {
    /// Pane id, e.g. `%3`.
    pub pane: String,
    /// Socket path of the tmux server.
    pub socket: String,
}

impl PaneRef {
    /// This process's pane, if it runs in tmux.
    pub fn from_env() -> Option<Self> {
        let pane = crate::env::get(crate::env::TMUX_PANE)?;
        // TMUX is "<socket path>,<server pid>,<session index>".
        let socket = crate::env::get(crate::env::TMUX)
            .and_then(|t| t.split(',').next().map(str::to_owned))
            .unwrap_or_default();
        Some(Self { pane, socket })
    }
}

/// Which instance a call acts as, and on whose authority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// A registered process (an MCP server): it must still hold the row.
    Holder { id: String, role: Role },
    /// The operator at the command line, acting as an existing instance.
    Operator { id: String },
}

impl Identity {
    /// The instance id.
    pub fn id(&self) -> &str {
        match self {
            Self::Holder { id, .. } | Self::Operator { id } => id,
        }
    }
}

/// The instance a gated call acts as, after the gate checked it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acting {
    pub id: String,
    pub role: Role,
}

/// One process's state.
pub struct Ctx {
    pub paths: BusPaths,
    bus: Option<Bus>,
    /// This process, as it registers itself.
    pub process: ProcessId,
    /// Random token naming this process's registrations (`session_id`).
    pub token: String,
    pub pane: Option<PaneRef>,
    pub identity: Option<Identity>,
    /// The tmux server for new sessions and for panes recorded without a
    /// socket (from the environment; tests point it at a private server).
    pub tmux: Tmux,
    last_touch_ms: i64,
}

impl Ctx {
    /// A context for `paths`, identifying as `process`.
    pub fn new(paths: BusPaths, process: ProcessId, pane: Option<PaneRef>) -> Self {
        Self {
            paths,
            bus: None,
            process,
            token: uuid::Uuid::new_v4().to_string(),
            pane,
            identity: None,
            tmux: Tmux::from_env(),
            last_touch_ms: 0,
        }
    }

    /// The bus if its file exists (never creates it).
    pub fn existing_bus(&mut self) -> Result<Option<&mut Bus>> {
        if self.bus.is_none() {
            self.bus = Bus::open_existing(&self.paths)?;
        }
        Ok(self.bus.as_mut())
    }

    /// The bus, created if needed (only writes that start a project call this).
    pub fn bus(&mut self) -> Result<&mut Bus> {
        match self.bus {
            Some(ref mut bus) => Ok(bus),
            None => Ok(self.bus.insert(Bus::open_or_create(&self.paths)?)),
        }
    }

    /// The gate of every identity-bound call: this process is registered and
    /// still holds its id (or, at the CLI, the id exists). Records the call.
    pub fn acting(&mut self) -> Result<(&mut Bus, Acting)> {
        let gate = self.gate_inputs()?;
        let Some(bus) = self.existing_bus()? else {
            return Err(not_registered());
        };
        let mut lost = false;
        let outcome = gate.check(bus.conn(), &mut lost);
        let acting = self.settle(outcome, &gate, lost)?;
        let bus = self.bus.as_mut().ok_or_else(not_registered)?;
        Ok((bus, acting))
    }

    /// Runs `f` as the acting instance inside one `BEGIN IMMEDIATE`
    /// transaction that also holds the gate of [`Ctx::acting`]: one lock
    /// taken and one snapshot read per call, instead of a read transaction
    /// for each check and another for the write (fan-in of 16 senders:
    /// every transaction start after another process's commit reloads the
    /// pages it touches). Nothing is written when the gate or `f` fails.
    pub fn write_acting<T>(
        &mut self,
        f: impl FnOnce(&crate::bus::Conn, &Acting) -> Result<T>,
    ) -> Result<T> {
        self.acting_tx(true, f)
    }

    /// [`Ctx::write_acting`] for a send ([`Bus::write_send`]): on PostgreSQL
    /// the transaction takes no write lock.
    pub fn send_acting<T>(
        &mut self,
        f: impl FnOnce(&crate::bus::Conn, &Acting) -> Result<T>,
    ) -> Result<T> {
        self.acting_tx(false, f)
    }

    /// A send's quick path on PostgreSQL ([`messages::insert_if_clear`]: one
    /// round trip): message `id` of `kind` from this process's instance to
    /// `to`, stored when nothing stands in its way; returns its seq and the
    /// recipient. `None` when it does not apply (SQLite, the operator's
    /// identity, a message to itself, the instance's last call recorded
    /// too long ago) or something stands in the way: then nothing was
    /// written and the caller takes the full path ([`Ctx::send_acting`]),
    /// which says what.
    pub fn quick_send(
        &mut self,
        id: &str,
        to: &str,
        kind: messages::MessageType,
        content: &str,
        limit: i64,
    ) -> Result<Option<(i64, Instance)>> {
        let gate = self.gate_inputs()?;
        let (Identity::Holder { id: from, .. }, None) = (&gate.identity, gate.touch_at) else {
            return Ok(None);
        };
        if from == to {
            return Ok(None);
        }
        let Some(bus) = self.existing_bus()? else {
            return Ok(None);
        };
        let m = messages::NewMessage {
            id,
            from,
            to,
            kind,
            content,
            sent_at_ms: clock::now_ms(),
            in_reply_to: None,
        };
        let stored = messages::insert_if_clear(bus.conn(), &m, &gate.token, limit).map_err(db)?;
        Ok(stored.map(|(recipient, seq)| (seq, recipient)))
    }

    fn acting_tx<T>(
        &mut self,
        lock_first: bool,
        f: impl FnOnce(&crate::bus::Conn, &Acting) -> Result<T>,
    ) -> Result<T> {
        let gate = self.gate_inputs()?;
        let Some(bus) = self.existing_bus()? else {
            return Err(not_registered());
        };
        let mut lost = false;
        let body = |tx: &crate::bus::Conn| {
            let acting = gate.check(tx, &mut lost)?;
            f(tx, &acting)
        };
        let outcome = if lock_first {
            bus.write(body)
        } else {
            bus.write_send(body)
        };
        self.settle(outcome, &gate, lost)
    }

    /// What the gate needs from this context, read before the bus is borrowed.
    fn gate_inputs(&self) -> Result<Gate> {
        let Some(identity) = self.identity.clone() else {
            return Err(not_registered());
        };
        let now = clock::now_ms();
        Ok(Gate {
            identity,
            token: self.token.clone(),
            touch_at: (now - self.last_touch_ms >= TOUCH_EVERY_MS).then_some(now),
        })
    }

    /// Applies a gate's outcome to this context: a lost identity is
    /// forgotten; a recorded call restarts the touch interval.
    fn settle<T>(&mut self, outcome: Result<T>, gate: &Gate, lost: bool) -> Result<T> {
        if lost {
            self.identity = None;
        }
        if outcome.is_ok()
            && let Some(now) = gate.touch_at
        {
            self.last_touch_ms = now;
        }
        outcome
    }

    /// The gate of master-only calls.
    pub fn acting_master(&mut self) -> Result<(&mut Bus, Acting)> {
        let (bus, acting) = self.acting()?;
        if acting.role != Role::Master {
            return Err(Error::user("master_only", "Master-only action.").with_hint(
                "workers report to the master with intercomm_send or intercomm_escalate",
            ));
        }
        Ok((bus, acting))
    }

    /// Marks this process's row inactive (clean exit). Best effort.
    pub fn release(&mut self) {
        let Some(Identity::Holder { id, .. }) = self.identity.take() else {
            return;
        };
        let token = self.token.clone();
        if let Ok(Some(bus)) = self.existing_bus() {
            match instances::deactivate(bus.conn(), &id, &token) {
                Ok(true) => tracing::info!(target: "ops", %id, "instance marked inactive on exit"),
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(target: "ops", %id, %err, "cannot mark instance inactive")
                }
            }
        }
    }
}

/// One call's identity check: who this process says it is, its token, and
/// (when due) the time to record in `last_active`.
struct Gate {
    identity: Identity,
    token: String,
    touch_at: Option<i64>,
}

impl Gate {
    /// Checks the identity on `conn` and records the call when due. Sets
    /// `lost` when this process no longer holds its id.
    fn check(&self, conn: &crate::bus::Conn, lost: &mut bool) -> Result<Acting> {
        let holder = instances::holder(conn, self.identity.id(), &self.token).map_err(db)?;
        match (&self.identity, holder) {
            (Identity::Holder { id, .. }, Some((role, true))) => {
                if let Some(now) = self.touch_at {
                    instances::touch(conn, id, &self.token, now).map_err(db)?;
                }
                Ok(Acting {
                    id: id.clone(),
                    role,
                })
            }
            (Identity::Holder { id, role }, _) => {
                let row = instances::get(conn, id).map_err(db)?;
                *lost = true;
                Err(lost_identity(id, *role, row.as_ref()))
            }
            (Identity::Operator { id }, Some((role, _))) => Ok(Acting {
                id: id.clone(),
                role,
            }),
            (Identity::Operator { id }, None) => Err(Error::user(
                "unknown_instance",
                format!("no instance registered with id {id:?}"),
            )
            .with_hint("see `intercomm status` for registered ids")),
        }
    }
}

fn not_registered() -> Error {
    Error::user(
        "not_registered",
        "Not registered. Call intercomm_register first.",
    )
}

pub(crate) fn lost_identity(id: &str, role: Role, row: Option<&Instance>) -> Error {
    let by = match row {
        Some(r) if r.active => format!(
            "it is now held by another process (pid {}, registered at {})",
            r.process.pid,
            clock::hms(r.registered_at)
        ),
        Some(_) => "it was signed off or torn down".to_owned(),
        None => "its row was removed".to_owned(),
    };
    let mut err = Error::user(
        "identity_lost",
        format!(
            "this process no longer holds {id:?} ({}): {by}",
            role.as_str()
        ),
    )
    .with_hint("call intercomm_register again to get an id");
    if role == Role::Master {
        err.message.push_str("; master powers are revoked");
    }
    err
}

/// Checks a free-text argument's size.
pub fn check_content(field: &str, text: &str) -> Result<()> {
    let max = crate::bus::messages::MAX_CONTENT_BYTES;
    if text.len() > max {
        return Err(Error::invalid(
            field,
            format!("is {} bytes; the limit is {max} bytes (1 MiB)", text.len()),
        )
        .with_hint("put large content in a file in the repository and send its path"));
    }
    Ok(())
}

/// Short form of a session token, as status lines show it.
pub fn short(token: &str) -> &str {
    token.get(..8).unwrap_or(token)
}

/// Converts a bus-layer error.
pub(crate) fn db(err: crate::bus::StoreError) -> Error {
    crate::bus::BusError::from(err).into()
}
