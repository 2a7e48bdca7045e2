//! numhubd: every numhub service in one process, on one port, each on its
//! own SQLite file under the data directory. The services share one auth
//! layer that resolves API keys in process; they keep to their own tables.

use std::sync::Arc;

use anyhow::Context as _;
use numhub_accounts::{Accounts, AccountsSettings};
use numhub_auth::{AuthConfig, ServiceCredentials};
use numhub_catalog::{Catalog, CatalogSettings};
use numhub_orders::{Dependencies, Orders, OrdersSettings};
use numhub_runtime::clock::{SharedClock, SystemClock};
use numhub_runtime::config;
use numhub_runtime::config::{DatabaseConfig, ServerConfig, ServiceDefaults};
use numhub_runtime::db::{Backend, Database};
use numhub_runtime::server::{Server, bind, install_metrics, shutdown_signal};
use numhub_runtime::telemetry::TelemetryConfig;
use numhub_wallet::{Wallet, WalletSettings};
use tonic::service::RoutesBuilder;
use tonic::transport::Endpoint;

const DEFAULTS: ServiceDefaults = ServiceDefaults {
    name: "numhub",
    grpc_port: 50050,
    metrics_port: 9050,
};

#[derive(Debug, clap::Parser)]
#[command(
    name = "numhubd",
    version,
    about = "numhub on one box: every service in one process"
)]
struct Config {
    #[command(flatten)]
    server: ServerConfig,
    #[command(flatten)]
    database: DatabaseConfig,
    #[command(flatten)]
    telemetry: TelemetryConfig,
    #[command(flatten)]
    auth: AuthConfig,
    #[command(flatten)]
    accounts: AccountsSettings,
    #[command(flatten)]
    wallet: WalletSettings,
    #[command(flatten)]
    catalog: CatalogSettings,
    #[command(flatten)]
    orders: OrdersSettings,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config: Config = config::parse();
    let telemetry = config.telemetry.clone();
    numhub_runtime::binary::run("numhubd", &telemetry, run(config)).await
}

/// Each service's own SQLite file: services never share tables.
async fn open(config: &Config, service: &'static str) -> anyhow::Result<Database> {
    if config.database.database_url.is_some() {
        anyhow::bail!(
            "NUMHUB_DATABASE_URL: numhubd keeps each service in its own SQLite file under \
             NUMHUB_DATA_DIR; for PostgreSQL, run the services (numhub-accounts, \
             numhub-wallet, numhub-catalog, numhub-orders) each with its own database"
        );
    }
    let defaults = ServiceDefaults {
        name: service,
        ..DEFAULTS
    };
    let url = config.database.url(&defaults);
    let db = Database::connect(&url, config.database.db_max_connections)
        .await
        .with_context(|| format!("cannot open {url}"))?;
    debug_assert_eq!(db.backend(), Backend::Sqlite);
    Ok(db)
}

async fn run(config: Config) -> anyhow::Result<()> {
    let clock: SharedClock = Arc::new(SystemClock);
    let accounts_db = open(&config, "accounts").await?;
    accounts_db.migrate(&numhub_accounts::MIGRATIONS).await?;
    let wallet_db = open(&config, "wallet").await?;
    wallet_db.migrate(&numhub_wallet::MIGRATIONS).await?;
    let catalog_db = open(&config, "catalog").await?;
    catalog_db.migrate(&numhub_catalog::MIGRATIONS).await?;
    let orders_db = open(&config, "orders").await?;
    orders_db.migrate(&numhub_orders::MIGRATIONS).await?;

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
    );
    if let Some(secret) = accounts
        .bootstrap(config.accounts.admin_key.as_ref())
        .await?
    {
        numhub_accounts::print_admin_key(&secret);
    }
    let wallet = Wallet::start(wallet_db.clone(), clock.clone(), &config.wallet);
    let catalog = Catalog::new(catalog_db.clone(), clock.clone(), config.catalog.clone()).await?;
    catalog.start_workers();
    // Orders reaches the wallet and the catalog through their gRPC
    // contracts, here on the process's own port: bound first, so its
    // address is known (port 0 too) before orders is built.
    let listener = bind(config.server.listen_addr(&DEFAULTS)).await?;
    let own = Endpoint::from_shared(format!("http://{}", listener.local_addr()?))?
        .tcp_nodelay(true)
        .connect_lazy();
    let orders = Orders::new(
        orders_db.clone(),
        clock,
        config.orders.clone(),
        Dependencies::new(own.clone(), own, &credentials),
    );
    orders.start_workers(None);

    if let Some(addr) = config.server.metrics_addr(&DEFAULTS) {
        install_metrics(addr)?;
    }
    let auth = accounts.auth_layer(credentials, config.auth.auth_cache_ttl);
    let mut routes = RoutesBuilder::default();
    accounts.add_services(&mut routes);
    wallet.add_services(&mut routes);
    catalog.add_services(&mut routes);
    orders.add_services(&mut routes);
    let routes = auth.protect(routes.routes());
    let names = [
        numhub_accounts::SERVICE_NAMES.as_slice(),
        numhub_wallet::SERVICE_NAMES.as_slice(),
        numhub_catalog::SERVICE_NAMES.as_slice(),
        numhub_orders::SERVICE_NAMES.as_slice(),
    ]
    .concat();
    let server = Server::new(routes, names).start_on(listener).await?;
    shutdown_signal().await;
    orders.close_streams();
    server.shutdown(config.server.shutdown_grace).await?;
    accounts_db.close().await;
    wallet_db.close().await;
    catalog_db.close().await;
    orders_db.close().await;
    Ok(())
}
