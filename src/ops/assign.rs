//! Assigning a task contract to a worker (reference §3.2 tool 9). The
//! contract is built and then checked by the same parser `read` uses, so an
//! invalid contract is refused here instead of being flagged later (B16).

use serde::Serialize;

use super::{Ctx, Outcome, check_content, db};
use crate::bus::messages::{self, MessageType, NewMessage};
use crate::clock;
use crate::contract::{self, Contract, Target, TargetType};
use crate::error::{Error, Result};
use crate::names;

/// What the master asks for.
#[derive(Debug, Clone)]
pub struct AssignRequest {
    pub worker: String,
    pub role: String,
    pub role_instructions: String,
    pub target_type: TargetType,
    pub target_id: Option<i64>,
    pub target_slug: Option<String>,
    pub report_back: Vec<String>,
    pub wake: bool,
}

/// What an assignment did.
#[derive(Debug, Clone, Serialize)]
pub struct Assigned {
    pub message_id: String,
    pub worker: String,
    pub contract: Contract,
    pub woke: bool,
    /// Why the worker was not woken, when it was not.
    pub note: String,
}

impl Outcome for Assigned {
    fn text(&self) -> String {
        let t = &self.contract.aimfp_target;
        format!(
            "Assigned {} ({}) to {}; {}. [msg_id: {}]",
            t.kind.as_str(),
            t.idents(),
            self.worker,
            self.note,
            self.message_id
        )
    }
}

/// Builds, validates and sends a contract. Master only.
pub fn assign(ctx: &mut Ctx, req: AssignRequest) -> Result<Assigned> {
    names::check_id("worker", &req.worker)?;
    let slug = req
        .target_slug
        .as_deref()
        .map(|s| contract::js_trim(s).to_owned())
        .filter(|s| !s.is_empty());
    if req.target_id.is_none() && slug.is_none() {
        return Err(Error::user(
            "invalid_argument",
            "Provide target_id and/or target_slug to point at an AIMFP entity.",
        ));
    }
    let draft = Contract {
        role: req.role,
        role_instructions: req.role_instructions,
        aimfp_target: Target {
            kind: req.target_type,
            id: req.target_id,
            slug,
        },
        report_back: req.report_back,
    };
    let content = contract::build(&draft);
    let contract = contract::parse(&content)
        .map_err(|e| Error::user("invalid_argument", format!("invalid task contract: {e}")))?;
    check_content("role_instructions", &content)?;
    let (bus, me) = ctx.acting_master()?;
    if req.worker == me.id {
        return Err(Error::invalid(
            "worker",
            "the master cannot assign a task to itself",
        ));
    }
    let id = crate::ops::messaging::new_message_id();
    let worker_alive = bus.write(|tx| {
        let Some(row) = crate::ops::messaging::recipient(tx, &req.worker)? else {
            return Err(Error::user(
                "unknown_recipient",
                format!("No instance registered with id \"{}\"", req.worker),
            )
            .with_hint("spawn or register the worker first; intercomm_status lists ids"));
        };
        let now = clock::now_ms();
        messages::insert(
            tx,
            &NewMessage {
                id: &id,
                from: &me.id,
                to: &req.worker,
                kind: MessageType::Task,
                content: &content,
                sent_at_ms: now,
                in_reply_to: None,
            },
        )
        .map_err(db)?;
        // A spawned worker that has not registered yet still gets the wake.
        Ok(row.is_none_or(|r| r.is_alive(now)))
    })?;
    // With wake, the fleet layer rings the pane and fills in the note.
    let note = match (req.wake, worker_alive) {
        (false, _) => "not woken (wake=false); it reads the contract via intercomm_read".to_owned(),
        (true, false) => {
            "not woken: the worker is not running; the contract waits in its inbox".to_owned()
        }
        (true, true) => String::new(),
    };
    Ok(Assigned {
        message_id: id,
        worker: req.worker,
        contract,
        woke: false,
        note,
    })
}
