//! An SMS as it arrives, parsed by one step whichever way it came in
//! (Deliver or the carriers' webhook), with the rules of
//! [`numhub_runtime::sms`]: the ones the holder's service checks it by, so
//! inbound never stores a message it could not deliver.

use numhub_runtime::clock::Timestamp;
use numhub_runtime::sms;

use crate::store::{Message, State};

/// An SMS ready to store: every field checked and normalised. Its fields
/// are private, so [`Arrival::parse`] is the only way to make one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    upstream: String,
    upstream_id: String,
    /// E.164.
    to: String,
    sender: String,
    body: String,
    received_at: Timestamp,
}

/// An SMS's fields as a gateway gave them, unchecked.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fields<'a> {
    pub upstream: &'a str,
    pub upstream_id: &'a str,
    pub to: &'a str,
    pub sender: &'a str,
    pub body: &'a str,
}

/// A field of an arrival; each way in names it its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Upstream,
    UpstreamId,
    To,
    Sender,
    Body,
}

/// What is wrong with an arrival: each field at fault, in the order above.
pub type Violations = Vec<(Field, String)>;

impl Arrival {
    /// Checks every field; all the violations when any fails.
    pub fn parse(fields: Fields<'_>, received_at: Timestamp) -> Result<Arrival, Violations> {
        Self::check(fields).map(|at| at(received_at))
    }

    /// Checks every field: all the violations when any fails, else the
    /// arrival at the time it is given (for a request whose time is checked
    /// apart, so its faults are named with the fields').
    pub fn check(
        fields: Fields<'_>,
    ) -> Result<impl FnOnce(Timestamp) -> Arrival + use<>, Violations> {
        let mut violations = Violations::new();
        let mut check = |field, result: Result<String, String>| {
            result
                .map_err(|description| violations.push((field, description)))
                .unwrap_or_default()
        };
        let upstream = check(Field::Upstream, sms::upstream(fields.upstream));
        let upstream_id = check(Field::UpstreamId, sms::message_id(fields.upstream_id));
        let to = check(Field::To, sms::number(fields.to));
        let sender = check(Field::Sender, sms::sender(fields.sender));
        let body = check(Field::Body, sms::body(fields.body));
        if !violations.is_empty() {
            return Err(violations);
        }
        Ok(move |received_at| Arrival {
            upstream,
            upstream_id,
            to,
            sender,
            body,
            received_at,
        })
    }
}

impl Arrival {
    /// The message to store for this arrival, not yet routed.
    pub(crate) fn into_message(self, id: String, stored_at: Timestamp) -> Message {
        Message {
            id,
            upstream: self.upstream,
            upstream_id: self.upstream_id,
            to: self.to,
            sender: self.sender,
            body: self.body,
            received_at: self.received_at,
            stored_at,
            state: State::Pending,
            holder_id: String::new(),
            unrouted_reason: String::new(),
            attempts: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields<'a>(body: &'a str, sender: &'a str) -> Fields<'a> {
        Fields {
            upstream: "simbank-1",
            upstream_id: "m-1",
            to: "14035551234",
            sender,
            body,
        }
    }

    #[test]
    fn parses_by_the_rules_the_holders_check() {
        let at = Timestamp::from_unix_micros(1);
        let arrival = Arrival::parse(fields("code 1234", "+14155550100"), at).unwrap();
        assert_eq!(arrival.to, "+14035551234");
        let long = "x".repeat(sms::MAX_BODY_LEN);
        assert!(Arrival::parse(fields(&long, ""), at).is_ok());
        let over = "x".repeat(sms::MAX_BODY_LEN + 1);
        let sender = "s".repeat(sms::MAX_SENDER_LEN + 1);
        let refused = Arrival::parse(fields(&over, &sender), at).unwrap_err();
        let at_fault: Vec<Field> = refused.iter().map(|(f, _)| *f).collect();
        assert_eq!(at_fault, [Field::Sender, Field::Body]);
        let none = Arrival::parse(Fields::default(), at).unwrap_err();
        let at_fault: Vec<Field> = none.iter().map(|(f, _)| *f).collect();
        assert_eq!(
            at_fault,
            [Field::Upstream, Field::UpstreamId, Field::To, Field::Body]
        );
    }
}
