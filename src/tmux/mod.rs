//! The one place that builds tmux commands. Every call is an argv vector
//! (never a shell string), pinned to one server socket, and logged at debug
//! with its duration (target `tmux.cmd`).
//!
//! Socket choice, in order: `INTERCOMM_TMUX_SOCKET` (a path, or a bare name
//! for `-L`), else the socket of the inherited `TMUX` (the server this process
//! runs under), else tmux's default. Panes are addressed by pane id (`%N`)
//! and sessions by session id (`$N`), never by a name tmux would prefix-match
//! (B11).
//!
//! Every call passes `-u` (UTF-8 output whatever the locale; see
//! `run_partial`). tmux facts relied on (tmux 3.3a, verified here): `new-session … -- A B …`
//! with two or more words runs the program directly, with one word through
//! `sh -c` (so callers always pass at least two words); in a `;`-separated
//! command sequence a failing command stops the rest (see
//! [`parse::split_batch`]); `paste-buffer -p` wraps the text in bracketed
//! paste markers only when the application asked for them.
//!
//! Two tmux parsing rules would let data become commands, so data arguments
//! go through [`literal`] and [`format_literal`] (source: tmux 3.3a
//! `cmd-parse.c` `cmd_parse_from_arguments`, `cmd-new-session.c`):
//! - *any* argument ending in `;` ends a command, even after `--`; only a
//!   trailing `\;` stands for a literal `;`;
//! - `new-session -c DIR` is format-expanded, so `#(cmd)` in a path would run
//!   `cmd` in a shell; `##` stands for a literal `#`.

pub mod parse;

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use tokio::io::AsyncWriteExt;

pub use parse::PaneInfo;

/// An argument tmux takes literally: a trailing `;` (which tmux would read
/// as the end of a command) is written as `\;`.
pub fn literal(arg: impl AsRef<OsStr>) -> OsString {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let bytes = arg.as_ref().as_bytes();
    match bytes.split_last() {
        Some((b';', head)) => {
            let mut out = head.to_vec();
            out.extend_from_slice(b"\\;");
            OsString::from_vec(out)
        }
        _ => arg.as_ref().to_owned(),
    }
}

/// A value tmux format-expands, taken literally: `#` doubled, then [`literal`].
pub fn format_literal(arg: impl AsRef<OsStr>) -> OsString {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let mut out = Vec::new();
    for &b in arg.as_ref().as_bytes() {
        out.push(b);
        if b == b'#' {
            out.push(b'#');
        }
    }
    literal(OsString::from_vec(out))
}

/// Failures of a tmux call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TmuxError {
    #[error("tmux is not installed or not on PATH")]
    NotInstalled,
    #[error("tmux {command} failed: {stderr}")]
    Failed { command: String, stderr: String },
    #[error("tmux {command} could not run: {message}")]
    Io { command: String, message: String },
}

/// How many times [`Tmux::new_session`] starts again after the server it
/// reached was exiting.
pub const LOST_SERVER_RETRIES: u32 = 3;

/// Whether tmux's stderr says the server went away under the command
/// (tmux 3.3a `client.c`: "server exited unexpectedly").
fn lost_server(stderr: &str) -> bool {
    stderr.contains("server exited unexpectedly")
}

/// Which tmux server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Socket {
    /// tmux's default server.
    Default,
    /// `-S path`.
    Path(PathBuf),
    /// `-L name`.
    Name(String),
}

/// A tmux client pinned to one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tmux {
    socket: Socket,
}

/// What to start in a new detached session.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub name: &'a str,
    pub dir: &'a Path,
    pub width: u16,
    pub height: u16,
    /// Set in the session's environment (`-e`), visible to the program.
    pub env: &'a [(String, String)],
    /// Program and arguments, at least two words.
    pub argv: &'a [String],
}

impl Tmux {
    /// A client of `socket`.
    pub fn new(socket: Socket) -> Self {
        Self { socket }
    }

    /// The server named by the environment (see the module doc).
    pub fn from_env() -> Self {
        if let Some(s) = crate::env::get(crate::env::TMUX_SOCKET) {
            return Self::new(if s.contains('/') {
                Socket::Path(PathBuf::from(s))
            } else {
                Socket::Name(s)
            });
        }
        if let Some(t) = crate::env::get(crate::env::TMUX)
            && let Some(path) = t.split(',').next().filter(|p| !p.is_empty())
        {
            return Self::new(Socket::Path(PathBuf::from(path)));
        }
        Self::new(Socket::Default)
    }

    /// The server whose socket path a pane reported (`#{socket_path}`), or
    /// this client's server when it is empty.
    pub fn at(&self, socket_path: &str) -> Self {
        if socket_path.is_empty() {
            self.clone()
        } else {
            Self::new(Socket::Path(PathBuf::from(socket_path)))
        }
    }

    fn socket_args(&self) -> Vec<OsString> {
        match &self.socket {
            Socket::Default => Vec::new(),
            Socket::Path(p) => vec!["-S".into(), p.clone().into_os_string()],
            Socket::Name(n) => vec!["-L".into(), n.into()],
        }
    }

    /// Runs `tmux <socket> args…`, feeding `stdin` if given; returns stdout.
    async fn run<S: AsRef<OsStr>>(
        &self,
        args: &[S],
        stdin: Option<&[u8]>,
    ) -> Result<String, TmuxError> {
        let (stdout, failed) = self.run_partial(args, stdin).await?;
        match failed {
            None => Ok(stdout),
            Some(e) => Err(e),
        }
    }

    /// Runs `tmux <socket> args…`; returns its stdout also when it failed
    /// (what the commands of a list before the failing one printed), with
    /// the failure.
    async fn run_partial<S: AsRef<OsStr>>(
        &self,
        args: &[S],
        stdin: Option<&[u8]>,
    ) -> Result<(String, Option<TmuxError>), TmuxError> {
        let started = Instant::now();
        let mut cmd = tokio::process::Command::new("tmux");
        // `-u`: in a non-UTF-8 locale (no LANG, as in a login over ssh
        // without AcceptEnv) tmux 3.3a prints every non-ASCII character and
        // the U+001F field separator of `-F` formats as `_`, which broke
        // every parse of list-panes and every capture (seen on the hosts
        // suite's sshd logins).
        cmd.arg("-u")
            .args(self.socket_args())
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let name = args
            .first()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .unwrap_or_default();
        let io = |e: std::io::Error| {
            if e.kind() == std::io::ErrorKind::NotFound {
                TmuxError::NotInstalled
            } else {
                TmuxError::Io {
                    command: name.clone(),
                    message: e.to_string(),
                }
            }
        };
        let mut child = cmd.spawn().map_err(io)?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input).await.map_err(io)?;
            drop(pipe);
        }
        let out = child.wait_with_output().await.map_err(io)?;
        tracing::debug!(
            target: "tmux.cmd",
            args = ?args.iter().map(|a| a.as_ref().to_string_lossy()).collect::<Vec<_>>(),
            ok = out.status.success(),
            micros = started.elapsed().as_micros() as u64,
        );
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let failed = (!out.status.success()).then(|| TmuxError::Failed {
            command: name,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
        Ok((stdout, failed))
    }

    /// Starts a detached session running `spec.argv` directly (no shell);
    /// returns its pane.
    ///
    /// A server exits when its last session ends; a client that connects in
    /// that moment gets "server exited unexpectedly" and nothing ran (tmux
    /// 3.3a: 29 of 300 `new-session`s right after a session's program
    /// exited, each time the first retry started a new server). Such a call
    /// is retried, up to [`LOST_SERVER_RETRIES`] times.
    pub async fn new_session(&self, spec: &NewSession<'_>) -> Result<PaneInfo, TmuxError> {
        let args = new_session_args(spec);
        let mut attempt = 0;
        let out = loop {
            match self.run(&args, None).await {
                Err(TmuxError::Failed { stderr, .. })
                    if attempt < LOST_SERVER_RETRIES && lost_server(&stderr) =>
                {
                    attempt += 1;
                    tracing::debug!(attempt, "tmux server exited under new-session; again");
                }
                other => break other?,
            }
        };
        parse::parse_pane(out.trim_end()).ok_or_else(|| TmuxError::Failed {
            command: "new-session".into(),
            stderr: format!("unexpected output {out:?}"),
        })
    }

    /// Starts several sessions as [`Tmux::new_session`] does, in one tmux
    /// invocation (a `;`-separated command list); one result per spec, in
    /// order. tmux stops at the first command that fails: every spec whose
    /// pane the call did not print is then started alone, for its own error
    /// (a session of that name made by someone else is never taken).
    pub async fn new_sessions(&self, specs: &[NewSession<'_>]) -> Vec<Result<PaneInfo, TmuxError>> {
        if specs.is_empty() {
            // `tmux` with no command would start a session of its own.
            return Vec::new();
        }
        let mut args: Vec<OsString> = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            if i > 0 {
                args.push(";".into());
            }
            args.extend(new_session_args(spec));
        }
        let started = match self.run_partial(&args, None).await {
            Ok((out, _)) => parse::parse_panes(&out),
            Err(_) => Vec::new(),
        };
        let mut results = Vec::with_capacity(specs.len());
        for spec in specs {
            let found = started.iter().find(|p| p.session_name == spec.name);
            results.push(match found {
                Some(pane) => Ok(pane.clone()),
                None => self.new_session(spec).await,
            });
        }
        results
    }

    /// Every pane on the server; empty when no server runs.
    pub async fn list_panes(&self) -> Result<Vec<PaneInfo>, TmuxError> {
        match self
            .run(&["list-panes", "-a", "-F", parse::PANE_FORMAT], None)
            .await
        {
            Ok(out) => Ok(parse::parse_panes(&out)),
            // No server yet, or it just exited with its last session (tmux
            // 3.3a says "server exited unexpectedly" when that races us, and
            // "no current target" while it still runs with no session left).
            Err(TmuxError::Failed { stderr, .. })
                if stderr.contains("no server running")
                    || stderr.contains("error connecting")
                    || stderr.contains("server exited")
                    || stderr.contains("no current target") =>
            {
                Ok(Vec::new())
            }
            Err(e) => Err(e),
        }
    }

    /// The visible text of a pane.
    pub async fn capture(&self, pane: &str) -> Result<String, TmuxError> {
        self.run(&["capture-pane", "-p", "-t", pane], None).await
    }

    /// The visible text of several panes in one tmux invocation; a pane that
    /// vanished is `None` (and is retried alone so the others still count).
    pub async fn capture_many(&self, panes: &[String]) -> Result<Vec<Option<String>>, TmuxError> {
        if panes.is_empty() {
            return Ok(Vec::new());
        }
        let token = uuid::Uuid::new_v4().simple().to_string();
        let mut args: Vec<String> = Vec::with_capacity(panes.len() * 8);
        for (i, pane) in panes.iter().enumerate() {
            if i > 0 {
                args.push(";".into());
            }
            args.extend([
                "capture-pane".into(),
                "-p".into(),
                "-t".into(),
                pane.clone(),
            ]);
            args.extend([";".into(), "display-message".into(), "-p".into()]);
            args.push(parse::batch_marker(&token, i));
        }
        let out = match self.run(&args, None).await {
            Ok(out) => out,
            Err(TmuxError::Failed { .. }) => String::new(),
            Err(e) => return Err(e),
        };
        let mut parts = parse::split_batch(&out, &token, panes.len());
        for (i, part) in parts.iter_mut().enumerate() {
            if part.is_none() {
                *part = self.capture(&panes[i]).await.ok();
            }
        }
        Ok(parts)
    }

    /// Sends named keys (`Enter`, `Down`, `1`, `Escape`) to a pane.
    pub async fn send_keys(&self, pane: &str, keys: &[&str]) -> Result<(), TmuxError> {
        let mut args = vec!["send-keys", "-t", pane];
        args.extend_from_slice(keys);
        self.run(&args, None).await.map(drop)
    }

    /// Sends named keys to several panes in one tmux invocation, one result
    /// per pane, in order. tmux stops at the first command that fails (a
    /// pane gone): then each pane gets its keys alone, for its own error.
    pub async fn send_keys_many(&self, sends: &[(&str, &[&str])]) -> Vec<Result<(), TmuxError>> {
        let mut args: Vec<&str> = Vec::new();
        for (i, (pane, keys)) in sends.iter().enumerate() {
            if i > 0 {
                args.push(";");
            }
            args.extend(["send-keys", "-t", pane]);
            args.extend_from_slice(keys);
        }
        if sends.is_empty() || self.run(&args, None).await.is_ok() {
            return sends.iter().map(|_| Ok(())).collect();
        }
        let mut results = Vec::with_capacity(sends.len());
        for (pane, keys) in sends {
            results.push(self.send_keys(pane, keys).await);
        }
        results
    }

    /// Pastes `text` into a pane as one bracketed paste, through a private
    /// buffer that is deleted afterwards. The text never passes through argv.
    pub async fn paste(&self, pane: &str, text: &str) -> Result<(), TmuxError> {
        let buffer = format!("intercomm-{}", uuid::Uuid::new_v4().simple());
        let args = [
            "load-buffer",
            "-b",
            &buffer,
            "-",
            ";",
            "paste-buffer",
            "-p",
            "-d",
            "-b",
            &buffer,
            "-t",
            pane,
        ];
        self.run(&args, Some(text.as_bytes())).await.map(drop)
    }

    /// Kills a session by its id (`$N`), which tmux matches exactly.
    pub async fn kill_session(&self, session_id: &str) -> Result<(), TmuxError> {
        self.run(&["kill-session", "-t", session_id], None)
            .await
            .map(drop)
    }

    /// The interactive command that attaches the calling terminal to the
    /// session of `pane`, with that pane selected: `tmux select-window -t
    /// %N ; select-pane -t %N ; attach-session -t $S`. `TMUX` is removed
    /// from its environment, so it also runs from inside a tmux pane (a
    /// nested client: detach with the prefix key twice, then `d`). It
    /// inherits the terminal; the caller runs it and waits.
    pub fn attach_command(&self, pane: &PaneInfo) -> std::process::Command {
        let mut cmd = std::process::Command::new("tmux");
        cmd.args(self.socket_args())
            .args(["select-window", "-t", &pane.pane, ";"])
            .args(["select-pane", "-t", &pane.pane, ";"])
            .args(["attach-session", "-t", &pane.session_id])
            .env_remove("TMUX");
        cmd
    }

    /// Kills this client's whole server (tests' private servers only).
    pub async fn kill_server(&self) -> Result<(), TmuxError> {
        self.run(&["kill-server"], None).await.map(drop)
    }
}

/// The arguments of `new-session` for `spec`: detached, named, sized, in
/// its folder, with its environment, printing its pane, then the argv.
fn new_session_args(spec: &NewSession<'_>) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        "new-session".into(),
        "-d".into(),
        "-s".into(),
        literal(spec.name),
        "-x".into(),
        spec.width.to_string().into(),
        "-y".into(),
        spec.height.to_string().into(),
        "-c".into(),
        format_literal(spec.dir),
    ];
    for (k, v) in spec.env {
        args.push("-e".into());
        args.push(literal(format!("{k}={v}")));
    }
    args.extend([
        "-P".into(),
        "-F".into(),
        parse::SPAWN_FORMAT.into(),
        "--".into(),
    ]);
    args.extend(spec.argv.iter().map(literal));
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_cannot_end_a_tmux_command_or_expand_a_format() {
        assert_eq!(literal(";"), OsString::from("\\;"));
        assert_eq!(literal("run;"), OsString::from("run\\;"));
        assert_eq!(literal("a;b"), OsString::from("a;b"));
        assert_eq!(literal(""), OsString::from(""));
        assert_eq!(
            format_literal("/p/#(touch x);"),
            OsString::from("/p/##(touch x)\\;")
        );
    }
}
