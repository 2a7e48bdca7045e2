//! Applying money movements: atomically, idempotently, and in batches.
//!
//! Each account belongs to one of a few *lanes* (by a hash of its id). A lane
//! is one task that takes every command waiting in its queue and applies them
//! together in one atomic write, then answers each. Under load a batch
//! grows by itself, so many movements share one commit: this is what keeps a
//! single hot account as fast as many quiet ones, since a row lock held until
//! a commit is otherwise the limit. Commands for one account never run in two
//! lanes of one process, and across replicas an optimistic version check on
//! the account rows makes a batch that raced another writer start over.
//!
//! A batch reads outside any transaction, decides with [`rules::apply`], then
//! writes everything at once with [`store::write_batch`], which refuses if a
//! key was taken or an account changed since the read; the batch then starts
//! over. On PostgreSQL that write is one statement, so no row lock is held
//! across a network round trip.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use numhub_runtime::clock::{SharedClock, Timestamp};
use numhub_runtime::db::Database;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::error::{Error, Rejection, reject};
use crate::model::{Command, Entry, Movement};
use crate::rules::{self, AccountState};
use crate::store::{self, BalanceUpdate, BatchWrite, KeyId, NewKey};

/// How the ledger batches.
#[derive(Debug, Clone)]
pub struct LedgerSettings {
    /// The currency of an account whose first credit names none.
    pub default_currency: String,
    /// Parallel lanes; each uses at most one database connection at a time.
    pub lanes: usize,
    /// Most commands applied in one batch.
    pub max_batch: usize,
    /// Attempts of a batch that keeps losing races before giving up.
    pub max_attempts: u32,
}

impl Default for LedgerSettings {
    fn default() -> Self {
        Self {
            default_currency: "USD".into(),
            lanes: 2,
            max_batch: 128,
            max_attempts: 20,
        }
    }
}

/// What a lane did with one command.
#[derive(Debug)]
enum Outcome {
    Applied(Entry),
    Rejected(Rejection),
    /// The key already had an outcome: the caller reads it back.
    Replay,
}

#[derive(Debug)]
struct Job {
    account_id: String,
    command: Command,
    fingerprint: String,
    reply: oneshot::Sender<Result<Outcome, Error>>,
}

impl Job {
    fn key(&self) -> KeyId {
        (self.account_id.clone(), self.command.request_id.clone())
    }
}

/// The write side of the wallet.
#[derive(Debug, Clone)]
pub struct Ledger {
    db: Database,
    lanes: Vec<mpsc::Sender<Job>>,
}

impl Ledger {
    /// Starts the lanes; they stop when the last clone of the ledger is gone.
    pub fn start(db: Database, clock: SharedClock, settings: LedgerSettings) -> Self {
        let lanes = (0..settings.lanes.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::channel(settings.max_batch * 8);
                let lane = Lane {
                    db: db.clone(),
                    clock: clock.clone(),
                    settings: settings.clone(),
                    cache: HashMap::new(),
                };
                // Not a worker: a lane serves requests, which wait for it,
                // and ends by itself when the last sender is dropped, after
                // the server has drained; stopping it at shutdown would fail
                // writes that a caller is waiting for.
                tokio::spawn(lane.run(rx));
                tx
            })
            .collect();
        Self { db, lanes }
    }

    /// Applies a command once, whatever the retries: the first outcome under
    /// its key is the outcome.
    pub async fn execute(&self, command: Command) -> Result<Entry, Error> {
        let account_id = match &command.movement {
            Movement::Credit { account_id, .. } | Movement::Debit { account_id, .. } => {
                account_id.clone()
            }
            Movement::Refund { debit_id, .. } => store::debit_account(self.db.reader(), debit_id)
                .await?
                .ok_or_else(|| reject::debit_not_found(debit_id))?,
        };
        let fingerprint = command.fingerprint();
        let request_id = command.request_id.clone();
        let (reply, answer) = oneshot::channel();
        let lane = &self.lanes[lane_of(&account_id, self.lanes.len())];
        let job = Job {
            account_id: account_id.clone(),
            command,
            fingerprint: fingerprint.clone(),
            reply,
        };
        lane.send(job).await.map_err(|_| Error::shutting_down())?;
        match answer.await.map_err(|_| Error::shutting_down())?? {
            Outcome::Applied(entry) => Ok(entry),
            Outcome::Rejected(rejection) => Err(rejection.into()),
            Outcome::Replay => self.replay(&account_id, &request_id, &fingerprint).await,
        }
    }

    async fn replay(
        &self,
        account_id: &str,
        request_id: &str,
        fingerprint: &str,
    ) -> Result<Entry, Error> {
        let Some(stored) = store::get_key(self.db.reader(), account_id, request_id).await? else {
            // Forgotten between the lane's look and ours: only a purge of
            // keys past their retention does that. Let the caller retry.
            return Err(Error::in_progress());
        };
        if stored.fingerprint != fingerprint {
            return Err(Error::key_reused(request_id));
        }
        match stored.outcome {
            Ok(entry_id) => store::get_entry(self.db.reader(), &entry_id)
                .await?
                .ok_or_else(|| Error::corrupt(format!("entry {entry_id} of a key is missing"))),
            Err(rejection) => Err(rejection.into()),
        }
    }
}

fn lane_of(account_id: &str, lanes: usize) -> usize {
    let mut hasher = DefaultHasher::new();
    account_id.hash(&mut hasher);
    (hasher.finish() % lanes as u64) as usize
}

/// Most accounts a lane remembers; past that it forgets them all and
/// starts again, which costs one read per account.
const CACHE_CAPACITY: usize = 100_000;

/// One lane: its queue, and the state of the accounts it wrote last.
///
/// The cache saves the read of an account before each batch. It can never
/// make the wallet wrong: a write only lands if every account is still at the
/// version the lane believes, and a refusal is only recorded when it was
/// decided on state read from the database just now.
struct Lane {
    db: Database,
    clock: SharedClock,
    settings: LedgerSettings,
    cache: HashMap<String, AccountState>,
}

impl Lane {
    async fn run(mut self, mut queue: mpsc::Receiver<Job>) {
        let mut jobs = Vec::with_capacity(self.settings.max_batch);
        while queue.recv_many(&mut jobs, self.settings.max_batch).await > 0 {
            let batch = std::mem::take(&mut jobs);
            match self.apply_with_retries(&batch).await {
                Ok(outcomes) => {
                    for (job, outcome) in batch.into_iter().zip(outcomes) {
                        let _ = job.reply.send(Ok(outcome));
                    }
                }
                // One failing command must not fail its neighbours: apply
                // each on its own, so every caller gets its own answer.
                Err(error) if batch.len() > 1 => {
                    tracing::warn!(error = %numhub_runtime::error::error_chain(&error),
                        size = batch.len(), "batch failed; applying its commands one by one");
                    for job in batch {
                        let result = self
                            .apply_with_retries(std::slice::from_ref(&job))
                            .await
                            .map(|mut outcomes| outcomes.remove(0));
                        let _ = job.reply.send(result);
                    }
                }
                Err(error) => {
                    if let Some(job) = batch.into_iter().next() {
                        let _ = job.reply.send(Err(error));
                    }
                }
            }
        }
    }

    async fn apply_with_retries(&mut self, jobs: &[Job]) -> Result<Vec<Outcome>, Error> {
        // Retries of requests are rare, so the first attempt does not look for
        // them: a key that turns out to be taken makes the write fail, and the
        // next attempt looks keys up first.
        let mut look_up_keys = false;
        for attempt in 1..=self.settings.max_attempts {
            let result = self.apply_batch(jobs, look_up_keys).await;
            if result.is_err() {
                // Whatever happened, read these accounts afresh next time.
                for job in jobs {
                    self.cache.remove(&job.account_id);
                }
            }
            match result {
                Ok(outcomes) => return Ok(outcomes),
                Err(BatchError::Failed(error)) => return Err(error),
                Err(BatchError::RefusedOnCache) => {}
                Err(BatchError::Conflict) => {
                    tracing::debug!(
                        attempt,
                        "batch raced another writer or a retry; starting over"
                    );
                    look_up_keys = true;
                    if attempt > 1 {
                        tokio::time::sleep(rand_jitter(attempt)).await;
                    }
                }
            }
        }
        Err(Error::in_progress())
    }

    /// Reads what the batch needs, decides every command with the rules, and
    /// writes all outcomes at once, unless something changed in between.
    async fn apply_batch(
        &mut self,
        jobs: &[Job],
        look_up_keys: bool,
    ) -> Result<Vec<Outcome>, BatchError> {
        let db = &self.db;
        let now = self.clock.now();

        // A key twice in one batch: the first is applied, the rest replay it.
        let mut seen = HashSet::new();
        let firsts: Vec<bool> = jobs.iter().map(|job| seen.insert(job.key())).collect();
        let existing = if look_up_keys {
            let keys: Vec<KeyId> = seen.into_iter().collect();
            store::existing_keys(db.reader(), &keys).await?
        } else {
            HashMap::new()
        };
        let fresh: Vec<&Job> = jobs
            .iter()
            .zip(&firsts)
            .filter(|(job, first)| **first && !existing.contains_key(&job.key()))
            .map(|(job, _)| job)
            .collect();

        // `rules::apply` changes balances, never versions: each keeps the
        // version read here, which the write checks.
        let (mut accounts, remembered) = self.read_accounts(&fresh, now).await?;
        let debit_ids = unique(fresh.iter().filter_map(|job| match &job.command.movement {
            Movement::Refund { debit_id, .. } => Some(debit_id.as_str()),
            _ => None,
        }));
        let mut debits = store::load_debits(db.reader(), &debit_ids).await?;

        let mut results: HashMap<KeyId, Result<Entry, Rejection>> = HashMap::new();
        for job in &fresh {
            let debit = match &job.command.movement {
                Movement::Refund { debit_id, .. } => debits.get_mut(debit_id),
                _ => None,
            };
            let ctx = rules::Context {
                entry_id: Uuid::now_v7().to_string(),
                request_id: &job.command.request_id,
                now,
            };
            let account = accounts.get_mut(&job.account_id);
            results.insert(
                job.key(),
                rules::apply(&job.command.movement, account, debit, ctx),
            );
        }

        let refused_on_cache = fresh
            .iter()
            .any(|job| results[&job.key()].is_err() && remembered.contains(&job.account_id));
        if refused_on_cache {
            return Err(BatchError::RefusedOnCache);
        }

        let entries: Vec<Entry> = fresh
            .iter()
            .filter_map(|job| results[&job.key()].as_ref().ok().cloned())
            .collect();
        let balances = unique(entries.iter().map(|e| e.account_id.as_str()))
            .into_iter()
            .filter_map(|id| {
                let (account_id, state) = accounts.get_key_value(id)?;
                Some(BalanceUpdate {
                    account_id,
                    balance: state.balance,
                    read_version: state.version,
                })
            })
            .collect();
        let keys = fresh
            .iter()
            .map(|job| NewKey {
                account_id: &job.account_id,
                request_id: &job.command.request_id,
                fingerprint: &job.fingerprint,
                outcome: results[&job.key()].as_ref().map(|entry| entry.id.as_str()),
            })
            .collect();
        let write = BatchWrite {
            keys,
            entries,
            balances,
        };
        let changed: HashSet<String> = write
            .balances
            .iter()
            .map(|b| b.account_id.to_owned())
            .collect();
        if !store::write_batch(db, &write, now).await? {
            return Err(BatchError::Conflict);
        }
        drop(write);
        self.remember(accounts, &changed);

        Ok(jobs
            .iter()
            .zip(firsts)
            .map(|(job, first)| match results.get(&job.key()) {
                Some(Ok(entry)) if first => Outcome::Applied(entry.clone()),
                Some(Err(rejection)) if first => Outcome::Rejected(rejection.clone()),
                _ => Outcome::Replay,
            })
            .collect())
    }

    /// The state of the batch's accounts, from memory or the database, and
    /// which came from memory. Accounts that a credit opens are created.
    async fn read_accounts(
        &self,
        fresh: &[&Job],
        now: Timestamp,
    ) -> Result<(HashMap<String, AccountState>, HashSet<String>), BatchError> {
        let mut accounts = HashMap::new();
        let mut missing = Vec::new();
        for id in unique(fresh.iter().map(|job| job.account_id.as_str())) {
            match self.cache.get(id) {
                Some(state) => {
                    accounts.insert(id.to_owned(), state.clone());
                }
                None => missing.push(id),
            }
        }
        let remembered: HashSet<String> = accounts.keys().cloned().collect();
        if !missing.is_empty() {
            accounts.extend(store::load_accounts(self.db.reader(), &missing).await?);
        }
        let default_currency = self.settings.default_currency.as_str();
        let new_accounts: Vec<(&str, &str)> = fresh
            .iter()
            .filter(|job| !accounts.contains_key(&job.account_id))
            .filter_map(|job| match &job.command.movement {
                Movement::Credit { currency, .. } => Some((
                    job.account_id.as_str(),
                    currency.as_deref().unwrap_or(default_currency),
                )),
                _ => None,
            })
            .collect();
        if !new_accounts.is_empty() {
            // Creating an empty account is harmless even if the batch fails.
            store::create_missing_accounts(self.db.writer(), &new_accounts, now).await?;
            let ids = unique(new_accounts.iter().map(|(id, _)| *id));
            accounts.extend(store::load_accounts(self.db.reader(), &ids).await?);
        }
        Ok((accounts, remembered))
    }

    /// Remembers the accounts of a batch that was written.
    fn remember(&mut self, accounts: HashMap<String, AccountState>, changed: &HashSet<String>) {
        if self.cache.len() + accounts.len() > CACHE_CAPACITY {
            self.cache.clear();
        }
        for (id, mut state) in accounts {
            if changed.contains(&id) {
                state.version += 1;
            }
            self.cache.insert(id, state);
        }
    }
}

/// Why a batch must start over.
enum BatchError {
    /// Another writer changed what the batch read, or a key was taken.
    Conflict,
    /// A command was refused on remembered state; decide again on fresh.
    RefusedOnCache,
    Failed(Error),
}

impl From<Error> for BatchError {
    fn from(error: Error) -> Self {
        match &error {
            Error::Failed(failure) if failure.database_error().is_some_and(is_retryable) => {
                BatchError::Conflict
            }
            _ => BatchError::Failed(error),
        }
    }
}

impl From<sqlx::Error> for BatchError {
    fn from(error: sqlx::Error) -> Self {
        Error::from(error).into()
    }
}

/// Deadlocks and serialization failures between replicas: try again.
fn is_retryable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(e) => matches!(e.code().as_deref(), Some("40001" | "40P01")),
        _ => false,
    }
}

fn rand_jitter(attempt: u32) -> Duration {
    // Spread retries of racing replicas apart; a few ms is plenty.
    let nanos = Uuid::now_v7().as_u128() as u64 % 1_000_000;
    Duration::from_nanos(nanos * u64::from(attempt.min(5)))
}

/// The distinct items, in first-seen order.
fn unique<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    items.filter(|item| seen.insert(*item)).collect()
}
