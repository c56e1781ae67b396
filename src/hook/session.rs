//! SessionStart: the instance is ready; Claude is told intercomm is active.

use super::{Ctx, Reply, context_reply, state};
use crate::error::Error;

/// Records `ready` and answers with [`note`] as context.
pub fn start(ctx: &mut Ctx) -> Result<Reply, Error> {
    state::record(ctx, "ready", String::new())?;
    Ok(context_reply(ctx.event, Some(note())))
}

/// What a starting session is told: intercomm is active, how to begin.
pub fn note() -> String {
    "intercomm is active in this project: coordinate with other Claude instances through the \
     intercomm_* tools. The user picks one master, which calls intercomm_register(role: \"master\"); \
     every other instance calls intercomm_register(). The protocol is in the server's \
     instructions (intercomm_get_protocol)."
        .to_owned()
}
