//! The catalog service's own settings.

use std::time::Duration;

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
    use numhub_skeleton::{Binary, Service as _};

    use super::*;
    use crate::Catalog;

    #[test]
    fn defaults_run_on_one_box() {
        let config = Binary::parse_args::<Catalog>(&[]).unwrap();
        // Its SQLite database: data/catalog.db.
        assert_eq!(Catalog::DEFAULTS.name, "catalog");
        assert_eq!(config.settings.quarantine, Duration::from_secs(7 * 86400));
        assert!(config.settings.seed);
    }

    #[test]
    fn settings_parse() {
        let config =
            Binary::parse_args::<Catalog>(&["--quarantine", "2h", "--seed", "false"]).unwrap();
        assert_eq!(config.settings.quarantine, Duration::from_secs(7200));
        assert!(!config.settings.seed);
        assert!(Binary::parse_args::<Catalog>(&["--currency", "usd"]).is_err());
    }
}
