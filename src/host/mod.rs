//! Hosts: other machines the master starts workers on, over OpenSSH.
//!
//! ```text
//!  master's process                         host X
//!  fleet::host::Host::Remote ──┐
//!                              link: one `ssh … intercomm host-agent --stdio`
//!                              └─ JSON lines ──────> agent: the same fleet code
//!                                                    on X's own tmux and git
//! ```
//!
//! - [`url`]: the `ssh://user@host[:port]` a host is recorded with, checked.
//! - [`records`]: `intercomm host add|list|remove` (the `hosts` table).
//! - [`protocol`]: the requests and answers on the link, and the handshake.
//! - [`link`]: the OpenSSH client kept per host by the master's process.
//! - [`agent`]: `intercomm host-agent --stdio`, which answers them.
//!
//! Nothing from a request ever reaches a shell: the only string the remote
//! shell sees is the fixed command line [`link::REMOTE_COMMAND`]; every
//! argument travels as JSON and is used as argv on the host.

pub mod agent;
pub mod link;
pub mod protocol;
pub mod records;
mod url;

pub use url::HostUrl;

/// The host name that means this machine (`host: "local"` in a spawn).
pub const LOCAL: &str = "local";
