//! The inbound service's own settings.

use std::time::Duration;

use numhub_auth::Secret;
use numhub_runtime::config::MetricsAddr;
use numhub_runtime::http_server::HttpLimits;

/// Settings of inbound itself.
#[derive(Debug, Clone, clap::Args)]
pub struct InboundSettings {
    /// How often the routing worker looks for messages to route even when
    /// nothing new arrived here (another replica's, or retries).
    #[arg(long, env = "NUMHUB_INBOUND_ROUTE_INTERVAL", default_value = "500ms",
          value_parser = humantime::parse_duration)]
    pub route_interval: Duration,

    /// The longest pause between two attempts to route a message while a
    /// service it needs is down; pauses double from 500 ms up to it.
    #[arg(long, env = "NUMHUB_INBOUND_MAX_BACKOFF", default_value = "5m",
          value_parser = humantime::parse_duration)]
    pub max_backoff: Duration,

    /// The auth token that signs the carriers' webhook calls (Twilio's
    /// X-Twilio-Signature). The webhook is served only when it is set.
    #[arg(long, env = "NUMHUB_INBOUND_TWILIO_AUTH_TOKEN", hide_env_values = true,
          value_parser = secret)]
    pub twilio_auth_token: Option<Secret>,

    /// Where the webhook listens (HTTP), or "off".
    #[arg(
        long,
        env = "NUMHUB_INBOUND_WEBHOOK_ADDR",
        default_value = "127.0.0.1:8055",
        value_name = "ADDR|off"
    )]
    pub webhook_addr: MetricsAddr,

    /// The webhook's address as the carrier calls it (scheme and host,
    /// e.g. https://sms.example.com), which the signature covers; default:
    /// http:// and the listen address.
    #[arg(long, env = "NUMHUB_INBOUND_WEBHOOK_PUBLIC_URL")]
    pub webhook_public_url: Option<String>,

    /// How long a webhook client may take to send a request's headers;
    /// an idle keep-alive connection is closed after as long.
    #[arg(long, env = "NUMHUB_INBOUND_WEBHOOK_HEADER_TIMEOUT", default_value = "10s",
          value_parser = humantime::parse_duration)]
    pub webhook_header_timeout: Duration,

    /// How long a webhook client may take to send a whole body once its
    /// headers are in (408 after that).
    #[arg(long, env = "NUMHUB_INBOUND_WEBHOOK_BODY_TIMEOUT", default_value = "10s",
          value_parser = humantime::parse_duration)]
    pub webhook_body_timeout: Duration,

    /// The most webhook connections served at once; more wait in the
    /// listener's accept queue.
    #[arg(long, env = "NUMHUB_INBOUND_WEBHOOK_MAX_CONNECTIONS", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub webhook_max_connections: u32,
}

/// The largest webhook body: a Twilio form is a few hundred bytes, and
/// 4,096 characters of text (up to 12 bytes each, percent-encoded) fit.
pub const WEBHOOK_MAX_BODY_BYTES: usize = 64 * 1024;

impl InboundSettings {
    /// The webhook server's limits.
    pub fn webhook_limits(&self) -> HttpLimits {
        HttpLimits {
            header_timeout: self.webhook_header_timeout,
            body_timeout: self.webhook_body_timeout,
            max_body_bytes: WEBHOOK_MAX_BODY_BYTES,
            max_connections: self.webhook_max_connections as usize,
            ..HttpLimits::default()
        }
    }
}

impl Default for InboundSettings {
    fn default() -> Self {
        Self {
            route_interval: Duration::from_millis(500),
            max_backoff: Duration::from_secs(300),
            twilio_auth_token: None,
            webhook_addr: MetricsAddr::Off,
            webhook_public_url: None,
            webhook_header_timeout: Duration::from_secs(10),
            webhook_body_timeout: Duration::from_secs(10),
            webhook_max_connections: 512,
        }
    }
}

/// Never fails, so clap never prints the value in an error.
fn secret(value: &str) -> Result<Secret, String> {
    Ok(Secret::new(value))
}

#[cfg(test)]
mod tests {
    use numhub_skeleton::{Binary, Service as _};

    use super::*;
    use crate::Inbound;

    #[test]
    fn defaults_run_on_one_box() {
        let config = Binary::parse_args::<Inbound>(&[]).unwrap();
        // Its SQLite database: data/inbound.db.
        assert_eq!(Inbound::DEFAULTS.name, "inbound");
        assert_eq!(config.settings.max_backoff, Duration::from_secs(300));
        assert!(Binary::parse_args::<Inbound>(&["--max-backoff", "soon"]).is_err());
        assert!(config.settings.twilio_auth_token.is_none());
        let config = Binary::parse_args::<Inbound>(&[
            "--twilio-auth-token",
            "secret-token",
            "--webhook-addr",
            "off",
        ])
        .unwrap();
        assert_eq!(config.settings.webhook_addr, MetricsAddr::Off);
        assert!(!format!("{config:?}").contains("secret-token"));
    }

    #[test]
    fn webhook_limits_have_defaults_and_flags() {
        let config = Binary::parse_args::<Inbound>(&[]).unwrap();
        let limits = config.settings.webhook_limits();
        assert_eq!(limits.header_timeout, Duration::from_secs(10));
        assert_eq!(limits.body_timeout, Duration::from_secs(10));
        assert_eq!(limits.max_connections, 512);
        assert_eq!(limits.max_body_bytes, 64 * 1024);
        assert_eq!(InboundSettings::default().webhook_limits(), limits);
        let config = Binary::parse_args::<Inbound>(&[
            "--webhook-header-timeout",
            "2s",
            "--webhook-body-timeout",
            "500ms",
            "--webhook-max-connections",
            "8",
        ])
        .unwrap();
        let limits = config.settings.webhook_limits();
        assert_eq!(limits.header_timeout, Duration::from_secs(2));
        assert_eq!(limits.body_timeout, Duration::from_millis(500));
        assert_eq!(limits.max_connections, 8);
        assert!(Binary::parse_args::<Inbound>(&["--webhook-max-connections", "0"]).is_err());
    }
}
