//! Live streams over a service's table of events.
//!
//! The database is the truth: a stream reads the events after its cursor,
//! sends them, and waits. A wake-up only says "look again": after a commit
//! the writing process wakes its own streams at once, and on PostgreSQL a
//! NOTIFY (sent in the same transaction) wakes every other process's, through
//! one LISTEN connection per process ([`listen`]). A stream also looks again
//! on its own now and then, in case a wake-up was lost. A slow reader is
//! never sent more than it takes: it reads the next batch only when it has
//! taken the last, so it catches up from the database instead of growing a
//! buffer.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use futures_util::{Stream, StreamExt as _};
use sqlx::postgres::PgListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::tokens::{self, PageTokens, TokenScope};

/// Events read per query; also the most a stream holds in memory.
pub const BATCH: i64 = 64;

/// Wake-ups by topic (an account, an activation, a rental: ids never
/// collide), so an event wakes only the streams it concerns; and the
/// process's shutdown, which ends every stream.
#[derive(Debug)]
pub struct Hub {
    topics: Mutex<HashMap<String, watch::Sender<()>>>,
    closing: watch::Sender<bool>,
}

impl Default for Hub {
    fn default() -> Self {
        Self {
            topics: Mutex::default(),
            closing: watch::Sender::new(false),
        }
    }
}

impl Hub {
    /// Ends every stream, now and from now on, with the feed's shutdown
    /// error: the process is shutting down, and clients resume elsewhere
    /// with their cursor instead of holding the shutdown until its grace
    /// runs out.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    fn subscribe(&self, topic: &str) -> watch::Receiver<()> {
        let mut topics = self.topics.lock().expect("hub lock");
        match topics.get(topic) {
            Some(sender) => sender.subscribe(),
            None => {
                let (sender, receiver) = watch::channel(());
                topics.insert(topic.to_owned(), sender);
                receiver
            }
        }
    }

    /// Wakes the streams of each topic.
    pub fn wake(&self, topics: &[&str]) {
        let mut map = self.topics.lock().expect("hub lock");
        for topic in topics {
            if let Some(sender) = map.get(*topic) {
                if sender.receiver_count() == 0 {
                    map.remove(*topic);
                } else {
                    sender.send_replace(());
                }
            }
        }
    }

    /// Wakes every stream: after notifications may have been lost.
    pub fn wake_all(&self) {
        let mut map = self.topics.lock().expect("hub lock");
        map.retain(|_, sender| sender.receiver_count() > 0);
        for sender in map.values() {
            sender.send_replace(());
        }
    }

    /// Forgets topics nobody watches any more.
    pub fn prune(&self) {
        self.topics
            .lock()
            .expect("hub lock")
            .retain(|_, sender| sender.receiver_count() > 0);
    }

    /// How many topics have watchers.
    pub fn watched(&self) -> usize {
        self.topics.lock().expect("hub lock").len()
    }
}

/// What one read of a feed found.
#[derive(Debug)]
pub struct Batch<T> {
    /// Events after the cursor, in order.
    pub events: Vec<T>,
    /// The cursor after the last of them; unused when there are none.
    pub cursor: i64,
    /// Whether the stream ends after these: what it follows has ended and
    /// every event it had is read.
    pub finished: bool,
}

/// Where a stream reads its events.
pub trait Feed: Send + 'static {
    type Event: Send + 'static;
    type Error: Send + 'static;

    /// Up to `limit` events after `cursor`, in order.
    fn read(
        &mut self,
        cursor: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Batch<Self::Event>, Self::Error>> + Send;

    /// The error that ends a stream at shutdown (UNAVAILABLE: resume
    /// elsewhere with the cursor).
    fn shutting_down(&self) -> Self::Error;
}

/// A stream of events, boxed for tonic.
pub type EventStream<T, E> = Pin<Box<dyn Stream<Item = Result<T, E>> + Send>>;

/// A server stream as tonic sends it.
pub type ResponseStream<T> = EventStream<T, tonic::Status>;

/// An event's place as clients see it: its sequence number in a token
/// signed for the stream's scope (method, account, what it follows).
pub fn encode_cursor(tokens: &PageTokens, scope: &TokenScope, seq: i64) -> String {
    tokens.encode(scope, &seq.to_string())
}

/// A cursor a client sent back: 0, the start, when empty; an error for
/// anything this service did not issue for `scope`.
pub fn parse_cursor(tokens: &PageTokens, scope: &TokenScope, value: &str) -> Result<i64, String> {
    match tokens.decode(scope, value)? {
        None => Ok(0),
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|seq| *seq >= 0)
            .ok_or_else(|| tokens::INVALID.into()),
    }
}

/// The response stream of `events`: each event as `to_proto` makes it (or
/// left out when it gives `None`), an error as its status, which ends it.
pub fn respond<T, E, U>(
    events: EventStream<T, E>,
    to_proto: impl Fn(T) -> Option<U> + Send + 'static,
) -> ResponseStream<U>
where
    T: Send + 'static,
    E: Into<tonic::Status> + Send + 'static,
    U: Send + 'static,
{
    Box::pin(events.filter_map(move |item| {
        let item = match item {
            Ok(event) => to_proto(event).map(Ok),
            Err(error) => Some(Err(error.into())),
        };
        std::future::ready(item)
    }))
}

/// How a stream is followed.
#[derive(Debug, Clone, Copy)]
pub struct Follow<'a> {
    /// The topic whose wake-ups make it look again.
    pub topic: &'a str,
    /// Where to start: 0 for the beginning.
    pub cursor: i64,
    /// How often it looks again without a wake-up (spread ±50%).
    pub recheck: Duration,
    /// The gauge that counts open streams, and its `kind` label.
    pub gauge: (&'static str, &'static str),
}

struct Follower<F: Feed> {
    _open: OpenStream,
    feed: F,
    cursor: i64,
    recheck: Duration,
    buffer: VecDeque<F::Event>,
    wake: watch::Receiver<()>,
    closing: watch::Receiver<bool>,
    finished: bool,
}

/// The events of `feed` after the cursor, then live ones as they come.
pub fn follow<F: Feed>(hub: &Hub, feed: F, how: Follow<'_>) -> EventStream<F::Event, F::Error> {
    let follower = Follower {
        _open: OpenStream::new(how.gauge),
        feed,
        cursor: how.cursor,
        recheck: how.recheck.max(Duration::from_millis(10)),
        buffer: VecDeque::new(),
        wake: hub.subscribe(how.topic),
        closing: hub.closing.subscribe(),
        finished: false,
    };
    Box::pin(futures_util::stream::unfold(
        follower,
        |mut follower| async move {
            let item = follower.next().await?;
            Some((item, follower))
        },
    ))
}

/// Counts a stream in its gauge for as long as it lives.
struct OpenStream((&'static str, &'static str));

impl OpenStream {
    fn new(gauge: (&'static str, &'static str)) -> Self {
        metrics::gauge!(gauge.0, "kind" => gauge.1).increment(1.0);
        Self(gauge)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        metrics::gauge!(self.0.0, "kind" => self.0.1).decrement(1.0);
    }
}

impl<F: Feed> Follower<F> {
    async fn next(&mut self) -> Option<Result<F::Event, F::Error>> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                return Some(Ok(event));
            }
            if self.finished {
                return None;
            }
            if *self.closing.borrow() {
                self.finished = true;
                return Some(Err(self.feed.shutting_down()));
            }
            // Marked seen before reading: a commit after this point wakes
            // the wait below, so no event can slip between read and wait.
            self.wake.borrow_and_update();
            match self.feed.read(self.cursor, BATCH).await {
                Ok(batch) => {
                    self.finished = batch.finished;
                    if batch.events.is_empty() {
                        self.wait().await;
                    } else {
                        self.cursor = batch.cursor;
                        self.buffer.extend(batch.events);
                    }
                }
                Err(error) => {
                    self.finished = true;
                    return Some(Err(error));
                }
            }
        }
    }

    async fn wait(&mut self) {
        if self.finished {
            return;
        }
        // Spread so that idle streams do not all look at once.
        let recheck = self.recheck.mul_f64(rand::random_range(0.5..1.5));
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

/// Listens for other processes' NOTIFY on `channel` (PostgreSQL) and wakes
/// this process's streams of the topics in the payload ("a/b" wakes "a" and
/// "b"), until `stop`. A failure ends it, after waking every stream as
/// notifications may have been lost: it runs as a worker
/// ([`crate::workers::Workers`]), which starts it again after a pause.
pub async fn listen(
    hub: Arc<Hub>,
    url: String,
    channel: &'static str,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let listened = async {
        let mut listener = PgListener::connect(&url)
            .await
            .context("cannot connect the notification listener")?;
        listener
            .listen(channel)
            .await
            .context("cannot LISTEN for notifications")?;
        hub.wake_all();
        loop {
            let received = tokio::select! {
                () = stop.cancelled() => return Ok(()),
                received = listener.try_recv() => received.context("notification listener failed")?,
            };
            match received {
                Some(notification) => {
                    let topics: Vec<&str> = notification.payload().split('/').collect();
                    hub.wake(&topics);
                }
                None => {
                    tracing::warn!("lost the notification connection; reconnecting");
                    hub.wake_all();
                }
            }
        }
    };
    let result = listened.await;
    hub.wake_all();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        let tokens = PageTokens::with_key([1; 32]);
        let scope = TokenScope::new("numhub.orders.v1.OrdersService/WatchActivation", "a")
            .filter("id", "x");
        assert_eq!(parse_cursor(&tokens, &scope, ""), Ok(0));
        assert_eq!(
            parse_cursor(&tokens, &scope, &encode_cursor(&tokens, &scope, 42)),
            Ok(42)
        );
        assert!(parse_cursor(&tokens, &scope, &tokens.encode(&scope, "-1")).is_err());
        assert!(parse_cursor(&tokens, &scope, &tokens.encode(&scope, "x")).is_err());
        assert!(parse_cursor(&tokens, &scope, "42").is_err());
        let other = TokenScope::new("numhub.orders.v1.OrdersService/WatchActivation", "a")
            .filter("id", "y");
        assert!(parse_cursor(&tokens, &other, &encode_cursor(&tokens, &scope, 42)).is_err());
    }
}
