//! The accounts binary: configuration in, service out.

use std::sync::Arc;

use anyhow::Context as _;
use numhub_accounts::config::{DEFAULTS, Subcommand};
use numhub_accounts::{Accounts, AccountsConfig, MIGRATIONS, SERVICE_NAMES};
use numhub_runtime::clock::SystemClock;
use numhub_runtime::config;
use numhub_runtime::db::Database;
use numhub_runtime::server::{Server, install_metrics, shutdown_signal};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config: AccountsConfig = config::parse();
    if let Some(Subcommand::GenerateKey) = config.command {
        println!(
            "{}",
            numhub_auth::api_key::generate(config.auth.api_key_environment).secret
        );
        return std::process::ExitCode::SUCCESS;
    }
    let telemetry = config.telemetry.clone();
    numhub_runtime::binary::run("numhub-accounts", &telemetry, run(config)).await
}

async fn run(config: AccountsConfig) -> anyhow::Result<()> {
    let url = config.database.url(&DEFAULTS);
    let db = Database::connect(&url, config.database.db_max_connections)
        .await
        .context("NUMHUB_DATABASE_URL")?;
    db.migrate(&MIGRATIONS).await?;
    if let Some(Subcommand::Migrate) = config.command {
        tracing::info!("migrations applied");
        return Ok(());
    }
    let credentials = config.auth.service_credentials()?;
    let accounts = Accounts::new(
        db.clone(),
        Arc::new(SystemClock),
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
    if let Some(addr) = config.server.metrics_addr(&DEFAULTS) {
        install_metrics(addr)?;
    }
    let auth = accounts.auth_layer(credentials, config.auth.auth_cache_ttl);
    let server = Server::new(accounts.routes(&auth), SERVICE_NAMES.to_vec())
        .start(config.server.listen_addr(&DEFAULTS))
        .await?;
    shutdown_signal().await;
    server.shutdown(config.server.shutdown_grace).await?;
    db.close().await;
    Ok(())
}
