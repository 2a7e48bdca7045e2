//! The skeleton with a small service of its own: built, served, and
//! stopped in the one safe order.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use numhub_runtime::config::ServiceDefaults;
use numhub_runtime::db::{Database, Migrations};
use numhub_skeleton::{Binary, Command, Context, GrpcServices, Host, Layout, Peer, Service};
use sqlx::migrate::Migrator;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

static POSTGRES: Migrator = sqlx::migrate!("./tests/migrations/postgres");
static SQLITE: Migrator = sqlx::migrate!("./tests/migrations/sqlite");

const CREDENTIAL: &str = "a-service-credential-of-forty-characters!";

/// A service that writes down what happens to it: its worker writes when
/// asked to stop, its `stop` asks the process's own health service.
#[derive(Debug, Clone)]
struct Journal {
    db: Database,
    context: Context,
    seen: Arc<Mutex<Vec<String>>>,
}

#[derive(Debug, Clone, clap::Args)]
struct JournalSettings {
    /// Unused: every service has settings.
    #[arg(long, default_value_t = 1)]
    journal_level: u32,
}

impl Journal {
    async fn write(db: &Database, what: &str) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO journal (what) VALUES ($1)")
            .bind(what.to_owned())
            .execute(db.writer())
            .await
            .map(drop)
    }
}

impl Service for Journal {
    const DEFAULTS: ServiceDefaults = ServiceDefaults::new("journal", 0, 0);
    const BINARY: &'static str = "numhub-journal";
    const ABOUT: &'static str = "a service of the skeleton's tests";
    const CALLS: &'static [Peer] = &[Peer::Wallet];
    const MIGRATIONS: Option<Migrations> = Some(Migrations {
        postgres: &POSTGRES,
        sqlite: &SQLITE,
    });
    type Settings = JournalSettings;

    async fn build(context: &Context, _: &JournalSettings) -> anyhow::Result<Self> {
        let db = context.db()?;
        context.workers.spawn("journal worker", move |stop| {
            let db = db.clone();
            async move {
                stop.cancelled().await;
                // Written after the server has drained: the pool is open.
                Journal::write(&db, "worker stopped").await
            }
        });
        Ok(Journal {
            db: context.db()?,
            context: context.clone(),
            seen: Arc::default(),
        })
    }

    fn grpc(&self, services: &mut GrpcServices) {
        services.add(Unimplemented);
    }

    async fn stop(&self) {
        // Before the drain, the server still reports SERVING.
        let channel = self.context.channel(Peer::Wallet).expect("own channel");
        let status = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .map(|r| r.into_inner().status);
        self.seen
            .lock()
            .unwrap()
            .push(format!("stop while {status:?}"));
        Journal::write(&self.db, "stop").await.expect("write");
    }
}

/// A gRPC service of the test's own, which answers UNIMPLEMENTED.
#[derive(Debug, Clone)]
struct Unimplemented;

impl tonic::server::NamedService for Unimplemented {
    const NAME: &'static str = "numhub.test.v1.JournalService";
}

impl tower_service::Service<http::Request<tonic::body::Body>> for Unimplemented {
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<tonic::body::Body>) -> Self::Future {
        std::future::ready(Ok(tonic::Status::unimplemented("").into_http()))
    }
}

fn config(data_dir: &std::path::Path, extra: &[&str]) -> Binary<JournalSettings> {
    let mut args = vec![
        "--listen-addr",
        "127.0.0.1:0",
        "--metrics-addr",
        "off",
        "--shutdown-grace",
        "2s",
        "--service-credential",
        CREDENTIAL,
        "--data-dir",
        data_dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let mut binary = Binary::parse_args::<Journal>(&args).unwrap();
    // The test's own environment never chooses the database.
    if !extra.contains(&"--database-url") {
        binary.common.database.database_url = None;
    }
    binary
}

async fn journal(path: &std::path::Path) -> Vec<String> {
    let db = Database::connect(&format!("sqlite://{}", path.display()), 1)
        .await
        .unwrap();
    let rows: Vec<(String,)> = sqlx::query_as("SELECT what FROM journal ORDER BY id")
        .fetch_all(db.reader())
        .await
        .unwrap();
    db.close().await;
    rows.into_iter().map(|(what,)| what).collect()
}

#[tokio::test]
async fn stops_the_service_then_drains_then_stops_workers_then_closes_the_database() {
    let data = tempfile::tempdir().unwrap();
    let config = config(data.path(), &[]);
    let mut host = Host::bind(&config.common, Journal::DEFAULTS, Layout::Together)
        .await
        .unwrap();
    let service: Journal = host.add(&config.settings).await.unwrap();
    let running = host.serve().await.unwrap();

    let mut health = HealthClient::new(
        tonic::transport::Channel::from_shared(format!("http://{}", running.local_addr()))
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    for name in ["", "numhub.test.v1.JournalService"] {
        let status = health
            .check(HealthCheckRequest {
                service: name.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{name:?}");
    }

    tokio::time::timeout(Duration::from_secs(10), running.shutdown())
        .await
        .expect("shut down within the grace")
        .unwrap();
    assert_eq!(
        service.seen.lock().unwrap().clone(),
        [format!("stop while Ok({})", ServingStatus::Serving as i32)],
        "the service's stop runs while the server still serves"
    );
    assert_eq!(
        journal(&data.path().join("journal.db")).await,
        ["stop", "worker stopped"],
        "the worker stops after the service, and before the pool closes"
    );
}

#[tokio::test]
async fn alone_a_service_keeps_its_configured_database_and_needs_a_credential() {
    let data = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", data.path().join("elsewhere.db").display());
    let config = config(data.path(), &["--database-url", &url]);
    let mut host = Host::bind(
        &config.common,
        Journal::DEFAULTS,
        Layout::Alone(config.peers.clone()),
    )
    .await
    .unwrap();
    host.add::<Journal>(&config.settings).await.unwrap();
    host.serve().await.unwrap().shutdown().await.unwrap();
    assert_eq!(
        journal(&data.path().join("elsewhere.db")).await,
        ["stop", "worker stopped"]
    );

    let mut config = config;
    config.common.auth.service_credential.clear();
    let error = Host::bind(
        &config.common,
        Journal::DEFAULTS,
        Layout::Alone(config.peers),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(error.contains("NUMHUB_SERVICE_CREDENTIAL"), "{error}");
}

#[tokio::test]
async fn together_services_refuse_one_sqlite_file_for_all() {
    let data = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", data.path().join("all.db").display());
    let config = config(data.path(), &["--database-url", &url]);
    let mut host = Host::bind(&config.common, Journal::DEFAULTS, Layout::Together)
        .await
        .unwrap();
    let error = host
        .add::<Journal>(&config.settings)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("NUMHUB_DATABASE_URL"), "{error}");
}

#[test]
fn a_binary_shows_the_addresses_of_the_services_it_calls_only() {
    let help = Binary::<JournalSettings>::command_of::<Journal>()
        .render_long_help()
        .to_string();
    assert!(help.contains("--wallet-addr"), "{help}");
    assert!(help.contains("--connect-timeout"), "{help}");
    for hidden in ["--accounts-addr", "--orders-addr", "--rentals-addr"] {
        assert!(!help.contains(hidden), "{hidden} in {help}");
    }
    assert!(
        help.starts_with("a service of the skeleton's tests"),
        "{help}"
    );
    // Hidden is still accepted: one set of variables may serve every binary.
    assert!(Binary::parse_args::<Journal>(&["--orders-addr", "http://o:1"]).is_ok());
}

#[test]
fn a_service_parses_its_own_settings_with_its_defaults() {
    let binary = Binary::parse_args::<Journal>(&[]).unwrap();
    assert_eq!(binary.settings.journal_level, 1);
    assert!(binary.command.is_none());
    let binary = Binary::parse_args::<Journal>(&["--journal-level", "3", "migrate"]).unwrap();
    assert_eq!(binary.settings.journal_level, 3);
    assert!(matches!(binary.command, Some(Command::Migrate)));
    assert!(Binary::parse_args::<Journal>(&["--journal-level", "x"]).is_err());
}

#[test]
fn a_service_keeps_its_sqlite_database_in_the_data_directory_under_its_name() {
    let url = |args: &[&str]| {
        let binary = Binary::parse_args::<Journal>(args).unwrap();
        binary.common.database.url(&Journal::DEFAULTS)
    };
    assert_eq!(Journal::DEFAULTS.name, "journal");
    assert_eq!(url(&[]), "sqlite://data/journal.db");
    assert_eq!(
        url(&["--data-dir", "/var/lib/numhub"]),
        "sqlite:///var/lib/numhub/journal.db"
    );
    assert_eq!(
        url(&["--database-url", "postgres://db/numhub"]),
        "postgres://db/numhub"
    );
}
