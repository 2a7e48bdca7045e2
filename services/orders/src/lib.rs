//! numhub's orders: activations (a number bought for one verification),
//! the saga that buys them, their messages, and live streams of both.
//!
//! Layers: [`grpc`] (thin handlers) over [`Orders`] (the rules, in
//! [`saga`], [`lifecycle`], [`delivery`] and [`workers`], on the shared
//! [`numhub_holding::Core`]) over [`store`] (SQL for PostgreSQL and SQLite
//! alike). The wallet and the catalog are reached only through their
//! internal gRPC services ([`Dependencies`]).

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
pub mod workers;

use std::sync::Arc;

use numhub_auth::ServiceCredentials;
use numhub_holding::{Core, CoreSettings, Upstream};
use numhub_proto::rentals::v1::rentals_internal_service_client::RentalsInternalServiceClient;
use numhub_runtime::channel::Channel;
use numhub_runtime::clock::SharedClock;
use numhub_runtime::db::{Database, Migrations};

pub use crate::config::OrdersSettings;
use crate::error::Failure;
#[cfg(feature = "fault-injection")]
use crate::model::Step;
use crate::model::{Activation, Status};

pub use numhub_holding::{HeldId, Holder, Watched};

/// Orders' schema, for both backends.
pub const MIGRATIONS: Migrations = numhub_runtime::migrations!();

/// The channel PostgreSQL notifications travel on (see the migration's
/// trigger on `events`).
pub const NOTIFY_CHANNEL: &str = "numhub_orders";

pub use numhub_auth::internal::RentalsClient;

/// The services orders calls, with the service credential.
#[derive(Debug, Clone)]
pub struct Dependencies {
    /// The wallet and the catalog.
    pub upstream: Upstream,
    /// Where WatchMessages finds the account's rental messages; without
    /// it, WatchMessages carries activations' messages only.
    pub rentals: Option<RentalsClient>,
}

impl Dependencies {
    pub fn new(wallet: Channel, catalog: Channel, credentials: &ServiceCredentials) -> Self {
        Self {
            upstream: Upstream::new(wallet, catalog, credentials),
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

/// The gauge of streams open in this process, by kind.
pub const STREAMS_METRIC: &str = "numhub_orders_open_streams";

/// The orders service.
#[derive(Debug, Clone)]
pub struct Orders {
    core: Core<store::Activations>,
    settings: Arc<OrdersSettings>,
    rentals: Option<RentalsClient>,
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
        let core = CoreSettings {
            recovery_after: settings.recovery_after,
            stream_recheck: settings.stream_recheck,
            streams_gauge: STREAMS_METRIC,
        };
        Ok(Self {
            core: Core::new(db, clock, core, deps.upstream).await?,
            settings: Arc::new(settings),
            rentals: deps.rentals,
        })
    }

    pub fn settings(&self) -> &OrdersSettings {
        &self.settings
    }

    /// Makes every purchase fail at `step` as if the process had died
    /// there, until called with `None`: for tests of the recovery.
    #[cfg(feature = "fault-injection")]
    pub fn crash_at(&self, step: Option<Step>) {
        self.core.crash_at(step.map(|s| s as u8));
    }

    /// An activation of the account with its messages, oldest first.
    pub async fn get_with_messages(
        &self,
        account_id: &str,
        id: &HeldId,
    ) -> Result<(Activation, Vec<model::Message>), Failure> {
        // One snapshot: the activation's status and code agree with its
        // messages.
        let mut snapshot = self.core.db.begin_read().await?;
        let activation = Core::<store::Activations>::get_in(&mut *snapshot, account_id, id).await?;
        let messages = store::messages_of(&mut *snapshot, &activation.id).await?;
        snapshot.rollback().await?;
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
            self.core.db.reader(),
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
}
