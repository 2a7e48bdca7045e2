//! An account's history as its streams read it: each row's changes and
//! the messages it received.

use futures_util::FutureExt as _;
use numhub_runtime::error::Failure;
use numhub_runtime::event_log::{self, Read};
use sqlx::AnyPool;

use crate::held::Held;
use crate::messages::Message;
use crate::store::Store;

/// One entry of an account's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event<H: Held> {
    /// Its place in the account's history: the cursor after it.
    pub seq: i64,
    /// The row it is about.
    pub holder_id: String,
    pub body: EventBody<H>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventBody<H: Held> {
    /// The row entered the status; the row as it is now.
    Changed(H::Status, Box<H>),
    Message(Box<Message>),
}

/// Up to `limit` of the account's events in `S` after `after` that `which`
/// wants, in order; a change carries its row as it is now.
pub async fn read<S: Store>(
    db: &AnyPool,
    account_id: &str,
    which: Read<'_>,
    after: i64,
    limit: i64,
) -> Result<Vec<Event<S::Held>>, Failure> {
    let messages = S::MESSAGES;
    let stored = S::LOG
        .read(
            db,
            ("messages", &messages.columns()),
            account_id,
            which,
            after,
            limit,
        )
        .await?;
    let load = |id: String| {
        async move {
            S::load(db, &id)
                .await?
                .ok_or_else(|| Failure::corrupt(format!("event of missing {} {id}", S::Held::NOUN)))
        }
        .boxed()
    };
    event_log::decode(stored, load, |event, row| {
        let body = match row {
            None => EventBody::Message(Box::new(messages.from_row(&event.row, "m_")?)),
            Some(row) => {
                let number = event.status.unwrap_or(0);
                let status = S::Held::status_from(number)
                    .ok_or_else(|| Failure::corrupt(format!("event status {number}")))?;
                EventBody::Changed(status, Box::new(row))
            }
        };
        Ok(Event {
            seq: event.seq,
            holder_id: event.subject,
            body,
        })
    })
    .await
}
