//! Live streams of an account's rental events: one rental's, or every
//! message's. The runtime follows them
//! ([`numhub_runtime::account_streams`]); rentals says what they read.

use numhub_runtime::account_streams::{self, Followed, Log, Settings};
use numhub_runtime::event_log::Read;
use numhub_runtime::streams;

use crate::error::Failure;
use crate::model::Event;
use crate::{Rentals, store};

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
pub type EventStream = streams::EventStream<Event, Failure>;

impl Log for Rentals {
    type Event = Event;
    type Error = Failure;

    async fn has_ended(&self, id: &str) -> Result<bool, Failure> {
        let rental = store::rental(self.db.reader(), id).await?;
        Ok(rental.is_none_or(|r| r.status.is_terminal()))
    }

    async fn events_after(
        &self,
        account_id: &str,
        which: Read<'_>,
        cursor: i64,
        limit: i64,
    ) -> Result<Vec<Event>, Failure> {
        store::events_after(self.db.reader(), account_id, which, cursor, limit).await
    }

    fn seq(event: &Event) -> i64 {
        event.seq
    }
}

impl Rentals {
    /// The events of `watched` after `cursor` (0: from the start), then
    /// live ones.
    pub fn watch(&self, account_id: &str, watched: Watched, cursor: i64) -> EventStream {
        let followed = match watched {
            Watched::Rental(id) => Followed::Subject { kind: "rental", id },
            Watched::Messages => Followed::Messages,
        };
        let settings = Settings {
            recheck: self.settings.stream_recheck,
            gauge: STREAMS_METRIC,
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

    /// The process's wake-ups, for tests and metrics.
    pub fn hub(&self) -> &streams::Hub {
        &self.hub
    }
}
