//! Stdin/stdout for the MCP server without tokio's blocking thread pool.
//!
//! `tokio::io::stdin()` (what `rmcp::transport::stdio()` uses) performs every
//! read on a blocking-pool thread: about six context switches per request,
//! which was most of a tool call's latency (measured with scripts/bench and
//! strace). When fd 0 and fd 1 are pipes (a Python or Rust client) or Unix
//! sockets (Node's `child_process`, i.e. Claude Code), they are registered
//! with the event loop instead. Anything else (a terminal, a file) falls back
//! to tokio's stdio.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;

use tokio::io::{AsyncRead, AsyncWrite};

/// The reading half.
pub type Reader = Box<dyn AsyncRead + Send + Unpin>;
/// The writing half.
pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// Stdin and stdout as event-loop I/O where possible. Must be called inside
/// the runtime.
pub fn transport() -> (Reader, Writer) {
    let reader: Reader = match dup(std::io::stdin().as_fd()).and_then(reader_of) {
        Some(r) => r,
        None => Box::new(tokio::io::stdin()),
    };
    let writer: Writer = match dup(std::io::stdout().as_fd()).and_then(writer_of) {
        Some(w) => w,
        None => Box::new(tokio::io::stdout()),
    };
    (reader, writer)
}

fn dup(fd: std::os::fd::BorrowedFd<'_>) -> Option<OwnedFd> {
    fd.try_clone_to_owned().ok()
}

enum Kind {
    Pipe,
    Socket,
    Other,
}

fn kind(fd: &OwnedFd) -> Kind {
    let Ok(file) = fd.try_clone().map(File::from) else {
        return Kind::Other;
    };
    match file.metadata().map(|m| m.file_type()) {
        Ok(t) if t.is_fifo() => Kind::Pipe,
        Ok(t) if t.is_socket() => Kind::Socket,
        _ => Kind::Other,
    }
}

fn reader_of(fd: OwnedFd) -> Option<Reader> {
    match kind(&fd) {
        Kind::Pipe => tokio::net::unix::pipe::Receiver::from_owned_fd(fd)
            .ok()
            .map(|r| Box::new(r) as Reader),
        Kind::Socket => socket(fd).map(|s| Box::new(s) as Reader),
        Kind::Other => None,
    }
}

fn writer_of(fd: OwnedFd) -> Option<Writer> {
    match kind(&fd) {
        Kind::Pipe => tokio::net::unix::pipe::Sender::from_owned_fd(fd)
            .ok()
            .map(|w| Box::new(w) as Writer),
        Kind::Socket => socket(fd).map(|s| Box::new(s) as Writer),
        Kind::Other => None,
    }
}

fn socket(fd: OwnedFd) -> Option<tokio::net::UnixStream> {
    let std = std::os::unix::net::UnixStream::from(fd);
    std.set_nonblocking(true).ok()?;
    tokio::net::UnixStream::from_std(std).ok()
}
