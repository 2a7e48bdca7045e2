//! numhub's orders: activations (a number bought for one verification),
//! the saga that buys them, their messages, and live streams of both.
//!
//! Layers: [`grpc`] (thin handlers) over [`Orders`] (the rules, in
//! [`saga`], [`lifecycle`], [`delivery`], [`workers`] and [`streams`]) over
//! [`store`] (SQL for PostgreSQL and SQLite alike). The wallet and the
//! catalog are reached only through their internal gRPC services
//! ([`Dependencies`]).

pub mod account_messages;
pub mod config;
pub mod delivery;
pub mod error;
pub mod grpc;
pub mod lifecycle;
pub mod model;
pub mod proto;
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
use numhub_proto::rentals::v1::rentals_internal_service_client::RentalsInternalServiceClient;
use numhub_proto::wallet::v1::wallet_internal_service_client::WalletInternalServiceClient;
use numhub_runtime::channel::Channel;
use numhub_runtime::clock::{SharedClock, Timestamp};
use numhub_runtime::db::{Database, Migrations};
use numhub_runtime::event_log::NewEvent;
use numhub_runtime::tokens::PageTokens;

pub use crate::config::OrdersSettings;
use crate::error::Failure;
use crate::model::{Activation, Status, Step};
use numhub_runtime::streams::Hub;

/// Orders' schema, for both backends.
pub const MIGRATIONS: Migrations = numhub_runtime::migrations!();

/// The channel PostgreSQL notifications travel on (see the migration's
/// trigger on `events`).
pub const NOTIFY_CHANNEL: &str = "numhub_orders";

pub use numhub_auth::internal::{CatalogClient, RentalsClient, WalletClient};

/// The services orders calls, with the service credential.
#[derive(Debug, Clone)]
pub struct Dependencies {
    pub wallet: WalletClient,
    pub catalog: CatalogClient,
    /// Where WatchMessages finds the account's rental messages; without
    /// it, WatchMessages carries activations' messages only.
    pub rentals: Option<RentalsClient>,
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
            rentals: None,
        }
    }

    /// Adds the rentals service, whose messages WatchMessages then carries.
    pub fn with_rentals(mut self, rentals: Channel, credentials: &ServiceCredentials) -> Self {
        self.rentals = Some(RentalsInternalServiceClient::with_interceptor(
            rentals,
            credentials.interceptor(),
        ));
        self
    }
}

/// The orders service.
#[derive(Debug, Clone)]
pub struct Orders {
    db: Database,
    clock: SharedClock,
    settings: Arc<OrdersSettings>,
    deps: Dependencies,
    hub: Arc<Hub>,
    /// The saga step at which to fail as if the process died there; 0 for
    /// none. Set by tests through [`Orders::crash_at`].
    #[cfg(feature = "fault-injection")]
    crash_at: Arc<AtomicU8>,
    tokens: PageTokens,
}

impl Orders {
    /// Orders on a migrated database. Workers and the PostgreSQL listener
    /// are not started: see [`Orders::start_workers`].
    pub async fn new(
        db: Database,
        clock: SharedClock,
        settings: OrdersSettings,
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
    /// cursor): call it when shutdown begins, so open streams do not hold
    /// the server until its grace runs out.
    pub fn close_streams(&self) {
        self.hub.close();
    }

    pub fn settings(&self) -> &OrdersSettings {
        &self.settings
    }

    /// Makes every purchase fail at `step` as if the process had died
    /// there, until called with `None`: for tests of the recovery.
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

    /// Changes one activation of `account_id` under the account's lock:
    /// `decide` sees the activation as stored, may change it, and says
    /// whether it changed the status. Nothing is written when it returns
    /// [`Change::None`]; otherwise the row and a status event are, and
    /// streams are woken after commit.
    pub(crate) async fn change<F>(
        &self,
        account_id: &str,
        id: &str,
        decide: F,
    ) -> Result<(Activation, bool), Failure>
    where
        F: FnOnce(&mut Activation, Timestamp) -> Result<Change, Failure>,
    {
        let now = self.clock.now();
        let mut tx = self.db.begin_write().await?;
        let seq = store::LOG.lock_account(&mut tx, account_id, 1).await?;
        let mut activation = store::activation(&mut *tx, id)
            .await?
            .filter(|a| a.account_id == account_id)
            .ok_or_else(|| Failure::not_found("activation", id))?;
        let change = decide(&mut activation, now)?;
        if change == Change::None {
            return Ok((activation, false));
        }
        store::update(&mut tx, &activation, self.claim_until(now)).await?;
        let event = [NewEvent::change(activation.status as i64)];
        store::LOG
            .commit(tx, &self.hub, account_id, id, seq, &event, now)
            .await?;
        Ok((activation, true))
    }

    /// An activation of the account with its messages, oldest first.
    pub async fn get_with_messages(
        &self,
        account_id: &str,
        id: &str,
    ) -> Result<(Activation, Vec<model::Message>), Failure> {
        let activation = self.get(account_id, id).await?;
        let messages = store::messages_of(self.db.reader(), id).await?;
        Ok((activation, messages))
    }

    /// The account's activations newest first, before the id `before`;
    /// and the cursor of the next page.
    pub async fn list(
        &self,
        account_id: &str,
        statuses: &[Status],
        before: Option<&str>,
        page_size: u32,
    ) -> Result<(Vec<Activation>, Option<String>), Failure> {
        let rows = store::list(
            self.db.reader(),
            account_id,
            statuses,
            before,
            page_size + 1,
        )
        .await?;
        Ok(numhub_runtime::validate::page_token::split(
            rows,
            page_size,
            |a| a.id.clone(),
        ))
    }

    /// Reads an activation of the account; NOT_FOUND for another's.
    pub async fn get(&self, account_id: &str, id: &str) -> Result<Activation, Failure> {
        store::activation(self.db.reader(), id)
            .await?
            .filter(|a| a.account_id == account_id)
            .ok_or_else(|| Failure::not_found("activation", id))
    }
}

/// What a change did to an activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Nothing: no write.
    None,
    /// The status changed: written, with an event for streams.
    Status,
}
