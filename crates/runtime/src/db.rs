//! The database: PostgreSQL or SQLite, chosen by the URL, behind one sqlx
//! `Any` pool so each service writes its queries once for both.
//!
//! Queries use `$1` placeholders (both backends accept them), TEXT for ids and
//! BIGINT Unix microseconds for instants, so the same SQL runs on both.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Executor, Row, Transaction};

use crate::clock::Timestamp;

/// Which database engine is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Self, DbError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else {
            Err(DbError::UnsupportedUrl)
        }
    }
}

/// A service's migrations, one set per backend, embedded with `sqlx::migrate!`.
#[derive(Debug, Clone, Copy)]
pub struct Migrations {
    pub postgres: &'static Migrator,
    pub sqlite: &'static Migrator,
}

/// The [`Migrations`] of the calling crate, embedded from its
/// `migrations/postgres` and `migrations/sqlite` folders: every service
/// keeps its schema there, one folder per backend.
#[macro_export]
macro_rules! migrations {
    () => {{
        static POSTGRES: ::sqlx::migrate::Migrator = ::sqlx::migrate!("./migrations/postgres");
        static SQLITE: ::sqlx::migrate::Migrator = ::sqlx::migrate!("./migrations/sqlite");
        $crate::db::Migrations {
            postgres: &POSTGRES,
            sqlite: &SQLITE,
        }
    }};
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database URL must start with postgres://, postgresql:// or sqlite:")]
    UnsupportedUrl,
    #[error("cannot create the data directory {path}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot connect to the database")]
    Connect(#[source] sqlx::Error),
    #[error("cannot apply migrations")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

/// Connection pools and the engine behind them: one for writes, and one
/// for reads outside a transaction.
///
/// On SQLite every write goes through one dedicated connection: SQLite allows
/// one writer at a time, and queueing writers in the pool is fairer and far
/// faster than letting them spin on SQLITE_BUSY. Reads use the shared pool,
/// which WAL mode lets run beside the writer. On PostgreSQL, reads have a
/// pool of a quarter the size (at least 2), so they never wait for a
/// connection behind write transactions.
#[derive(Debug, Clone)]
pub struct Database {
    backend: Backend,
    reader: AnyPool,
    writer: AnyPool,
}

impl Database {
    /// Connects to `url`; for SQLite, creates the file and its directory.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        match backend {
            Backend::Postgres => {
                // Reads get a pool of their own, a quarter the size, so a
                // listing never queues behind write transactions that hold
                // every connection.
                let writer = postgres_pool(max_connections.max(1), url).await?;
                let reader = postgres_pool((max_connections / 4).max(2), url).await?;
                Ok(Self {
                    backend,
                    reader,
                    writer,
                })
            }
            Backend::Sqlite => {
                let url = sqlite_url_with_create(url)?;
                let options = AnyConnectOptions::from_str(&url).map_err(DbError::Connect)?;
                // The writer first, so that WAL mode is on before readers open.
                let writer = sqlite_pool(1).connect_with(options.clone()).await;
                let writer = writer.map_err(DbError::Connect)?;
                let reader = sqlite_pool(max_connections.clamp(1, 8))
                    .connect_with(options)
                    .await
                    .map_err(DbError::Connect)?;
                Ok(Self {
                    backend,
                    reader,
                    writer,
                })
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool for reads.
    pub fn reader(&self) -> &AnyPool {
        &self.reader
    }

    /// The pool for writes outside a transaction.
    pub fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// Begins a write transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so a transaction that reads before it writes can
    /// never fail to upgrade its lock half-way.
    pub async fn begin_write(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        match self.backend {
            Backend::Postgres => self.writer.begin().await,
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await,
        }
    }

    /// Begins a read-only transaction whose reads all see one snapshot:
    /// a row and its children read in it agree with each other even while
    /// writers commit (PostgreSQL: REPEATABLE READ; SQLite in WAL mode: a
    /// read transaction's snapshot is its first read's).
    pub async fn begin_read(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        match self.backend {
            Backend::Postgres => {
                self.reader
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await
            }
            Backend::Sqlite => self.reader.begin().await,
        }
    }

    /// Applies the service's migrations. Safe when several replicas start at
    /// once: on PostgreSQL the migrator holds an advisory lock while it runs.
    pub async fn migrate(&self, migrations: &Migrations) -> Result<(), DbError> {
        let migrator = match self.backend {
            Backend::Postgres => migrations.postgres,
            Backend::Sqlite => migrations.sqlite,
        };
        migrator.run(&self.writer).await.map_err(DbError::Migrate)
    }

    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

async fn postgres_pool(max_connections: u32, url: &str) -> Result<AnyPool, DbError> {
    // No ping before each acquire: it costs a round trip per query, and a
    // broken connection fails its query and is replaced anyway.
    AnyPoolOptions::new()
        .max_connections(max_connections)
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await
        .map_err(DbError::Connect)
}

fn sqlite_pool(max_connections: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max_connections)
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                // WAL lets readers run beside the writer; FULL makes every
                // commit durable across power loss, as money requires.
                conn.execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                )
                .await?;
                Ok(())
            })
        })
}

/// Adds `mode=rwc` (create if missing) and creates the parent directory.
fn sqlite_url_with_create(url: &str) -> Result<String, DbError> {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = rest.split('?').next().unwrap_or_default();
    let parent = Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent.filter(|_| path != ":memory:") {
        std::fs::create_dir_all(parent).map_err(|source| DbError::DataDir {
            path: parent.display().to_string(),
            source,
        })?;
    }
    Ok(if url.contains("mode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    })
}

/// The instant in `column` of `row`, stored as Unix microseconds.
pub fn timestamp(row: &AnyRow, column: &str) -> Result<Timestamp, sqlx::Error> {
    Ok(Timestamp::from_unix_micros(row.try_get(column)?))
}

/// Like [`timestamp`], for a column that may be NULL.
pub fn optional_timestamp(row: &AnyRow, column: &str) -> Result<Option<Timestamp>, sqlx::Error> {
    Ok(row
        .try_get::<Option<i64>, _>(column)?
        .map(Timestamp::from_unix_micros))
}

/// Whether a database error is a unique-constraint violation.
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_follows_the_url() {
        assert_eq!(
            Backend::from_url("postgres://x/y").unwrap(),
            Backend::Postgres
        );
        assert_eq!(
            Backend::from_url("sqlite://data/w.db").unwrap(),
            Backend::Sqlite
        );
        assert!(Backend::from_url("mysql://x").is_err());
    }

    #[test]
    fn sqlite_urls_create_the_file() {
        let dir = std::env::temp_dir().join(format!("numhub-db-{}", uuid::Uuid::now_v7()));
        let url = format!("sqlite://{}/sub/w.db", dir.display());
        let with_create = sqlite_url_with_create(&url).unwrap();
        assert!(with_create.ends_with("?mode=rwc"));
        assert!(dir.join("sub").is_dir());
        std::fs::remove_dir_all(dir).unwrap();
    }
}

/// `$first, $first+1, …` for `count` values: an `IN (…)` list that both
/// backends accept (sqlx's `QueryBuilder<Any>` writes `?`, which PostgreSQL
/// refuses).
pub fn placeholder_list(count: usize, first: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `($1, $2), ($3, $4), …`: `rows` tuples of `columns` placeholders.
pub fn placeholder_rows(rows: usize, columns: usize) -> String {
    placeholder_rows_from(rows, columns, 1)
}

/// Like [`placeholder_rows`], numbering from `$first`.
pub fn placeholder_rows_from(rows: usize, columns: usize, first: usize) -> String {
    (0..rows)
        .map(|row| format!("({})", placeholder_list(columns, first + row * columns)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod placeholder_tests {
    use super::*;

    #[test]
    fn placeholders_number_every_value_once() {
        assert_eq!(placeholder_list(3, 2), "$2, $3, $4");
        assert_eq!(placeholder_rows(2, 2), "($1, $2), ($3, $4)");
        assert_eq!(placeholder_rows_from(1, 2, 5), "($5, $6)");
    }
}
