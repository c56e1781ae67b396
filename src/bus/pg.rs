//! The PostgreSQL side of the store seam: a connection owned by a dedicated
//! thread, the bus URL, and the bus's advisory locks.
//!
//! The sync `postgres` client runs its own tokio runtime and panics when it
//! is called from a thread that is already inside one ("Cannot start a
//! runtime from within a runtime"; `intercomm mcp` runs a current-thread
//! runtime). So each [`PgConn`] starts one thread that owns the client and
//! runs the statements sent to it over a channel; the caller blocks on the
//! answer, from any thread, runtime or not.
//!
//! Locks, all keyed `(class, k)` with `class` a hash of the schema, so that
//! two projects in one database never share one:
//! - [`WRITE_LOCK`], a transaction lock every bus write transaction but a
//!   send's takes first: PostgreSQL's `BEGIN IMMEDIATE`. Those writes are
//!   serialised, so registration allocates distinct ids and one master is
//!   chosen at a time. Sends take no lock of their own: a message's seq
//!   comes with a fence lock (keyed by the `messages` table's oid, see
//!   [`super::messages`]) that keeps readers' cursors behind it until it
//!   commits.
//! - one session lock per registration (`instances.lock_key`), held on the
//!   registering process's own connection for its life: the instance is
//!   alive while its connection is. Short TCP keepalives, asked of the server
//!   through startup options, bound how long a vanished host's lock outlives
//!   it to idle 5 s + 3 × 2 s (`tcp_user_timeout` 11 s).
//!
//! A server restart closes every connection and frees every session lock.
//! Outside a transaction a call that finds its connection lost runs again
//! on a new one, with its session locks taken again; an idle connection
//! holding one checks its server every [`PROBE_EVERY`]; and for
//! [`RESTART_GRACE_MS`] after the server's start a holder whose lock is
//! free reads as reconnecting rather than gone.

use std::cell::Cell;
use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::sync::mpsc;

use bytes::BytesMut;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, Statement};

use super::store::{Arg, Result, StoreError};

mod restart;
mod url;
pub use restart::{PROBE_EVERY, RECONNECT_WAIT, RESTART_GRACE_MS};
pub use url::{BusUrl, DEFAULT_SCHEMA, IDLE_IN_TRANSACTION_MS, LOCK_TIMEOUT_MS};

/// The transaction lock of every bus write (see the module doc). The bus's
/// own locks are negative; instances' session locks take positive keys
/// (`instance_locks`), so the two never meet.
pub const WRITE_LOCK: i32 = -1;
/// The transaction lock of a schema migration.
pub const MIGRATE_LOCK: i32 = -2;

/// The oldest PostgreSQL the bus is tested with is 15; 13 is the oldest
/// whose SQL it uses (nothing newer than `jsonb` and advisory locks).
pub const MIN_SERVER_MAJOR: u32 = 13;

/// What `intercomm doctor` learns from a bus server.
#[derive(Debug, Clone)]
pub struct Probe {
    /// `server_version`, e.g. `15.18 (Debian 15.18-0+deb12u1)`.
    pub server_version: String,
    /// Major version, from `server_version_num`.
    pub server_major: u32,
    /// The bus schema's version, `None` when the schema holds no bus.
    pub schema_version: Option<i64>,
    /// The TLS version of this connection (`pg_stat_ssl`), e.g. `TLSv1.3`;
    /// `None` when it is not encrypted.
    pub tls: Option<String>,
    /// The subject of the client certificate the server took
    /// (`pg_stat_ssl.client_dn`), e.g. `/CN=ic`; `None` when none was
    /// presented (or the server asked for none).
    pub client_dn: Option<String>,
}

/// Connects to `url` and reads the server's and the schema's versions.
pub fn probe(url: &BusUrl) -> Result<Probe> {
    let conn = PgConn::connect(url)?;
    let rows = conn.query(
        "SELECT current_setting('server_version'), current_setting('server_version_num')",
        &[],
    )?;
    let text = |i: usize| match rows.first().and_then(|r| r.get(i)) {
        Some(Value::Text(s)) => s.clone(),
        _ => String::new(),
    };
    let num: u32 = text(1).parse().unwrap_or(0);
    let ssl = conn.query(
        "SELECT version, client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl",
        &[],
    )?;
    Ok(Probe {
        server_version: text(0),
        server_major: num / 10_000,
        schema_version: super::pg_schema::version(&conn)?,
        tls: ssl.first().map(|r| match r.first() {
            Some(Value::Text(v)) => v.clone(),
            _ => "TLS".to_owned(),
        }),
        client_dn: ssl.first().and_then(|r| match r.get(1) {
            Some(Value::Text(dn)) => Some(dn.clone()),
            _ => None,
        }),
    })
}

/// A value as PostgreSQL returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
}

/// An owned statement argument, bound to whatever integer or text type the
/// server inferred for its placeholder.
#[derive(Debug, Clone)]
enum PgArg {
    Null,
    Int(i64),
    Text(String),
}

impl From<&Arg<'_>> for PgArg {
    fn from(a: &Arg<'_>) -> Self {
        match *a {
            Arg::Null => Self::Null,
            Arg::Int(v) => Self::Int(v),
            Arg::Text(s) => Self::Text(s.to_owned()),
        }
    }
}

impl ToSql for PgArg {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            Self::Null => Ok(IsNull::Yes),
            Self::Int(v) => match *ty {
                Type::INT8 => v.to_sql(ty, out),
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                Type::OID => u32::try_from(*v)?.to_sql(ty, out),
                _ => v.to_string().as_str().to_sql(ty, out),
            },
            Self::Text(s) => s.as_str().to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::INT8
                | Type::INT4
                | Type::INT2
                | Type::BOOL
                | Type::OID
                | Type::TEXT
                | Type::VARCHAR
                | Type::BPCHAR
                | Type::NAME
                | Type::UNKNOWN
        )
    }

    to_sql_checked!();
}

/// `?N` placeholders (SQLite's numbered form) rewritten as `$N`, outside
/// quoted literals and identifiers.
fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    for c in sql.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '?' => {
                out.push('$');
                continue;
            }
            None => {}
        }
        out.push(c);
    }
    out
}

/// The client and its prepared statements, owned by the connection thread.
struct Session {
    client: Client,
    statements: HashMap<String, Statement>,
    url: BusUrl,
    /// Session locks this connection holds `(class, key)`, taken again
    /// after a reconnect.
    held: Vec<(i32, i32)>,
    /// Whether a transaction is open on this connection, as the batches
    /// that open and end one say ([`Session::note_tx`]): inside one,
    /// nothing reconnects or retries, so no transaction's statements are
    /// ever split across two connections.
    tx_open: bool,
}

impl Session {
    fn statement(&mut self, sql: &str) -> std::result::Result<Statement, postgres::Error> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(&placeholders(sql))?;
        self.statements.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    fn query(&mut self, sql: &str, args: &[PgArg]) -> Result<Vec<Vec<Value>>> {
        let stmt = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> =
            args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        let rows = self.client.query(&stmt, &params)?;
        rows.iter().map(row_values).collect()
    }

    fn execute(&mut self, sql: &str, args: &[PgArg]) -> Result<usize> {
        let stmt = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> =
            args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        let n = self.client.execute(&stmt, &params)?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }
}

fn row_values(row: &postgres::Row) -> Result<Vec<Value>> {
    (0..row.len())
        .map(|i| {
            let ty = row.columns()[i].type_().clone();
            let v = match ty {
                Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Value::Int),
                Type::INT4 => row
                    .try_get::<_, Option<i32>>(i)?
                    .map(|v| Value::Int(v.into())),
                Type::INT2 => row
                    .try_get::<_, Option<i16>>(i)?
                    .map(|v| Value::Int(v.into())),
                Type::BOOL => row
                    .try_get::<_, Option<bool>>(i)?
                    .map(|v| Value::Int(v.into())),
                Type::OID => row
                    .try_get::<_, Option<u32>>(i)?
                    .map(|v| Value::Int(v.into())),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
                    row.try_get::<_, Option<String>>(i)?.map(Value::Text)
                }
                other => {
                    return Err(StoreError::Column {
                        index: i,
                        problem: format!("PostgreSQL type {other} is not one the bus reads"),
                    });
                }
            };
            Ok(v.unwrap_or(Value::Null))
        })
        .collect()
}

type Job = Box<dyn FnOnce(&mut Session) + Send>;

/// One connection to a PostgreSQL bus, on its own thread (see the module
/// doc). Statements outside a transaction commit on their own.
pub struct PgConn {
    jobs: mpsc::Sender<Job>,
    url: BusUrl,
    in_tx: Cell<bool>,
}

impl fmt::Debug for PgConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgConn({})", self.url)
    }
}

impl PgConn {
    /// Connects (within the URL's connect timeout, 5 s unless it says).
    pub fn connect(url: &BusUrl) -> Result<Self> {
        let (jobs, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let own = url.clone();
        std::thread::Builder::new()
            .name("intercomm-bus".to_owned())
            .spawn(move || {
                let client = match own.client() {
                    Ok(c) => {
                        let _ = ready_tx.send(Ok(()));
                        c
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let session = Session {
                    client,
                    statements: HashMap::new(),
                    url: own,
                    held: Vec::new(),
                    tx_open: false,
                };
                session.serve(&rx);
            })
            .map_err(|e| StoreError::Pg(format!("cannot start the bus thread: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Self {
                jobs,
                url: url.clone(),
                in_tx: Cell::new(false),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(StoreError::Pg("the bus thread ended".to_owned())),
        }
    }

    /// The URL this connection was made from.
    pub fn url(&self) -> &BusUrl {
        &self.url
    }

    /// Whether a transaction is open ([`super::Bus::write`]).
    pub fn in_tx(&self) -> bool {
        self.in_tx.get()
    }

    pub(super) fn set_in_tx(&self, open: bool) {
        self.in_tx.set(open);
    }

    /// The statement that takes this bus's [`WRITE_LOCK`].
    pub(super) fn write_lock_sql(&self) -> String {
        format!(
            "SELECT pg_advisory_xact_lock({}, {WRITE_LOCK})",
            self.url.lock_class()
        )
    }

    /// Runs `f` on the connection thread and waits for its answer; outside
    /// a transaction, once more on a new connection if the old one was lost
    /// ([`Session::run`]).
    fn run<T: Send + 'static>(
        &self,
        f: impl Fn(&mut Session) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.jobs
            .send(Box::new(move |s: &mut Session| {
                let _ = tx.send(s.run(&f));
            }))
            .map_err(|_| StoreError::Pg("the bus connection's thread ended".to_owned()))?;
        rx.recv()
            .map_err(|_| StoreError::Pg("the bus connection's thread ended".to_owned()))?
    }

    /// Rows of a query, as values.
    pub fn query(&self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Vec<Value>>> {
        let sql = sql.to_owned();
        let args: Vec<PgArg> = args.iter().map(PgArg::from).collect();
        self.run(move |s| s.query(&sql, &args))
    }

    /// Rows of a statement that writes (an `INSERT … RETURNING`); outside a
    /// transaction the change counter moves after it, as after
    /// [`PgConn::execute`].
    pub fn write_query(&self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Vec<Value>>> {
        let sql = sql.to_owned();
        let args: Vec<PgArg> = args.iter().map(PgArg::from).collect();
        self.run(move |s| {
            let rows = s.query(&sql, &args)?;
            if !s.tx_open {
                s.client.batch_execute(BUMP)?;
            }
            Ok(rows)
        })
    }

    /// Runs a statement; rows changed.
    pub fn execute(&self, sql: &str, args: &[Arg<'_>]) -> Result<usize> {
        let sql = sql.to_owned();
        let args: Vec<PgArg> = args.iter().map(PgArg::from).collect();
        self.run(move |s| {
            let n = s.execute(&sql, &args)?;
            if !s.tx_open {
                s.client.batch_execute(BUMP)?;
            }
            Ok(n)
        })
    }

    /// Takes the session advisory lock `(class, key)` on this connection
    /// for its life (taken again if it has to reconnect).
    pub fn hold_lock(&self, class: i32, key: i32) -> Result<()> {
        self.run(move |s| {
            s.client
                .batch_execute(&format!("SELECT pg_advisory_lock({class}, {key})"))?;
            s.held.push((class, key));
            Ok(())
        })
    }

    /// Runs statements without arguments (the simple query protocol).
    pub fn batch(&self, sql: &str) -> Result<()> {
        let sql = sql.to_owned();
        self.run(move |s| {
            let ran = s.client.batch_execute(&sql);
            s.note_tx(&sql, ran.is_ok());
            Ok(ran?)
        })
    }
}

/// After each committed write, the change counter moves
/// ([`super::messages::data_version`]): waiters look at the tables only
/// when it did. A sequence, so that the bump never waits for a lock, and
/// runs after the commit, so that a waiter that sees the new number also
/// sees the data.
pub const BUMP: &str = "SELECT nextval('bus_changes')";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_rewritten_outside_quotes() {
        assert_eq!(
            placeholders("SELECT ?1, '?2', \"a?\" FROM t WHERE x = ?12"),
            "SELECT $1, '?2', \"a?\" FROM t WHERE x = $12"
        );
    }
}
