//! numhub's rentals: a private number kept for days to a year, its
//! renewals (by the customer or automatic), its cancellation, its messages,
//! and live streams of both.
//!
//! Layers: [`grpc`] (thin handlers) over [`Rentals`] (the rules, in
//! [`saga`], [`renewal`], [`lifecycle`], [`delivery`], [`workers`] and
//! [`streams`]) over [`store`] (SQL for PostgreSQL and SQLite alike). The
//! wallet and the catalog are reached only through their internal gRPC
//! services ([`Dependencies`]).

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
pub mod streams;
pub mod workers;

use std::sync::Arc;
#[cfg(feature = "fault-injection")]
use std::sync::atomic::{AtomicU8, Ordering};

use numhub_auth::ServiceCredentials;
use numhub_proto::catalog::v1::catalog_internal_service_client::CatalogInternalServiceClient;
use numhub_proto::wallet::v1::wallet_internal_service_client::WalletInternalServiceClient;
use numhub_runtime::channel::Channel;
use numhub_runtime::clock::{SharedClock, Timestamp};
use numhub_runtime::db::{Database, Migrations};
use numhub_runtime::event_log::NewEvent;
use numhub_runtime::streams::Hub;
use numhub_runtime::tokens::PageTokens;

pub use crate::config::RentalsSettings;
use crate::error::Failure;
use crate::model::{Filter, Rental, Step};

/// Rentals' schema, for both backends.
pub const MIGRATIONS: Migrations = numhub_runtime::migrations!();

/// The channel PostgreSQL notifications travel on (see the migration's
/// trigger on `events`).
pub const NOTIFY_CHANNEL: &str = "numhub_rentals";

/// How many of its newest messages GetRental shows.
pub const INBOX_SIZE: i64 = 100;

pub use numhub_auth::internal::{CatalogClient, WalletClient};

/// The services rentals calls, with the service credential.
#[derive(Debug, Clone)]
pub struct Dependencies {
    pub wallet: WalletClient,
    pub catalog: CatalogClient,
}

impl Dependencies {
    pub fn new(wallet: Channel, catalog: Channel, credentials: &ServiceCredentials) -> Self {
        Self {
            wallet: WalletInternalServiceClient::with_interceptor(
                wallet,
                credentials.interceptor(),
            ),
            catalog: CatalogInternalServiceClient::with_interceptor(
                catalog,
                credentials.interceptor(),
            ),
        }
    }
}

/// The rentals service.
#[derive(Debug, Clone)]
pub struct Rentals {
    db: Database,
    clock: SharedClock,
    settings: Arc<RentalsSettings>,
    deps: Dependencies,
    hub: Arc<Hub>,
    /// The step at which to fail as if the process died there; 0 for none.
    /// Set by tests through [`Rentals::crash_at`].
    #[cfg(feature = "fault-injection")]
    crash_at: Arc<AtomicU8>,
    tokens: PageTokens,
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
        let tokens = PageTokens::load(&db).await?;
        Ok(Self {
            db,
            clock,
            settings: Arc::new(settings),
            deps,
            hub: Arc::new(Hub::default()),
            #[cfg(feature = "fault-injection")]
            crash_at: Arc::new(AtomicU8::new(0)),
            tokens,
        })
    }

    /// Ends every stream with UNAVAILABLE (resume elsewhere with the
    /// cursor): call it when shutdown begins.
    pub fn close_streams(&self) {
        self.hub.close();
    }

    pub fn settings(&self) -> &RentalsSettings {
        &self.settings
    }

    /// Makes every purchase or renewal fail at `step` as if the process had
    /// died there, until called with `None`: for tests of the recovery.
    #[cfg(feature = "fault-injection")]
    pub fn crash_at(&self, step: Option<Step>) {
        self.crash_at
            .store(step.map_or(0, |s| s as u8), Ordering::SeqCst);
    }

    /// Fails as if the process had died at `step`, when a test asked.
    #[cfg(feature = "fault-injection")]
    fn crash_point(&self, step: Step) -> Result<(), Failure> {
        if self.crash_at.load(Ordering::Relaxed) == step as u8 {
            return Err(Failure::interrupted());
        }
        Ok(())
    }

    #[cfg(not(feature = "fault-injection"))]
    fn crash_point(&self, _step: Step) -> Result<(), Failure> {
        Ok(())
    }

    /// How long a request or a worker owns a row it is working on.
    fn claim_until(&self, now: Timestamp) -> Timestamp {
        now.plus(self.settings.recovery_after)
    }

    /// Changes one rental of `account_id` under the account's lock:
    /// `decide` sees the rental as stored and may change it, returning
    /// whether it did. Nothing is written when it did not; otherwise the
    /// row and a change event are, and streams are woken after commit.
    pub(crate) async fn change<F>(
        &self,
        account_id: &str,
        id: &str,
        decide: F,
    ) -> Result<(Rental, bool), Failure>
    where
        F: FnOnce(&mut Rental, Timestamp) -> Result<bool, Failure>,
    {
        let now = self.clock.now();
        let mut tx = self.db.begin_write().await?;
        let seq = store::LOG.lock_account(&mut tx, account_id, 1).await?;
        let mut rental = store::rental(&mut *tx, id)
            .await?
            .filter(|r| r.account_id == account_id)
            .ok_or_else(|| Failure::not_found("rental", id))?;
        if !decide(&mut rental, now)? {
            return Ok((rental, false));
        }
        // A rental that now owes something is the request's to settle
        // first; the settlement worker waits for the claim to lapse.
        let claim = (rental.settle != model::Settle::Nothing).then(|| self.claim_until(now));
        store::update(&mut tx, &rental, claim).await?;
        let event = [NewEvent::change(rental.status as i64)];
        store::LOG
            .commit(tx, &self.hub, account_id, id, seq, &event, now)
            .await?;
        Ok((rental, true))
    }

    /// Reads a rental of the account; NOT_FOUND for another's.
    pub async fn get(&self, account_id: &str, id: &str) -> Result<Rental, Failure> {
        store::rental(self.db.reader(), id)
            .await?
            .filter(|r| r.account_id == account_id)
            .ok_or_else(|| Failure::not_found("rental", id))
    }

    /// A rental of the account with its newest messages, newest first.
    pub async fn get_with_messages(
        &self,
        account_id: &str,
        id: &str,
    ) -> Result<(Rental, Vec<model::Message>), Failure> {
        let rental = self.get(account_id, id).await?;
        let messages = store::recent_messages(self.db.reader(), id, INBOX_SIZE).await?;
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
        let now = self.clock.now();
        let rows = store::list(
            self.db.reader(),
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
        if !store::rented_number(self.db.reader(), account_id, phone_number).await? {
            return Err(Failure::not_found("rented number", phone_number));
        }
        Ok(store::messages_of_number(
            self.db.reader(),
            account_id,
            phone_number,
            after,
            i64::from(limit),
        )
        .await?)
    }

    /// The clock rentals reads: for handlers that show statuses as of now.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }
}
