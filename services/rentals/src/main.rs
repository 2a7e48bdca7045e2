//! The rentals binary: configuration in, service out.

use std::sync::Arc;

use anyhow::Context as _;
use numhub_auth::{AccountsClient, AuthLayer, CachedAuthenticator};
use numhub_rentals::config::{DEFAULTS, Subcommand};
use numhub_rentals::{Dependencies, MIGRATIONS, Rentals, RentalsConfig, SERVICE_NAMES};
use numhub_runtime::clock::{SharedClock, SystemClock};
use numhub_runtime::config;
use numhub_runtime::db::Database;
use numhub_runtime::server::{Server, install_metrics, shutdown_signal};
use numhub_runtime::workers::Workers;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config: RentalsConfig = config::parse();
    let telemetry = config.telemetry.clone();
    numhub_runtime::binary::run("numhub-rentals", &telemetry, run(config)).await
}

async fn run(config: RentalsConfig) -> anyhow::Result<()> {
    let url = config.database.url(&DEFAULTS);
    let db = Database::connect(&url, config.database.db_max_connections)
        .await
        .context("NUMHUB_DATABASE_URL")?;
    db.migrate(&MIGRATIONS).await?;
    if let Some(Subcommand::Migrate) = config.command {
        tracing::info!("migrations applied");
        return Ok(());
    }

    if let Some(addr) = config.server.metrics_addr(&DEFAULTS) {
        install_metrics(addr)?;
    }
    let credentials = config.auth.service_credentials()?;
    let clock: SharedClock = Arc::new(SystemClock);
    let deps = Dependencies::new(
        config
            .calls
            .channel("wallet", &config.wallet_addr, "NUMHUB_WALLET_ADDR")?,
        config
            .calls
            .channel("catalog", &config.catalog_addr, "NUMHUB_CATALOG_ADDR")?,
        &credentials,
    );
    let rentals = Rentals::new(db.clone(), clock.clone(), config.rentals.clone(), deps).await?;
    let authenticator = CachedAuthenticator::new(
        Arc::new(AccountsClient::new(
            config
                .calls
                .channel("accounts", &config.accounts_addr, "NUMHUB_ACCOUNTS_ADDR")?,
            &credentials,
        )),
        config.auth.auth_cache_ttl,
        clock.clone(),
    );
    let auth = AuthLayer::new(
        authenticator,
        credentials,
        config.auth.api_key_environment,
        clock,
    );
    let workers = Workers::new();
    rentals.start_workers(&workers, Some(url));
    let server = Server::new(rentals.routes(&auth), SERVICE_NAMES.to_vec())
        .start(config.server.listen_addr(&DEFAULTS))
        .await?;
    shutdown_signal().await;
    rentals.close_streams();
    let served = server.shutdown(config.server.shutdown_grace).await;
    // The workers stop after the server has drained, before the pool closes.
    workers.shutdown(config.server.shutdown_grace).await;
    db.close().await;
    served
}
