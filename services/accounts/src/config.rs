//! The accounts service's own settings.

use numhub_auth::{RateLimits, Secret};

/// Settings of the accounts service itself.
#[derive(Debug, Clone, clap::Args)]
pub struct AccountsSettings {
    /// The operator's admin key (read, write and admin scopes). Without it, a
    /// key is generated at first start and printed once on standard error.
    #[arg(long, env = "NUMHUB_ADMIN_KEY", hide_env_values = true,
          value_parser = |v: &str| Ok::<_, String>(Secret::new(v)))]
    pub admin_key: Option<Secret>,

    /// Requests per minute per key, for accounts created without quotas.
    #[arg(long, env = "NUMHUB_ACCOUNTS_RATE_LIMIT", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit: u32,

    /// Requests per minute per key to RPCs that move money (buy, renew,
    /// cancel), for accounts created without quotas.
    #[arg(long, env = "NUMHUB_ACCOUNTS_MONEY_RATE_LIMIT", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub money_rate_limit: u32,

    /// Requests per minute per key of the operator account.
    #[arg(long, env = "NUMHUB_ACCOUNTS_OPERATOR_RATE_LIMIT", default_value_t = 600,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub operator_rate_limit: u32,

    /// The most active API keys one account may hold.
    #[arg(long, env = "NUMHUB_ACCOUNTS_MAX_API_KEYS", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_api_keys: u32,
}

impl Default for AccountsSettings {
    fn default() -> Self {
        Self {
            admin_key: None,
            rate_limit: 60,
            money_rate_limit: 10,
            operator_rate_limit: 600,
            max_api_keys: 20,
        }
    }
}

impl AccountsSettings {
    pub fn default_rate_limits(&self) -> RateLimits {
        RateLimits {
            requests_per_minute: self.rate_limit,
            money_requests_per_minute: self.money_rate_limit,
        }
    }

    pub fn operator_rate_limits(&self) -> RateLimits {
        RateLimits {
            requests_per_minute: self.operator_rate_limit,
            money_requests_per_minute: self.operator_rate_limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use numhub_skeleton::{Binary, Service as _};

    use crate::Accounts;

    #[test]
    fn defaults_run_on_one_box() {
        let config = Binary::parse_args::<Accounts>(&[]).unwrap();
        // Its SQLite database: data/accounts.db.
        assert_eq!(Accounts::DEFAULTS.name, "accounts");
        assert_eq!(config.settings.rate_limit, 60);
        assert_eq!(config.settings.money_rate_limit, 10);
        assert!(config.settings.admin_key.is_none());
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let key = numhub_auth::api_key::generate(numhub_auth::Environment::Live).secret;
        let credential = "c".repeat(40);
        let config = Binary::parse_args::<Accounts>(&[
            "--admin-key",
            &key,
            "--service-credential",
            &credential,
        ])
        .unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains(&key));
        assert!(!shown.contains(&credential));
    }

    #[test]
    fn bad_service_credentials_are_refused_without_showing_them() {
        for bad in ["short", "a forty character secret with spaces in it"] {
            let config = Binary::parse_args::<Accounts>(&["--service-credential", bad]).unwrap();
            let error = config
                .common
                .auth
                .service_credentials()
                .unwrap_err()
                .to_string();
            assert!(error.contains("NUMHUB_SERVICE_CREDENTIAL"), "{error}");
            assert!(!error.contains(bad), "{error}");
        }
        assert!(Binary::parse_args::<Accounts>(&["--rate-limit", "0"]).is_err());
    }
}
