//! The auth layer's settings, shared by every service binary.

use std::time::Duration;

use crate::api_key::Environment;
use crate::credential::{Secret, ServiceCredentials};

/// How long a resolved key is remembered unless configured otherwise: a
/// revoked key stops working within this time.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, clap::Args)]
pub struct AuthConfig {
    /// The service credential(s): a shared secret of at least 32 characters
    /// that numhub's services present to each other's internal RPCs. Several,
    /// comma-separated, during a rotation: all are accepted, the first is sent.
    #[arg(long, env = "NUMHUB_SERVICE_CREDENTIAL", value_delimiter = ',',
          hide_env_values = true, value_parser = parse_secret)]
    pub service_credential: Vec<Secret>,

    /// How long a resolved API key is remembered; a revoked key stops
    /// working within this time.
    #[arg(long, env = "NUMHUB_AUTH_CACHE_TTL", default_value = "15s",
          value_parser = humantime::parse_duration)]
    pub auth_cache_ttl: Duration,

    /// Which API keys this deployment issues and accepts: `live` (nh_live_)
    /// or `test` (nh_test_).
    #[arg(
        long,
        env = "NUMHUB_API_KEY_ENVIRONMENT",
        value_enum,
        default_value = "live"
    )]
    pub api_key_environment: Environment,
}

impl AuthConfig {
    /// The configured credentials; an error naming the variable if none.
    pub fn service_credentials(&self) -> anyhow::Result<ServiceCredentials> {
        ServiceCredentials::new(self.service_credential.clone())
            .map_err(|e| anyhow::anyhow!("NUMHUB_SERVICE_CREDENTIAL: {e}"))
    }
}

/// Never fails: clap would print a refused value in its error, so the
/// checks run in [`ServiceCredentials::new`], whose errors name no secret.
fn parse_secret(value: &str) -> Result<Secret, String> {
    Ok(Secret::new(value))
}
