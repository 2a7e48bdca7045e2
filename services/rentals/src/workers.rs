//! The background workers: expiry, auto-renew, recovery of half-done
//! purchases and renewals, and settlement of ends whose refund or release
//! did not go through. Each claims a row before working on it
//! (`claimed_until`), and every change is guarded by the row's state under
//! its account's lock, so any number of replicas may run them on one
//! database.

use std::time::Duration;

use numhub_holding::{Holder as _, Store as _};
use numhub_runtime::workers::Workers;

use crate::error::Failure;
use crate::renewal::AutoRenewal;
use crate::store::{self, Due, RentalsTable, Table};
use crate::{NOTIFY_CHANNEL, Rentals};

/// Rows a worker takes per pass.
const PASS: i64 = 200;

/// What one pass of the workers did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub expired: usize,
    pub renewed: usize,
    /// Auto-renew attempts refused (a short balance), to be tried again.
    pub renewals_refused: usize,
    pub recovered: usize,
    pub settled: usize,
    /// Rows that failed for a transient reason and are left for later.
    pub failed: usize,
}

impl Rentals {
    /// Starts the workers under `workers` and, on PostgreSQL, the listener
    /// for other processes' notifications (`database_url`).
    pub fn start_workers(&self, workers: &Workers, database_url: Option<String>) {
        let names = ["rentals notifications", "rentals workers"];
        let interval = self.settings.worker_interval;
        let pass = |rentals: Rentals| async move { rentals.run_workers_once().await };
        self.start_workers_every(
            workers,
            database_url,
            (NOTIFY_CHANNEL, names),
            interval,
            pass,
        );
    }

    /// One pass of every worker at the clock's current time.
    pub async fn run_workers_once(&self) -> Result<Pass, Failure> {
        let mut pass = Pass::default();
        // Half-done renewals first: they may move an expiry that is due.
        for id in self.claim_due(Due::Charging).await? {
            match self.recover_renewal(&id).await {
                Ok(()) => pass.recovered += 1,
                Err(error) => self.worker_failed(&mut pass, "recover renewal", &id, &error),
            }
        }
        for id in self.claim_due(Due::AutoRenew).await? {
            match self.auto_renew(&id).await {
                Ok(AutoRenewal::Renewed) => pass.renewed += 1,
                Ok(AutoRenewal::Refused) => pass.renewals_refused += 1,
                Ok(AutoRenewal::Skipped) => {}
                Err(error) => {
                    // Claimed until the recovery pause: a dependency that
                    // is down is not asked again every pass.
                    self.worker_failed(&mut pass, "auto-renew", &id, &error);
                    continue;
                }
            }
            // The attempt is over: the retry pause, or a customer turning
            // auto-renew back on, decides when the next one comes.
            store::release(
                self.core.db.writer(),
                Table::Rentals,
                &id,
                self.core.clock.now(),
            )
            .await?;
        }
        let now = self.core.clock.now();
        for id in store::due(
            self.core.db.reader(),
            Due::Expired,
            now,
            self.renew_window(),
            PASS,
        )
        .await?
        {
            match self.expire(&id).await {
                Ok(true) => pass.expired += 1,
                Ok(false) => {}
                Err(error) => self.worker_failed(&mut pass, "expire", &id, &error),
            }
        }
        // Recovery waits until the purchase's own request has had its time.
        for id in self.claim_due(Due::Creating).await? {
            match self.recover(&id).await {
                Ok(()) => pass.recovered += 1,
                Err(error) => self.worker_failed(&mut pass, "recover", &id, &error),
            }
        }
        for id in self.claim_due(Due::Unsettled).await? {
            let Some(rental) = RentalsTable::load(self.core.db.writer(), &id).await? else {
                continue;
            };
            match self.settle(&rental).await {
                Ok(()) => pass.settled += 1,
                Err(error) => self.worker_failed(&mut pass, "settle", &id, &error),
            }
        }
        Ok(pass)
    }

    /// The ids `due` finds now that this worker managed to claim.
    async fn claim_due(&self, due: Due) -> Result<Vec<String>, Failure> {
        let now = self.core.clock.now();
        let until = self.core.claim_until(now);
        let ids = store::due(self.core.db.reader(), due, now, self.renew_window(), PASS).await?;
        Ok(store::claim_each(self.core.db.writer(), due, ids, now, until).await?)
    }

    /// How early auto-renew may look, and the pause after a failure.
    fn renew_window(&self) -> (Duration, Duration) {
        (self.settings.renew_before, self.settings.renew_retry)
    }

    fn worker_failed(&self, pass: &mut Pass, work: &str, id: &str, error: &Failure) {
        pass.failed += 1;
        tracing::warn!(
            work,
            id,
            error = %numhub_runtime::error::error_chain(error),
            "left for the next pass"
        );
    }
}
