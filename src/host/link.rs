//! The SSH link: one OpenSSH client per host, started by the master's
//! process when the host is first used and kept for the process's life,
//! running [`REMOTE_COMMAND`] on the host and carrying [`protocol`] lines.
//!
//! The client's argv is fixed but for the destination and the port, both
//! checked by [`HostUrl`]:
//!
//! ```text
//! ssh -o BatchMode=yes -o ConnectTimeout=5 -o ServerAliveInterval=5
//!     -o ServerAliveCountMax=3 [-F $INTERCOMM_SSH_CONFIG] [-p PORT] -- USER@HOST
//!     intercomm host-agent --stdio
//! ```
//!
//! BatchMode: no password or host-key question can hang the master; host
//! keys are checked as the user's ssh configuration says (never turned off
//! here). ServerAlive 5 × 3: a host whose traffic stops is dropped by ssh
//! within ~15 s even while no request waits. Measured on this project's
//! kind of machine (OpenSSH 9.2p1, veth between network namespaces): a new
//! connection per command costs 283–402 ms, a request on a kept channel
//! 2.5–3.1 ms, the same as local tmux.
//!
//! A request that gets no answer within its timeout, or a channel that
//! closes, drops the link (the client is killed); the next request starts a
//! new one. One request at a time per host: the link is behind an async lock.

use std::collections::{HashMap, VecDeque};
use std::ffi::OsString;
use std::process::Stdio;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};

use super::HostUrl;
use super::protocol::{self, AnswerLine, HelloAnswer, Request, RequestLine};
use crate::error::{Error, Result};

/// The command line the host's shell runs: the only string it ever sees.
pub const REMOTE_COMMAND: [&str; 3] = ["intercomm", "host-agent", "--stdio"];

/// An ssh client configuration file to use (`ssh -F`), e.g. one naming a
/// key and a known_hosts file for intercomm only. Unset: the user's own.
pub const SSH_CONFIG_ENV: &str = "INTERCOMM_SSH_CONFIG";

/// Longest wait for a new link's handshake: ssh's ConnectTimeout (5 s)
/// covers the TCP connect only; key exchange, login and the agent's start
/// come on top.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// How many of the client's last stderr lines an error quotes.
const STDERR_TAIL: usize = 4;

/// The ssh client's argv for `url` (program first).
pub fn ssh_argv(url: &HostUrl, config: Option<&str>) -> Vec<OsString> {
    let mut argv: Vec<OsString> = ["ssh"].into_iter().map(OsString::from).collect();
    for opt in [
        "BatchMode=yes",
        "ConnectTimeout=5",
        "ServerAliveInterval=5",
        "ServerAliveCountMax=3",
    ] {
        argv.push("-o".into());
        argv.push(opt.into());
    }
    if let Some(path) = config {
        argv.push("-F".into());
        argv.push(path.into());
    }
    if let Some(port) = url.port {
        argv.push("-p".into());
        argv.push(port.to_string().into());
    }
    argv.push("--".into());
    argv.push(url.destination().into());
    argv.extend(REMOTE_COMMAND.iter().map(OsString::from));
    argv
}

/// What a fresh link to a host found: the agent's intercomm version and
/// how long the connection and handshake took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub version: String,
    pub millis: u64,
}

/// Opens a new link to host `name` at `url` (not the kept one), shakes
/// hands and closes it. Errors: `host_unreachable` with ssh's words or the
/// version mismatch.
pub async fn probe(name: &str, url: &str) -> Result<Probe> {
    let parsed = HostUrl::parse(url)?;
    let started = std::time::Instant::now();
    let link = Link::open(&parsed, CONNECT_TIMEOUT)
        .await
        .map_err(|why| unreachable(name, &why))?;
    drop(link);
    Ok(Probe {
        version: protocol::VERSION.to_owned(),
        millis: started.elapsed().as_millis() as u64,
    })
}

/// One open channel to a host agent.
struct Link {
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
    stderr: Arc<Mutex<VecDeque<String>>>,
}

/// Why a call failed.
enum Failure {
    /// The link is unusable (closed, timed out, garbled): drop it.
    Broken(String),
    /// The agent answered with an error: the link is fine.
    Answered(protocol::WireError),
}

impl Link {
    /// Starts the client and shakes hands within `limit`.
    async fn open(url: &HostUrl, limit: Duration) -> std::result::Result<Self, String> {
        let config = crate::env::get(SSH_CONFIG_ENV);
        let argv = ssh_argv(url, config.as_deref());
        let mut child = tokio::process::Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start ssh: {e}"))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err("ssh started without its pipes".to_owned());
        };
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        tokio::spawn(drain(stderr, Arc::clone(&tail)));
        let mut link = Self {
            _child: child,
            stdin,
            stdout: BufReader::new(stdout),
            next_id: 0,
            stderr: tail,
        };
        let hello = Request::Hello {
            protocol: protocol::PROTOCOL,
            version: protocol::VERSION.to_owned(),
        };
        let answer = match link.call(&hello, limit).await {
            Ok(v) => v,
            Err(Failure::Broken(why)) => return Err(why),
            Err(Failure::Answered(e)) => return Err(e.message),
        };
        let theirs: HelloAnswer = serde_json::from_value(answer)
            .map_err(|e| format!("the agent's hello is not understood: {e}"))?;
        if theirs.protocol != protocol::PROTOCOL || theirs.version != protocol::VERSION {
            return Err(format!(
                "the host runs intercomm {} (protocol {}), this is {} (protocol {})",
                theirs.version,
                theirs.protocol,
                protocol::VERSION,
                protocol::PROTOCOL
            ));
        }
        Ok(link)
    }

    /// Sends one request and reads its answer within `timeout`.
    async fn call(
        &mut self,
        request: &Request,
        timeout: Duration,
    ) -> std::result::Result<serde_json::Value, Failure> {
        let id = self.next_id;
        self.next_id += 1;
        let mut line = serde_json::to_vec(&RequestLine {
            id,
            request: request.clone(),
        })
        .map_err(|e| Failure::Broken(format!("cannot encode the request: {e}")))?;
        line.push(b'\n');
        let exchange = async {
            self.stdin.write_all(&line).await?;
            self.stdin.flush().await?;
            let mut buf = Vec::new();
            (&mut self.stdout)
                .take(protocol::MAX_LINE as u64)
                .read_until(b'\n', &mut buf)
                .await?;
            Ok::<_, std::io::Error>(buf)
        };
        let buf = match tokio::time::timeout(timeout, exchange).await {
            Err(_) => {
                return Err(Failure::Broken(format!(
                    "no answer to {} within {} s",
                    request.op(),
                    timeout.as_secs()
                )));
            }
            Ok(Err(e)) => return Err(Failure::Broken(self.closed(&e.to_string()).await)),
            Ok(Ok(buf)) if buf.is_empty() => {
                return Err(Failure::Broken(self.closed("the channel closed").await));
            }
            Ok(Ok(buf)) => buf,
        };
        let answer: AnswerLine = serde_json::from_slice(&buf)
            .map_err(|e| Failure::Broken(format!("garbled answer to {}: {e}", request.op())))?;
        if answer.id != id {
            return Err(Failure::Broken(format!(
                "answer {} to request {id}",
                answer.id
            )));
        }
        match (answer.ok, answer.error) {
            (_, Some(e)) => Err(Failure::Answered(e)),
            (Some(v), None) => Ok(v),
            (None, None) => Err(Failure::Broken("an empty answer".to_owned())),
        }
    }

    /// `what` happened to the channel, with what ssh said last.
    async fn closed(&self, what: &str) -> String {
        // Give the stderr reader a moment to collect ssh's last words.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let tail: Vec<String> = self
            .stderr
            .lock()
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default();
        if tail.is_empty() {
            what.to_owned()
        } else {
            format!("{what}: {}", tail.join(" | "))
        }
    }
}

/// Keeps the last lines of the client's stderr (ssh's errors, and what
/// the agent logs), and logs them.
async fn drain(stderr: tokio::process::ChildStderr, tail: Arc<Mutex<VecDeque<String>>>) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::debug!(target: "host.link", "{line}");
        if let Ok(mut t) = tail.lock() {
            if t.len() == STDERR_TAIL {
                t.pop_front();
            }
            t.push_back(line);
        }
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<Link>>>;

/// This process's links, by host name and URL.
static LINKS: LazyLock<Mutex<HashMap<(String, String), Slot>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn slot(name: &str, url: &str) -> Result<Slot> {
    let mut links = LINKS
        .lock()
        .map_err(|_| Error::internal("poisoned", "the host links are unusable after a panic"))?;
    Ok(Arc::clone(
        links.entry((name.to_owned(), url.to_owned())).or_default(),
    ))
}

/// The error of a host that cannot be reached, or whose link broke.
pub fn unreachable(name: &str, why: &str) -> Error {
    Error::user(
        "host_unreachable",
        format!("host {name} is unreachable: {why}"),
    )
    .with_hint("check the host with `intercomm doctor`; mail to its workers waits on the bus")
}

/// Runs `request` on host `name` (reached at `url`) within `timeout`,
/// opening the link first if there is none. Errors: `host_unreachable`
/// (no link, or it broke: it is dropped and the next call reconnects);
/// the agent's own error, naming the host.
pub async fn call<T: DeserializeOwned>(
    name: &str,
    url: &str,
    request: Request,
    timeout: Duration,
) -> Result<T> {
    let parsed = HostUrl::parse(url)?;
    let slot = slot(name, url)?;
    let mut held = slot.lock().await;
    if held.is_none() {
        let started = std::time::Instant::now();
        // A new link gets no longer than the request itself would.
        let link = Link::open(&parsed, timeout.min(CONNECT_TIMEOUT))
            .await
            .map_err(|why| unreachable(name, &why))?;
        tracing::info!(target: "host.link", host = name, millis = started.elapsed().as_millis() as u64, "link open");
        *held = Some(link);
    }
    let Some(link) = held.as_mut() else {
        return Err(unreachable(name, "no link"));
    };
    let answer = match link.call(&request, timeout).await {
        Ok(v) => v,
        Err(Failure::Answered(e)) => return Err(e.into_error(name)),
        Err(Failure::Broken(why)) => {
            *held = None;
            return Err(unreachable(name, &why));
        }
    };
    serde_json::from_value(answer).map_err(|e| {
        Error::internal(
            "host_failed",
            format!(
                "host {name}'s answer to {} is not understood: {e}",
                request.op()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_argv_is_fixed_but_for_the_checked_destination() {
        let url = HostUrl::parse("ssh://ic@10.9.0.2:2222").unwrap();
        let argv: Vec<String> = ssh_argv(&url, Some("/tmp/cfg"))
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            argv.join(" "),
            "ssh -o BatchMode=yes -o ConnectTimeout=5 -o ServerAliveInterval=5 \
             -o ServerAliveCountMax=3 -F /tmp/cfg -p 2222 -- ic@10.9.0.2 \
             intercomm host-agent --stdio"
        );
    }
}
