//! The wallet's own settings.

use std::time::Duration;

/// Idempotency keys are kept at least this long, whatever is configured.
pub const MIN_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// Settings of the wallet itself.
#[derive(Debug, Clone, clap::Args)]
pub struct WalletSettings {
    /// Currency of an account whose first credit names none (ISO 4217).
    #[arg(long, env = "NUMHUB_WALLET_DEFAULT_CURRENCY", default_value = "USD",
          value_parser = parse_currency)]
    pub default_currency: String,

    /// How long a request_id is remembered (at least 24h).
    #[arg(long, env = "NUMHUB_WALLET_IDEMPOTENCY_RETENTION", default_value = "30days",
          value_parser = parse_retention)]
    pub idempotency_retention: Duration,

    /// Parallel write lanes (default: 2 on PostgreSQL, 1 on SQLite).
    #[arg(long, env = "NUMHUB_WALLET_WRITE_LANES",
          value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u16).range(1..=64), usize::from))]
    pub write_lanes: Option<usize>,
}

impl Default for WalletSettings {
    fn default() -> Self {
        Self {
            default_currency: "USD".into(),
            idempotency_retention: Duration::from_secs(30 * 24 * 3600),
            write_lanes: None,
        }
    }
}

fn parse_currency(value: &str) -> Result<String, String> {
    numhub_runtime::validate::currency_code(value)
}

fn parse_retention(value: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(value).map_err(|e| e.to_string())?;
    if duration < MIN_RETENTION {
        return Err("must be at least 24h".into());
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use numhub_skeleton::{Binary, Service as _};

    use super::*;
    use crate::Wallet;

    #[test]
    fn retention_below_a_day_is_refused() {
        assert!(Binary::parse_args::<Wallet>(&["--idempotency-retention", "23h"]).is_err());
        let config = Binary::parse_args::<Wallet>(&["--idempotency-retention", "2days"]).unwrap();
        assert_eq!(
            config.settings.idempotency_retention,
            Duration::from_secs(2 * 86400)
        );
    }

    #[test]
    fn defaults_run_on_one_box() {
        let config = Binary::parse_args::<Wallet>(&[]).unwrap();
        // Its SQLite database: data/wallet.db.
        assert_eq!(Wallet::DEFAULTS.name, "wallet");
        assert_eq!(config.settings.default_currency, "USD");
        assert!(config.command.is_none());
    }
}
