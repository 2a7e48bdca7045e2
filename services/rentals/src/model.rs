//! Rentals' domain types.

use numhub_holding::HeldId;
use numhub_holding::purchase::{Bought, Charge};
use numhub_proto::catalog::v1::{LeaseKind, LeaseNumberRequest};
use numhub_runtime::clock::Timestamp;
use numhub_runtime::rental::RentalDuration;

/// The points between steps where a test can make a purchase or a renewal
/// fail as if the process had died there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The rental is stored as CREATING; nothing leased yet.
    AfterInsert = 1,
    /// The number is leased at the catalog; nothing charged yet.
    AfterLease = 2,
    /// The price is charged; the rental is still CREATING.
    AfterDebit = 3,
    /// A renewal is charged; the lease is not extended yet.
    RenewalAfterCharge = 4,
    /// A renewal's lease is extended; the rental's expiry not moved yet.
    RenewalAfterExtend = 5,
}

/// How long a rental counts as expiring soon before its expiry.
pub const EXPIRING_SOON: std::time::Duration = std::time::Duration::from_secs(10 * 24 * 3600);

numhub_runtime::stored_enum! {
    /// Where a rental is in its life; stored as its proto number.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Status {
        Creating = 1 => "CREATING",
        Active = 2 => "ACTIVE",
        Expired = 3 => "EXPIRED",
        Cancelled = 4 => "CANCELLED",
        Failed = 5 => "FAILED",
    }
}

impl Status {
    /// Whether the rental has ended for good.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Creating | Self::Active)
    }
}

/// Which rentals a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    All,
    Active,
    /// Active, expiring within [`EXPIRING_SOON`] (the boundary included).
    ExpiringSoon,
    Expired,
    Cancelled,
}

numhub_runtime::stored_enum! {
    /// What a rental still owes the outside world after its status changed;
    /// stored as a number. Settling is idempotent, so a crash half-way is
    /// finished by the settlement worker.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Settle {
        Nothing = 0,
        Release = 1,
        RefundAndRelease = 2,
    }
}

/// A rental as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rental {
    pub id: String,
    /// Its numeric id (see [`numhub_holding::HeldId`]); 0 until inserted.
    pub numeric_id: i64,
    pub account_id: String,
    pub request_id: String,
    pub fingerprint: String,
    pub country_code: String,
    /// The catalog's NumberType number.
    pub number_type: i64,
    pub service_code: String,
    pub duration: RentalDuration,
    pub renewal_duration: RentalDuration,
    pub auto_renew: bool,
    /// The most the customer would pay for the purchase; `None` for no
    /// limit. Kept for whoever drives the saga again.
    pub max_price: Option<i64>,
    /// The currency `max_price` was named in; empty for the catalog's.
    pub max_price_currency: String,
    pub status: Status,
    pub phone_number: String,
    pub lease_id: Option<String>,
    pub price: i64,
    pub currency: String,
    pub debit_id: Option<String>,
    pub balance_after: Option<i64>,
    pub total_charged: i64,
    pub refunded: i64,
    pub refund_balance_after: Option<i64>,
    pub sms_count: i64,
    pub renewals: i64,
    pub auto_renew_failure: String,
    pub auto_renew_failed_at: Option<Timestamp>,
    pub failure_reason: String,
    pub failure_message: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub settle: Settle,
}

impl Rental {
    /// The status as the clock sees it: an ACTIVE rental past its expiry is
    /// EXPIRED even before the expiry worker has written so.
    pub fn status_at(&self, now: Timestamp) -> Status {
        if self.status == Status::Active && self.expires_at <= now {
            Status::Expired
        } else {
            self.status
        }
    }

    /// Whether the rental holds its number at `now`.
    pub fn is_active_at(&self, now: Timestamp) -> bool {
        self.status_at(now) == Status::Active
    }

    /// When the rental stops owning the SMS its number receives: its
    /// expiry, or its end if it ended earlier.
    pub fn holds_until(&self) -> Timestamp {
        match self.ended_at {
            Some(ended) if ended < self.expires_at => ended,
            _ => self.expires_at,
        }
    }
}

numhub_holding::held_row!(Rental, "rental");

impl Bought for Rental {
    fn lease_terms(&self, request: &mut LeaseNumberRequest) {
        request.kind = LeaseKind::Rental as i32;
        request.country_code.clone_from(&self.country_code);
        request.service_code.clone_from(&self.service_code);
        request.number_type = self.number_type as i32;
        request.rental_duration = self.duration as i32;
    }

    fn bought(&mut self, charge: Charge) {
        self.status = Status::Active;
        self.debit_id = Some(charge.debit_id);
        self.balance_after = charge.balance_after;
        self.total_charged = self.price;
    }
}

/// What a purchase asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchase {
    pub account_id: String,
    pub request_id: String,
    pub country_code: String,
    pub number_type: i64,
    pub service_code: String,
    pub duration: RentalDuration,
    pub auto_renew: bool,
    /// The most the customer will pay; `None` for no limit.
    pub max_price: Option<i64>,
    /// The currency `max_price` was named in; empty for the catalog's.
    pub max_price_currency: String,
}

impl Purchase {
    /// Every field but the request id, so a reused key with other fields is
    /// told apart from a retry.
    pub fn fingerprint(&self) -> String {
        let number_type = self.number_type.to_string();
        let duration = (self.duration as i64).to_string();
        let mut fields = vec![
            self.country_code.as_str(),
            &number_type,
            &self.service_code,
            &duration,
            if self.auto_renew { "1" } else { "0" },
        ];
        // Only a set limit adds fields, so a purchase without one keeps the
        // fingerprint it had before limits existed (and its retries match).
        let max_price = self.max_price.map(|p| p.to_string());
        if let Some(max_price) = &max_price {
            fields.extend([max_price.as_str(), &self.max_price_currency]);
        }
        numhub_runtime::idempotency::fingerprint(&fields)
    }
}

/// A renewal's fingerprint: what was asked (the package, 0 for "the
/// renewal package", and any price limit), so a reused request id with
/// another is told apart from a retry. Without a limit it is what it was
/// before limits existed.
pub fn renewal_fingerprint(
    duration: Option<RentalDuration>,
    max_price: Option<&(i64, String)>,
) -> String {
    let duration = duration.map_or(0, |d| d as i64);
    match max_price {
        None => duration.to_string(),
        Some((units, currency)) => format!("{duration}:{units}:{currency}"),
    }
}

numhub_runtime::stored_enum! {
    /// Where a renewal is; stored as a number.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum RenewalState {
        /// Being charged and applied; at most one per rental.
        Charging = 1,
        /// Charged, and the expiry moved.
        Applied = 2,
        /// The wallet (or the catalog) refused; nothing was charged.
        Refused = 3,
        /// Charged, but the rental could not be extended: given back.
        Refunded = 4,
        /// Charged, the rental could not be extended, and the charge is being
        /// given back.
        Refunding = 5,
    }
}

/// One charge to extend a rental.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renewal {
    pub id: String,
    pub rental_id: String,
    pub account_id: String,
    /// "request:<request_id>" for a customer's renewal,
    /// "auto:<period>:<attempt>" for auto-renew.
    pub key: String,
    pub fingerprint: String,
    pub period: i64,
    pub duration: RentalDuration,
    pub price: i64,
    pub currency: String,
    pub from_expiry: Timestamp,
    pub to_expiry: Timestamp,
    pub state: RenewalState,
    pub debit_id: Option<String>,
    pub balance_after: Option<i64>,
    pub failure_reason: String,
    pub failure_message: String,
    pub created_at: Timestamp,
}

impl Renewal {
    /// The wallet's idempotency key of this renewal's charge: it names the
    /// rental and the renewal (for auto-renew, its period and attempt).
    pub fn charge_key(&self) -> String {
        format!("rental:{}:{}", self.rental_id, self.key)
    }
}

/// An SMS stored for a rental: `holder_id` is its rental_id.
pub use numhub_holding::Message;

/// An SMS handed over for a rental: `holder_id` is its rental_id.
pub type Delivery = numhub_runtime::parse::HandedOn;

/// ListRentals: a page of the account's rentals, newest first, before the
/// rental `before`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RentalQuery {
    pub filter: Filter,
    pub before: Option<String>,
    pub page_size: u32,
}

/// RenewRental: another period of a rental, of `duration` (`None`: the
/// rental's own) and for at most `max_price` (with the currency it was named
/// in, `None` for the catalog's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewalOrder {
    pub rental_id: HeldId,
    pub duration: Option<RentalDuration>,
    pub max_price: Option<(i64, Option<String>)>,
    pub request_id: String,
}

/// CancelRental.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancellation {
    pub rental_id: HeldId,
    pub request_id: String,
}

/// ListMessages: the messages of a rented number after the message
/// `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberMessages {
    pub phone_number: String,
    pub after: Option<String>,
    pub page_size: u32,
}

/// WatchAccountMessages: an account's messages after its event `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountMessages {
    pub account_id: String,
    pub after: i64,
}

/// One entry of an account's history, as streams read it.
pub type Event = numhub_holding::Event<Rental>;

/// A change (with the rental as it is now) or a message.
pub type EventBody = numhub_holding::EventBody<Rental>;

#[cfg(test)]
mod tests {
    use super::*;

    fn rental(status: Status, expires: i64) -> Rental {
        Rental {
            id: "r".into(),
            numeric_id: 1,
            account_id: "a".into(),
            request_id: "q".into(),
            fingerprint: String::new(),
            country_code: "US".into(),
            number_type: 1,
            service_code: String::new(),
            duration: RentalDuration::OneMonth,
            renewal_duration: RentalDuration::OneMonth,
            auto_renew: true,
            max_price: None,
            max_price_currency: String::new(),
            status,
            phone_number: String::new(),
            lease_id: None,
            price: 0,
            currency: String::new(),
            debit_id: None,
            balance_after: None,
            total_charged: 0,
            refunded: 0,
            refund_balance_after: None,
            sms_count: 0,
            renewals: 0,
            auto_renew_failure: String::new(),
            auto_renew_failed_at: None,
            failure_reason: String::new(),
            failure_message: String::new(),
            created_at: Timestamp::from_unix_micros(0),
            expires_at: Timestamp::from_unix_micros(expires),
            ended_at: None,
            settle: Settle::Nothing,
        }
    }

    #[test]
    fn an_active_rental_past_its_expiry_reads_as_expired() {
        let r = rental(Status::Active, 100);
        assert_eq!(r.status_at(Timestamp::from_unix_micros(99)), Status::Active);
        assert_eq!(
            r.status_at(Timestamp::from_unix_micros(100)),
            Status::Expired
        );
        let cancelled = Rental {
            ended_at: Some(Timestamp::from_unix_micros(50)),
            ..rental(Status::Cancelled, 100)
        };
        assert_eq!(cancelled.holds_until().unix_micros(), 50);
    }

    #[test]
    fn statuses_round_trip_and_fingerprints_tell_purchases_apart() {
        for s in Status::ALL {
            assert_eq!(Status::from_i64(s as i64), Some(s));
        }
        assert_eq!(Status::from_i64(0), None);
        for state in 1..=5 {
            assert_eq!(RenewalState::from_i64(state).map(|s| s as i64), Some(state));
        }
        assert_eq!(RenewalState::from_i64(6), None);
        let base = Purchase {
            account_id: "a".into(),
            request_id: "r".into(),
            country_code: "US".into(),
            number_type: 1,
            service_code: String::new(),
            duration: RentalDuration::OneMonth,
            auto_renew: true,
            max_price: None,
            max_price_currency: String::new(),
        };
        let other = Purchase {
            duration: RentalDuration::OneYear,
            ..base.clone()
        };
        let limited = Purchase {
            max_price: Some(100),
            ..base.clone()
        };
        let limited_in_usd = Purchase {
            max_price_currency: "USD".into(),
            ..limited.clone()
        };
        assert_ne!(base.fingerprint(), limited.fingerprint());
        assert_ne!(limited.fingerprint(), limited_in_usd.fingerprint());
        // Unchanged for a purchase without a limit.
        assert_eq!(
            base.fingerprint(),
            numhub_runtime::idempotency::fingerprint(&["US", "1", "", "6", "1"])
        );
        let retry = Purchase {
            request_id: "r2".into(),
            ..base.clone()
        };
        assert_ne!(base.fingerprint(), other.fingerprint());
        assert_eq!(base.fingerprint(), retry.fingerprint());
    }
}
