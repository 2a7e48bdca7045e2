//! The catalog binary's configuration.

use std::time::Duration;

use numhub_auth::AuthConfig;
use numhub_runtime::config::{CallConfig, DatabaseConfig, ServerConfig, ServiceDefaults};
use numhub_runtime::telemetry::TelemetryConfig;

pub const DEFAULTS: ServiceDefaults = ServiceDefaults {
    name: "catalog",
    grpc_port: 50053,
    metrics_port: 9053,
};

#[derive(Debug, clap::Parser)]
#[command(
    name = "numhub-catalog",
    version,
    about = "numhub's catalog: services, countries, prices and the number inventory"
)]
pub struct CatalogConfig {
    #[command(subcommand)]
    pub command: Option<Subcommand>,
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
    /// Where the accounts service is, to resolve API keys.
    #[arg(
        long,
        env = "NUMHUB_ACCOUNTS_ADDR",
        default_value = "http://127.0.0.1:50051"
    )]
    pub accounts_addr: String,
    #[command(flatten)]
    pub catalog: CatalogSettings,
}

#[derive(Debug, Clone, Copy, clap::Subcommand)]
pub enum Subcommand {
    /// Serve gRPC (the default).
    Serve,
    /// Apply the database migrations, load the reference data, and exit.
    Migrate,
}

/// Settings of the catalog itself.
#[derive(Debug, Clone, clap::Args)]
pub struct CatalogSettings {
    /// The currency of every price (ISO 4217).
    #[arg(long, env = "NUMHUB_CATALOG_CURRENCY", default_value = "USD",
          value_parser = numhub_runtime::validate::currency_code)]
    pub currency: String,

    /// How long a number rests after a rental ends before anyone can lease
    /// it, so its next holder never receives the last one's SMS.
    #[arg(long, env = "NUMHUB_CATALOG_QUARANTINE", default_value = "7days",
          value_parser = humantime::parse_duration)]
    pub quarantine: Duration,

    /// How often the stock counters catch up with leases that ended by
    /// time. Lease availability never waits for it; only displayed stock.
    #[arg(long, env = "NUMHUB_CATALOG_SWEEP_INTERVAL", default_value = "2s",
          value_parser = humantime::parse_duration)]
    pub sweep_interval: Duration,

    /// Whether to load the built-in services, countries and operators at
    /// start. Existing rows are never overwritten.
    #[arg(long, env = "NUMHUB_CATALOG_SEED", default_value_t = true,
          action = clap::ArgAction::Set)]
    pub seed: bool,
}

impl Default for CatalogSettings {
    fn default() -> Self {
        Self {
            currency: "USD".into(),
            quarantine: Duration::from_secs(7 * 24 * 3600),
            sweep_interval: Duration::from_secs(2),
            seed: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn defaults_run_on_one_box() {
        let config = CatalogConfig::try_parse_from(["c"]).unwrap();
        assert_eq!(config.database.url(&DEFAULTS), "sqlite://data/catalog.db");
        assert_eq!(config.catalog.quarantine, Duration::from_secs(7 * 86400));
        assert!(config.catalog.seed);
    }

    #[test]
    fn settings_parse() {
        let config =
            CatalogConfig::try_parse_from(["c", "--quarantine", "2h", "--seed", "false"]).unwrap();
        assert_eq!(config.catalog.quarantine, Duration::from_secs(7200));
        assert!(!config.catalog.seed);
        assert!(CatalogConfig::try_parse_from(["c", "--currency", "usd"]).is_err());
    }
}
