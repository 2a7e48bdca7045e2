//! The background workers: expiry, recovery of half-done purchases, and
//! settlement of ends whose refund or release did not go through. Each
//! claims a row before working on it (`claimed_until`), and every change is
//! guarded by the row's state under its account's lock, so any number of
//! replicas may run them on one database.

use numhub_holding::{Holder as _, Store as _};
use numhub_runtime::workers::Workers;

use crate::error::Failure;
use crate::store::{self, Activations, Due};
use crate::{NOTIFY_CHANNEL, Orders};

/// Rows a worker takes per pass.
const PASS: i64 = 200;

/// What one pass of the workers did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub expired: usize,
    pub recovered: usize,
    pub settled: usize,
    /// Rows that failed for a transient reason and are left for later.
    pub failed: usize,
}

impl Orders {
    /// Starts the workers under `workers` and, on PostgreSQL, the listener
    /// for other processes' notifications (`database_url`).
    pub fn start_workers(&self, workers: &Workers, database_url: Option<String>) {
        let names = ["orders notifications", "orders workers"];
        let interval = self.settings.worker_interval;
        let pass = |orders: Orders| async move { orders.run_workers_once().await };
        self.start_workers_every(
            workers,
            database_url,
            (NOTIFY_CHANNEL, names),
            interval,
            pass,
        );
    }

    /// One pass of every worker at the clock's current time: expire what is
    /// due, drive half-done purchases, pay unsettled ends.
    pub async fn run_workers_once(&self) -> Result<Pass, Failure> {
        let mut pass = Pass::default();
        let now = self.core.clock.now();
        for id in store::due(self.core.db.reader(), Due::Expired, now, PASS).await? {
            let Some(a) = Activations::load(self.core.db.reader(), &id).await? else {
                continue;
            };
            match self.expire(&a.account_id, &id).await {
                Ok(()) => pass.expired += 1,
                Err(error) => self.worker_failed(&mut pass, "expire", &id, &error),
            }
        }
        // Recovery waits until the purchase's own request has had its time.
        for id in store::due(self.core.db.reader(), Due::Creating, now, PASS).await? {
            let until = self.core.claim_until(now);
            if !store::claim(self.core.db.writer(), &id, Due::Creating, now, until).await? {
                continue;
            }
            match self.recover(&id).await {
                Ok(()) => pass.recovered += 1,
                Err(error) => self.worker_failed(&mut pass, "recover", &id, &error),
            }
        }
        for id in store::due(self.core.db.reader(), Due::Unsettled, now, PASS).await? {
            let until = self.core.claim_until(now);
            if !store::claim(self.core.db.writer(), &id, Due::Unsettled, now, until).await? {
                continue;
            }
            let Some(a) = Activations::load(self.core.db.writer(), &id).await? else {
                continue;
            };
            match self.settle(&a).await {
                Ok(()) => pass.settled += 1,
                Err(error) => self.worker_failed(&mut pass, "settle", &id, &error),
            }
        }
        Ok(pass)
    }

    fn worker_failed(&self, pass: &mut Pass, work: &str, id: &str, error: &Failure) {
        pass.failed += 1;
        tracing::warn!(
            work,
            activation = id,
            error = %numhub_runtime::error::error_chain(error),
            "left for the next pass"
        );
    }
}
