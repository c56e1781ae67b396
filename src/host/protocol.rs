//! The host agent's protocol: JSON lines over the SSH channel, one request
//! line from the master, one answer line from the agent, matched by `id`.
//!
//! ```text
//! master → {"id":0,"op":"hello","protocol":1,"version":"0.1.0"}
//! agent  ← {"id":0,"ok":{"protocol":1,"version":"0.1.0"}}
//! master → {"id":1,"op":"panes","socket":"","capture":[{"pane":"%3","session_id":"$2"}]}
//! agent  ← {"id":1,"ok":{"panes":[…],"captures":["…screen text…"]}}
//! agent  ← {"id":7,"error":{"code":"pane_gone","message":"…","hint":null}}
//! ```
//!
//! The hello comes first; an agent of another protocol number or another
//! intercomm version answers `version_mismatch` and exits, and the master
//! refuses such a host (no version skew between the two ends of a pane
//! operation). Every request names one high-level operation that the agent
//! runs with the fleet code on its own host ([`crate::fleet::host`]), so the
//! paste → Enter → verify loops never wait on the network.

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};
use crate::fleet::dialog::Choice;
use crate::fleet::spawn::PermMode;
use crate::screen::PaneState;
use crate::tmux::PaneInfo;

/// The protocol number; raised on any incompatible change.
pub const PROTOCOL: u32 = 1;

/// This intercomm's version, which the agent must match exactly.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Longest request or answer line accepted, in bytes (a 16-pane capture of
/// 200×50 panes is ~200 KiB; a git bundle in base64 is the big one).
pub const MAX_LINE: usize = 64 << 20;

/// A pane on the agent's host: its id and, for a spawned session, the tmux
/// session id it must still belong to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaneAt {
    pub pane: String,
    pub session_id: Option<String>,
}

/// A worker's pane on the agent's host, as the master resolved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemotePane {
    /// The instance id.
    pub id: String,
    pub pane: PaneInfo,
}

/// One session to start (`launch`): the same fields as
/// [`crate::tmux::NewSession`], owned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchSpec {
    pub name: String,
    /// Working folder on the host.
    pub dir: String,
    pub env: Vec<(String, String)>,
    pub argv: Vec<String>,
}

/// One worker to boot (`boot`): its pane and the wake prompt, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootSpec {
    pub target: RemotePane,
    pub wake: Option<String>,
}

/// A request (see the module doc). Field names are the wire names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// The handshake; the first line, and only then.
    Hello { protocol: u32, version: String },
    /// Lists the panes of the tmux server at `socket` ("" = the agent's
    /// own) and captures the live ones of `capture`. Answer: [`Panes`].
    Panes {
        socket: String,
        capture: Vec<PaneAt>,
    },
    /// Starts sessions in one tmux call. Answer: `Vec<Result<PaneInfo>>` as
    /// [`Launched`].
    Launch { sessions: Vec<LaunchSpec> },
    /// Boots launched workers: dialogs cleared, the MCP connection awaited
    /// on the bus (the PostgreSQL bus at `bus` when given, else the file
    /// under `bus_root`), the wake typed. Answer: `Vec<`[`Booted`]`>`.
    Boot {
        bus_root: String,
        #[serde(default)]
        bus: Option<String>,
        perm_mode: PermMode,
        accept_api_key: bool,
        ready_timeout_secs: i64,
        workers: Vec<BootSpec>,
    },
    /// Types the doorbell `text` into a pane and verifies it. Answer: [`Woken`].
    Wake { target: RemotePane, text: String },
    /// Answers the dialog on a pane. Answer: [`PaneAnswer`].
    Approve {
        target: RemotePane,
        choice: Choice,
        timeout_secs: i64,
    },
    /// Kills the named sessions (`(name, session id)`) that still exist.
    /// Answer: `Vec<bool>`, killed or not, in order.
    Kill {
        socket: String,
        sessions: Vec<(String, String)>,
    },
    /// Makes worktree `name` of the host's copy `repo` of the master's
    /// repository, detached at `commit`, after fetching the base64 git
    /// `bundle` (which holds `refs/intercomm/base/<name>`). Answer: the
    /// worktree's path on the host.
    WorktreeAdd {
        repo: String,
        name: String,
        commit: String,
        bundle: String,
    },
    /// Bundles `refs/heads/<branch>` of the host's copy `repo`, without the
    /// commits `base` reaches (the master has them). Answer: [`BranchBundle`].
    BranchBack {
        repo: String,
        branch: String,
        base: String,
    },
    /// Removes worktree `name` of `repo` (refusing changes unless `force`).
    /// Answer: `true`. (No answer is ever `null`: that reads as empty.)
    WorktreeRemove {
        repo: String,
        name: String,
        force: bool,
    },
}

impl Request {
    /// The operation's wire name, for logs and errors.
    pub fn op(&self) -> &'static str {
        match self {
            Self::Hello { .. } => "hello",
            Self::Panes { .. } => "panes",
            Self::Launch { .. } => "launch",
            Self::Boot { .. } => "boot",
            Self::Wake { .. } => "wake",
            Self::Approve { .. } => "approve",
            Self::Kill { .. } => "kill",
            Self::WorktreeAdd { .. } => "worktree_add",
            Self::BranchBack { .. } => "branch_back",
            Self::WorktreeRemove { .. } => "worktree_remove",
        }
    }
}

/// A request line: the id the answer repeats, and the request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestLine {
    pub id: u64,
    #[serde(flatten)]
    pub request: Request,
}

/// An answer line: `ok` or `error`, never both.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnswerLine {
    pub id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<WireError>,
}

/// An [`Error`] on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireError {
    pub kind: ErrorKind,
    pub code: String,
    pub message: String,
    pub hint: Option<String>,
}

impl From<&Error> for WireError {
    fn from(e: &Error) -> Self {
        Self {
            kind: e.kind,
            code: e.code.to_owned(),
            message: e.message.clone(),
            hint: e.hint.clone(),
        }
    }
}

/// Error codes the host side may send that keep their meaning at the
/// master; any other code arrives as `host_failed`.
const KNOWN_CODES: [&str; 12] = [
    "pane_gone",
    "wake_refused",
    "no_such_option",
    "claude_exited",
    "tmux_failed",
    "tmux_missing",
    "invalid_argument",
    "git_failed",
    "git_refused",
    "worktree_dirty",
    "version_mismatch",
    "bad_request",
];

impl WireError {
    /// The error as the master reports it, naming the host it came from.
    pub fn into_error(self, host: &str) -> Error {
        let code = KNOWN_CODES
            .into_iter()
            .find(|c| *c == self.code)
            .unwrap_or("host_failed");
        let mut err = match self.kind {
            ErrorKind::User => Error::user(code, format!("on host {host}: {}", self.message)),
            ErrorKind::Internal => {
                Error::internal(code, format!("on host {host}: {}", self.message))
            }
        };
        err.hint = self.hint;
        err
    }
}

/// Answer of [`Request::Hello`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloAnswer {
    pub protocol: u32,
    pub version: String,
}

/// Answer of [`Request::Panes`]: every pane of the server, and the captures
/// of the requested panes in request order (`None`: gone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Panes {
    pub panes: Vec<PaneInfo>,
    pub captures: Vec<Option<String>>,
}

/// Answer of [`Request::Launch`], one per session in order: its pane, or
/// what tmux said on failure.
pub type Launched = Vec<Result<PaneInfo, String>>;

/// Answer of [`Request::BranchBack`]: the branch's commit, and the base64
/// bundle holding `refs/heads/<branch>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchBundle {
    pub commit: String,
    pub bundle: String,
}

/// Bytes as base64 text, for the JSON lines.
pub fn encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Base64 text back to bytes. Errors: `bad_request` naming `field`.
pub fn decode(field: &str, text: &str) -> Result<Vec<u8>, Error> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| Error::user("bad_request", format!("`{field}` is not base64: {e}")))
}

/// One worker's boot outcome ([`Request::Boot`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booted {
    pub state: Option<PaneState>,
    pub cleared: Vec<PaneState>,
    pub mcp_connected: bool,
    pub woken: Option<bool>,
    pub error: Option<WireError>,
}

/// Answer of [`Request::Wake`]: what the typed doorbell did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Woken {
    pub state_before: PaneState,
    pub text: String,
    pub delivered: bool,
    pub queued: bool,
    pub enters: u32,
    pub millis: u64,
}

/// What answering a dialog on a pane with keys did ([`Request::Approve`],
/// and the same on this machine).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaneAnswer {
    pub before: PaneState,
    pub after: PaneState,
    /// The tool and its command, when a permission prompt was shown.
    pub tool: Option<String>,
    pub detail: Option<String>,
    /// The option pressed, as labelled; `None` when there was no dialog.
    pub option: Option<String>,
    /// The dialog went.
    pub cleared: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_are_flat_json_with_the_op_named() {
        let line = RequestLine {
            id: 3,
            request: Request::Panes {
                socket: String::new(),
                capture: vec![PaneAt {
                    pane: "%1".into(),
                    session_id: Some("$1".into()),
                }],
            },
        };
        let text = serde_json::to_string(&line).unwrap();
        assert_eq!(
            text,
            r#"{"id":3,"op":"panes","socket":"","capture":[{"pane":"%1","session_id":"$1"}]}"#
        );
        let back: RequestLine = serde_json::from_str(&text).unwrap();
        assert_eq!(back.request, line.request);
    }

    #[test]
    fn unknown_ops_and_missing_fields_do_not_parse() {
        for bad in [
            r#"{"id":1,"op":"shell","cmd":"rm -rf /"}"#,
            r#"{"id":1,"op":"wake"}"#,
            r#"{"op":"hello","protocol":1,"version":"0"}"#,
        ] {
            assert!(serde_json::from_str::<RequestLine>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn remote_error_codes_keep_known_meanings_only() {
        let e = WireError {
            kind: ErrorKind::User,
            code: "pane_gone".into(),
            message: "gone".into(),
            hint: Some("h".into()),
        }
        .into_error("b1");
        assert_eq!(
            (e.code, e.message.as_str()),
            ("pane_gone", "on host b1: gone")
        );
        let e = WireError {
            kind: ErrorKind::Internal,
            code: "anything_else".into(),
            message: "x".into(),
            hint: None,
        }
        .into_error("b1");
        assert_eq!(e.code, "host_failed");
    }
}
