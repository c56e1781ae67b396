//! `ssh://user@host[:port]`: where a host is reached, parsed and checked
//! before anything is handed to `ssh`.
//!
//! The destination becomes one argv word of the OpenSSH client, so it must
//! not be read as an option (no leading `-`, agent-deck #1206 was exactly
//! that) nor carry whitespace or characters a remote shell or ssh's own
//! `%`-tokens would interpret. Allowed: a user `[A-Za-z0-9._-]` starting
//! with a letter, digit or `_`; a host name `[A-Za-z0-9.-]` (starting with a
//! letter or digit), or an IPv6 address in brackets; a port 1–65535.

use std::fmt;

use crate::error::Error;

/// A checked SSH destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostUrl {
    pub user: String,
    /// A host name, an IPv4 address, or an IPv6 address (without brackets).
    pub host: String,
    pub port: Option<u16>,
}

impl HostUrl {
    /// Parses `ssh://user@host[:port]`. Errors name the field `url` and what
    /// is wrong with it.
    pub fn parse(url: &str) -> Result<Self, Error> {
        let bad = |why: &str| {
            Error::invalid("url", format!("{url:?}: {why}"))
                .with_hint("write it as ssh://user@host or ssh://user@host:port")
        };
        let rest = url
            .strip_prefix("ssh://")
            .ok_or_else(|| bad("must start with ssh://"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (user, hostport) = rest
            .split_once('@')
            .ok_or_else(|| bad("names no user (ssh://user@host)"))?;
        check_user(user).map_err(|w| bad(&w))?;
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (addr, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("an IPv6 address lacks its closing ]"))?;
            if addr.is_empty() || !addr.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
                return Err(bad("the IPv6 address in brackets is not one"));
            }
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(|| bad("junk after ]"))?),
            };
            (addr.to_owned(), port)
        } else {
            let (host, port) = match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            };
            check_host(host).map_err(|w| bad(&w))?;
            (host.to_owned(), port)
        };
        let port = match port {
            None => None,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 && p.chars().all(|c| c.is_ascii_digit()) => Some(n),
                _ => return Err(bad(&format!("port {p:?} is not a number from 1 to 65535"))),
            },
        };
        Ok(Self {
            user: user.to_owned(),
            host,
            port,
        })
    }

    /// The destination word for `ssh`: `user@host` (IPv6 without brackets,
    /// as ssh wants it).
    pub fn destination(&self) -> String {
        format!("{}@{}", self.user, self.host)
    }
}

impl fmt::Display for HostUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(p) => write!(f, "ssh://{}@{host}:{p}", self.user),
            None => write!(f, "ssh://{}@{host}", self.user),
        }
    }
}

fn check_user(user: &str) -> Result<(), String> {
    if user.is_empty() || user.len() > 64 {
        return Err("the user must be 1 to 64 characters".to_owned());
    }
    if let Some(c) = user
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!("the user contains {c:?}"));
    }
    if !user.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
        return Err("the user must start with a letter, digit or _".to_owned());
    }
    Ok(())
}

fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() || host.len() > 253 {
        return Err("the host must be 1 to 253 characters".to_owned());
    }
    if let Some(c) = host
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-')))
    {
        return Err(format!("the host contains {c:?}"));
    }
    if !host.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err("the host must start with a letter or digit".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_urls_parse_and_print_back() {
        for (url, dest, port) in [
            ("ssh://ic@10.0.0.2", "ic@10.0.0.2", None),
            (
                "ssh://ic@build1.example:2222",
                "ic@build1.example",
                Some(2222),
            ),
            ("ssh://_ci.bot@h-1/", "_ci.bot@h-1", None),
            ("ssh://ic@[fd00::2]:22", "ic@fd00::2", Some(22)),
        ] {
            let parsed = HostUrl::parse(url).unwrap_or_else(|e| panic!("{url}: {}", e.message));
            assert_eq!(parsed.destination(), dest);
            assert_eq!(parsed.port, port);
            assert_eq!(HostUrl::parse(&parsed.to_string()).ok(), Some(parsed));
        }
    }

    #[test]
    fn options_whitespace_and_shell_characters_are_refused() {
        for url in [
            "ic@host",
            "ssh://host",
            "ssh://-oProxyCommand=x@host",
            "ssh://ic@-oProxyCommand=x",
            "ssh://ic@host name",
            "ssh://ic@host\n",
            "ssh://i c@host",
            "ssh://ic@host;rm",
            "ssh://ic@host:0",
            "ssh://ic@host:99999",
            "ssh://ic@host:+22",
            "ssh://ic@host:",
            "ssh://ic@%h",
            "ssh://ic@[fd00::2",
            "ssh://ic@[x]",
            "ssh://@host",
            "ssh://ic@",
        ] {
            let err = HostUrl::parse(url).err();
            assert!(err.is_some(), "{url:?} was accepted");
            assert!(err.is_some_and(|e| e.message.contains("url")), "{url:?}");
        }
    }
}
