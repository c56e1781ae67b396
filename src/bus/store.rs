//! The bus store seam: one connection type, [`Conn`], over either engine.
//!
//! Every table module in `bus/` writes its statements once, in the SQL both
//! engines accept (`?N` placeholders, `INSERT … ON CONFLICT`, `CASE`,
//! `COALESCE`, `LIMIT`), and runs them through [`Conn::execute`],
//! [`Conn::query`], [`Conn::query_opt`] and [`Conn::query_one`]; arguments
//! are [`Arg`]s and columns come back through [`Row::get`] as `i64`,
//! `String`, `bool` or their `Option`s. The few statements whose dialects
//! differ (the message sequence, the change counter, JSON in prune) match
//! on the [`Conn`] variant inside the table module, so ops, fleet, view, cost
//! and hooks call the same functions whatever the engine.
//!
//! Why a thin portable executor rather than a trait with one method per
//! statement: the ~45 statements are plain SQL that PostgreSQL 15 and
//! SQLite 3.4x both run unchanged apart from the placeholder spelling, so a
//! second copy of each would only be a place for the two to drift apart;
//! and the SQLite path keeps its cached prepared statements, so the tuned
//! fast path the benchmarks measure is unchanged. SQLite-only tuning (the
//! checkpoint hook, the busy handler, `BEGIN IMMEDIATE`, `PRAGMA
//! user_version` migrations) stays inside the SQLite side of this module and
//! of `bus/mod.rs`.

use rusqlite::types::{ToSqlOutput, ValueRef};

use super::pg::{PgConn, Value};

/// Failures of one statement.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite's own error (its code says busy, full, read-only, …).
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL's error (`SQLSTATE: message`), or the connection's.
    #[error("PostgreSQL bus: {0}")]
    Pg(String),
    /// A column held something the bus does not read there.
    #[error("bus column {index}: {problem}")]
    Column { index: usize, problem: String },
}

/// The result of a store call.
pub type Result<T> = std::result::Result<T, StoreError>;

/// One statement argument: SQL NULL, a 64-bit integer or text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg<'a> {
    Null,
    Int(i64),
    Text(&'a str),
}

/// A value that can be bound to a statement: integers, `bool` (as 0/1, the
/// SQLite habit both schemas keep), text, and their `Option`s (NULL).
pub trait ToArg {
    /// The argument, borrowing from `self`.
    fn to_arg(&self) -> Arg<'_>;
}

impl ToArg for i64 {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Int(*self)
    }
}

impl ToArg for u32 {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Int(i64::from(*self))
    }
}

impl ToArg for bool {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Int(i64::from(*self))
    }
}

impl ToArg for str {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Text(self)
    }
}

impl ToArg for String {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Text(self)
    }
}

impl<T: ToArg + ?Sized> ToArg for &T {
    fn to_arg(&self) -> Arg<'_> {
        (**self).to_arg()
    }
}

impl<T: ToArg> ToArg for Option<T> {
    fn to_arg(&self) -> Arg<'_> {
        self.as_ref().map_or(Arg::Null, ToArg::to_arg)
    }
}

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match *self {
            Self::Null => ValueRef::Null,
            Self::Int(v) => ValueRef::Integer(v),
            Self::Text(s) => ValueRef::Text(s.as_bytes()),
        }))
    }
}

/// `args![a, b, …]`: a slice of [`Arg`]s, each borrowed from a value that is
/// [`ToArg`] (temporaries live to the end of the statement).
#[macro_export]
#[doc(hidden)]
macro_rules! bus_args {
    ($($x:expr),* $(,)?) => {
        &[$($crate::bus::store::ToArg::to_arg(&$x)),*]
    };
}
pub use crate::bus_args as args;

/// One result row, read by column index.
pub enum Row<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Pg(&'r [Value]),
}

impl Row<'_> {
    /// Column `index` as `T` (`i64`, `String`, `bool`, or an `Option` of one
    /// for a nullable column).
    pub fn get<T: Col>(&self, index: usize) -> Result<T> {
        match self {
            Self::Sqlite(row) => T::from_sqlite(row, index).map_err(StoreError::from),
            Self::Pg(values) => {
                let value = values.get(index).ok_or_else(|| StoreError::Column {
                    index,
                    problem: "no such column".to_owned(),
                })?;
                T::from_value(value).ok_or_else(|| StoreError::Column {
                    index,
                    problem: format!("unexpected value {value:?}"),
                })
            }
        }
    }
}

/// A column type both engines return the same way.
pub trait Col: Sized {
    /// Reads column `index` of a SQLite row.
    fn from_sqlite(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Self>;
    /// Reads a PostgreSQL value; `None` when it is of another type.
    fn from_value(value: &Value) -> Option<Self>;
}

impl Col for i64 {
    fn from_sqlite(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Self> {
        row.get(index)
    }
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }
}

impl Col for u32 {
    fn from_sqlite(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Self> {
        row.get(index)
    }
    fn from_value(value: &Value) -> Option<Self> {
        i64::from_value(value).and_then(|v| u32::try_from(v).ok())
    }
}

impl Col for bool {
    fn from_sqlite(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Self> {
        Ok(row.get::<_, i64>(index)? != 0)
    }
    fn from_value(value: &Value) -> Option<Self> {
        i64::from_value(value).map(|v| v != 0)
    }
}

impl Col for String {
    fn from_sqlite(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Self> {
        row.get(index)
    }
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl<T: Col> Col for Option<T> {
    fn from_sqlite(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Self> {
        if row.get_ref(index)? == ValueRef::Null {
            return Ok(None);
        }
        T::from_sqlite(row, index).map(Some)
    }
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Null => Some(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// A connection to the bus, on either engine. Statements outside
/// [`super::Bus::write`] run on their own (autocommit).
#[derive(Debug)]
pub enum Conn {
    Sqlite(rusqlite::Connection),
    Pg(PgConn),
}

impl Conn {
    /// The SQLite connection, for SQLite-only statements (`None` on another
    /// engine).
    pub fn sqlite(&self) -> Option<&rusqlite::Connection> {
        match self {
            Self::Sqlite(c) => Some(c),
            Self::Pg(_) => None,
        }
    }

    /// The PostgreSQL connection, for PostgreSQL-only statements.
    pub fn pg(&self) -> Option<&PgConn> {
        match self {
            Self::Sqlite(_) => None,
            Self::Pg(c) => Some(c),
        }
    }

    /// Runs a statement that returns no rows; the number of rows changed.
    pub fn execute(&self, sql: &str, args: &[Arg<'_>]) -> Result<usize> {
        match self {
            Self::Sqlite(c) => Ok(c
                .prepare_cached(sql)?
                .execute(rusqlite::params_from_iter(args))?),
            Self::Pg(c) => c.execute(sql, args),
        }
    }

    /// Every row of a query, each mapped by `f`.
    pub fn query<T>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        mut f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        match self {
            Self::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    out.push(f(&Row::Sqlite(row))?);
                }
                Ok(out)
            }
            Self::Pg(c) => c.query(sql, args)?.iter().map(|r| f(&Row::Pg(r))).collect(),
        }
    }

    /// The first row of a query mapped by `f`, or `None` when it has none.
    pub fn query_opt<T>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        match self {
            Self::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
                match rows.next()? {
                    Some(row) => f(&Row::Sqlite(row)).map(Some),
                    None => Ok(None),
                }
            }
            Self::Pg(c) => match c.query(sql, args)?.first() {
                Some(row) => f(&Row::Pg(row)).map(Some),
                None => Ok(None),
            },
        }
    }

    /// The first row of a query that always returns one (an aggregate).
    pub fn query_one<T>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        match self {
            Self::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
                match rows.next()? {
                    Some(row) => f(&Row::Sqlite(row)),
                    None => Err(rusqlite::Error::QueryReturnedNoRows.into()),
                }
            }
            Self::Pg(c) => match c.query(sql, args)?.first() {
                Some(row) => f(&Row::Pg(row)),
                None => Err(StoreError::Pg("a query returned no row".to_owned())),
            },
        }
    }

    /// A single `i64` (or NULL) from a one-row query.
    pub fn scalar(&self, sql: &str, args: &[Arg<'_>]) -> Result<Option<i64>> {
        Ok(self
            .query_opt(sql, args, |r| r.get::<Option<i64>>(0))?
            .flatten())
    }
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        use postgres::error::SqlState;
        Self::Pg(match e.as_db_error() {
            Some(db) if *db.code() == SqlState::LOCK_NOT_AVAILABLE => format!(
                "{}: the bus stayed locked by another process for {} s (a write or a \
                 migration that did not end); try again",
                db.code().code(),
                super::pg::LOCK_TIMEOUT_MS / 1000
            ),
            Some(db) if *db.code() == SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT => format!(
                "{}: the server ended this connection after {} s idle inside a transaction \
                 (nothing of it was committed)",
                db.code().code(),
                super::pg::IDLE_IN_TRANSACTION_MS / 1000
            ),
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => e.to_string(),
        })
    }
}
