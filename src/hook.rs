//! `intercomm hook <Event>`: Claude Code's hooks report an instance's state
//! to the bus, and deliver its mail without anyone typing into its pane.
//!
//! | event             | state recorded  | answer                                             |
//! |-------------------|-----------------|----------------------------------------------------|
//! | SessionStart      | ready           | a note: intercomm is active, how to begin          |
//! | UserPromptSubmit  | running         | —                                                  |
//! | PreToolUse        | running (tool)  | "N unread from X" as context, when such mail waits |
//! | PermissionRequest | blocked (tool)  | — (the dialog is left to the person or the master) |
//! | Notification      | blocked / ready | —                                                  |
//! | Stop              | ready           | unread mail, as a block-with-reason (marked read)  |
//! | SessionEnd        | gone            | —                                                  |
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

use serde::Deserialize;
use serde_json::{Value, json};

use crate::bus::hooks::HookState;
use crate::bus::{Bus, hooks, instances, messages, sessions};
use crate::clock;
use crate::location::BusPaths;
use crate::ops::PaneRef;
use crate::ops::messaging::{self, ReadResult};

/// Environment variable that turns mail delivery by hooks off (`0`).
pub const MAIL_ENV: &str = "INTERCOMM_HOOK_MAIL";
/// Most messages one Stop hook delivers.
const STOP_MAIL_LIMIT: i64 = 20;

/// The hook events intercomm handles, named as Claude Code names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    SessionStart,
    UserPromptSubmit,
    PreToolUse,
    PermissionRequest,
    Notification,
    Stop,
    SessionEnd,
}

impl Event {
    /// Parses Claude Code's event name.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "SessionStart" => Self::SessionStart,
            "UserPromptSubmit" => Self::UserPromptSubmit,
            "PreToolUse" => Self::PreToolUse,
            "PermissionRequest" => Self::PermissionRequest,
            "Notification" => Self::Notification,
            "Stop" => Self::Stop,
            "SessionEnd" => Self::SessionEnd,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::SessionStart => "SessionStart",
            Self::UserPromptSubmit => "UserPromptSubmit",
            Self::PreToolUse => "PreToolUse",
            Self::PermissionRequest => "PermissionRequest",
            Self::Notification => "Notification",
            Self::Stop => "Stop",
            Self::SessionEnd => "SessionEnd",
        }
    }
}

/// The payload fields intercomm reads; all optional, unknown ones ignored.
#[derive(Debug, Default, Deserialize)]
pub struct Payload {
    #[serde(default)]
    pub session_id: Option<String>,
    #[serde(default)]
    pub tool_name: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub notification_type: Option<String>,
    #[serde(default)]
    pub stop_hook_active: Option<bool>,
    #[serde(default)]
    pub transcript_path: Option<String>,
}

/// Who is running the hook, from its environment.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// `INTERCOMM_WORKER_ID` (spawned workers).
    pub worker_id: Option<String>,
    /// `TMUX_PANE` and its server.
    pub pane: Option<PaneRef>,
    /// Mail delivery on (unless `INTERCOMM_HOOK_MAIL=0`).
    pub mail: bool,
}

impl Caller {
    /// From this process's environment.
    pub fn from_env() -> Self {
        Self {
            worker_id: crate::env::get(crate::env::WORKER_ID),
            pane: PaneRef::from_env(),
            mail: crate::env::get(MAIL_ENV).is_none_or(|v| v != "0"),
        }
    }
}

/// What the hook prints: JSON for Claude on stdout, a line for people on stderr.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reply {
    pub stdout: Option<Value>,
    pub stderr: Option<String>,
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
            };
        }
    };
    match run(event, &payload, paths, caller) {
        Ok(reply) => reply,
        Err(e) => Reply {
            stdout: None,
            stderr: Some(format!("intercomm hook {}: {e} (ignored)", event.name())),
        },
    }
}

fn run(
    event: Event,
    payload: &Payload,
    paths: &BusPaths,
    caller: &Caller,
) -> Result<Reply, crate::error::Error> {
    let note = (event == Event::SessionStart).then(session_note);
    let Some(mut bus) = Bus::open_existing(paths)? else {
        return Ok(context_reply(event, note));
    };
    let Some(id) = whoami(&bus, caller)? else {
        return Ok(context_reply(event, note));
    };
    let (state, detail) = match event {
        Event::SessionStart | Event::Stop => ("ready", String::new()),
        Event::UserPromptSubmit => ("running", String::new()),
        Event::PreToolUse => ("running", payload.tool_name.clone().unwrap_or_default()),
        Event::PermissionRequest => ("blocked", payload.tool_name.clone().unwrap_or_default()),
        Event::SessionEnd => ("gone", String::new()),
        Event::Notification => {
            let before = hooks::get(bus.conn(), &id).map_err(crate::ops::db)?;
            notification_state(payload, before.as_ref())
        }
    };
    hooks::put(
        bus.conn(),
        &hooks::HookState {
            id: id.clone(),
            state: state.to_owned(),
            detail,
            claude_session: payload.session_id.clone().unwrap_or_default(),
            at_ms: clock::now_ms(),
        },
    )
    .map_err(crate::ops::db)?;
    if let Some(deny) = crate::cost::gate::on_hook(
        &mut bus,
        &paths.dir(),
        &id,
        event == Event::PreToolUse,
        payload.transcript_path.as_deref(),
    )? {
        return Ok(Reply {
            stdout: Some(deny),
            stderr: None,
        });
    }
    Ok(match event {
        Event::Stop if caller.mail => stop_mail(&mut bus, &id)?,
        Event::PreToolUse if caller.mail && !is_intercomm_tool(payload) => {
            context_reply(event, urgent_mail_note(&bus, &id)?)
        }
        _ => context_reply(event, note),
    })
}

/// The instance this Claude is: the spawned worker's id, else the instance
/// that registered from this pane.
fn whoami(bus: &Bus, caller: &Caller) -> Result<Option<String>, crate::error::Error> {
    let conn = bus.conn();
    if let Some(id) = &caller.worker_id {
        let known = instances::get(conn, id).map_err(crate::ops::db)?.is_some()
            || sessions::get(conn, id).map_err(crate::ops::db)?.is_some();
        return Ok(known.then(|| id.clone()));
    }
    let Some(pane) = &caller.pane else {
        return Ok(None);
    };
    let now = clock::now_ms();
    Ok(instances::list(conn)
        .map_err(crate::ops::db)?
        .into_iter()
        .filter(|r| {
            r.pane == pane.pane
                && (r.tmux_socket.is_empty()
                    || pane.socket.is_empty()
                    || r.tmux_socket == pane.socket)
        })
        .max_by_key(|r| (r.is_alive(now), r.registered_at))
        .map(|r| r.id))
}

/// Permission prompts block; anything else ("Claude is waiting for your
/// input") means idle. The tool asked about: named by older messages
/// ("Claude needs your permission to use Bash"); 2.1.197 says only "Claude
/// needs your permission", so it is the tool the hooks last saw about to
/// run or asking (`before`, from PreToolUse or PermissionRequest).
fn notification_state(payload: &Payload, before: Option<&HookState>) -> (&'static str, String) {
    let message = payload.message.clone().unwrap_or_default();
    let kind = payload.notification_type.as_deref().unwrap_or("");
    if kind == "permission_prompt" || message.contains("permission") {
        let named = message
            .split("permission to use ")
            .nth(1)
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty());
        let seen = before
            .filter(|h| h.state == "running" || h.state == "blocked")
            .map(|h| h.detail.clone());
        ("blocked", named.or(seen).unwrap_or_default())
    } else {
        ("ready", message)
    }
}

fn is_intercomm_tool(payload: &Payload) -> bool {
    payload
        .tool_name
        .as_deref()
        .is_some_and(|t| t.contains("intercomm_"))
}

fn session_note() -> String {
    "intercomm is active in this project: coordinate with other Claude instances through the \
     intercomm_* tools. The user picks one master, which calls intercomm_register(role: \"master\"); \
     every other instance calls intercomm_register(). The protocol is in the server's \
     instructions (intercomm_get_protocol)."
        .to_owned()
}

/// An answer adding `note` as context, if any.
fn context_reply(event: Event, note: Option<String>) -> Reply {
    Reply {
        stdout: note.map(|n| {
            json!({"hookSpecificOutput": {"hookEventName": event.name(), "additionalContext": n}})
        }),
        stderr: None,
    }
}

/// "2 unread from master (answer, task)" for mail other than status and
/// announcements, or `None`.
fn urgent_mail_note(bus: &Bus, id: &str) -> Result<Option<String>, crate::error::Error> {
    let conn = bus.conn();
    let cursor = messages::cursor(conn, id).map_err(crate::ops::db)?;
    let waiting = messages::inbox(conn, id, cursor, STOP_MAIL_LIMIT).map_err(crate::ops::db)?;
    let urgent: Vec<_> = waiting
        .iter()
        .filter(|m| m.kind != "status" && m.kind != "announce")
        .collect();
    if urgent.is_empty() {
        return Ok(None);
    }
    let mut senders: Vec<&str> = urgent.iter().map(|m| m.from.as_str()).collect();
    senders.dedup();
    Ok(Some(format!(
        "intercomm: {} unread message(s) from {} wait for you; call intercomm_read when this step is done.",
        urgent.len(),
        senders.join(", ")
    )))
}

/// At Stop: hands unread mail back to Claude (block with the mail as the
/// reason) and marks it read, once.
fn stop_mail(bus: &mut Bus, id: &str) -> Result<Reply, crate::error::Error> {
    let taken: ReadResult = messaging::take_unread(bus, id, false, STOP_MAIL_LIMIT, true)?;
    if taken.count == 0 {
        return Ok(Reply::default());
    }
    let reason = format!(
        "intercomm delivered new mail for {id} (now marked read). Act on it as the protocol says, then stop.\n{}",
        crate::ops::Outcome::text(&taken)
    );
    Ok(Reply {
        stdout: Some(json!({"decision": "block", "reason": reason})),
        stderr: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(state: &str, detail: &str) -> HookState {
        HookState {
            id: "worker-1".into(),
            state: state.into(),
            detail: detail.into(),
            claude_session: String::new(),
            at_ms: 0,
        }
    }

    #[test]
    fn notification_permission_prompts_name_the_tool() {
        let named = Payload {
            message: Some("Claude needs your permission to use Bash".into()),
            ..Payload::default()
        };
        assert_eq!(
            notification_state(&named, None),
            ("blocked", "Bash".to_owned())
        );
        // Claude Code 2.1.197: no tool in the message; the tool is the one
        // PreToolUse / PermissionRequest named.
        let bare = Payload {
            message: Some("Claude needs your permission".into()),
            notification_type: Some("permission_prompt".into()),
            ..Payload::default()
        };
        assert_eq!(
            notification_state(&bare, Some(&seen("blocked", "Bash"))),
            ("blocked", "Bash".to_owned())
        );
        assert_eq!(
            notification_state(&bare, Some(&seen("running", "Write"))),
            ("blocked", "Write".to_owned())
        );
        assert_eq!(
            notification_state(&bare, Some(&seen("ready", "Claude is waiting"))),
            ("blocked", String::new())
        );
        assert_eq!(notification_state(&bare, None), ("blocked", String::new()));
        let idle = Payload {
            message: Some("Claude is waiting for your input".into()),
            notification_type: Some("idle_prompt".into()),
            ..Payload::default()
        };
        assert_eq!(
            notification_state(&idle, Some(&seen("blocked", "Bash"))).0,
            "ready"
        );
    }

    #[test]
    fn event_names_are_claudes() {
        for name in [
            "SessionStart",
            "UserPromptSubmit",
            "PreToolUse",
            "PermissionRequest",
            "Notification",
            "Stop",
            "SessionEnd",
        ] {
            assert_eq!(Event::parse(name).map(Event::name), Some(name));
        }
        assert_eq!(Event::parse("stop"), None);
    }
}
