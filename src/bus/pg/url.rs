//! The bus URL: libpq's `postgres://` URL plus intercomm's `schema=`, with
//! its TLS settings, the keepalives asked of the server, the schema's lock
//! class, and the URL as shown to people (password hidden).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use postgres::Client;

use super::super::pg_tls::TlsSettings;
use super::super::store::Result;

/// The schema used when the URL names none.
pub const DEFAULT_SCHEMA: &str = "intercomm";

/// Session settings asked of the server at connect (PostgreSQL GUCs).
///
/// Keepalives: first probe after 5 s idle, then every 2 s, gone after 3
/// unanswered, and unacknowledged data for 11 s ends the connection.
/// Measured on PostgreSQL 15: a silently cut client's session lock was free
/// 9.8 s after the cut with these, and still held after 38 s with the
/// defaults.
///
/// No hang behind a stuck process: a lock wait gives up after
/// [`LOCK_TIMEOUT_MS`] (SQLite's busy timeout, [`crate::bus::BUSY_TIMEOUT`]),
/// and a session left idle inside a transaction for
/// [`IDLE_IN_TRANSACTION_MS`] (a process stopped or hung half-way through a
/// write) is ended by the server, which frees the write lock and the seq
/// fence it held. A bus transaction runs its statements back to back.
const SESSION_OPTIONS: &str = "-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 \
     -c tcp_keepalives_count=3 -c tcp_user_timeout=11000 \
     -c lock_timeout=5000 -c idle_in_transaction_session_timeout=10000";

/// How long a statement waits for a lock another session holds (the
/// `lock_timeout` of [`SESSION_OPTIONS`]), in milliseconds.
pub const LOCK_TIMEOUT_MS: u64 = 5_000;
/// How long a session may sit idle inside a transaction before the server
/// ends it (`idle_in_transaction_session_timeout`), in milliseconds.
pub const IDLE_IN_TRANSACTION_MS: u64 = 10_000;

/// A `postgres://` bus URL: libpq's URL syntax, plus an optional
/// `schema=NAME` query parameter (default [`DEFAULT_SCHEMA`]) naming the
/// project's schema in the database (one schema per project). Its
/// `sslmode`, `sslrootcert`, `sslcert` and `sslkey` are read here too
/// ([`super::pg_tls`]; the `postgres` crate knows neither `verify-*` nor
/// the files).
#[derive(Clone)]
pub struct BusUrl(std::sync::Arc<UrlParts>);

pub(super) struct UrlParts {
    pub(super) config: postgres::Config,
    tls: TlsSettings,
    schema: String,
    shown: String,
    given: String,
}

impl fmt::Debug for BusUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.shown)
    }
}

impl PartialEq for BusUrl {
    fn eq(&self, other: &Self) -> bool {
        self.0.shown == other.0.shown
    }
}

impl Eq for BusUrl {}

impl fmt::Display for BusUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.shown)
    }
}

impl BusUrl {
    /// Parses `postgres://…` or `postgresql://…`; the error names what is
    /// wrong (never echoing a password).
    pub fn parse(url: &str) -> std::result::Result<Self, String> {
        let url = url.trim();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err("a bus URL starts with postgres:// (or postgresql://)".to_owned());
        }
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut schema = DEFAULT_SCHEMA.to_owned();
        let (mut sslmode, mut sslrootcert) = (None, None);
        let (mut sslcert, mut sslkey) = (None, None);
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("schema", name)) => schema = name.to_owned(),
                Some(("sslmode", mode)) => sslmode = Some(decoded("sslmode", mode)?),
                Some(("sslrootcert", path)) => sslrootcert = Some(decoded("sslrootcert", path)?),
                Some(("sslcert", path)) => sslcert = Some(decoded("sslcert", path)?),
                Some(("sslkey", path)) => sslkey = Some(decoded("sslkey", path)?),
                Some(("sslpassword", _)) => {
                    return Err(
                        "sslpassword= is not supported: give sslkey an unencrypted key \
                         file, readable by its owner only"
                            .to_owned(),
                    );
                }
                _ => rest.push(pair),
            }
        }
        check_schema(&schema)?;
        let tls = TlsSettings::new(sslmode.as_deref(), sslrootcert.as_deref())?
            .with_client_cert(sslcert.as_deref(), sslkey.as_deref())?;
        let libpq = if rest.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", rest.join("&"))
        };
        let mut config = postgres::Config::from_str(&libpq)
            .map_err(|e| format!("not a PostgreSQL URL ({e})"))?;
        if config.get_hosts().is_empty() {
            return Err("the bus URL names no host".to_owned());
        }
        // No TLS over a Unix socket (the server offers none there).
        let all_sockets = config
            .get_hosts()
            .iter()
            .all(|h| !matches!(h, postgres::config::Host::Tcp(_)));
        config.ssl_mode(if all_sockets {
            postgres::config::SslMode::Disable
        } else {
            tls.client_mode()
        });
        let options = match config.get_options() {
            Some(own) => format!("{own} {SESSION_OPTIONS} -c search_path={schema}"),
            None => format!("{SESSION_OPTIONS} -c search_path={schema}"),
        };
        config
            .options(&options)
            .application_name("intercomm")
            .connect_timeout(Duration::from_secs(5))
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(5))
            .keepalives_interval(Duration::from_secs(2))
            .keepalives_retries(3);
        let shown = hide_password(url);
        Ok(Self(std::sync::Arc::new(UrlParts {
            config,
            tls,
            schema,
            shown,
            given: url.to_owned(),
        })))
    }

    /// The URL as given (with any password), to hand to a worker.
    pub fn as_given(&self) -> &str {
        &self.0.given
    }

    /// Whether the URL carries a password (better kept in `~/.pgpass`).
    pub fn has_password(&self) -> bool {
        self.0.config.get_password().is_some()
    }

    /// The project's schema.
    pub fn schema(&self) -> &str {
        &self.0.schema
    }

    /// The URL's TLS settings (`sslmode`, `sslrootcert`, `sslcert`,
    /// `sslkey`).
    pub fn tls(&self) -> &TlsSettings {
        &self.0.tls
    }

    /// The URL's TCP hosts that are not this machine (neither `localhost`
    /// nor a loopback address; Unix sockets are local): where the bus's
    /// traffic crosses a network.
    pub fn remote_hosts(&self) -> Vec<String> {
        self.0
            .config
            .get_hosts()
            .iter()
            .filter_map(|h| match h {
                postgres::config::Host::Tcp(name) => Some(name),
                #[cfg(unix)]
                postgres::config::Host::Unix(_) => None,
            })
            .filter(|name| {
                let name = name.trim_start_matches('[').trim_end_matches(']');
                !(name.eq_ignore_ascii_case("localhost")
                    || name
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback()))
            })
            .cloned()
            .collect()
    }

    /// A new client on this URL, with its TLS settings.
    pub(super) fn client(&self) -> Result<Client> {
        self.0.tls.connect(&self.0.config)
    }

    /// The advisory-lock class of this bus: a 31-bit FNV-1a hash of the
    /// schema name.
    pub fn lock_class(&self) -> i32 {
        let mut h: u32 = 0x811c_9dc5;
        for b in self.0.schema.bytes() {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
        i32::try_from(h & 0x7fff_ffff).unwrap_or(0)
    }
}

/// A query value, percent-decoded (a path may hold `%20`).
fn decoded(key: &str, value: &str) -> std::result::Result<String, String> {
    percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .map(|v| v.into_owned())
        .map_err(|_| format!("{key}= is not UTF-8 once percent-decoded"))
}

/// A schema name: a lower-case SQL identifier of at most 63 bytes, so it
/// needs no quoting anywhere.
fn check_schema(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
        && !name.starts_with("pg_");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "schema={name:?} is not a schema name intercomm uses: lower-case letters, digits and _, \
             not starting with a digit or pg_, at most 63"
        ))
    }
}

/// The URL with any password (in its user part or a `password=` query
/// parameter) replaced by `***`.
fn hide_password(url: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let head = match head.split_once("://") {
        Some((scheme, rest)) => {
            let (auth, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            match auth.rsplit_once('@') {
                Some((user, host)) if user.contains(':') => {
                    let name = user.split(':').next().unwrap_or_default();
                    format!("{scheme}://{name}:***@{host}{tail}")
                }
                _ => head.to_owned(),
            }
        }
        None => head.to_owned(),
    };
    match query {
        None => head,
        Some(q) => {
            let kept: Vec<&str> = q
                .split('&')
                .map(|p| {
                    if p.starts_with("password=") {
                        "password=***"
                    } else {
                        p
                    }
                })
                .collect();
            format!("{head}?{}", kept.join("&"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bus_url_names_its_schema_and_hides_its_password() -> std::result::Result<(), String> {
        let url = BusUrl::parse(
            "postgres://ic:s3cret@db.example:5433/bus?schema=ic_proj&sslmode=disable",
        )?;
        assert_eq!(url.schema(), "ic_proj");
        assert!(url.has_password());
        assert_eq!(
            url.to_string(),
            "postgres://ic:***@db.example:5433/bus?schema=ic_proj&sslmode=disable"
        );
        let plain = BusUrl::parse("postgresql://ic@db/bus")?;
        assert_eq!(plain.schema(), DEFAULT_SCHEMA);
        assert!(!plain.has_password());
        assert_ne!(url.lock_class(), plain.lock_class());
        assert!(url.lock_class() >= 0);
        assert_eq!(
            hide_password("postgres://db/bus?password=x&user=ic"),
            "postgres://db/bus?password=***&user=ic"
        );
        Ok(())
    }

    #[test]
    fn bad_bus_urls_say_what_is_wrong() {
        let err = |u: &str| BusUrl::parse(u).err().unwrap_or_default();
        assert!(err("mysql://db/x").contains("starts with postgres://"));
        assert!(err("postgres://db/x?schema=Bad-Name").contains("schema=\"Bad-Name\""));
        assert!(
            err("postgres://db/x?schema=pg_catalog").contains("not starting with a digit or pg_")
        );
        assert!(err("postgres://db/x?bogus=1").contains("not a PostgreSQL URL"));
    }

    #[test]
    fn a_bus_url_takes_its_tls_settings_and_names_remote_hosts() -> std::result::Result<(), String>
    {
        let url = BusUrl::parse(
            "postgres://ic@db.example:5433/bus?sslmode=verify-full&sslrootcert=/etc/ic%20ca.pem",
        )?;
        assert_eq!(
            url.tls(),
            &TlsSettings::new(Some("verify-full"), Some("/etc/ic ca.pem"))?
        );
        assert_eq!(
            url.0.config.get_ssl_mode(),
            postgres::config::SslMode::Require
        );
        assert_eq!(url.remote_hosts(), ["db.example"]);
        let local = BusUrl::parse("postgres://ic@localhost,127.0.0.1,[::1]/bus?sslmode=disable")?;
        assert!(
            local.remote_hosts().is_empty(),
            "{:?}",
            local.remote_hosts()
        );
        let socket = BusUrl::parse("postgres://ic@%2Frun%2Fpostgresql/bus?sslmode=require")?;
        assert!(socket.remote_hosts().is_empty());
        assert_eq!(
            socket.0.config.get_ssl_mode(),
            postgres::config::SslMode::Disable,
            "no TLS over a socket"
        );
        let err = |u: &str| BusUrl::parse(u).err().unwrap_or_default();
        assert!(err("postgres://db/x?sslmode=verify").contains("sslmode=\"verify\" is not one of"));
        assert!(
            err("postgres://db/x?sslcert=/c.pem").contains("sslcert= is given without sslkey=")
        );
        assert!(
            err("postgres://db/x?sslcert=/c.pem&sslkey=/c.key&sslpassword=pw")
                .contains("sslpassword= is not supported")
        );
        let with_cert = BusUrl::parse(
            "postgres://ic@db/x?sslmode=verify-full&sslcert=/a%20b.crt&sslkey=/c.key",
        )?;
        assert_eq!(
            with_cert.tls().client_cert(),
            Some(std::path::Path::new("/a b.crt"))
        );
        Ok(())
    }
}
