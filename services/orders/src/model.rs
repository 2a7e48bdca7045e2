//! Orders' domain types.

use numhub_holding::HeldId;
use numhub_holding::purchase::{Bought, Charge};
use numhub_proto::catalog::v1::{LeaseKind, LeaseNumberRequest};
use numhub_runtime::clock::Timestamp;

/// The points between saga steps where a test can make a purchase fail as
/// if the process had died there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The activation is stored as CREATING; nothing leased yet.
    AfterInsert = 1,
    /// The number is leased at the catalog; nothing charged yet.
    AfterLease = 2,
    /// The price is charged; the activation is still CREATING.
    AfterDebit = 3,
}

numhub_runtime::stored_enum! {
    /// Where an activation is in its life; stored as its proto number.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum Status {
        Creating = 1 => "CREATING",
        Waiting = 2 => "WAITING",
        Received = 3 => "RECEIVED",
        Finished = 4 => "FINISHED",
        Cancelled = 5 => "CANCELLED",
        Expired = 6 => "EXPIRED",
        Skipped = 7 => "SKIPPED",
        Failed = 8 => "FAILED",
    }
}

impl Status {
    /// Whether the activation has ended for good.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Creating | Self::Waiting | Self::Received)
    }
}

numhub_runtime::stored_enum! {
    /// What an activation still owes the outside world after its status
    /// changed; stored as a number. Settling is idempotent, so a crash
    /// half-way is finished by the settlement worker.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Settle {
        Nothing = 0,
        Release = 1,
        RefundAndRelease = 2,
        RefundReleaseAndBan = 3,
    }
}

impl Settle {
    pub fn refunds(self) -> bool {
        matches!(self, Self::RefundAndRelease | Self::RefundReleaseAndBan)
    }
}

/// An activation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activation {
    pub id: String,
    /// Its numeric id (see [`numhub_holding::HeldId`]); 0 until inserted.
    pub numeric_id: i64,
    pub account_id: String,
    pub request_id: String,
    pub fingerprint: String,
    pub service_code: String,
    pub country_code: String,
    pub operator: String,
    pub max_price: Option<i64>,
    /// The currency `max_price` was named in; empty for the catalog's.
    pub max_price_currency: String,
    pub reused_activation_id: Option<String>,
    pub status: Status,
    pub phone_number: String,
    pub lease_id: Option<String>,
    pub price: i64,
    pub currency: String,
    pub debit_id: Option<String>,
    pub refunded: i64,
    pub code: String,
    pub sms_count: i64,
    pub failure_reason: String,
    pub failure_message: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub settle: Settle,
}

numhub_holding::held_row!(Activation, "activation", operator);

impl Bought for Activation {
    fn lease_terms(&self, request: &mut LeaseNumberRequest) {
        request.kind = LeaseKind::Activation as i32;
        request.country_code.clone_from(&self.country_code);
        request.service_code.clone_from(&self.service_code);
        request.operator.clone_from(&self.operator);
        // A reuse asks for the number it had.
        request.phone_number.clone_from(&self.phone_number);
    }

    fn bought(&mut self, charge: Charge) {
        self.status = Status::Waiting;
        self.debit_id = Some(charge.debit_id);
    }
}

/// An SMS stored for an activation: `holder_id` is its activation_id.
pub use numhub_holding::Message;

/// One entry of an account's history, as streams read it.
pub type Event = numhub_holding::Event<Activation>;

/// A status change (with the activation as it is now) or a message.
pub type EventBody = numhub_holding::EventBody<Activation>;

/// What a purchase asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchase {
    pub account_id: String,
    pub request_id: String,
    pub service_code: String,
    pub country_code: String,
    pub operator: Option<String>,
    pub max_price: Option<i64>,
    /// The currency `max_price` was named in; empty for the catalog's.
    pub max_price_currency: String,
    /// For a reuse: the finished activation and its number.
    pub reuse: Option<(String, String)>,
}

impl Purchase {
    /// Every field but the request id, so a reused key with other fields is
    /// told apart from a retry.
    pub fn fingerprint(&self) -> String {
        let max_price = self.max_price.map(|p| p.to_string()).unwrap_or_default();
        let (reused, _) = self.reuse.clone().unwrap_or_default();
        numhub_runtime::idempotency::fingerprint(&[
            &self.service_code,
            &self.country_code,
            self.operator.as_deref().unwrap_or_default(),
            &max_price,
            &self.max_price_currency,
            &reused,
        ])
    }
}

/// An SMS handed over for an activation: `holder_id` is its activation_id.
pub type Delivery = numhub_runtime::parse::HandedOn;

/// ListActivations: a page of the account's activations, newest first,
/// before the activation `before`, of any of `statuses` (empty: any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationQuery {
    pub statuses: Vec<Status>,
    pub before: Option<String>,
    pub page_size: u32,
}

/// ReuseNumber: a new activation on a finished activation's number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reuse {
    pub previous_id: HeldId,
    /// A price limit, and the currency it was named in (empty for the
    /// catalog's).
    pub max_price: (Option<i64>, String),
    pub request_id: String,
}

/// Where a WatchMessages client is: after orders' event `orders`, and
/// after the rentals stream's cursor `rentals` (empty: its start).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessagesCursor {
    pub orders: i64,
    pub rentals: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_storage() {
        for status in Status::ALL {
            assert_eq!(Status::from_i64(status as i64), Some(status));
        }
        assert_eq!(Status::from_i64(0), None);
        assert!(!Status::Received.is_terminal());
        assert!(Status::Expired.is_terminal());
        assert_eq!(Settle::from_i64(3), Some(Settle::RefundReleaseAndBan));
        assert!(!Settle::Release.refunds());
    }

    #[test]
    fn fingerprints_tell_purchases_apart() {
        let base = Purchase {
            account_id: "a".into(),
            request_id: "r".into(),
            service_code: "wa".into(),
            country_code: "US".into(),
            operator: None,
            max_price: None,
            max_price_currency: String::new(),
            reuse: None,
        };
        let dearer = Purchase {
            max_price: Some(10),
            ..base.clone()
        };
        let other_retry = Purchase {
            request_id: "r2".into(),
            ..base.clone()
        };
        assert_ne!(base.fingerprint(), dearer.fingerprint());
        assert_eq!(base.fingerprint(), other_retry.fingerprint());
    }
}
