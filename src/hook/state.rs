//! The state a hook records for its instance (`hook_states`), and the events
//! whose only effect is that record.

use super::{Ctx, Payload, Reply};
use crate::bus::hooks::{self, HookState};
use crate::clock;
use crate::error::Error;

/// Records `state` (`ready`, `running`, `blocked`, `gone`) with `detail`
/// (the tool, or the notification text) for the hook's instance.
pub fn record(ctx: &mut Ctx, state: &str, detail: String) -> Result<(), Error> {
    hooks::put(
        ctx.bus.conn(),
        &HookState {
            id: ctx.id.clone(),
            state: state.to_owned(),
            detail,
            claude_session: ctx.payload.session_id.clone().unwrap_or_default(),
            at_ms: clock::now_ms(),
        },
    )
    .map_err(crate::ops::db)
}

/// UserPromptSubmit: `running`.
pub fn prompt_submitted(ctx: &mut Ctx) -> Result<Reply, Error> {
    record(ctx, "running", String::new())?;
    Ok(Reply::default())
}

/// PermissionRequest: `blocked` on the tool; the dialog is left to the
/// person or the master.
pub fn permission_request(ctx: &mut Ctx) -> Result<Reply, Error> {
    let tool = ctx.payload.tool_name.clone().unwrap_or_default();
    record(ctx, "blocked", tool)?;
    Ok(Reply::default())
}

/// Notification: `blocked` for a permission prompt, else `ready`.
pub fn notification(ctx: &mut Ctx) -> Result<Reply, Error> {
    let before = hooks::get(ctx.bus.conn(), &ctx.id).map_err(crate::ops::db)?;
    let (state, detail) = notification_state(ctx.payload, before.as_ref());
    record(ctx, state, detail)?;
    Ok(Reply::default())
}

/// SessionEnd: `gone`.
pub fn session_end(ctx: &mut Ctx) -> Result<Reply, Error> {
    record(ctx, "gone", String::new())?;
    Ok(Reply::default())
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
}
