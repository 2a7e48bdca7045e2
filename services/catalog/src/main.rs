//! The catalog binary: configuration in, service out.

use std::sync::Arc;

use anyhow::Context as _;
use numhub_auth::{AccountsClient, AuthLayer, CachedAuthenticator};
use numhub_catalog::config::{DEFAULTS, Subcommand};
use numhub_catalog::{Catalog, CatalogConfig, MIGRATIONS, SERVICE_NAMES};
use numhub_runtime::clock::{SharedClock, SystemClock};
use numhub_runtime::config;
use numhub_runtime::db::Database;
use numhub_runtime::server::{Server, install_metrics, shutdown_signal};
use numhub_runtime::workers::Workers;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config: CatalogConfig = config::parse();
    let telemetry = config.telemetry.clone();
    numhub_runtime::binary::run("numhub-catalog", &telemetry, run(config)).await
}

async fn run(config: CatalogConfig) -> anyhow::Result<()> {
    let url = config.database.url(&DEFAULTS);
    let db = Database::connect(&url, config.database.db_max_connections)
        .await
        .context("NUMHUB_DATABASE_URL")?;
    db.migrate(&MIGRATIONS).await?;
    let clock: SharedClock = Arc::new(SystemClock);
    let catalog = Catalog::new(db.clone(), clock.clone(), config.catalog.clone()).await?;
    if let Some(Subcommand::Migrate) = config.command {
        tracing::info!("migrations applied");
        return Ok(());
    }

    if let Some(addr) = config.server.metrics_addr(&DEFAULTS) {
        install_metrics(addr)?;
    }
    let credentials = config.auth.service_credentials()?;
    // Lazy: the catalog starts, and reports healthy, while accounts is down;
    // calls with an API key get UNAVAILABLE until it is back.
    let channel =
        config
            .calls
            .channel("accounts", &config.accounts_addr, "NUMHUB_ACCOUNTS_ADDR")?;
    let authenticator = CachedAuthenticator::new(
        Arc::new(AccountsClient::new(channel, &credentials)),
        config.auth.auth_cache_ttl,
        clock.clone(),
    );
    let auth = AuthLayer::new(
        authenticator,
        credentials,
        config.auth.api_key_environment,
        clock.clone(),
    );
    let workers = Workers::new();
    catalog.start_workers(&workers);
    let server = Server::new(catalog.routes(&auth), SERVICE_NAMES.to_vec())
        .start(config.server.listen_addr(&DEFAULTS))
        .await?;
    shutdown_signal().await;
    let served = server.shutdown(config.server.shutdown_grace).await;
    // The workers stop after the server has drained, before the pool closes.
    workers.shutdown(config.server.shutdown_grace).await;
    db.close().await;
    served
}
