//! numhubd: every numhub service in one process, on one port, each on its
//! own SQLite file under the data directory. The services share one auth
//! layer that resolves API keys in process; they keep to their own tables.
//!
//! The binary is [`Config`] parsed from flags and the environment, then
//! [`run`]. Tests and tools start the same thing in process with [`start`],
//! which answers once every service is serving, with a [`Numhubd`] handle
//! that knows the bound address and shuts it all down.

pub mod demo;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use numhub_accounts::{Accounts, AccountsSettings};
use numhub_auth::{AuthConfig, ServiceCredentials};
use numhub_catalog::{Catalog, CatalogSettings};
use numhub_inbound::simulator::{Simulator, SimulatorSettings};
use numhub_inbound::webhook::RunningWebhook;
use numhub_inbound::{Inbound, InboundSettings};
use numhub_orders::{Dependencies, Orders, OrdersSettings};
use numhub_rentals::{Rentals, RentalsSettings};
use numhub_runtime::clock::{SharedClock, SystemClock};
use numhub_runtime::config::{CallConfig, DatabaseConfig, ServerConfig, ServiceDefaults};
use numhub_runtime::db::{Backend, Database};
use numhub_runtime::server::{RunningServer, Server, bind, install_metrics, shutdown_signal};
use numhub_runtime::telemetry::TelemetryConfig;
use numhub_runtime::workers::Workers;
use numhub_wallet::{Wallet, WalletSettings};
use tonic::service::RoutesBuilder;

/// numhubd's name and default ports: gRPC on 50050, metrics on 9050.
pub const DEFAULTS: ServiceDefaults = ServiceDefaults {
    name: "numhub",
    grpc_port: 50050,
    metrics_port: 9050,
};

/// Everything numhubd can be told, from flags or `NUMHUB_*` variables.
#[derive(Debug, clap::Parser)]
#[command(
    name = "numhubd",
    version,
    about = "numhub on one box: every service in one process"
)]
pub struct Config {
    #[command(flatten)]
    pub server: ServerConfig,
    #[command(flatten)]
    pub database: DatabaseConfig,
    #[command(flatten)]
    pub telemetry: TelemetryConfig,
    #[command(flatten)]
    pub auth: AuthConfig,
    #[command(flatten)]
    pub calls: CallConfig,
    #[command(flatten)]
    pub accounts: AccountsSettings,
    #[command(flatten)]
    pub wallet: WalletSettings,
    #[command(flatten)]
    pub catalog: CatalogSettings,
    #[command(flatten)]
    pub orders: OrdersSettings,
    #[command(flatten)]
    pub rentals: RentalsSettings,
    #[command(flatten)]
    pub inbound: InboundSettings,
    #[command(flatten)]
    pub simulator: SimulatorSettings,
    /// Whether the first start loads the demo: numbers in three countries,
    /// prices, and a demo customer with money and a key, printed once.
    #[arg(long, env = "NUMHUB_DEMO", default_value_t = true, action = clap::ArgAction::Set)]
    pub demo: bool,
}

/// What the binary does once telemetry is up: start, serve until SIGTERM
/// or SIGINT, shut down.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let numhubd = start(config).await?;
    shutdown_signal().await;
    numhubd.shutdown().await
}

/// A service's own storage, because services never share tables: its own
/// SQLite file under the data directory, or, given a PostgreSQL URL, its
/// own schema (`numhub_<service>`) in that database. The URL it was
/// opened with comes along, for orders' and rentals' LISTEN connections.
async fn open(config: &Config, service: &'static str) -> anyhow::Result<(Database, String)> {
    let url = match &config.database.database_url {
        None => config.database.url(&ServiceDefaults {
            name: service,
            ..DEFAULTS
        }),
        Some(url) if Backend::from_url(url).ok() == Some(Backend::Postgres) => {
            schema_url(url, service).await?
        }
        Some(_) => anyhow::bail!(
            "NUMHUB_DATABASE_URL: numhubd takes a postgres:// URL (a schema per service), or \
             none: each service in its own SQLite file under NUMHUB_DATA_DIR"
        ),
    };
    let db = Database::connect(&url, config.database.db_max_connections)
        .await
        .with_context(|| format!("cannot open the {service} database"))?;
    Ok((db, url))
}

/// Creates the service's schema if it is missing, and the URL of the same
/// database with that schema first on the search path.
async fn schema_url(url: &str, service: &str) -> anyhow::Result<String> {
    use sqlx::Connection as _;
    let schema = format!("numhub_{service}");
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .context("NUMHUB_DATABASE_URL: cannot connect to PostgreSQL")?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}"
    )))
    .execute(&mut conn)
    .await
    .with_context(|| format!("cannot create the schema {schema}"))?;
    conn.close().await?;
    let separator = if url.contains('?') { '&' } else { '?' };
    Ok(format!(
        "{url}{separator}options=-c%20search_path%3D{schema}"
    ))
}

/// Opens (and migrates) every service's database (under the data directory,
/// or a schema each in the PostgreSQL database of NUMHUB_DATABASE_URL),
/// bootstraps the operator's admin key (printing a generated one once, on
/// standard error), binds the listen address (port 0 picks a free port),
/// and serves every service there. Metrics are served too unless the
/// config says `off`. Answers once the server is serving.
pub async fn start(config: Config) -> anyhow::Result<Numhubd> {
    let clock: SharedClock = Arc::new(SystemClock);
    let (accounts_db, _) = open(&config, "accounts").await?;
    accounts_db.migrate(&numhub_accounts::MIGRATIONS).await?;
    let (wallet_db, _) = open(&config, "wallet").await?;
    wallet_db.migrate(&numhub_wallet::MIGRATIONS).await?;
    let (catalog_db, _) = open(&config, "catalog").await?;
    catalog_db.migrate(&numhub_catalog::MIGRATIONS).await?;
    let (orders_db, orders_url) = open(&config, "orders").await?;
    orders_db.migrate(&numhub_orders::MIGRATIONS).await?;
    let (rentals_db, rentals_url) = open(&config, "rentals").await?;
    rentals_db.migrate(&numhub_rentals::MIGRATIONS).await?;
    let (inbound_db, _) = open(&config, "inbound").await?;
    inbound_db.migrate(&numhub_inbound::MIGRATIONS).await?;

    // One process calls only itself: without a configured credential, a
    // random one keeps the internal RPCs closed to everyone else.
    let credentials = if config.auth.service_credential.is_empty() {
        ServiceCredentials::random()
    } else {
        config.auth.service_credentials()?
    };
    let accounts = Accounts::new(
        accounts_db.clone(),
        clock.clone(),
        config.accounts.clone(),
        config.auth.api_key_environment,
    )
    .await?;
    if let Some(secret) = accounts
        .bootstrap(config.accounts.admin_key.as_ref())
        .await?
    {
        numhub_accounts::print_admin_key(&secret);
    }
    let workers = Workers::new();
    let wallet = Wallet::start(wallet_db.clone(), clock.clone(), &config.wallet).await?;
    wallet.start_workers(&workers);
    let catalog = Catalog::new(catalog_db.clone(), clock.clone(), config.catalog.clone()).await?;
    catalog.start_workers(&workers);
    // Orders and rentals reach the wallet, the catalog and each other
    // through their gRPC contracts, here on the process's own port: bound
    // first, so its address is known (port 0 too) before they are built.
    let listener = bind(config.server.listen_addr(&DEFAULTS)).await?;
    let own = config.calls.channel(
        "numhubd",
        &format!("http://{}", listener.local_addr()?),
        "NUMHUB_LISTEN_ADDR",
    )?;
    let orders = Orders::new(
        orders_db.clone(),
        clock.clone(),
        config.orders.clone(),
        Dependencies::new(own.clone(), own.clone(), &credentials)
            .with_rentals(own.clone(), &credentials),
    )
    .await?;
    let rentals = Rentals::new(
        rentals_db.clone(),
        clock.clone(),
        config.rentals.clone(),
        numhub_rentals::Dependencies::new(own.clone(), own.clone(), &credentials),
    )
    .await?;
    // On PostgreSQL, a LISTEN connection wakes streams for what other
    // processes on the same database write; alone on SQLite, none is needed.
    orders.start_workers(
        &workers,
        Some(orders_url).filter(|u| u.starts_with("postgres")),
    );
    rentals.start_workers(
        &workers,
        Some(rentals_url).filter(|u| u.starts_with("postgres")),
    );
    let inbound = Inbound::new(
        inbound_db.clone(),
        clock.clone(),
        config.inbound.clone(),
        numhub_inbound::Dependencies::new(own.clone(), own.clone(), own.clone(), &credentials),
    )
    .await?;
    inbound.start_workers(&workers);
    let webhook = inbound.start_webhook().await?;
    if config.simulator.enabled {
        Simulator::new(
            own.clone(),
            own,
            &credentials,
            clock,
            config.simulator.clone(),
        )
        .start(&workers);
    }
    if config.demo
        && let Some(secret) = demo::load(&accounts, &wallet, &catalog).await?
    {
        demo::print_key(&secret);
    }

    if let Some(addr) = config.server.metrics_addr(&DEFAULTS) {
        install_metrics(addr)?;
    }
    let auth = accounts.auth_layer(credentials, config.auth.auth_cache_ttl);
    let mut routes = RoutesBuilder::default();
    accounts.add_services(&mut routes);
    wallet.add_services(&mut routes);
    catalog.add_services(&mut routes);
    orders.add_services(&mut routes);
    rentals.add_services(&mut routes);
    inbound.add_services(&mut routes);
    let routes = auth.protect(routes.routes());
    let names = [
        numhub_accounts::SERVICE_NAMES.as_slice(),
        numhub_wallet::SERVICE_NAMES.as_slice(),
        numhub_catalog::SERVICE_NAMES.as_slice(),
        numhub_orders::SERVICE_NAMES.as_slice(),
        numhub_rentals::SERVICE_NAMES.as_slice(),
        numhub_inbound::SERVICE_NAMES.as_slice(),
    ]
    .concat();
    let server = Server::new(routes, names).start_on(listener).await?;
    Ok(Numhubd {
        server,
        orders,
        rentals,
        webhook,
        workers,
        databases: [
            accounts_db,
            wallet_db,
            catalog_db,
            orders_db,
            rentals_db,
            inbound_db,
        ],
        shutdown_grace: config.server.shutdown_grace,
    })
}

/// numhubd serving: its address, and the way to stop it.
#[derive(Debug)]
pub struct Numhubd {
    server: RunningServer,
    orders: Orders,
    rentals: Rentals,
    webhook: Option<RunningWebhook>,
    workers: Workers,
    databases: [Database; 6],
    shutdown_grace: Duration,
}

impl Numhubd {
    /// The address the gRPC server is bound to (the real port when the
    /// config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Ends the live streams, reports NOT_SERVING, lets in-flight RPCs
    /// finish within the shutdown grace, stops the workers within it too,
    /// and closes the databases.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.orders.close_streams();
        self.rentals.close_streams();
        if let Some(webhook) = self.webhook {
            webhook.shutdown().await;
        }
        let served = self.server.shutdown(self.shutdown_grace).await;
        // The workers stop after the server has drained, before the pools close.
        self.workers.shutdown(self.shutdown_grace).await;
        for db in self.databases {
            db.close().await;
        }
        served
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    #[test]
    fn every_setting_of_every_service_has_a_flag_of_its_own() {
        super::Config::command().debug_assert();
    }
}
