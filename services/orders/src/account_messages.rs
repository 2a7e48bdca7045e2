//! WatchMessages: every message of the account in one stream, its
//! activations' from orders' own events and its rentals' from the rentals
//! service (RentalsInternalService.WatchAccountMessages), each in order.
//!
//! The cursor holds a position in each: orders' sequence number and the
//! rentals stream's own cursor, so a client that resumes from the cursor of
//! the last message it received misses and repeats nothing of either. When
//! the rentals stream fails, the whole stream ends with its error, to be
//! resumed.

use futures_util::StreamExt as _;
use numhub_proto::orders::v1 as pb;
use numhub_proto::rentals::v1 as rentals_pb;
use numhub_runtime::tokens::{self, PageTokens, TokenScope};
use tonic::Status;

use crate::model::EventBody;
use crate::streams::Watched;
use crate::{Orders, grpc};

type Stream<T> = numhub_runtime::streams::ResponseStream<T>;

/// Where a WatchMessages client is: after orders' event `orders`, and
/// after the rentals stream's cursor `rentals` (empty: its start).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    pub orders: i64,
    pub rentals: String,
}

impl Cursor {
    /// Reads a cursor this method issued in `scope`; empty for the start.
    pub fn parse(tokens: &PageTokens, scope: &TokenScope, value: &str) -> Result<Self, String> {
        let Some(text) = tokens.decode(scope, value)? else {
            return Ok(Self::default());
        };
        let (orders, rentals) = text.split_once('/').ok_or(tokens::INVALID)?;
        let orders = orders
            .parse::<i64>()
            .ok()
            .filter(|seq| *seq >= 0)
            .ok_or(tokens::INVALID)?;
        Ok(Self {
            orders,
            rentals: rentals.to_owned(),
        })
    }

    /// The cursor as the client sees it: signed, so the rentals position
    /// inside (rentals' own signed cursor) reaches rentals as rentals issued
    /// it.
    pub fn encode(&self, tokens: &PageTokens, scope: &TokenScope) -> String {
        tokens.encode(scope, &format!("{}/{}", self.orders, self.rentals))
    }
}

/// A message of either source with its place in that source.
enum Item {
    Activation(i64, pb::Message),
    Rental(String, pb::Message),
}

impl Orders {
    /// The account's messages after `cursor`, then live ones, each with its
    /// cursor signed for `scope`.
    pub async fn watch_account_messages(
        &self,
        account_id: &str,
        scope: TokenScope,
        cursor: Cursor,
    ) -> Result<Stream<pb::MessageEvent>, Status> {
        let activations = self
            .watch(account_id, Watched::Messages, cursor.orders)
            .filter_map(|item| {
                std::future::ready(match item {
                    Ok(event) => match event.body {
                        EventBody::Message(message) => Some(Ok(Item::Activation(
                            event.seq,
                            grpc::message_to_proto(&message),
                        ))),
                        EventBody::Status(..) => None,
                    },
                    Err(error) => Some(Err(Status::from(error))),
                })
            });
        let items: Stream<Item> = match self.deps.rentals.clone() {
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
                            rental_message(event.message.unwrap_or_default()),
                        )),
                        Err(status) => Err(rentals_failed(status)),
                    });
                Box::pin(futures_util::stream::select(activations, rental_messages))
            }
        };
        let tokens = self.tokens.clone();
        Ok(Box::pin(items.scan(cursor, move |cursor, item| {
            let event = item.map(|item| {
                let message = match item {
                    Item::Activation(seq, message) => {
                        cursor.orders = seq;
                        message
                    }
                    Item::Rental(position, message) => {
                        cursor.rentals = position;
                        message
                    }
                };
                pb::MessageEvent {
                    cursor: cursor.encode(&tokens, &scope),
                    message: Some(message),
                }
            });
            std::future::ready(Some(event))
        })))
    }
}

/// A rental's message as WatchMessages shows it.
fn rental_message(m: rentals_pb::Message) -> pb::Message {
    pb::Message {
        id: m.id,
        activation_id: String::new(),
        phone_number: m.phone_number,
        sender: m.sender,
        body: m.body,
        code: m.code,
        receive_time: m.receive_time,
        rental_id: m.rental_id,
    }
}

/// The rentals stream's failure, as this stream ends: transient for the
/// client, who resumes with its cursor.
fn rentals_failed(status: Status) -> Status {
    tracing::warn!(code = ?status.code(), "the rentals message stream failed");
    numhub_runtime::error::status(
        tonic::Code::Unavailable,
        numhub_runtime::error::reason::TEMPORARILY_UNAVAILABLE,
        "rental messages are unavailable; resume with the cursor of the last message",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_hold_both_positions() {
        let tokens = PageTokens::with_key([3; 32]);
        let scope = TokenScope::new("numhub.orders.v1.OrdersService/WatchMessages", "a");
        assert_eq!(Cursor::parse(&tokens, &scope, ""), Ok(Cursor::default()));
        let cursor = Cursor {
            orders: 42,
            rentals: "rentals-cursor".into(),
        };
        let encoded = cursor.encode(&tokens, &scope);
        assert_eq!(Cursor::parse(&tokens, &scope, &encoded), Ok(cursor));
        for inside in ["42", "-1/x", "x/y"] {
            let forged = tokens.encode(&scope, inside);
            assert!(Cursor::parse(&tokens, &scope, &forged).is_err(), "{inside}");
        }
        let other = TokenScope::new("numhub.orders.v1.OrdersService/WatchMessages", "b");
        assert!(Cursor::parse(&tokens, &other, &encoded).is_err());
        assert!(Cursor::parse(&tokens, &scope, "42").is_err());
    }
}
