//! The wallet's domain types: ledger entries, the commands that create them,
//! and the fingerprint that tells a retry from a reused idempotency key.

use numhub_runtime::clock::Timestamp;
use sha2::{Digest, Sha256};

/// What a ledger entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Credit,
    Debit,
    Refund,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Credit => "credit",
            Kind::Debit => "debit",
            Kind::Refund => "refund",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "credit" => Some(Kind::Credit),
            "debit" => Some(Kind::Debit),
            "refund" => Some(Kind::Refund),
            _ => None,
        }
    }
}

/// One immutable ledger entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub account_id: String,
    pub kind: Kind,
    /// The signed change to the balance: negative for debits.
    pub amount: i64,
    pub currency: String,
    pub balance_after: i64,
    pub reference: String,
    pub refund_of: Option<String>,
    pub request_id: String,
    pub created_at: Timestamp,
}

/// A balance as clients see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    pub account_id: String,
    pub currency: String,
    pub available: i64,
    /// `None` for an account that was never credited.
    pub updated_at: Option<Timestamp>,
}

/// A validated request to move money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Movement {
    Credit {
        account_id: String,
        amount: i64,
        /// `None`: the account's currency (the default for a new account).
        currency: Option<String>,
        reason: String,
    },
    Debit {
        account_id: String,
        amount: i64,
        currency: Option<String>,
        reference: String,
    },
    Refund {
        debit_id: String,
        /// `None`: everything of the debit not refunded yet.
        amount: Option<i64>,
        currency: Option<String>,
        reason: String,
    },
}

/// A movement under the caller's idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub request_id: String,
    pub movement: Movement,
}

impl Command {
    /// A digest of every field of the request, so that a key reused with other
    /// fields is told apart from a retry.
    pub fn fingerprint(&self) -> String {
        let canonical = match &self.movement {
            Movement::Credit {
                account_id,
                amount,
                currency,
                reason,
            } => fields(&[
                "credit",
                account_id,
                &amount.to_string(),
                opt(currency),
                reason,
            ]),
            Movement::Debit {
                account_id,
                amount,
                currency,
                reference,
            } => fields(&[
                "debit",
                account_id,
                &amount.to_string(),
                opt(currency),
                reference,
            ]),
            Movement::Refund {
                debit_id,
                amount,
                currency,
                reason,
            } => {
                let amount = amount.map(|a| a.to_string()).unwrap_or_default();
                fields(&["refund", debit_id, &amount, opt(currency), reason])
            }
        };
        let digest = Sha256::digest(canonical.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn opt(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or_default()
}

/// Length-prefixed, so no two different field lists join to the same text.
fn fields(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("{}:{v}", v.len()))
        .collect::<Vec<_>>()
        .join("|")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn debit(amount: i64, reference: &str) -> Command {
        Command {
            request_id: "r".into(),
            movement: Movement::Debit {
                account_id: "a".into(),
                amount,
                currency: None,
                reference: reference.into(),
            },
        }
    }

    #[test]
    fn fingerprint_changes_with_any_field() {
        assert_eq!(debit(5, "x").fingerprint(), debit(5, "x").fingerprint());
        assert_ne!(debit(5, "x").fingerprint(), debit(6, "x").fingerprint());
        assert_ne!(debit(5, "x").fingerprint(), debit(5, "y").fingerprint());
    }

    #[test]
    fn fields_cannot_run_into_each_other() {
        assert_ne!(fields(&["ab", "c"]), fields(&["a", "bc"]));
    }
}
