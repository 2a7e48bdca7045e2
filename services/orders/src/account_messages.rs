//! WatchMessages: every message of the account in one stream, its
//! activations' from orders' own events and its rentals' from the rentals
//! service (RentalsInternalService.WatchAccountMessages), each in order.
//!
//! Each message comes with the cursor after it: a position in each source,
//! orders' sequence number and the rentals stream's own cursor, so a client
//! that resumes from the cursor of the last message it received misses and
//! repeats nothing of either. When the rentals stream fails, the whole
//! stream ends with [`Ended::RentalsFailed`], to be resumed.

use futures_util::StreamExt as _;
use numhub_holding::Holder as _;
use numhub_proto::rentals::v1 as rentals_pb;
use numhub_runtime::streams::EventStream;

use crate::Orders;
use crate::Watched;
use crate::error::Failure;
use crate::model::{self, EventBody, MessagesCursor};

/// A message of the account, of either source.
#[derive(Debug, Clone, PartialEq)]
pub enum AccountMessage {
    Activation(model::Message),
    /// As the rentals service sent it.
    Rental(rentals_pb::Message),
}

/// Why the stream of an account's messages ended.
#[derive(Debug, thiserror::Error)]
pub enum Ended {
    #[error(transparent)]
    Orders(#[from] Failure),
    /// The rentals message stream could not be opened or failed: transient
    /// for the client, who resumes with its cursor.
    #[error("the rentals message stream failed")]
    RentalsFailed,
}

/// A message with its place in that source.
enum Item {
    Activation(i64, model::Message),
    Rental(String, rentals_pb::Message),
}

impl Orders {
    /// The account's messages after `cursor`, then live ones, each with the
    /// cursor after it.
    pub async fn watch_account_messages(
        &self,
        account_id: &str,
        cursor: MessagesCursor,
    ) -> Result<EventStream<(MessagesCursor, AccountMessage), Ended>, Ended> {
        let activations = self
            .watch(account_id, Watched::Messages, cursor.orders)
            .filter_map(|item| {
                std::future::ready(match item {
                    Ok(event) => match event.body {
                        EventBody::Message(message) => {
                            Some(Ok(Item::Activation(event.seq, *message)))
                        }
                        EventBody::Changed(..) => None,
                    },
                    Err(error) => Some(Err(Ended::Orders(error))),
                })
            });
        let items: EventStream<Item, Ended> = match self.rentals.clone() {
            None => Box::pin(activations),
            Some(mut rentals) => {
                let request = rentals_pb::WatchAccountMessagesRequest {
                    account_id: account_id.to_owned(),
                    after: cursor.rentals.clone(),
                };
                // A stream: the call timeout bounds its opening only.
                let rental_messages = rentals
                    .watch_account_messages(numhub_runtime::channel::open_ended(request))
                    .await
                    .map_err(rentals_failed)?
                    .into_inner()
                    .map(|item| match item {
                        Ok(event) => Ok(Item::Rental(
                            event.cursor,
                            event.message.unwrap_or_default(),
                        )),
                        Err(status) => Err(rentals_failed(status)),
                    });
                Box::pin(futures_util::stream::select(activations, rental_messages))
            }
        };
        Ok(Box::pin(items.scan(cursor, |cursor, item| {
            let message = item.map(|item| {
                let message = match item {
                    Item::Activation(seq, message) => {
                        cursor.orders = seq;
                        AccountMessage::Activation(message)
                    }
                    Item::Rental(position, message) => {
                        cursor.rentals = position;
                        AccountMessage::Rental(message)
                    }
                };
                (cursor.clone(), message)
            });
            std::future::ready(Some(message))
        })))
    }
}

fn rentals_failed(status: tonic::Status) -> Ended {
    tracing::warn!(code = ?status.code(), "the rentals message stream failed");
    Ended::RentalsFailed
}
