//! numhub's catalog: what can be bought, where, at what price, and from
//! which numbers. It owns the reference data, the prices, the inventory of
//! phone numbers and the leases that say who held which number when.
//!
//! Layers: [`grpc`] (thin handlers) over [`Catalog`] (the rules, in
//! [`reference`], [`listing`] and [`inventory`]) over [`store`] (SQL for
//! PostgreSQL and SQLite alike).

pub use numhub_runtime::codes;
pub mod config;
pub mod error;
pub mod grpc;
pub mod inventory;
pub mod listing;
pub mod model;
pub mod proto;
pub mod service;
pub use numhub_runtime::phone;
pub mod reference;
pub mod seed;
pub mod store;

use std::time::Duration;

use numhub_runtime::clock::SharedClock;
use numhub_runtime::db::{Database, Migrations};
use numhub_runtime::tokens::PageTokens;
use numhub_runtime::workers::Workers;

pub use crate::config::CatalogSettings;
use crate::error::Error;

/// The catalog's schema, for both backends.
pub const MIGRATIONS: Migrations = numhub_runtime::migrations!();

/// How often idempotency records past their retention are forgotten.
const PURGE_INTERVAL: Duration = Duration::from_secs(600);

/// The catalog service.
#[derive(Debug, Clone)]
pub struct Catalog {
    db: Database,
    clock: SharedClock,
    settings: CatalogSettings,
    tokens: PageTokens,
}

impl Catalog {
    /// The catalog on a migrated database, with the built-in reference data
    /// loaded if the settings ask for it. Workers are not started: see
    /// [`Catalog::start_workers`].
    pub async fn new(
        db: Database,
        clock: SharedClock,
        settings: CatalogSettings,
    ) -> Result<Self, Error> {
        let tokens = PageTokens::load(&db).await?;
        let catalog = Self {
            db,
            clock,
            settings,
            tokens,
        };
        if catalog.settings.seed {
            catalog.load_seed().await?;
        }
        Ok(catalog)
    }

    /// Starts, under `workers`, the sweeper that brings the stock counters
    /// up to date with leases that ended by time, and the purge that forgets
    /// old LeaseNumber request ids. Any number of replicas may run them.
    pub fn start_workers(&self, workers: &Workers) {
        let catalog = self.clone();
        let interval = self.settings.sweep_interval.max(Duration::from_millis(10));
        workers.spawn_every("catalog sweeper", interval, move || {
            let catalog = catalog.clone();
            async move { catalog.sweep().await.map(drop) }
        });
        let catalog = self.clone();
        workers.spawn_every("catalog request purge", PURGE_INTERVAL, move || {
            let catalog = catalog.clone();
            async move {
                let purged = catalog.purge_requests().await?;
                if purged > 0 {
                    tracing::debug!(purged, "forgot old lease request ids");
                }
                Ok::<_, Error>(())
            }
        });
    }

    /// The currency of every price.
    pub fn currency(&self) -> &str {
        &self.settings.currency
    }
}
