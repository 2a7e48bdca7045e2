//! The rentals service's own settings.

use std::time::Duration;

/// Settings of rentals itself.
#[derive(Debug, Clone, clap::Args)]
pub struct RentalsSettings {
    /// How long after purchase a cancel is refunded in full (if no SMS has
    /// arrived); 0s for never.
    #[arg(long, env = "NUMHUB_RENTALS_REFUND_WINDOW", default_value = "120m",
          value_parser = humantime::parse_duration)]
    pub refund_window: Duration,

    /// How long before the expiry auto-renew charges, at the most: never
    /// more than half the renewal package (12 hours for a day).
    #[arg(long, env = "NUMHUB_RENTALS_RENEW_BEFORE", default_value = "1day",
          value_parser = humantime::parse_duration)]
    pub renew_before: Duration,

    /// The pause after a failed auto-renew (a short balance) before the
    /// next attempt; attempts go on until the expiry.
    #[arg(long, env = "NUMHUB_RENTALS_RENEW_RETRY", default_value = "30m",
          value_parser = humantime::parse_duration)]
    pub renew_retry: Duration,

    /// How long a purchase or renewal may stay half-done before the
    /// recovery worker finishes or undoes it.
    #[arg(id = "rentals-recovery-after", long = "rentals-recovery-after", env = "NUMHUB_RENTALS_RECOVERY_AFTER", default_value = "30s",
          value_parser = humantime::parse_duration)]
    pub recovery_after: Duration,

    /// How often the workers look for expiries, renewals due, half-done
    /// purchases and unsettled refunds.
    #[arg(id = "rentals-worker-interval", long = "rentals-worker-interval", env = "NUMHUB_RENTALS_WORKER_INTERVAL", default_value = "1s",
          value_parser = humantime::parse_duration)]
    pub worker_interval: Duration,

    /// How often an idle stream looks at the database even without a
    /// wake-up, in case one was lost.
    #[arg(id = "rentals-stream-recheck", long = "rentals-stream-recheck", env = "NUMHUB_RENTALS_STREAM_RECHECK", default_value = "30s",
          value_parser = humantime::parse_duration)]
    pub stream_recheck: Duration,
}

impl Default for RentalsSettings {
    fn default() -> Self {
        Self {
            refund_window: Duration::from_secs(120 * 60),
            renew_before: Duration::from_secs(24 * 3600),
            renew_retry: Duration::from_secs(30 * 60),
            recovery_after: Duration::from_secs(30),
            worker_interval: Duration::from_secs(1),
            stream_recheck: Duration::from_secs(30),
        }
    }
}

#[cfg(test)]
mod tests {
    use numhub_skeleton::{Binary, Service as _};

    use super::*;
    use crate::Rentals;

    #[test]
    fn defaults_run_on_one_box() {
        let config = Binary::parse_args::<Rentals>(&[]).unwrap();
        // Its SQLite database: data/rentals.db.
        assert_eq!(Rentals::DEFAULTS.name, "rentals");
        assert_eq!(config.settings.refund_window, Duration::from_secs(7200));
        assert_eq!(config.settings.renew_before, Duration::from_secs(86_400));
        let config =
            Binary::parse_args::<Rentals>(&["--refund-window", "30m", "--renew-retry", "5m"])
                .unwrap();
        assert_eq!(config.settings.refund_window, Duration::from_secs(1800));
        assert_eq!(config.settings.renew_retry, Duration::from_secs(300));
        assert!(Binary::parse_args::<Rentals>(&["--renew-before", "soon"]).is_err());
    }
}
