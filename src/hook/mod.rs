//! `intercomm hook <Event>`: Claude Code's hooks report an instance's state
//! to the bus, and deliver its mail without anyone typing into its pane.
//!
//! | event             | state recorded  | answer                                             |
//! |-------------------|-----------------|----------------------------------------------------|
//! | SessionStart      | ready           | a note: intercomm is active, how to begin          |
//! | UserPromptSubmit  | running         | —                                                  |
//! | PreToolUse        | running (tool)  | "N unread from X" as context, when such mail waits |
//! | PostToolUse       | —               | — (a write tool's path goes to the merge radar)    |
//! | PermissionRequest | blocked (tool)  | a worker's: the master's decision from the bus     |
//! | Notification      | blocked / ready | —                                                  |
//! | Stop              | ready           | unread mail, as a block-with-reason (marked read); |
//! |                   |                 | the worktree's changed paths go to the merge radar |
//! | SessionEnd        | gone            | —                                                  |
//! | Rewake (Stop, SessionStart; asyncRewake) | — | exit 2 with a notice when new mail comes |
//!
//! Claude Code hook I/O, as Claude Code 2.1.197 sends it (payloads recorded
//! in tests/fixtures/hooks by scripts/capture-hooks): JSON on stdin with
//! `session_id`, `transcript_path`, `cwd`, `hook_event_name`, and per event
//! `source` (SessionStart), `prompt` (UserPromptSubmit), `tool_name` and
//! `tool_input` (PreToolUse, PermissionRequest), `message` and
//! `notification_type` (Notification), `stop_hook_active` (Stop), `reason`
//! (SessionEnd). A permission prompt's Notification says only "Claude needs
//! your permission" (no tool) and comes only once the dialog has been shown
//! with no key pressed for 6 s; PermissionRequest comes as the dialog appears
//! and names the tool. Exit 0 with JSON on stdout answers: a Stop
//! hook's `{"decision":"block","reason":…}` makes Claude continue with
//! "Stop hook feedback:\n<reason>" as its next user message;
//! `hookSpecificOutput.additionalContext` reaches the model (SessionStart's as
//! a system entry, PreToolUse's as a `<system-reminder>` beside the tool's
//! result). A hook must never break the session: every failure here ends in
//! exit 0 with a line on stderr, and the bus is never created by a hook.
//!
//! Layout: this file parses the event and payload and dispatches; each
//! concern has its own file ([`caller`] who the hook runs for, [`state`] the
//! state a hook records, [`mail`] mail delivery, [`session`] the session-start
//! note). Adding an event: its name in the `events!` list below, a file with
//! its handler (`fn(&mut Ctx) -> Result<Reply, Error>`), and one arm in
//! [`dispatch`].

mod caller;
pub mod features;
mod mail;
pub mod permission;
mod radar;
pub mod rewake;
mod session;
mod state;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::bus::Bus;
use crate::error::Error;
use crate::location::BusPaths;

pub use caller::Caller;
pub use mail::MAIL_ENV;

/// Declares [`Event`] from Claude Code's event names, so that a new event is
/// one name here.
macro_rules! events {
    ($($name:ident),* $(,)?) => {
        /// The hook events intercomm handles, named as Claude Code names them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Event {
            $($name),*
        }

        impl Event {
            /// Every event, in declaration order.
            pub const ALL: &[Event] = &[$(Event::$name),*];

            /// Claude Code's name of the event, e.g. `"SessionStart"`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$name => stringify!($name)),*
                }
            }
        }
    };
}

events! {
    SessionStart,
    UserPromptSubmit,
    PreToolUse,
    PostToolUse,
    PermissionRequest,
    Notification,
    Stop,
    SessionEnd,
    // intercomm's own: the asyncRewake waiter, run on Stop and SessionStart.
    Rewake,
}

impl Event {
    /// Parses Claude Code's event name (exact, case-sensitive).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|e| e.name() == name)
    }
}

/// The payload fields intercomm reads; all optional, unknown ones ignored.
#[derive(Debug, Default, Deserialize)]
pub struct Payload {
    #[serde(default)]
    pub session_id: Option<String>,
    /// The session's transcript (JSONL), every event.
    #[serde(default)]
    pub transcript_path: Option<String>,
    /// SessionStart: `startup`, `resume`, `clear` or `compact`.
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub tool_name: Option<String>,
    /// PreToolUse, PostToolUse, PermissionRequest: the tool's arguments.
    #[serde(default)]
    pub tool_input: Option<Value>,
    /// PermissionRequest: the rules Claude Code would add for "always".
    #[serde(default)]
    pub permission_suggestions: Option<Value>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub notification_type: Option<String>,
    #[serde(default)]
    pub stop_hook_active: Option<bool>,
}

/// What the hook prints: JSON for Claude on stdout, a line for people on
/// stderr; `wake`: exit 2, which for an `asyncRewake` hook wakes the idle
/// model with the stderr text (else exit 0).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reply {
    pub stdout: Option<Value>,
    pub stderr: Option<String>,
    pub wake: bool,
}

/// What an event's handler works with: the open bus, the instance the hook
/// runs for (known to the bus), the payload and the caller's environment.
pub struct Ctx<'a> {
    pub event: Event,
    pub bus: &'a mut Bus,
    /// The instance id (a worker id or a registered instance).
    pub id: String,
    pub payload: &'a Payload,
    pub caller: &'a Caller,
}

/// Handles one hook call. Never fails: problems become a stderr line.
pub fn handle(event: Event, input: &str, paths: &BusPaths, caller: &Caller) -> Reply {
    let payload: Payload = match serde_json::from_str(input) {
        Ok(p) => p,
        Err(e) => {
            return Reply {
                stdout: None,
                stderr: Some(format!(
                    "intercomm hook {}: ignoring unreadable payload: {e}",
                    event.name()
                )),
                wake: false,
            };
        }
    };
    match run(event, &payload, paths, caller) {
        Ok(reply) => reply,
        Err(e) => Reply {
            stdout: None,
            stderr: Some(format!("intercomm hook {}: {e} (ignored)", event.name())),
            wake: false,
        },
    }
}

fn run(event: Event, payload: &Payload, paths: &BusPaths, caller: &Caller) -> Result<Reply, Error> {
    let Some(mut bus) = Bus::open_existing(paths)? else {
        return Ok(unknown(event));
    };
    let Some(id) = caller::whoami(&bus, caller)? else {
        return Ok(unknown(event));
    };
    // Cost: records the session's transcript, and stops a worker over its
    // cap at its next tool call (crate::cost::gate).
    if let Some(deny) = crate::cost::gate::on_hook(
        &mut bus,
        &paths.dir(),
        &id,
        event == Event::PreToolUse,
        payload.transcript_path.as_deref(),
    )? {
        return Ok(Reply {
            stdout: Some(deny),
            ..Reply::default()
        });
    }
    dispatch(&mut Ctx {
        event,
        bus: &mut bus,
        id,
        payload,
        caller,
    })
}

/// The answer when there is no bus or the instance is unknown to it.
fn unknown(event: Event) -> Reply {
    match event {
        Event::SessionStart => context_reply(event, Some(session::note())),
        _ => Reply::default(),
    }
}

/// One arm per event: its handler.
fn dispatch(ctx: &mut Ctx) -> Result<Reply, Error> {
    match ctx.event {
        Event::SessionStart => session::start(ctx),
        Event::UserPromptSubmit => state::prompt_submitted(ctx),
        Event::PreToolUse => mail::pre_tool_use(ctx),
        Event::PostToolUse => radar::post_tool_use(ctx),
        Event::PermissionRequest => permission::request(ctx),
        Event::Notification => state::notification(ctx),
        Event::Stop => {
            // The radar must never cost the worker its mail.
            if let Err(err) = radar::turn_ended(ctx) {
                tracing::warn!(target: "hook", %err, "merge radar: cannot read the worktree");
            }
            mail::stop(ctx)
        }
        Event::SessionEnd => state::session_end(ctx),
        Event::Rewake => rewake::wait(ctx),
    }
}

/// An answer adding `note` as context, if any.
pub fn context_reply(event: Event, note: Option<String>) -> Reply {
    Reply {
        stdout: note.map(|n| {
            json!({"hookSpecificOutput": {"hookEventName": event.name(), "additionalContext": n}})
        }),
        stderr: None,
        wake: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_are_claudes() {
        for name in [
            "SessionStart",
            "UserPromptSubmit",
            "PreToolUse",
            "PostToolUse",
            "PermissionRequest",
            "Notification",
            "Stop",
            "SessionEnd",
            "Rewake",
        ] {
            assert_eq!(Event::parse(name).map(Event::name), Some(name));
        }
        assert_eq!(Event::parse("stop"), None);
        assert_eq!(Event::ALL.len(), 9);
    }
}
