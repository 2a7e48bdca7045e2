//! Live streams of an account's events.
//!
//! The database is the truth: a stream reads the events after its cursor,
//! sends them, and waits. A wake-up only says "look again": after a commit
//! the writing process wakes its own streams at once, and on PostgreSQL a
//! NOTIFY (sent in the same transaction) wakes every other process's, through
//! one LISTEN connection per process. A stream also looks again on its own
//! now and then, in case a wake-up was lost. A slow reader is never sent
//! more than it takes: it reads the next batch only when it has taken the
//! last, so it catches up from the database instead of growing a buffer.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::Stream;
use sqlx::postgres::PgListener;
use tokio::sync::watch;

use crate::error::Error;
use crate::model::Event;
use crate::store::{self, EventFilter};
use crate::{NOTIFY_CHANNEL, Orders};

/// Events read per query; also the most a stream holds in memory.
const BATCH: i64 = 64;
/// The gauge of streams open in this process, by kind.
pub const STREAMS_METRIC: &str = "numhub_orders_open_streams";

/// Wake-ups per account (for WatchMessages) and per activation (for
/// WatchActivation), so a message wakes only the streams it concerns; and
/// the process's shutdown, which ends every stream.
#[derive(Debug)]
pub struct Hub {
    accounts: Mutex<HashMap<String, watch::Sender<()>>>,
    activations: Mutex<HashMap<String, watch::Sender<()>>>,
    closing: watch::Sender<bool>,
}

impl Default for Hub {
    fn default() -> Self {
        Self {
            accounts: Mutex::default(),
            activations: Mutex::default(),
            closing: watch::Sender::new(false),
        }
    }
}

impl Hub {
    /// Ends every stream, now and from now on, with UNAVAILABLE: the
    /// process is shutting down, and clients resume elsewhere with their
    /// cursor instead of holding the shutdown until its grace runs out.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    fn subscribe(
        map: &Mutex<HashMap<String, watch::Sender<()>>>,
        key: &str,
    ) -> watch::Receiver<()> {
        let mut map = map.lock().expect("hub lock");
        match map.get(key) {
            Some(sender) => sender.subscribe(),
            None => {
                let (sender, receiver) = watch::channel(());
                map.insert(key.to_owned(), sender);
                receiver
            }
        }
    }

    fn wake_one(map: &Mutex<HashMap<String, watch::Sender<()>>>, key: &str) {
        let mut map = map.lock().expect("hub lock");
        if let Some(sender) = map.get(key) {
            if sender.receiver_count() == 0 {
                map.remove(key);
            } else {
                sender.send_replace(());
            }
        }
    }

    /// Wakes the streams of the account and of the activation.
    pub fn wake(&self, account_id: &str, activation_id: &str) {
        Self::wake_one(&self.accounts, account_id);
        Self::wake_one(&self.activations, activation_id);
    }

    /// Wakes every stream: after notifications may have been lost.
    pub fn wake_all(&self) {
        for map in [&self.accounts, &self.activations] {
            let mut map = map.lock().expect("hub lock");
            map.retain(|_, sender| sender.receiver_count() > 0);
            for sender in map.values() {
                sender.send_replace(());
            }
        }
    }

    /// Forgets keys nobody watches any more.
    pub fn prune(&self) {
        for map in [&self.accounts, &self.activations] {
            map.lock()
                .expect("hub lock")
                .retain(|_, sender| sender.receiver_count() > 0);
        }
    }

    /// How many accounts and activations have watchers.
    pub fn watched(&self) -> (usize, usize) {
        let count =
            |map: &Mutex<HashMap<String, watch::Sender<()>>>| map.lock().expect("hub lock").len();
        (count(&self.accounts), count(&self.activations))
    }
}

/// What a stream follows.
#[derive(Debug, Clone)]
pub enum Watched {
    /// One activation: its status changes and messages; ends when terminal.
    Activation(String),
    /// Every message of the account; never ends.
    Messages,
}

/// A stream of events, boxed for tonic.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<Event, Error>> + Send>>;

struct Watcher {
    _open: OpenStream,
    orders: Orders,
    account_id: String,
    watched: Watched,
    cursor: i64,
    buffer: VecDeque<Event>,
    wake: watch::Receiver<()>,
    closing: watch::Receiver<bool>,
    finished: bool,
}

impl Orders {
    /// The events of `watched` after `cursor` (0: from the start), then
    /// live ones.
    pub fn watch(&self, account_id: &str, watched: Watched, cursor: i64) -> EventStream {
        let wake = match &watched {
            Watched::Activation(id) => Hub::subscribe(&self.hub.activations, id),
            Watched::Messages => Hub::subscribe(&self.hub.accounts, account_id),
        };
        let watcher = Watcher {
            _open: OpenStream::new(&watched),
            orders: self.clone(),
            account_id: account_id.to_owned(),
            watched,
            cursor,
            buffer: VecDeque::new(),
            wake,
            closing: self.hub.closing.subscribe(),
            finished: false,
        };
        Box::pin(futures_util::stream::unfold(
            watcher,
            |mut watcher| async move {
                let item = watcher.next().await?;
                Some((item, watcher))
            },
        ))
    }

    /// The process's wake-ups, for tests and metrics.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }
}

/// Counts a stream in the gauge for as long as it lives.
struct OpenStream(&'static str);

impl OpenStream {
    fn new(watched: &Watched) -> Self {
        let kind = match watched {
            Watched::Activation(_) => "activation",
            Watched::Messages => "messages",
        };
        metrics::gauge!(STREAMS_METRIC, "kind" => kind).increment(1.0);
        Self(kind)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        metrics::gauge!(STREAMS_METRIC, "kind" => self.0).decrement(1.0);
    }
}

impl Watcher {
    async fn next(&mut self) -> Option<Result<Event, Error>> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                return Some(Ok(event));
            }
            if self.finished {
                return None;
            }
            if *self.closing.borrow() {
                self.finished = true;
                return Some(Err(Error::ShuttingDown));
            }
            // Marked seen before reading: a commit after this point wakes
            // the wait below, so no event can slip between read and wait.
            self.wake.borrow_and_update();
            match self.read().await {
                Ok(true) => {}
                Ok(false) => self.wait().await,
                Err(error) => {
                    self.finished = true;
                    return Some(Err(error));
                }
            }
        }
    }

    /// Reads the next batch into the buffer; false when there was nothing.
    async fn read(&mut self) -> Result<bool, Error> {
        let db = self.orders.db.reader();
        let filter = match &self.watched {
            Watched::Activation(id) => {
                // The status is read before the events: every event of a
                // terminal activation committed with or before its end, so
                // the read below sees them all.
                let terminal = store::activation(db, id)
                    .await?
                    .is_none_or(|a| a.status.is_terminal());
                let events = store::events_after(
                    db,
                    &self.account_id,
                    EventFilter::Activation(id),
                    self.cursor,
                    BATCH,
                )
                .await?;
                self.finished = terminal && (events.len() as i64) < BATCH;
                return Ok(self.take(events));
            }
            Watched::Messages => EventFilter::Messages,
        };
        let events = store::events_after(db, &self.account_id, filter, self.cursor, BATCH).await?;
        Ok(self.take(events))
    }

    fn take(&mut self, events: Vec<Event>) -> bool {
        let Some(last) = events.last() else {
            return false;
        };
        self.cursor = last.seq;
        self.buffer.extend(events);
        true
    }

    async fn wait(&mut self) {
        if self.finished {
            return;
        }
        let base = self
            .orders
            .settings
            .stream_recheck
            .max(Duration::from_millis(10));
        // Spread so that idle streams do not all look at once.
        let recheck = base.mul_f64(rand::random_range(0.5..1.5));
        tokio::select! {
            changed = self.wake.changed() => {
                if changed.is_err() {
                    tokio::time::sleep(recheck).await;
                }
            }
            _ = self.closing.changed() => {}
            () = tokio::time::sleep(recheck) => {}
        }
    }
}

/// Listens for other processes' NOTIFY on PostgreSQL and wakes this
/// process's streams; reconnects after a failure, then wakes every stream,
/// as notifications may have been lost meanwhile.
pub(crate) async fn listen(hub: Arc<Hub>, url: String) {
    loop {
        match PgListener::connect(&url).await {
            Ok(mut listener) => match listener.listen(NOTIFY_CHANNEL).await {
                Ok(()) => {
                    hub.wake_all();
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(notification)) => {
                                if let Some((account, activation)) =
                                    notification.payload().split_once('/')
                                {
                                    hub.wake(account, activation);
                                }
                            }
                            Ok(None) => {
                                tracing::warn!("lost the notification connection; reconnecting");
                                hub.wake_all();
                            }
                            Err(error) => {
                                tracing::warn!(%error, "notification listener failed");
                                break;
                            }
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, "cannot LISTEN for notifications"),
            },
            Err(error) => tracing::warn!(%error, "cannot connect the notification listener"),
        }
        hub.wake_all();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
