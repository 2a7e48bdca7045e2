//! Inbound's protobuf conversions, in one place: requests into their domain
//! form (every field at fault at once, or checked values only), and stored
//! messages into responses.

use numhub_proto::inbound::v1 as pb;
use numhub_runtime::error::Violation;
use numhub_runtime::parse;
use numhub_runtime::validate::Validator;

use crate::arrival::{Arrival, Field, Fields};
use crate::store::{Message, State};

/// ListUnrouted's default and largest page size.
pub const PAGE_SIZES: (u32, u32) = (50, 100);

/// A field of an arrival as DeliverRequest names it.
fn field_name(field: Field) -> &'static str {
    match field {
        Field::Upstream => "upstream",
        Field::UpstreamId => "upstream_message_id",
        Field::To => "to",
        Field::Sender => "sender",
        Field::Body => "body",
    }
}

impl TryFrom<pb::DeliverRequest> for Arrival {
    type Error = Vec<Violation>;

    fn try_from(r: pb::DeliverRequest) -> Result<Self, Self::Error> {
        let fields = Fields {
            upstream: &r.upstream,
            upstream_id: &r.upstream_message_id,
            to: &r.to,
            sender: &r.sender,
            body: &r.body,
        };
        let received_at = parse::time(r.receive_time.as_ref());
        match (Arrival::check(fields), received_at) {
            (Ok(arrival), Ok(received_at)) => Ok(arrival(received_at)),
            (arrival, received_at) => {
                let mut v = Validator::new();
                for (field, description) in arrival.err().unwrap_or_default() {
                    v.violation(field_name(field), description);
                }
                v.check("receive_time", received_at);
                v.finish_with(|| None)
            }
        }
    }
}

/// RouteAgain's message.
pub fn message_id(r: &pb::RouteAgainRequest) -> Result<String, Vec<Violation>> {
    parse::field("id", parse::id(&r.id))
}

pub fn message_to_proto(m: Message) -> pb::InboundMessage {
    pb::InboundMessage {
        id: m.id,
        upstream: m.upstream,
        upstream_message_id: m.upstream_id,
        to: m.to,
        sender: m.sender,
        body: m.body,
        receive_time: Some(m.received_at.to_proto()),
        store_time: Some(m.stored_at.to_proto()),
        state: match m.state {
            State::Pending => pb::RouteState::Pending,
            State::Routed => pb::RouteState::Routed,
            State::Unrouted => pb::RouteState::Unrouted,
        } as i32,
        holder_id: m.holder_id,
        unrouted_reason: m.unrouted_reason,
        attempts: i32::try_from(m.attempts).unwrap_or(i32::MAX),
    }
}

#[cfg(test)]
mod tests {
    use numhub_runtime::clock::Timestamp;

    use super::*;

    fn delivery() -> pb::DeliverRequest {
        pb::DeliverRequest {
            upstream: "simbank-1".into(),
            upstream_message_id: "m-1".into(),
            to: "14035551234".into(),
            sender: "Bank".into(),
            body: "code 1234".into(),
            receive_time: Some(Timestamp::from_unix_micros(1_000_000).to_proto()),
        }
    }

    #[test]
    fn a_delivery_names_every_bad_field_at_once() {
        let bad = pb::DeliverRequest {
            to: "not a number".into(),
            body: " ".into(),
            receive_time: None,
            ..delivery()
        };
        assert_eq!(
            Violation::fields(&Arrival::try_from(bad).unwrap_err()),
            ["to", "body", "receive_time"]
        );
        let late = pb::DeliverRequest {
            receive_time: None,
            ..delivery()
        };
        assert_eq!(
            Violation::fields(&Arrival::try_from(late).unwrap_err()),
            ["receive_time"]
        );
        assert!(Arrival::try_from(delivery()).is_ok());
    }
}
