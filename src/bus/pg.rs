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
//! - [`WRITE_LOCK`], a transaction lock every bus write transaction takes
//!   first: PostgreSQL's `BEGIN IMMEDIATE`. Writes are serialised, so
//!   registration allocates distinct ids, and a message's `seq` becomes
//!   visible in seq order: a transaction lock is released after the commit is
//!   visible, so no reader's cursor can pass a message that commits late.
//!   (A plain sequence does not give this: seq is taken at INSERT and seen
//!   at COMMIT, out of order under concurrent writers.)
//! - one session lock per registration (`instances.lock_key`), held on the
//!   registering process's own connection for its life: the instance is
//!   alive while its connection is. Short TCP keepalives, asked of the server
//!   through startup options, bound how long a vanished host's lock outlives
//!   it to idle 5 s + 3 × 2 s (`tcp_user_timeout` 11 s).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::str::FromStr;
use std::sync::mpsc;
use std::time::Duration;

use bytes::BytesMut;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, Statement};

use super::store::{Arg, Result, StoreError};

/// The transaction lock of every bus write (see the module doc). The bus's
/// own locks are negative; instances' session locks take positive keys
/// (`instance_locks`), so the two never meet.
pub const WRITE_LOCK: i32 = -1;
/// The transaction lock of a schema migration.
pub const MIGRATE_LOCK: i32 = -2;

/// The schema used when the URL names none.
pub const DEFAULT_SCHEMA: &str = "intercomm";

/// Keepalive settings asked of the server at connect (PostgreSQL GUCs):
/// first probe after 5 s idle, then every 2 s, gone after 3 unanswered, and
/// unacknowledged data for 11 s ends the connection. Measured on
/// PostgreSQL 15: a silently cut client's session lock was free 9.8 s
/// after the cut with these, and still held after 38 s with the defaults.
const KEEPALIVE_OPTIONS: &str = "-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 \
     -c tcp_keepalives_count=3 -c tcp_user_timeout=11000";

/// A `postgres://` bus URL: libpq's URL syntax, plus an optional
/// `schema=NAME` query parameter (default [`DEFAULT_SCHEMA`]) naming the
/// project's schema in the database (one schema per project).
#[derive(Clone)]
pub struct BusUrl(std::sync::Arc<UrlParts>);

struct UrlParts {
    config: postgres::Config,
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
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("schema", name)) => schema = name.to_owned(),
                _ => rest.push(pair),
            }
        }
        check_schema(&schema)?;
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
        let options = match config.get_options() {
            Some(own) => format!("{own} {KEEPALIVE_OPTIONS} -c search_path={schema}"),
            None => format!("{KEEPALIVE_OPTIONS} -c search_path={schema}"),
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
    Ok(Probe {
        server_version: text(0),
        server_major: num / 10_000,
        schema_version: super::pg_schema::version(&conn)?,
    })
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
    config: postgres::Config,
    /// Session locks this connection holds `(class, key)`, taken again
    /// after a reconnect.
    held: Vec<(i32, i32)>,
}

impl Session {
    /// After the server went away (a restart, a dropped link), a new
    /// connection with the same session locks; only between transactions,
    /// so no transaction's statements are ever split across two.
    fn reconnect_if_closed(&mut self) {
        if !self.client.is_closed() {
            return;
        }
        match self.config.connect(postgres::NoTls) {
            Ok(client) => {
                self.client = client;
                self.statements.clear();
                for (class, key) in self.held.clone() {
                    if let Err(err) = self
                        .client
                        .batch_execute(&format!("SELECT pg_advisory_lock({class}, {key})"))
                    {
                        tracing::warn!(target: "bus", %err, "cannot take the liveness lock again");
                    }
                }
                tracing::info!(target: "bus", "reconnected to the PostgreSQL bus");
            }
            Err(err) => {
                tracing::warn!(target: "bus", %err, "cannot reconnect to the PostgreSQL bus")
            }
        }
    }

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
    /// Whether the open transaction holds [`WRITE_LOCK`].
    locked: Cell<bool>,
    /// Whether the open transaction queued a message in the outbox
    /// ([`super::messages::post`]).
    queued: Cell<bool>,
    /// The seqs the last outbox move on this connection gave, by message id
    /// ([`super::messages::sequence`] looks here first).
    moved: RefCell<HashMap<String, i64>>,
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
        let config = url.0.config.clone();
        std::thread::Builder::new()
            .name("intercomm-bus".to_owned())
            .spawn(move || {
                let client = match config.connect(postgres::NoTls) {
                    Ok(c) => {
                        let _ = ready_tx.send(Ok(()));
                        c
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let mut session = Session {
                    client,
                    statements: HashMap::new(),
                    config,
                    held: Vec::new(),
                };
                while let Ok(job) = rx.recv() {
                    job(&mut session);
                }
            })
            .map_err(|e| StoreError::Pg(format!("cannot start the bus thread: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Self {
                jobs,
                url: url.clone(),
                in_tx: Cell::new(false),
                locked: Cell::new(false),
                queued: Cell::new(false),
                moved: RefCell::new(HashMap::new()),
            }),
            Ok(Err(e)) => Err(StoreError::from(e)),
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

    pub(super) fn set_in_tx(&self, open: bool, locked: bool) {
        self.in_tx.set(open);
        self.locked.set(locked);
    }

    /// The statement that takes this bus's [`WRITE_LOCK`].
    pub(super) fn write_lock_sql(&self) -> String {
        format!(
            "SELECT pg_advisory_xact_lock({}, {WRITE_LOCK})",
            self.url.lock_class()
        )
    }

    /// Whether the open transaction holds [`WRITE_LOCK`].
    pub fn holds_write_lock(&self) -> bool {
        self.in_tx.get() && self.locked.get()
    }

    /// Takes [`WRITE_LOCK`] in the open transaction unless it holds it
    /// already (a message insert in [`super::Bus::write_send`]).
    pub fn lock_for_write(&self) -> Result<()> {
        if self.locked.get() {
            return Ok(());
        }
        self.batch(&self.write_lock_sql())?;
        self.locked.set(true);
        Ok(())
    }

    /// Runs `f` on the connection thread and waits for its answer.
    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Session) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = mpsc::sync_channel(1);
        let between = !self.in_tx();
        self.jobs
            .send(Box::new(move |s: &mut Session| {
                if between {
                    s.reconnect_if_closed();
                }
                let _ = tx.send(f(s));
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

    /// Runs a statement; rows changed.
    pub fn execute(&self, sql: &str, args: &[Arg<'_>]) -> Result<usize> {
        let sql = sql.to_owned();
        let args: Vec<PgArg> = args.iter().map(PgArg::from).collect();
        let bump = !self.in_tx();
        self.run(move |s| {
            let n = s.execute(&sql, &args)?;
            if bump {
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

    /// Notes that the open transaction queued a message in the outbox.
    pub(super) fn note_queued(&self) {
        self.queued.set(true);
    }

    /// Whether the transaction now ending queued a message (and forgets it).
    pub(super) fn take_queued(&self) -> bool {
        self.queued.replace(false)
    }

    /// Keeps the seqs an outbox move gave, by message id, in place of the
    /// last move's.
    pub(super) fn set_moved(&self, moved: HashMap<String, i64>) {
        *self.moved.borrow_mut() = moved;
    }

    /// The seq the last outbox move on this connection gave message `id`.
    pub(super) fn moved_seq(&self, id: &str) -> Option<i64> {
        self.moved.borrow().get(id).copied()
    }

    /// Runs statements without arguments (the simple query protocol) and
    /// returns the rows of those whose columns are named `columns`, each
    /// value as text (`None` for NULL).
    pub fn batch_rows(
        &self,
        sql: &str,
        columns: &'static [&'static str],
    ) -> Result<Vec<Vec<Option<String>>>> {
        let sql = sql.to_owned();
        self.run(move |s| {
            let mut rows = Vec::new();
            for m in s.client.simple_query(&sql)? {
                if let postgres::SimpleQueryMessage::Row(row) = m {
                    let names = row.columns().iter().map(|c| c.name());
                    if names.eq(columns.iter().copied()) {
                        rows.push(
                            (0..row.len())
                                .map(|i| row.get(i).map(str::to_owned))
                                .collect(),
                        );
                    }
                }
            }
            Ok(rows)
        })
    }

    /// Runs statements without arguments (the simple query protocol).
    pub fn batch(&self, sql: &str) -> Result<()> {
        let sql = sql.to_owned();
        self.run(move |s| Ok(s.client.batch_execute(&sql)?))
    }

    /// Runs `sql` in a transaction of its own that holds [`WRITE_LOCK`]
    /// (a read that must not see a write half-way, outside
    /// [`super::Bus::write`]).
    pub fn locked_query(&self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Vec<Value>>> {
        if self.in_tx() {
            return self.query(sql, args);
        }
        let sql = sql.to_owned();
        let args: Vec<PgArg> = args.iter().map(PgArg::from).collect();
        let class = self.url.lock_class();
        self.run(move |s| {
            s.client.batch_execute(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock({class}, {WRITE_LOCK})"
            ))?;
            match s.query(&sql, &args) {
                Ok(rows) => {
                    s.client.batch_execute("COMMIT")?;
                    Ok(rows)
                }
                Err(e) => {
                    let _ = s.client.batch_execute("ROLLBACK");
                    Err(e)
                }
            }
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
}
