//! Live streams of an account's rental events, over the runtime's
//! followers ([`numhub_runtime::streams`]): the `events` table is the
//! truth, the hub only says "look again".

use numhub_runtime::streams::{self, Batch, Feed, Follow};
use numhub_runtime::workers::CancellationToken;

use crate::error::Error;
use crate::model::Event;
use numhub_runtime::event_log::Read;

use crate::store;
use crate::{NOTIFY_CHANNEL, Rentals};

/// The gauge of streams open in this process, by kind.
pub const STREAMS_METRIC: &str = "numhub_rentals_open_streams";

/// What a stream follows.
#[derive(Debug, Clone)]
pub enum Watched {
    /// One rental: its changes and messages; ends when it has ended.
    Rental(String),
    /// Every message of the account's rentals; never ends.
    Messages,
}

/// A stream of events, boxed for tonic.
pub type EventStream = streams::EventStream<Event, Error>;

/// Reads a stream's events from the database.
struct Events {
    rentals: Rentals,
    account_id: String,
    watched: Watched,
}

impl Feed for Events {
    type Event = Event;
    type Error = Error;

    async fn read(&mut self, cursor: i64, limit: i64) -> Result<Batch<Event>, Error> {
        let db = self.rentals.db.reader();
        let (filter, ended) = match &self.watched {
            Watched::Rental(id) => {
                // The status is read before the events: every event up to a
                // rental's end committed with or before it, so the read
                // below sees them all.
                let ended = store::rental(db, id)
                    .await?
                    .is_none_or(|r| r.status.is_terminal());
                (Read::Subject(id), ended)
            }
            Watched::Messages => (Read::Messages, false),
        };
        let events = store::events_after(db, &self.account_id, filter, cursor, limit).await?;
        Ok(Batch {
            cursor: events.last().map_or(cursor, |e| e.seq),
            finished: ended && (events.len() as i64) < limit,
            events,
        })
    }

    fn shutting_down(&self) -> Error {
        Error::ShuttingDown
    }
}

impl Rentals {
    /// The events of `watched` after `cursor` (0: from the start), then
    /// live ones.
    pub fn watch(&self, account_id: &str, watched: Watched, cursor: i64) -> EventStream {
        let (topic, kind) = match &watched {
            Watched::Rental(id) => (id.clone(), "rental"),
            Watched::Messages => (account_id.to_owned(), "messages"),
        };
        let feed = Events {
            rentals: self.clone(),
            account_id: account_id.to_owned(),
            watched,
        };
        streams::follow(
            &self.hub,
            feed,
            Follow {
                topic: &topic,
                cursor,
                recheck: self.settings.stream_recheck,
                gauge: (STREAMS_METRIC, kind),
            },
        )
    }

    /// The process's wake-ups, for tests and metrics.
    pub fn hub(&self) -> &streams::Hub {
        &self.hub
    }
}

/// Listens for other rentals processes' notifications (PostgreSQL).
pub(crate) async fn listen(
    hub: std::sync::Arc<streams::Hub>,
    url: String,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    streams::listen(hub, url, NOTIFY_CHANNEL, stop).await
}
