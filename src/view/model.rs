//! What `top` and `watch` show, built from a [`Snapshot`] of the bus, the
//! last fleet scan (screen states) and git progress, by pure functions:
//! the same inputs give the same model, and no text from the bus reaches
//! the terminal with a control character in it ([`clean`]).

use std::collections::BTreeMap;

use serde::Serialize;

use super::snapshot::{Member, Snapshot};
use crate::bus::instances::Role;
use crate::clock;
use crate::cost::Spend;
use crate::git::Progress;
use crate::radar::Radar;
use crate::screen::PaneState;

/// What the last scan saw on one pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The scan's state (hooks and screen combined); `None`: pane gone.
    pub state: Option<PaneState>,
    /// A permission prompt's tool and its command or arguments.
    pub tool: Option<String>,
    pub detail: Option<String>,
}

/// A coarse state, for colour and for decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Ready,
    Running,
    Blocked,
    Waiting,
    Starting,
    Gone,
}

/// One row of the fleet table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub id: String,
    pub role: &'static str,
    pub host: String,
    pub kind: Kind,
    /// The state with its reason: `blocked: Bash rm -rf build`, `running 2m`.
    pub state: String,
    pub summary: String,
    pub unread: i64,
    /// Milliseconds since its last message, if it sent one.
    pub last_message_ms: Option<i64>,
    pub branch: String,
    pub progress: Option<Progress>,
    pub spend: Option<Spend>,
    /// Has a tmux pane the view can attach to.
    pub has_pane: bool,
}

/// Something that waits for the master (or the person at `top`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Decision {
    /// A worker's tool waits for permission.
    Permission {
        worker: String,
        tool: String,
        detail: String,
    },
    /// A question to the master with no reply yet.
    Question {
        from: String,
        message_id: String,
        text: String,
    },
}

impl Decision {
    /// The instance it concerns.
    pub fn who(&self) -> &str {
        match self {
            Self::Permission { worker, .. } => worker,
            Self::Question { from, .. } => from,
        }
    }
}

/// One message, as one line of the stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    pub seq: i64,
    /// The message id (for replies).
    pub id: String,
    pub at_ms: i64,
    pub from: String,
    pub to: String,
    pub kind: String,
    /// The content on one line, cleaned; a contract shows as its target.
    pub text: String,
    /// The sender of the message this one answers, when it is a reply.
    pub reply_to: Option<String>,
}

/// Everything a view shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Model {
    pub now_ms: i64,
    /// Local time's offset from UTC, in seconds (times are shown local).
    pub utc_offset_s: i32,
    pub rows: Vec<Row>,
    pub lines: Vec<Line>,
    pub decisions: Vec<Decision>,
    pub fleet: Spend,
    /// The merge radar over the workers' worktrees (set by the feed with
    /// the git counts; empty from [`Model::build`]).
    pub radar: Radar,
}

impl Model {
    /// Builds the model at `now_ms`.
    pub fn build(
        snap: &Snapshot,
        seen: &BTreeMap<String, Seen>,
        progress: &BTreeMap<String, Progress>,
        now_ms: i64,
    ) -> Self {
        let mut rows = Vec::new();
        let mut decisions = Vec::new();
        for m in &snap.members {
            let (kind, state) = state_of(m, seen.get(&m.id), now_ms);
            if kind == Kind::Blocked {
                let s = seen.get(&m.id);
                decisions.push(Decision::Permission {
                    worker: m.id.clone(),
                    tool: clean(
                        s.and_then(|s| s.tool.clone())
                            .or_else(|| m.hook.as_ref().map(|h| h.detail.clone()))
                            .unwrap_or_default()
                            .as_str(),
                    ),
                    detail: clean(s.and_then(|s| s.detail.as_deref()).unwrap_or("")),
                });
            }
            rows.push(Row {
                id: m.id.clone(),
                role: m.role.as_str(),
                host: clean(&m.host),
                kind,
                state,
                summary: clean(m.summary.as_deref().unwrap_or("")),
                unread: m.unread,
                last_message_ms: m.last_sent_ms.map(|t| (now_ms - t).max(0)),
                branch: clean(m.branch.as_deref().unwrap_or("")),
                progress: progress.get(&m.id).copied(),
                spend: snap.spend.get(&m.id).cloned(),
                has_pane: m.pane.is_some(),
            });
        }
        for q in &snap.questions {
            decisions.push(Decision::Question {
                from: q.message.from.clone(),
                message_id: q.message.id.clone(),
                text: clean(&q.message.content),
            });
        }
        let by_id: BTreeMap<&str, &str> = snap
            .messages
            .iter()
            .map(|m| (m.id.as_str(), m.from.as_str()))
            .collect();
        let lines = snap
            .messages
            .iter()
            .map(|m| Line {
                seq: m.seq,
                id: m.id.clone(),
                at_ms: m.sent_at_ms,
                from: m.from.clone(),
                to: m.to.clone(),
                kind: clean(&m.kind),
                text: if m.kind == "task" {
                    contract_line(&m.content)
                } else {
                    clean(&m.content)
                },
                reply_to: m
                    .in_reply_to
                    .as_deref()
                    .map(|r| by_id.get(r).map_or("?", |f| f).to_owned()),
            })
            .collect();
        Self {
            now_ms,
            utc_offset_s: 0,
            rows,
            lines,
            decisions,
            fleet: crate::cost::total(snap.spend.values()),
            radar: Radar::default(),
        }
    }
}

/// The coarse state and its label.
fn state_of(m: &Member, seen: Option<&Seen>, now_ms: i64) -> (Kind, String) {
    let since = |at: i64| clock::ago(now_ms - at);
    if let Some(s) = seen {
        let what = || {
            let tool = s.tool.as_deref().unwrap_or("tool");
            match s.detail.as_deref() {
                Some(d) if !d.is_empty() => clean(&format!("{tool} {d}")),
                _ => clean(tool),
            }
        };
        return match s.state {
            None => (Kind::Gone, "gone: pane closed".to_owned()),
            Some(PaneState::Blocked | PaneState::Waiting) => {
                (Kind::Blocked, format!("blocked: {}", what()))
            }
            Some(PaneState::Ready) => (Kind::Ready, "ready".to_owned()),
            Some(PaneState::Running) => (
                Kind::Running,
                match &m.hook {
                    Some(h) if h.state == "running" => format!("running {}", since(h.at_ms)),
                    _ => "running".to_owned(),
                },
            ),
            Some(PaneState::Exited) => (Kind::Gone, "gone: claude exited".to_owned()),
            Some(PaneState::Unknown) => (Kind::Starting, "starting".to_owned()),
            Some(dialog) => (
                Kind::Waiting,
                format!("waiting: {} dialog", dialog.as_str().replace('_', " ")),
            ),
        };
    }
    if !m.alive && !m.spawned {
        let why = if m.active { "gone" } else { "signed off" };
        return (Kind::Gone, why.to_owned());
    }
    match &m.hook {
        Some(h) if h.state == "running" => {
            let tool = if h.detail.is_empty() {
                String::new()
            } else {
                format!(" ({})", clean(&h.detail))
            };
            (Kind::Running, format!("running {}{tool}", since(h.at_ms)))
        }
        Some(h) if h.state == "blocked" => (
            Kind::Blocked,
            format!(
                "blocked: {}",
                clean(if h.detail.is_empty() {
                    "permission"
                } else {
                    &h.detail
                })
            ),
        ),
        Some(h) if h.state == "ready" => (Kind::Ready, "ready".to_owned()),
        Some(h) if h.state == "gone" => (Kind::Gone, "gone: session ended".to_owned()),
        _ if m.alive => (Kind::Ready, "alive".to_owned()),
        _ if m.role == Role::Worker && m.spawned => (Kind::Starting, "starting".to_owned()),
        _ => (Kind::Gone, "gone".to_owned()),
    }
}

/// A task contract as one line: `contract: <role> → <target>`, or the raw
/// (cleaned) text when it does not parse as one.
fn contract_line(content: &str) -> String {
    match crate::contract::parse(content) {
        Ok(c) => clean(&format!(
            "contract: {} on {} {}",
            c.role,
            c.aimfp_target.kind.as_str(),
            c.aimfp_target.idents()
        )),
        Err(_) => clean(content),
    }
}

/// `text` on one line with nothing a terminal would interpret: line breaks
/// and tabs become spaces, every other control character (ESC, CR, BEL,
/// C1 controls such as CSI) becomes `�`. Bidirectional overrides are
/// replaced too, so that text cannot reorder what follows it.
pub fn clean(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\t' => ' ',
            c if c.is_control() => '\u{FFFD}',
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => '\u{FFFD}',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_cannot_inject_terminal_escapes() {
        let evil = "hi\x1b]0;owned\x07\x1b[2J\r\u{9b}31m\u{202e}gnp.exe\nnext";
        let c = clean(evil);
        assert!(!c.chars().any(|ch| ch.is_control()), "{c:?}");
        assert!(!c.contains('\u{202e}'));
        assert!(c.starts_with("hi\u{FFFD}]0;owned"));
        assert!(c.ends_with(" next"));
    }
}
