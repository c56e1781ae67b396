//! Workers on other hosts, for real on this one machine: network
//! namespaces joined by veth pairs stand in for the hosts, each running its
//! own sshd, tmux server and stand-in Claude (tests/support/fake_claude.py);
//! the master reaches them with the OpenSSH client through
//! `intercomm host-agent --stdio` (see [`lab`]).
//!
//! Needs root (ip netns, sshd, useradd), openssh-server, tmux, git and
//! python3; `scripts/test hosts` installs what is missing.
//!
//!     cargo nextest run --test hosts
//!     INTERCOMM_HOSTS_KEEP=1 …          # keep the lab's folder (logs, repo)

mod fleet;
mod lab;
