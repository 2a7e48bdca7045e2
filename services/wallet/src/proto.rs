//! The wallet's protobuf conversions, in one place: requests into commands
//! (every field at fault at once, or checked values only), and entries and
//! balances into responses.

use numhub_proto::common::v1::Money;
use numhub_proto::wallet::v1 as pb;
use numhub_runtime::error::Violation;
use numhub_runtime::money;
use numhub_runtime::parse;
use numhub_runtime::validate::{self, Validator};

use crate::model::{Balance, Command, Entry, Kind, Movement};

/// Longest account id accepted.
const MAX_ACCOUNT_ID_LEN: usize = 255;
/// Longest reason or reference accepted.
const MAX_TEXT_LEN: usize = 1024;
/// ListTransactions' default and largest page size.
pub const PAGE_SIZES: (u32, u32) = (50, 100);

impl TryFrom<pb::CreditRequest> for Command {
    type Error = Vec<Violation>;

    fn try_from(r: pb::CreditRequest) -> Result<Self, Self::Error> {
        let m = movement_fields(
            &r.account_id,
            r.amount.as_ref(),
            &r.request_id,
            "reason",
            &r.reason,
        )?;
        Ok(Command {
            request_id: m.request_id,
            movement: Movement::Credit {
                account_id: m.account_id,
                amount: m.amount,
                currency: m.currency,
                reason: m.text,
            },
        })
    }
}

impl TryFrom<pb::DebitRequest> for Command {
    type Error = Vec<Violation>;

    fn try_from(r: pb::DebitRequest) -> Result<Self, Self::Error> {
        let m = movement_fields(
            &r.account_id,
            r.amount.as_ref(),
            &r.request_id,
            "reference",
            &r.reference,
        )?;
        Ok(Command {
            request_id: m.request_id,
            movement: Movement::Debit {
                account_id: m.account_id,
                amount: m.amount,
                currency: m.currency,
                reference: m.text,
            },
        })
    }
}

impl TryFrom<pb::RefundRequest> for Command {
    type Error = Vec<Violation>;

    fn try_from(r: pb::RefundRequest) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let debit_id = v.check("debit_transaction_id", parse::id(&r.debit_transaction_id));
        let amount = v.check("amount", money::optional(r.amount.as_ref()));
        let request_id = v.check("request_id", validate::request_id(&r.request_id));
        let reason = v.check("reason", validate::text(&r.reason, MAX_TEXT_LEN));
        v.finish_with(|| {
            let (amount, currency) = amount?;
            Some(Command {
                request_id: request_id?,
                movement: Movement::Refund {
                    debit_id: debit_id?,
                    amount,
                    currency,
                    reason: reason?,
                },
            })
        })
    }
}

/// The fields that Credit and Debit share, parsed together.
struct MovementFields {
    account_id: String,
    amount: i64,
    currency: Option<String>,
    request_id: String,
    /// The reason of a credit or the reference of a debit.
    text: String,
}

fn movement_fields(
    account: &str,
    amount: Option<&Money>,
    request_id: &str,
    text_field: &str,
    text: &str,
) -> Result<MovementFields, Vec<Violation>> {
    let mut v = Validator::new();
    let account_id = v.check("account_id", account_id(account));
    let amount = v.check("amount", money::positive(amount));
    let request_id = v.check("request_id", validate::request_id(request_id));
    let text = v.check(text_field, validate::text(text, MAX_TEXT_LEN));
    v.finish_with(|| {
        let (amount, currency) = amount?;
        Some(MovementFields {
            account_id: account_id?,
            amount,
            currency,
            request_id: request_id?,
            text: text?,
        })
    })
}

/// GetAccountBalance's account.
pub fn balance_account(r: &pb::GetAccountBalanceRequest) -> Result<String, Vec<Violation>> {
    parse::field("account_id", account_id(&r.account_id))
}

/// The wallet never sees accounts' tables, so it takes any identifier; one
/// that is a UUID (as every account id accounts issues) is read lower-case,
/// so an id sent upper-case names the same account, as everywhere else.
fn account_id(value: &str) -> Result<String, String> {
    let id = validate::identifier(value, MAX_ACCOUNT_ID_LEN)?;
    Ok(validate::uuid(&id).map_or(id, |uuid| uuid.to_string()))
}

pub fn balance_to_proto(balance: Balance) -> pb::Balance {
    pb::Balance {
        available: money::to_proto(&balance.currency, balance.available),
        account_id: balance.account_id,
        update_time: balance.updated_at.map(|t| t.to_proto()),
    }
}

pub fn entry_to_proto(entry: Entry) -> pb::Transaction {
    let kind = match entry.kind {
        Kind::Credit => pb::TransactionKind::Credit,
        Kind::Debit => pb::TransactionKind::Debit,
        Kind::Refund => pb::TransactionKind::Refund,
    };
    pb::Transaction {
        amount: money::to_proto(&entry.currency, entry.amount),
        balance_after: money::to_proto(&entry.currency, entry.balance_after),
        id: entry.id,
        account_id: entry.account_id,
        kind: kind as i32,
        reference: entry.reference,
        refunded_transaction_id: entry.refund_of.unwrap_or_default(),
        request_id: entry.request_id,
        create_time: Some(entry.created_at.to_proto()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_debit_names_every_bad_field_at_once() {
        let bad = pb::DebitRequest {
            account_id: "has space".into(),
            amount: money::to_proto("USD", -5),
            request_id: String::new(),
            reference: "a\u{0}b".into(),
        };
        let error = Command::try_from(bad).unwrap_err();
        assert_eq!(
            Violation::fields(&error),
            ["account_id", "amount", "request_id", "reference"]
        );
    }

    #[test]
    fn a_refund_names_every_bad_field_at_once() {
        let bad = pb::RefundRequest {
            debit_transaction_id: "42".into(),
            amount: money::to_proto("USD", -1),
            request_id: " ".into(),
            reason: "\u{202E}".into(),
        };
        let error = Command::try_from(bad).unwrap_err();
        assert_eq!(
            Violation::fields(&error),
            ["debit_transaction_id", "amount", "request_id", "reason"]
        );
    }

    #[test]
    fn a_credit_reads_an_upper_case_account_id_lower_case() {
        let id = "0192F0C1-7A2B-7C3D-8E4F-0123456789AB";
        let credit = pb::CreditRequest {
            account_id: id.into(),
            amount: money::to_proto("USD", 500),
            request_id: "r-1".into(),
            reason: "top-up".into(),
        };
        let command = Command::try_from(credit).unwrap();
        assert_eq!(command.request_id, "r-1");
        assert!(matches!(
            command.movement,
            Movement::Credit { account_id, amount: 500, .. } if account_id == id.to_lowercase()
        ));
    }
}
