//! The orders service's own settings.

use std::collections::BTreeMap;
use std::time::Duration;

/// Settings of orders itself.
#[derive(Debug, Clone, clap::Args)]
pub struct OrdersSettings {
    /// How long an activation waits for its SMS before it expires.
    #[arg(long, env = "NUMHUB_ORDERS_LIFETIME", default_value = "20m",
          value_parser = lifetime)]
    pub lifetime: Duration,

    /// Lifetimes of particular services, replacing the default, e.g.
    /// "wa=15m,tg=30m".
    #[arg(long, env = "NUMHUB_ORDERS_SERVICE_LIFETIMES", default_value = "",
          value_parser = service_lifetimes)]
    pub service_lifetimes: ServiceLifetimes,

    /// How old an activation must be before it may be cancelled or skipped;
    /// 0s for no minimum.
    #[arg(long, env = "NUMHUB_ORDERS_MIN_CANCEL_AGE", default_value = "0s",
          value_parser = humantime::parse_duration)]
    pub min_cancel_age: Duration,

    /// How long after an activation finished its number may be bought again
    /// for the same service (ReuseNumber).
    #[arg(long, env = "NUMHUB_ORDERS_REUSE_WINDOW", default_value = "3h",
          value_parser = humantime::parse_duration)]
    pub reuse_window: Duration,

    /// The most activations one account may have open at once; 0 for no
    /// limit.
    #[arg(long, env = "NUMHUB_ORDERS_MAX_OPEN", default_value_t = 100)]
    pub max_open: u32,

    /// How long a purchase may stay half-done before the recovery worker
    /// finishes or undoes it.
    #[arg(long, env = "NUMHUB_ORDERS_RECOVERY_AFTER", default_value = "30s",
          value_parser = humantime::parse_duration)]
    pub recovery_after: Duration,

    /// How often the workers look for expired activations, half-done
    /// purchases and unsettled refunds.
    #[arg(long, env = "NUMHUB_ORDERS_WORKER_INTERVAL", default_value = "1s",
          value_parser = humantime::parse_duration)]
    pub worker_interval: Duration,

    /// How often an idle stream looks at the database even without a
    /// wake-up, in case one was lost.
    #[arg(long, env = "NUMHUB_ORDERS_STREAM_RECHECK", default_value = "30s",
          value_parser = humantime::parse_duration)]
    pub stream_recheck: Duration,
}

impl Default for OrdersSettings {
    fn default() -> Self {
        Self {
            lifetime: Duration::from_secs(20 * 60),
            service_lifetimes: ServiceLifetimes::default(),
            min_cancel_age: Duration::ZERO,
            reuse_window: Duration::from_secs(3 * 3600),
            max_open: 100,
            recovery_after: Duration::from_secs(30),
            worker_interval: Duration::from_secs(1),
            stream_recheck: Duration::from_secs(30),
        }
    }
}

impl OrdersSettings {
    /// How long an activation of `service` lives.
    pub fn lifetime_of(&self, service: &str) -> Duration {
        self.service_lifetimes
            .0
            .get(service)
            .copied()
            .unwrap_or(self.lifetime)
    }
}

/// Lifetimes per service code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceLifetimes(pub BTreeMap<String, Duration>);

/// A lifetime: a minute to a day, so the catalog's lease always covers it.
fn lifetime(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if !(Duration::from_secs(60)..=Duration::from_secs(86_400)).contains(&duration) {
        return Err("must be from 1m to 24h".into());
    }
    Ok(duration)
}

fn service_lifetimes(text: &str) -> Result<ServiceLifetimes, String> {
    let mut map = BTreeMap::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (service, duration) = item
            .split_once('=')
            .ok_or_else(|| format!("{item:?} is not service=duration, e.g. wa=15m"))?;
        let service = service.trim();
        if service.is_empty()
            || !service
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(format!("{service:?} is not a service code"));
        }
        let duration = lifetime(duration.trim()).map_err(|e| format!("{service}: {e}"))?;
        map.insert(service.to_owned(), duration);
    }
    Ok(ServiceLifetimes(map))
}

#[cfg(test)]
mod tests {
    use numhub_skeleton::{Binary, Service as _};

    use super::*;
    use crate::Orders;

    #[test]
    fn defaults_run_on_one_box() {
        let config = Binary::parse_args::<Orders>(&[]).unwrap();
        // Its SQLite database: data/orders.db.
        assert_eq!(Orders::DEFAULTS.name, "orders");
        assert_eq!(config.settings.lifetime, Duration::from_secs(1200));
        assert_eq!(config.settings.min_cancel_age, Duration::ZERO);
        assert_eq!(config.settings.max_open, 100);
    }

    #[test]
    fn lifetimes_per_service() {
        let config = Binary::parse_args::<Orders>(&[
            "--service-lifetimes",
            "wa=15m, tg=1h",
            "--lifetime",
            "10m",
        ])
        .unwrap();
        assert_eq!(config.settings.lifetime_of("wa"), Duration::from_secs(900));
        assert_eq!(config.settings.lifetime_of("tg"), Duration::from_secs(3600));
        assert_eq!(config.settings.lifetime_of("go"), Duration::from_secs(600));
        for bad in ["wa", "WA=5m", "wa=5s", "wa=2days", "=5m"] {
            assert!(
                Binary::parse_args::<Orders>(&["--service-lifetimes", bad]).is_err(),
                "{bad}"
            );
        }
        assert!(Binary::parse_args::<Orders>(&["--lifetime", "30s"]).is_err());
    }
}
