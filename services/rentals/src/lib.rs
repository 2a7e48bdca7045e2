//! numhub's rentals: a private number kept for days to a year, its
//! renewals (by the customer or automatic), its cancellation, its messages,
//! and live streams of both.
//!
//! Layers: [`grpc`] (thin handlers) over [`Rentals`] (the rules, in
//! [`saga`], [`renewal`], [`lifecycle`], [`delivery`] and [`workers`], on
//! the shared [`numhub_holding::Core`]) over [`store`] (SQL for PostgreSQL
//! and SQLite alike). The wallet and the catalog are reached only through
//! their internal gRPC services ([`Dependencies`]).

pub mod config;
pub mod delivery;
pub mod error;
pub mod grpc;
pub mod lifecycle;
pub mod model;
pub mod proto;
pub mod renewal;
pub mod saga;
pub mod service;
pub mod store;
pub mod workers;

use std::sync::Arc;

use numhub_holding::{Core, CoreSettings, Upstream};
use numhub_runtime::clock::{SharedClock, Timestamp};
use numhub_runtime::db::{Database, Migrations};

pub use crate::config::RentalsSettings;
use crate::error::Failure;
#[cfg(feature = "fault-injection")]
use crate::model::Step;
use crate::model::{Filter, Rental};

pub use numhub_holding::{HeldId, Holder, Watched};

/// Rentals' schema, for both backends.
pub const MIGRATIONS: Migrations = numhub_runtime::migrations!();

/// The channel PostgreSQL notifications travel on (see the migration's
/// trigger on `events`).
pub const NOTIFY_CHANNEL: &str = "numhub_rentals";

/// How many of its newest messages GetRental shows.
pub const INBOX_SIZE: i64 = 100;

/// The services rentals calls, with the service credential.
pub type Dependencies = Upstream;

/// The gauge of streams open in this process, by kind.
pub const STREAMS_METRIC: &str = "numhub_rentals_open_streams";

/// The rentals service.
#[derive(Debug, Clone)]
pub struct Rentals {
    core: Core<store::RentalsTable>,
    settings: Arc<RentalsSettings>,
}

impl Rentals {
    /// Rentals on a migrated database. Workers and the PostgreSQL listener
    /// are not started: see [`Rentals::start_workers`].
    pub async fn new(
        db: Database,
        clock: SharedClock,
        settings: RentalsSettings,
        deps: Dependencies,
    ) -> Result<Self, Failure> {
        let core = CoreSettings {
            recovery_after: settings.recovery_after,
            stream_recheck: settings.stream_recheck,
            streams_gauge: STREAMS_METRIC,
        };
        Ok(Self {
            core: Core::new(db, clock, core, deps).await?,
            settings: Arc::new(settings),
        })
    }

    pub fn settings(&self) -> &RentalsSettings {
        &self.settings
    }

    /// Makes every purchase or renewal fail at `step` as if the process had
    /// died there, until called with `None`: for tests of the recovery.
    #[cfg(feature = "fault-injection")]
    pub fn crash_at(&self, step: Option<Step>) {
        self.core.crash_at(step.map(|s| s as u8));
    }

    /// A rental of the account with its newest messages, newest first.
    pub async fn get_with_messages(
        &self,
        account_id: &str,
        id: &HeldId,
    ) -> Result<(Rental, Vec<model::Message>), Failure> {
        // One snapshot: the rental's count of SMS agrees with its inbox.
        let mut snapshot = self.core.db.begin_read().await?;
        let rental = Core::<store::RentalsTable>::get_in(&mut *snapshot, account_id, id).await?;
        let messages = store::recent_messages(&mut *snapshot, &rental.id, INBOX_SIZE).await?;
        snapshot.rollback().await?;
        Ok((rental, messages))
    }

    /// The account's rentals newest first, before the id `before`; and the
    /// cursor of the next page.
    pub async fn list(
        &self,
        account_id: &str,
        filter: Filter,
        before: Option<&str>,
        page_size: u32,
    ) -> Result<(Vec<Rental>, Option<String>), Failure> {
        let now = self.core.clock.now();
        let rows = store::list(
            self.core.db.reader(),
            account_id,
            filter,
            now,
            before,
            page_size + 1,
        )
        .await?;
        Ok(numhub_runtime::validate::page_token::split(
            rows,
            page_size,
            |r| r.id.clone(),
        ))
    }

    /// The messages of a number the account rents or rented, after the
    /// message id `after`, oldest first. NOT_FOUND when it never rented it.
    pub async fn messages_of_number(
        &self,
        account_id: &str,
        phone_number: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<model::Message>, Failure> {
        if !store::rented_number(self.core.db.reader(), account_id, phone_number).await? {
            return Err(Failure::not_found("rented number", phone_number));
        }
        Ok(store::messages_of_number(
            self.core.db.reader(),
            account_id,
            phone_number,
            after,
            i64::from(limit),
        )
        .await?)
    }

    /// The clock rentals reads: for handlers that show statuses as of now.
    pub fn now(&self) -> Timestamp {
        self.core.clock.now()
    }
}
