//! Live streams of an account's event log ([`crate::event_log`]), over the
//! followers of [`crate::streams`]: the one stream piece of every service
//! that keeps such a log (orders' activations, rentals' rentals). The
//! `events` table is the truth; the hub only says "look again".
//!
//! A stream follows either one subject (an activation, a rental: its
//! changes and its messages, ending once the subject has ended and every
//! event it had is read), or every message of the account (never ending).

use std::sync::Arc;
use std::time::Duration;

use crate::error::Failure;
use crate::event_log::Read;
use crate::streams::{self, Batch, EventStream, Feed, Follow, Hub};
use crate::workers::Workers;

/// What a service's stream reads: its events, and whether a subject ended.
pub trait Log: Send + Sync + 'static {
    type Event: Send + 'static;
    type Error: From<Failure> + Send + 'static;

    /// Whether `subject` has ended for good, or does not exist: nothing
    /// more will happen to it.
    fn has_ended(&self, subject: &str) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// Up to `limit` of the account's events after `cursor` that `which`
    /// wants, in order.
    fn events_after(
        &self,
        account_id: &str,
        which: Read<'_>,
        cursor: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Self::Event>, Self::Error>> + Send;

    /// An event's sequence number: the cursor after it.
    fn seq(event: &Self::Event) -> i64;

    /// What a stream ends with when the process stops: UNAVAILABLE, to be
    /// resumed from the cursor of its last event.
    fn shutting_down() -> Self::Error {
        Failure::shutting_down().into()
    }
}

/// What a stream follows.
#[derive(Debug, Clone)]
pub enum Followed {
    /// One subject of `kind` (the label of the open-streams gauge) by id.
    Subject { kind: &'static str, id: String },
    /// Every message of the account.
    Messages,
}

/// How a service's streams are followed.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How often a stream looks again without a wake-up.
    pub recheck: Duration,
    /// The gauge of the streams open in this process, by kind.
    pub gauge: &'static str,
}

/// Reads a stream's events from the service's log.
struct Events<L> {
    log: L,
    account_id: String,
    followed: Followed,
}

impl<L: Log> Feed for Events<L> {
    type Event = L::Event;
    type Error = L::Error;

    async fn read(&mut self, cursor: i64, limit: i64) -> Result<Batch<L::Event>, L::Error> {
        let (which, ended) = match &self.followed {
            Followed::Subject { id, .. } => {
                // Whether it ended is read before the events: every event of
                // an ended subject committed with or before its end, so the
                // read below sees them all.
                let ended = self.log.has_ended(id).await?;
                (Read::Subject(id), ended)
            }
            Followed::Messages => (Read::Messages, false),
        };
        let events = self
            .log
            .events_after(&self.account_id, which, cursor, limit)
            .await?;
        Ok(Batch {
            cursor: events.last().map_or(cursor, L::seq),
            finished: ended && (events.len() as i64) < limit,
            events,
        })
    }

    fn shutting_down(&self) -> L::Error {
        L::shutting_down()
    }
}

/// The events `followed` of the account after `cursor` (0: from the
/// start), then live ones. A subject's stream wakes on the subject's topic,
/// the account's messages on the account's.
pub fn follow<L: Log>(
    hub: &Hub,
    log: L,
    account_id: &str,
    followed: Followed,
    cursor: i64,
    settings: Settings,
) -> EventStream<L::Event, L::Error> {
    let (topic, kind) = match &followed {
        Followed::Subject { kind, id } => (id.clone(), *kind),
        Followed::Messages => (account_id.to_owned(), "messages"),
    };
    let feed = Events {
        log,
        account_id: account_id.to_owned(),
        followed,
    };
    streams::follow(
        hub,
        feed,
        Follow {
            topic: &topic,
            cursor,
            recheck: settings.recheck,
            gauge: (settings.gauge, kind),
        },
    )
}

/// On PostgreSQL (`database_url`), starts the worker `name` that listens
/// for other processes' notifications on `channel` and wakes this process's
/// streams; SQLite has a single process, whose own commits wake them.
pub fn listen_for_others(
    workers: &Workers,
    name: &'static str,
    hub: &Arc<Hub>,
    database_url: Option<String>,
    channel: &'static str,
) {
    if let Some(url) = database_url.filter(|u| u.starts_with("postgres")) {
        let hub = hub.clone();
        workers.spawn(name, move |stop| {
            streams::listen(hub.clone(), url.clone(), channel, stop)
        });
    }
}
