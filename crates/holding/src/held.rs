//! What every held row is: an activation, a rental.

use std::fmt;

use numhub_proto::common::v1::Money;
use numhub_runtime::clock::Timestamp;
use numhub_runtime::error::Refusal;
use numhub_runtime::validate;

/// How a request names a row: by its UUID, which numhub uses throughout,
/// or by its numeric id, an alias for clients whose ids are integers (the
/// HTTP gateway, the SMS-Activate protocol). Assigned once when the row is
/// inserted, unique in its table, never changed nor reused.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HeldId {
    /// A UUID, lower-case.
    Uuid(String),
    /// A numeric id: positive.
    Numeric(i64),
}

impl HeldId {
    /// The id of a row numhub stored: its UUID.
    pub fn of<H: Held>(row: &H) -> Self {
        Self::Uuid(row.id().to_owned())
    }

    /// A request's id field: a UUID in its hyphenated form, or a numeric
    /// id in decimal ("1482", without sign or leading zeros, so each id has
    /// one spelling, as a UUID does).
    pub fn parse(value: &str) -> Result<Self, String> {
        const EXPECTED: &str = "must be a UUID or a positive decimal number";
        if value.is_empty() {
            return Err("is required".into());
        }
        let digits = value.strip_prefix('-').unwrap_or(value);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            if digits != value || digits.bytes().all(|b| b == b'0') {
                return Err("must be positive".into());
            }
            if digits.starts_with('0') {
                return Err(format!("{EXPECTED} without leading zeros"));
            }
            return digits
                .parse()
                .map(Self::Numeric)
                .map_err(|_| format!("must be at most {}", i64::MAX));
        }
        validate::uuid(value)
            .map(|id| Self::Uuid(id.to_string()))
            .map_err(|_| EXPECTED.into())
    }
}

impl fmt::Display for HeldId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Uuid(id) => f.write_str(id),
            Self::Numeric(n) => write!(f, "{n}"),
        }
    }
}

/// Where a row's purchase is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Stored, not yet bought: the saga goes on.
    Creating,
    /// Refused for good: every retry gets the refusal.
    Failed,
    /// Bought (and maybe ended since).
    Bought,
}

/// A number the catalog leased to a row, at its price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub id: String,
    pub phone_number: String,
    /// The carrier, where the row keeps one.
    pub operator: String,
    pub price: i64,
    pub currency: String,
}

/// A row an account holds. Written by [`held_row!`](crate::held_row) from
/// the fields every such row has.
pub trait Held: Clone + Send + Sync + 'static {
    /// Its name in messages, idempotency keys (`activation:<id>`) and the
    /// open-streams gauge: "activation", "rental".
    const NOUN: &'static str;

    /// Where a row is in its life.
    type Status: Copy + std::fmt::Debug + PartialEq + Eq + Send + Sync + 'static;

    /// The status stored as `number`, if it is one.
    fn status_from(number: i64) -> Option<Self::Status>;

    fn id(&self) -> &str;

    fn account_id(&self) -> &str;

    /// The number it holds; empty before its lease.
    fn phone_number(&self) -> &str;

    /// Its status's stored number, which a change event carries.
    fn status_number(&self) -> i64;

    /// Whether it has ended for good: nothing more will happen to it.
    fn is_terminal(&self) -> bool;

    /// Whether it owes a refund or a release: a change that leaves it so
    /// claims the row for the request that made it, which settles first
    /// (the settlement worker waits for the claim to lapse).
    fn owes(&self) -> bool;

    fn stage(&self) -> Stage;

    /// The request's fields but its id, to tell a retry from a reused key.
    fn fingerprint(&self) -> &str;

    /// When the row ends if nothing ends it sooner; the lease's end.
    fn expires_at(&self) -> Timestamp;

    /// The price limit, in the currency it was named in (empty for the
    /// catalog's).
    fn max_price(&self) -> Option<Money>;

    /// The lease the row holds, if any.
    fn lease(&self) -> Option<Lease>;

    /// Records the lease on the row.
    fn hold(&mut self, lease: Lease);

    /// The row ends FAILED at `now` with `refusal`, owing the release of
    /// any number it holds.
    fn fail(&mut self, refusal: &Refusal, now: Timestamp);

    /// Why it failed: the stored reason and message.
    fn failure(&self) -> (&str, &str);
}

/// Implements [`Held`] for a row type named `$row` from its fields: `id`,
/// `account_id`, `fingerprint`, `status` (a `Status` with `Creating` and
/// `Failed`, `is_terminal()` and `from_i64`), `settle` (a `Settle` with `Nothing` and
/// `Release`), `expires_at`, `ended_at`, `max_price`,
/// `max_price_currency`, `lease_id`, `phone_number`, `price`, `currency`,
/// `failure_reason` and `failure_message`; `Status` and `Settle` are the
/// types in scope where it is called. With `operator`, the row keeps the
/// lease's carrier in its `operator` field.
#[macro_export]
macro_rules! held_row {
    ($row:ty, $noun:literal $(, $operator:ident)?) => {
        impl $crate::Held for $row {
            const NOUN: &'static str = $noun;

            type Status = Status;

            fn status_from(number: i64) -> Option<Status> {
                Status::from_i64(number)
            }

            fn id(&self) -> &str {
                &self.id
            }

            fn account_id(&self) -> &str {
                &self.account_id
            }

            fn phone_number(&self) -> &str {
                &self.phone_number
            }

            fn status_number(&self) -> i64 {
                self.status as i64
            }

            fn is_terminal(&self) -> bool {
                self.status.is_terminal()
            }

            fn owes(&self) -> bool {
                self.settle != Settle::Nothing
            }

            fn stage(&self) -> $crate::Stage {
                match self.status {
                    Status::Creating => $crate::Stage::Creating,
                    Status::Failed => $crate::Stage::Failed,
                    _ => $crate::Stage::Bought,
                }
            }

            fn fingerprint(&self) -> &str {
                &self.fingerprint
            }

            fn expires_at(&self) -> $crate::__private::Timestamp {
                self.expires_at
            }

            fn max_price(&self) -> Option<$crate::__private::Money> {
                self.max_price.map(|units| $crate::__private::Money {
                    currency_code: self.max_price_currency.clone(),
                    minor_units: units,
                })
            }

            fn lease(&self) -> Option<$crate::Lease> {
                #[allow(unused_mut)]
                let mut operator = String::new();
                $(operator.clone_from(&self.$operator);)?
                Some($crate::Lease {
                    id: self.lease_id.clone()?,
                    phone_number: self.phone_number.clone(),
                    operator,
                    price: self.price,
                    currency: self.currency.clone(),
                })
            }

            fn hold(&mut self, lease: $crate::Lease) {
                self.lease_id = Some(lease.id);
                self.phone_number = lease.phone_number;
                $(self.$operator = lease.operator;)?
                self.price = lease.price;
                self.currency = lease.currency;
            }

            fn fail(
                &mut self,
                refusal: &$crate::__private::Refusal,
                now: $crate::__private::Timestamp,
            ) {
                self.status = Status::Failed;
                self.failure_reason.clone_from(&refusal.reason);
                self.failure_message.clone_from(&refusal.message);
                self.ended_at = Some(now);
                self.settle = if self.lease_id.is_some() {
                    Settle::Release
                } else {
                    Settle::Nothing
                };
            }

            fn failure(&self) -> (&str, &str) {
                (&self.failure_reason, &self.failure_message)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_a_uuid_or_a_positive_number_in_one_spelling() {
        let uuid = "0192F0C1-7A2B-7C3D-8E4F-0123456789AB";
        assert_eq!(HeldId::parse(uuid), Ok(HeldId::Uuid(uuid.to_lowercase())));
        assert_eq!(HeldId::parse("1482"), Ok(HeldId::Numeric(1482)));
        assert_eq!(HeldId::parse("1"), Ok(HeldId::Numeric(1)));
        let max = i64::MAX.to_string();
        assert_eq!(HeldId::parse(&max), Ok(HeldId::Numeric(i64::MAX)));
        assert_eq!(HeldId::Numeric(1482).to_string(), "1482");

        let refused = |value: &str| HeldId::parse(value).unwrap_err();
        assert_eq!(refused(""), "is required");
        for zero in ["0", "00", "-0"] {
            assert_eq!(refused(zero), "must be positive", "{zero}");
        }
        assert_eq!(refused("-7"), "must be positive");
        assert_eq!(
            refused("9223372036854775808"),
            format!("must be at most {}", i64::MAX)
        );
        assert_eq!(
            refused(&"9".repeat(100_000)),
            format!("must be at most {}", i64::MAX)
        );
        assert_eq!(
            refused("01482"),
            "must be a UUID or a positive decimal number without leading zeros"
        );
        for other in [
            "+1482",
            "14 82",
            "1482 ",
            "1e3",
            "0x10",
            "١٤٨٢",
            "x",
            "{0192f0c1-7a2b-7c3d-8e4f-0123456789ab}",
        ] {
            assert_eq!(
                refused(other),
                "must be a UUID or a positive decimal number",
                "{other}"
            );
        }
    }
}
