//! The part of a holding service that is the same in each: its database,
//! clock and stream hub, changes of one row under its account's lock, and
//! the live streams of the account's events.

use std::marker::PhantomData;
use std::sync::Arc;
#[cfg(feature = "fault-injection")]
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use numhub_auth::ServiceCredentials;
use numhub_auth::internal::{CatalogClient, WalletClient};
use numhub_proto::catalog::v1::catalog_internal_service_client::CatalogInternalServiceClient;
use numhub_proto::wallet::v1::wallet_internal_service_client::WalletInternalServiceClient;
use numhub_runtime::account_streams::{self, Followed, Log};
use numhub_runtime::channel::Channel;
use numhub_runtime::clock::{SharedClock, Timestamp};
use numhub_runtime::db::Database;
use numhub_runtime::error::Failure;
use numhub_runtime::event_log::{NewEvent, Read};
use numhub_runtime::streams::{self, Hub};
use numhub_runtime::tokens::PageTokens;
use numhub_runtime::workers::Workers;

use crate::events::{self, Event};
use crate::held::{Held, HeldId};
use crate::store::Store;

/// How a service's core claims rows and follows streams.
#[derive(Debug, Clone, Copy)]
pub struct CoreSettings {
    /// How long a request or a worker owns a row it is working on.
    pub recovery_after: Duration,
    /// How often a stream looks again without a wake-up.
    pub stream_recheck: Duration,
    /// The gauge of streams open in this process, by kind.
    pub streams_gauge: &'static str,
}

/// A stream of an account's events, boxed for tonic.
pub type EventStream<H> = streams::EventStream<Event<H>, Failure>;

/// What a stream follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watched {
    /// One row: its changes and messages; ends once it has ended.
    One(String),
    /// Every message of the account; never ends.
    Messages,
}

/// The services every holder calls, with the service credential.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub wallet: WalletClient,
    pub catalog: CatalogClient,
}

impl Upstream {
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

/// The database, clock, stream hub and dependencies of a service of
/// [`Held`] rows in `S`. Cheap to clone.
pub struct Core<S> {
    pub db: Database,
    pub clock: SharedClock,
    pub tokens: PageTokens,
    pub upstream: Upstream,
    hub: Arc<Hub>,
    settings: CoreSettings,
    /// The saga step at which to fail as if the process died there; 0 for
    /// none. Set by tests through [`Core::crash_at`].
    #[cfg(feature = "fault-injection")]
    crash_at: Arc<AtomicU8>,
    store: PhantomData<fn() -> S>,
}

impl<S> Clone for Core<S> {
    fn clone(&self) -> Self {
        Self {
            db: self.db.clone(),
            clock: self.clock.clone(),
            tokens: self.tokens.clone(),
            upstream: self.upstream.clone(),
            hub: self.hub.clone(),
            settings: self.settings,
            #[cfg(feature = "fault-injection")]
            crash_at: self.crash_at.clone(),
            store: PhantomData,
        }
    }
}

impl<S> std::fmt::Debug for Core<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<S: Store> Core<S> {
    /// A core on a migrated database (the page-token key is read from it).
    pub async fn new(
        db: Database,
        clock: SharedClock,
        settings: CoreSettings,
        upstream: Upstream,
    ) -> Result<Self, Failure> {
        let tokens = PageTokens::load(&db).await?;
        Ok(Self {
            db,
            clock,
            tokens,
            upstream,
            hub: Arc::new(Hub::default()),
            settings,
            #[cfg(feature = "fault-injection")]
            crash_at: Arc::new(AtomicU8::new(0)),
            store: PhantomData,
        })
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The end of a claim taken at `now`.
    pub fn claim_until(&self, now: Timestamp) -> Timestamp {
        now.plus(self.settings.recovery_after)
    }

    /// The process's wake-ups, for tests and metrics.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Ends every stream with UNAVAILABLE (resume elsewhere with the
    /// cursor): called when shutdown begins, so open streams do not hold
    /// the server until its grace runs out.
    pub fn close_streams(&self) {
        self.hub.close();
    }

    /// On PostgreSQL (`database_url`), wakes this process's streams on
    /// other processes' notifications on `channel`.
    pub fn listen_for_others(
        &self,
        workers: &Workers,
        name: &'static str,
        database_url: Option<String>,
        channel: &'static str,
    ) {
        account_streams::listen_for_others(workers, name, &self.hub, database_url, channel);
    }

    /// Reads a row of the account, by either of its ids; NOT_FOUND for
    /// another's.
    pub async fn get(&self, account_id: &str, id: &HeldId) -> Result<S::Held, Failure> {
        Self::get_in(self.db.reader(), account_id, id).await
    }

    /// [`Core::get`] through `db`: a read transaction's, so that what else
    /// it reads (the row's messages) agrees with the row.
    pub async fn get_in<'a>(
        db: impl sqlx::Executor<'a, Database = sqlx::Any> + 'a,
        account_id: &str,
        id: &'a HeldId,
    ) -> Result<S::Held, Failure> {
        S::find(db, id)
            .await?
            .filter(|row| row.account_id() == account_id)
            .ok_or_else(|| Failure::not_found(S::Held::NOUN, id.to_string()))
    }

    /// Changes one row of `account_id`, named by either of its ids, under
    /// the account's lock: `decide` sees the row as stored, may change it,
    /// and says whether it did. Nothing is written when it did not;
    /// otherwise the row and a change event are, and streams are woken
    /// after commit.
    pub async fn change<F>(
        &self,
        account_id: &str,
        id: &HeldId,
        decide: F,
    ) -> Result<(S::Held, bool), Failure>
    where
        F: FnOnce(&mut S::Held, Timestamp) -> Result<bool, Failure>,
    {
        let now = self.clock.now();
        let mut tx = self.db.begin_write().await?;
        let seq = S::LOG.lock_account(&mut tx, account_id, 1).await?;
        let mut row = S::find(&mut *tx, id)
            .await?
            .filter(|row| row.account_id() == account_id)
            .ok_or_else(|| Failure::not_found(S::Held::NOUN, id.to_string()))?;
        if !decide(&mut row, now)? {
            return Ok((row, false));
        }
        let claim = row.owes().then(|| self.claim_until(now));
        S::update(&mut tx, &row, claim).await?;
        let event = [NewEvent::change(row.status_number())];
        S::LOG
            .commit(tx, &self.hub, account_id, row.id(), seq, &event, now)
            .await?;
        Ok((row, true))
    }

    /// The events of `watched` after `cursor` (0: from the start), then
    /// live ones.
    pub fn watch(&self, account_id: &str, watched: Watched, cursor: i64) -> EventStream<S::Held> {
        let followed = match watched {
            Watched::One(id) => Followed::Subject {
                kind: S::Held::NOUN,
                id,
            },
            Watched::Messages => Followed::Messages,
        };
        let settings = account_streams::Settings {
            recheck: self.settings.stream_recheck,
            gauge: self.settings.streams_gauge,
        };
        account_streams::follow(
            &self.hub,
            self.clone(),
            account_id,
            followed,
            cursor,
            settings,
        )
    }

    /// Makes every saga fail at `step` as if the process had died there,
    /// until called with `None`: for tests of the recovery.
    #[cfg(feature = "fault-injection")]
    pub fn crash_at(&self, step: Option<u8>) {
        self.crash_at.store(step.unwrap_or(0), Ordering::SeqCst);
    }

    /// Fails as if the process had died at `step`, when a test asked.
    #[cfg(feature = "fault-injection")]
    pub fn crash_point(&self, step: u8) -> Result<(), Failure> {
        if self.crash_at.load(Ordering::Relaxed) == step {
            return Err(Failure::interrupted());
        }
        Ok(())
    }

    #[cfg(not(feature = "fault-injection"))]
    pub fn crash_point(&self, _step: u8) -> Result<(), Failure> {
        Ok(())
    }
}

impl<S: Store> Log for Core<S> {
    type Event = Event<S::Held>;
    type Error = Failure;

    async fn has_ended(&self, id: &str) -> Result<bool, Failure> {
        let row = S::load(self.db.reader(), id).await?;
        Ok(row.is_none_or(|row| row.is_terminal()))
    }

    async fn events_after(
        &self,
        account_id: &str,
        which: Read<'_>,
        cursor: i64,
        limit: i64,
    ) -> Result<Vec<Event<S::Held>>, Failure> {
        events::read::<S>(self.db.reader(), account_id, which, cursor, limit).await
    }

    fn seq(event: &Event<S::Held>) -> i64 {
        event.seq
    }
}
