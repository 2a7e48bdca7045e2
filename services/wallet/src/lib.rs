//! numhub's prepaid wallet: one balance per account and the append-only
//! ledger of every movement, moved atomically and idempotently.
//!
//! Layers: [`grpc`] (thin handlers) over [`Wallet`] (the domain facade) over
//! [`ledger`] (batched, idempotent writes, deciding with [`rules`]) and
//! [`store`] (SQL for PostgreSQL and SQLite alike).

pub mod config;
pub mod error;
pub mod grpc;
pub mod ledger;
pub mod model;
pub mod proto;
pub mod rules;
pub mod service;
pub mod store;

use std::time::Duration;

use numhub_runtime::clock::SharedClock;
use numhub_runtime::db::{Backend, Database, Migrations};
use numhub_runtime::tokens::PageTokens;
use numhub_runtime::workers::Workers;

pub use crate::config::WalletSettings;
use crate::error::{Error, reject};
use crate::ledger::{Ledger, LedgerSettings};
use crate::model::{Balance, Command, Entry};

/// The wallet's schema, for both backends.
pub const MIGRATIONS: Migrations = numhub_runtime::migrations!();

/// How often idempotency keys past their retention are forgotten.
const PURGE_INTERVAL: Duration = Duration::from_secs(600);

/// The wallet: reads straight from the database, writes through the ledger.
#[derive(Debug, Clone)]
pub struct Wallet {
    db: Database,
    clock: SharedClock,
    ledger: Ledger,
    default_currency: String,
    tokens: PageTokens,
    idempotency_retention: Duration,
}

impl Wallet {
    /// Starts the wallet's lanes on a migrated database. They are part of
    /// the request path, not background work: each ends by itself once the
    /// last clone of the wallet is gone, after the server has drained, having
    /// answered what it took. The purge is a worker: see
    /// [`Wallet::start_workers`].
    pub async fn start(
        db: Database,
        clock: SharedClock,
        settings: &WalletSettings,
    ) -> Result<Self, Error> {
        let tokens = PageTokens::load(&db).await?;
        let lanes = settings.write_lanes.unwrap_or(match db.backend() {
            // One writer at a time is all SQLite allows.
            Backend::Sqlite => 1,
            // Measured best on 2 cores (docs/benchmarks.md): more lanes
            // split load into smaller batches, each paying a commit.
            Backend::Postgres => 2,
        });
        let ledger = Ledger::start(
            db.clone(),
            clock.clone(),
            LedgerSettings {
                default_currency: settings.default_currency.clone(),
                lanes,
                ..LedgerSettings::default()
            },
        );
        Ok(Self {
            db,
            clock,
            ledger,
            default_currency: settings.default_currency.clone(),
            tokens,
            idempotency_retention: settings.idempotency_retention,
        })
    }

    /// Starts, under `workers`, the purge of idempotency keys past their
    /// retention.
    pub fn start_workers(&self, workers: &Workers) {
        let wallet = self.clone();
        workers.spawn_every("wallet key purge", PURGE_INTERVAL, move || {
            let wallet = wallet.clone();
            async move { wallet.purge_keys().await }
        });
    }

    /// Forgets idempotency keys past their retention. Any number of
    /// replicas may do this at once.
    async fn purge_keys(&self) -> Result<(), Error> {
        let cutoff = self.clock.now().minus(self.idempotency_retention);
        let purged = store::purge_keys(self.db.writer(), cutoff).await?;
        if purged > 0 {
            tracing::debug!(purged, "forgot idempotency keys past retention");
        }
        Ok(())
    }

    pub async fn execute(&self, command: Command) -> Result<Entry, Error> {
        self.ledger.execute(command).await
    }

    pub async fn balance(&self, account_id: &str) -> Result<Balance, Error> {
        store::balance(self.db.reader(), account_id)
            .await?
            .ok_or_else(|| reject::account_not_found(account_id).into())
    }

    /// The balance of an account, zero in the default currency if it was
    /// never credited: what its owner sees before a first top-up.
    pub async fn balance_or_zero(&self, account_id: &str) -> Result<Balance, Error> {
        Ok(store::balance(self.db.reader(), account_id)
            .await?
            .unwrap_or_else(|| Balance {
                account_id: account_id.to_owned(),
                currency: self.default_currency.clone(),
                available: 0,
                updated_at: None,
            }))
    }

    /// A page of the account's entries, newest first, and the cursor of the
    /// next page if there is one.
    pub async fn list(
        &self,
        account_id: &str,
        before: Option<&str>,
        page_size: u32,
    ) -> Result<(Vec<Entry>, Option<String>), Error> {
        let entries =
            store::list_entries(self.db.reader(), account_id, before, page_size + 1).await?;
        Ok(numhub_runtime::validate::page_token::split(
            entries,
            page_size,
            |e| e.id.clone(),
        ))
    }
}
