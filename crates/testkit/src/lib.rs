//! Runs numhub services in-process for tests and benchmarks: a fresh database
//! per test (a new PostgreSQL database, or a temporary SQLite file), a server
//! on 127.0.0.1:0, and a connected channel for the service's clients.
//!
//! Behaviour suites run once per backend with [`backend_tests!`]. PostgreSQL
//! is found at `NUMHUB_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). Under `CI=true` it is
//! mandatory; elsewhere its tests are skipped with a loud notice when it is
//! not running.
//!
//! With the feature `stack`, [`stack`] serves numhub's services together,
//! each on its own database, as the services' tests and benchmarks use them.

mod bearer;
pub mod hang;
pub mod raw;
#[cfg(feature = "stack")]
pub mod stack;
pub mod status;
pub mod tokens;

pub use crate::bearer::BearerKey;

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use numhub_runtime::config::CallConfig;
use numhub_runtime::db::Database;
use numhub_runtime::server::{RunningServer, Server};
use sqlx::{AssertSqlSafe, Connection};
use tonic::service::Routes;
use tonic::transport::{Channel, Endpoint};

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The database engines a suite runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The administrative PostgreSQL URL for tests.
pub fn postgres_admin_url() -> String {
    std::env::var("NUMHUB_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.into())
}

/// Whether tests on `backend` can run here. PostgreSQL that is down fails
/// the test under CI, and is a loud skip elsewhere.
pub async fn backend_available(backend: Backend) -> bool {
    if backend == Backend::Sqlite {
        return true;
    }
    static REACHABLE: OnceLock<bool> = OnceLock::new();
    if let Some(reachable) = REACHABLE.get() {
        return *reachable;
    }
    let url = postgres_admin_url();
    let probe = tokio::time::timeout(Duration::from_secs(5), sqlx::PgConnection::connect(&url));
    let reachable = matches!(probe.await, Ok(Ok(_)));
    if !reachable {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("PostgreSQL at {url} is not reachable, and under CI its tests are mandatory");
        }
        eprintln!(
            "\n!!!!!!!! SKIPPING PostgreSQL tests: nothing answers at {url}.\n\
             !!!!!!!! Start PostgreSQL or set NUMHUB_TEST_POSTGRES_URL to run them.\n"
        );
    }
    *REACHABLE.get_or_init(|| reachable)
}

/// A fresh, empty database that is removed when dropped.
#[derive(Debug)]
pub struct TestDb {
    pub db: Database,
    pub url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { name: String },
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        Self::with_max_connections(backend, 16).await
    }

    pub async fn with_max_connections(backend: Backend, max_connections: u32) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                let db = Database::connect(&url, max_connections)
                    .await
                    .expect("open SQLite");
                Self {
                    db,
                    url,
                    cleanup: Cleanup::Sqlite(dir),
                }
            }
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("numhub_test_{}", uuid::Uuid::now_v7().simple());
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .expect("connect to PostgreSQL");
                sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create a test database");
                let url = database_url(&admin, &name);
                let db = Database::connect(&url, max_connections)
                    .await
                    .expect("connect to the test database");
                Self {
                    db,
                    url,
                    cleanup: Cleanup::Postgres { name },
                }
            }
        }
    }
}

/// `admin` with its database name replaced by `name`.
fn database_url(admin: &str, name: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin, None),
    };
    let prefix = base.rsplit_once('/').map_or(base, |(prefix, _)| prefix);
    match query {
        Some(query) => format!("{prefix}/{name}?{query}"),
        None => format!("{prefix}/{name}"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Cleanup::Postgres { name } = &self.cleanup else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot be blocked on;
        // a thread with a runtime of its own does the dropping.
        let name = name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&postgres_admin_url())
                    .await
                    .ok()?;
                let statement = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                sqlx::query(AssertSqlSafe(statement))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        });
        let _ = dropped.join();
    }
}

/// A service serving on 127.0.0.1 on a free port.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    channel: Channel,
    running: RunningServer,
}

impl TestServer {
    /// Serves `routes` in-process, with health and reflection as in
    /// production, and connects a channel to it.
    pub async fn start(routes: Routes, service_names: Vec<&'static str>) -> Self {
        let running = Server::new(routes, service_names)
            .start(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("start the server");
        let addr = running.local_addr();
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .tcp_nodelay(true)
            .connect()
            .await
            .expect("connect to the server");
        Self {
            addr,
            channel,
            running,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A channel for any of the service's clients; clones share a connection.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// A channel as another service calls this one, with the default
    /// timeouts; `name` is how its errors name this service.
    pub fn outbound(&self, name: &'static str) -> numhub_runtime::channel::Channel {
        outbound(
            name,
            &format!("http://{}", self.addr),
            &CallConfig::default(),
        )
    }

    /// A channel on a connection of its own (HTTP/2 multiplexes one
    /// connection, so load tests open several).
    pub async fn new_channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.addr))
            .expect("endpoint")
            .tcp_nodelay(true)
            .connect()
            .await
            .expect("connect to the server")
    }

    pub async fn shutdown(self) {
        self.running
            .shutdown(Duration::from_secs(5))
            .await
            .expect("graceful shutdown");
    }
}

/// A channel as a service calls another at `url`, with `calls`' timeouts.
pub fn outbound(
    name: &'static str,
    url: &str,
    calls: &CallConfig,
) -> numhub_runtime::channel::Channel {
    calls.channel(name, url, "test").expect("a test URL")
}

/// Runs each test once on SQLite and once on PostgreSQL, in modules `sqlite`
/// and `postgres`. Each test is an `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! backend_tests {
    ($(async fn $name:ident($backend:ident : Backend) $body:block)*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let $backend = $crate::Backend::Sqlite;
                    $body
                }
            )*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if !$crate::backend_available($crate::Backend::Postgres).await {
                        return;
                    }
                    let $backend = $crate::Backend::Postgres;
                    $body
                }
            )*
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_database_urls_keep_credentials_and_options() {
        assert_eq!(
            database_url("postgres://u:p@h:5432/postgres?sslmode=disable", "t1"),
            "postgres://u:p@h:5432/t1?sslmode=disable"
        );
        assert_eq!(
            database_url("postgres://h/postgres", "t2"),
            "postgres://h/t2"
        );
    }
}
