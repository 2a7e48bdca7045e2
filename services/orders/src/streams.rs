//! Live streams of an account's events, over the runtime's followers
//! ([`numhub_runtime::streams`]): the `events` table is the truth, the hub
//! only says "look again".

use numhub_runtime::streams::{self, Batch, Feed, Follow};
use numhub_runtime::workers::CancellationToken;

use crate::error::Error;
use crate::model::Event;
use numhub_runtime::event_log::Read;

use crate::store;
use crate::{NOTIFY_CHANNEL, Orders};

/// The gauge of streams open in this process, by kind.
pub const STREAMS_METRIC: &str = "numhub_orders_open_streams";

/// What a stream follows.
#[derive(Debug, Clone)]
pub enum Watched {
    /// One activation: its status changes and messages; ends when terminal.
    Activation(String),
    /// Every message of the account; never ends.
    Messages,
}

/// A stream of events, boxed for tonic.
pub type EventStream = streams::EventStream<Event, Error>;

/// Reads a stream's events from the database.
struct Events {
    orders: Orders,
    account_id: String,
    watched: Watched,
}

impl Feed for Events {
    type Event = Event;
    type Error = Error;

    async fn read(&mut self, cursor: i64, limit: i64) -> Result<Batch<Event>, Error> {
        let db = self.orders.db.reader();
        let (filter, terminal) = match &self.watched {
            Watched::Activation(id) => {
                // The status is read before the events: every event of a
                // terminal activation committed with or before its end, so
                // the read below sees them all.
                let terminal = store::activation(db, id)
                    .await?
                    .is_none_or(|a| a.status.is_terminal());
                (Read::Subject(id), terminal)
            }
            Watched::Messages => (Read::Messages, false),
        };
        let events = store::events_after(db, &self.account_id, filter, cursor, limit).await?;
        Ok(Batch {
            cursor: events.last().map_or(cursor, |e| e.seq),
            finished: terminal && (events.len() as i64) < limit,
            events,
        })
    }

    fn shutting_down(&self) -> Error {
        Error::ShuttingDown
    }
}

impl Orders {
    /// The events of `watched` after `cursor` (0: from the start), then
    /// live ones.
    pub fn watch(&self, account_id: &str, watched: Watched, cursor: i64) -> EventStream {
        let (topic, kind) = match &watched {
            Watched::Activation(id) => (id.clone(), "activation"),
            Watched::Messages => (account_id.to_owned(), "messages"),
        };
        let feed = Events {
            orders: self.clone(),
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

/// Listens for other orders processes' notifications (PostgreSQL).
pub(crate) async fn listen(
    hub: std::sync::Arc<streams::Hub>,
    url: String,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    streams::listen(hub, url, NOTIFY_CHANNEL, stop).await
}
