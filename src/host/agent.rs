//! `intercomm host-agent --stdio`: the far end of a host's link. It reads
//! one [`protocol`](super::protocol) request per line on stdin and writes
//! one answer per line on stdout (nothing else is ever written there; logs
//! go to stderr, which ssh carries back to the master's log).
//!
//! The first line must be the hello; a different protocol number or
//! intercomm version is answered `version_mismatch` and the agent exits, as
//! it does on a malformed line or when stdin closes (the master dropped
//! the link). Each request runs [`crate::fleet::host::serve`] against this
//! host's tmux server ($INTERCOMM_TMUX_SOCKET, else `$TMUX`, else the
//! default), one at a time.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::protocol::{self, AnswerLine, HelloAnswer, Request, RequestLine, WireError};
use crate::error::{Error, Result};
use crate::tmux::Tmux;

/// Serves the protocol on stdin/stdout until stdin closes. Errors: stdout
/// unwritable, a malformed line, a failed handshake.
pub async fn serve_stdio() -> Result<()> {
    let home = Tmux::from_env();
    let mut input = BufReader::new(tokio::io::stdin());
    let mut output = tokio::io::stdout();
    let mut greeted = false;
    loop {
        let mut buf = Vec::new();
        let n = (&mut input)
            .take(protocol::MAX_LINE as u64)
            .read_until(b'\n', &mut buf)
            .await
            .map_err(|e| Error::internal("stdin", format!("cannot read stdin: {e}")))?;
        if n == 0 {
            tracing::info!(target: "host.agent", "stdin closed; exiting");
            return Ok(());
        }
        let line: RequestLine = match serde_json::from_slice(&buf) {
            Ok(l) => l,
            Err(e) => {
                let err = Error::user("bad_request", format!("not a request line: {e}"));
                // No id to answer to: say it once, with id 0, and stop.
                write(&mut output, 0, Err(&err)).await?;
                return Err(err);
            }
        };
        let op = line.request.op();
        let started = std::time::Instant::now();
        let answer = match (greeted, line.request) {
            (false, Request::Hello { protocol, version }) => {
                if protocol != protocol::PROTOCOL || version != protocol::VERSION {
                    let err = Error::user(
                        "version_mismatch",
                        format!(
                            "this host runs intercomm {} (protocol {}); the master runs {version} (protocol {protocol})",
                            protocol::VERSION,
                            protocol::PROTOCOL
                        ),
                    )
                    .with_hint("install the master's intercomm version on the host");
                    write(&mut output, line.id, Err(&err)).await?;
                    return Err(err);
                }
                greeted = true;
                serde_json::to_value(HelloAnswer {
                    protocol: protocol::PROTOCOL,
                    version: protocol::VERSION.to_owned(),
                })
                .map_err(|e| Error::internal("encode", e.to_string()))
            }
            (false, _) => {
                let err = Error::user("bad_request", "the first request must be hello");
                write(&mut output, line.id, Err(&err)).await?;
                return Err(err);
            }
            (true, request) => crate::fleet::host::serve(request, &home).await,
        };
        tracing::debug!(target: "host.agent", op, ok = answer.is_ok(), micros = started.elapsed().as_micros() as u64);
        write(&mut output, line.id, answer.as_ref()).await?;
    }
}

async fn write(
    out: &mut tokio::io::Stdout,
    id: u64,
    answer: std::result::Result<&serde_json::Value, &Error>,
) -> Result<()> {
    let line = match answer {
        Ok(v) => AnswerLine {
            id,
            ok: Some(v.clone()),
            error: None,
        },
        Err(e) => AnswerLine {
            id,
            ok: None,
            error: Some(WireError::from(e)),
        },
    };
    let mut bytes = serde_json::to_vec(&line)
        .map_err(|e| Error::internal("encode", format!("cannot encode an answer: {e}")))?;
    bytes.push(b'\n');
    let io = |e: std::io::Error| Error::internal("stdout", format!("cannot write stdout: {e}"));
    out.write_all(&bytes).await.map_err(io)?;
    out.flush().await.map_err(io)
}
