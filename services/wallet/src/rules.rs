//! The wallet's rules, in one place and free of I/O: given the state of an
//! account (and of the debit being refunded), what a movement does.

use numhub_runtime::clock::Timestamp;

use crate::error::{Rejection, reject};
use crate::model::{Entry, Kind, Movement};

/// An account as read at the start of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountState {
    pub currency: String,
    pub balance: i64,
    pub version: i64,
}

/// A debit being refunded: its size and how much of it went back already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebitState {
    pub account_id: String,
    /// The debit's size, positive.
    pub amount: i64,
    pub refunded: i64,
}

/// Everything needed to apply one movement.
#[derive(Debug)]
pub struct Context<'a> {
    pub entry_id: String,
    pub request_id: &'a str,
    pub now: Timestamp,
}

/// Applies `movement` to `account` (and `debit` for a refund), returning the
/// ledger entry, or why it was refused. On refusal nothing is changed.
pub fn apply(
    movement: &Movement,
    account: Option<&mut AccountState>,
    debit: Option<&mut DebitState>,
    ctx: Context<'_>,
) -> Result<Entry, Rejection> {
    let Some(account) = account else {
        return Err(reject::account_not_found(movement_account(movement)));
    };
    check_currency(account, movement_currency(movement))?;
    let (account_id, kind, delta, reference, refund_of) = match movement {
        Movement::Credit {
            account_id,
            amount,
            reason,
            ..
        } => (account_id.clone(), Kind::Credit, *amount, reason, None),
        Movement::Debit {
            account_id,
            amount,
            reference,
            ..
        } => {
            if account.balance < *amount {
                return Err(reject::insufficient_balance(account.balance, *amount));
            }
            (account_id.clone(), Kind::Debit, -*amount, reference, None)
        }
        Movement::Refund {
            debit_id,
            amount,
            reason,
            ..
        } => {
            let Some(debit) = debit.as_deref() else {
                return Err(reject::debit_not_found(debit_id));
            };
            let remaining = debit.amount - debit.refunded;
            let requested = amount.unwrap_or(remaining);
            if requested <= 0 || requested > remaining {
                return Err(reject::refund_exceeds_debit(remaining, requested));
            }
            let account_id = debit.account_id.clone();
            (
                account_id,
                Kind::Refund,
                requested,
                reason,
                Some(debit_id.clone()),
            )
        }
    };
    let balance_after = account
        .balance
        .checked_add(delta)
        .ok_or_else(reject::balance_limit_exceeded)?;
    debug_assert!(
        balance_after >= 0,
        "a debit larger than the balance was let through"
    );

    account.balance = balance_after;
    if let Some(debit) = debit {
        debit.refunded += delta;
    }
    Ok(Entry {
        id: ctx.entry_id,
        account_id,
        kind,
        amount: delta,
        currency: account.currency.clone(),
        balance_after,
        reference: reference.clone(),
        refund_of,
        request_id: ctx.request_id.to_owned(),
        created_at: ctx.now,
    })
}

fn check_currency(account: &AccountState, currency: &Option<String>) -> Result<(), Rejection> {
    match currency {
        Some(given) if *given != account.currency => {
            Err(reject::currency_mismatch(&account.currency, given))
        }
        _ => Ok(()),
    }
}

fn movement_currency(movement: &Movement) -> &Option<String> {
    match movement {
        Movement::Credit { currency, .. }
        | Movement::Debit { currency, .. }
        | Movement::Refund { currency, .. } => currency,
    }
}

fn movement_account(movement: &Movement) -> &str {
    match movement {
        Movement::Credit { account_id, .. } | Movement::Debit { account_id, .. } => account_id,
        Movement::Refund { debit_id, .. } => debit_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::RejectionKind;

    fn ctx() -> Context<'static> {
        Context {
            entry_id: "e".into(),
            request_id: "r",
            now: Timestamp::from_unix_micros(7),
        }
    }

    fn account(balance: i64) -> AccountState {
        AccountState {
            currency: "USD".into(),
            balance,
            version: 0,
        }
    }

    fn debit(amount: i64) -> Movement {
        Movement::Debit {
            account_id: "a".into(),
            amount,
            currency: None,
            reference: "order".into(),
        }
    }

    fn refund(amount: Option<i64>) -> Movement {
        Movement::Refund {
            debit_id: "d".into(),
            amount,
            currency: None,
            reason: String::new(),
        }
    }

    #[test]
    fn debit_takes_from_the_balance() {
        let mut acc = account(100);
        let entry = apply(&debit(30), Some(&mut acc), None, ctx()).unwrap();
        assert_eq!(
            (entry.amount, entry.balance_after, acc.balance),
            (-30, 70, 70)
        );
        assert_eq!(entry.kind, Kind::Debit);
    }

    #[test]
    fn a_short_balance_refuses_and_changes_nothing() {
        let mut acc = account(29);
        let err = apply(&debit(30), Some(&mut acc), None, ctx()).unwrap_err();
        assert_eq!(err.kind, RejectionKind::InsufficientBalance);
        assert_eq!(acc.balance, 29);
        // The whole balance can be spent.
        apply(&debit(29), Some(&mut acc), None, ctx()).unwrap();
        assert_eq!(acc.balance, 0);
    }

    #[test]
    fn unknown_account_is_not_found() {
        let err = apply(&debit(1), None, None, ctx()).unwrap_err();
        assert_eq!(err.kind, RejectionKind::AccountNotFound);
    }

    #[test]
    fn currency_must_match_the_account() {
        let mut acc = account(100);
        let eur = Movement::Debit {
            account_id: "a".into(),
            amount: 1,
            currency: Some("EUR".into()),
            reference: String::new(),
        };
        let err = apply(&eur, Some(&mut acc), None, ctx()).unwrap_err();
        assert_eq!(err.kind, RejectionKind::CurrencyMismatch);
        assert_eq!(acc.balance, 100);
    }

    #[test]
    fn credits_cannot_overflow() {
        let mut acc = account(i64::MAX - 1);
        let credit = Movement::Credit {
            account_id: "a".into(),
            amount: 2,
            currency: None,
            reason: String::new(),
        };
        let err = apply(&credit, Some(&mut acc), None, ctx()).unwrap_err();
        assert_eq!(err.kind, RejectionKind::BalanceLimitExceeded);
        assert_eq!(acc.balance, i64::MAX - 1);
    }

    #[test]
    fn refunds_never_exceed_their_debit() {
        let mut acc = account(0);
        let mut d = DebitState {
            account_id: "a".into(),
            amount: 50,
            refunded: 0,
        };
        let first = apply(&refund(Some(20)), Some(&mut acc), Some(&mut d), ctx()).unwrap();
        assert_eq!((first.amount, first.refund_of.as_deref()), (20, Some("d")));
        let err = apply(&refund(Some(31)), Some(&mut acc), Some(&mut d), ctx()).unwrap_err();
        assert_eq!(err.kind, RejectionKind::RefundExceedsDebit);
        // No amount: the rest.
        let rest = apply(&refund(None), Some(&mut acc), Some(&mut d), ctx()).unwrap();
        assert_eq!((rest.amount, acc.balance, d.refunded), (30, 50, 50));
        let err = apply(&refund(None), Some(&mut acc), Some(&mut d), ctx()).unwrap_err();
        assert_eq!(err.kind, RejectionKind::RefundExceedsDebit);
    }
}
