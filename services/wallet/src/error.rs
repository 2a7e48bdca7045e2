//! The wallet's errors and their gRPC statuses.
//!
//! A [`Rejection`] is a business outcome: it is recorded under the request's
//! idempotency key, so a retry gets the same answer. An [`Error`] is anything
//! that can go wrong while answering.

use numhub_runtime::error::{Failure, Refusal, reason};

/// Reasons of the wallet's own refusals (FAILED_PRECONDITION).
pub mod wallet_reason {
    pub const INSUFFICIENT_BALANCE: &str = "INSUFFICIENT_BALANCE";
    pub const CURRENCY_MISMATCH: &str = "CURRENCY_MISMATCH";
    pub const BALANCE_LIMIT_EXCEEDED: &str = "BALANCE_LIMIT_EXCEEDED";
    pub const REFUND_EXCEEDS_DEBIT: &str = "REFUND_EXCEEDS_DEBIT";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    AccountNotFound,
    DebitNotFound,
    InsufficientBalance,
    CurrencyMismatch,
    BalanceLimitExceeded,
    RefundExceedsDebit,
}

impl RejectionKind {
    const ALL: [RejectionKind; 6] = [
        Self::AccountNotFound,
        Self::DebitNotFound,
        Self::InsufficientBalance,
        Self::CurrencyMismatch,
        Self::BalanceLimitExceeded,
        Self::RefundExceedsDebit,
    ];

    /// The name stored with a recorded outcome.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccountNotFound => "ACCOUNT_NOT_FOUND",
            Self::DebitNotFound => "DEBIT_NOT_FOUND",
            Self::InsufficientBalance => wallet_reason::INSUFFICIENT_BALANCE,
            Self::CurrencyMismatch => wallet_reason::CURRENCY_MISMATCH,
            Self::BalanceLimitExceeded => wallet_reason::BALANCE_LIMIT_EXCEEDED,
            Self::RefundExceedsDebit => wallet_reason::REFUND_EXCEEDS_DEBIT,
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// Why the wallet refused a movement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Rejection {
    pub kind: RejectionKind,
    pub message: String,
}

impl Rejection {
    pub fn account_not_found(account_id: &str) -> Self {
        Self::new(
            RejectionKind::AccountNotFound,
            format!("account {account_id:?} not found"),
        )
    }
    pub fn debit_not_found(debit_id: &str) -> Self {
        Self::new(
            RejectionKind::DebitNotFound,
            format!("debit {debit_id:?} not found"),
        )
    }
    pub fn insufficient_balance(balance: i64, amount: i64) -> Self {
        Self::new(
            RejectionKind::InsufficientBalance,
            format!("the balance of {balance} minor units is less than {amount}"),
        )
    }
    pub fn currency_mismatch(account: &str, given: &str) -> Self {
        Self::new(
            RejectionKind::CurrencyMismatch,
            format!("the account holds {account}, not {given}"),
        )
    }
    pub fn balance_limit_exceeded() -> Self {
        Self::new(
            RejectionKind::BalanceLimitExceeded,
            "the balance would exceed the largest amount the wallet can hold",
        )
    }
    pub fn refund_exceeds_debit(remaining: i64, requested: i64) -> Self {
        Self::new(
            RejectionKind::RefundExceedsDebit,
            format!(
                "{requested} minor units asked, but only {remaining} of the debit are left to refund"
            ),
        )
    }

    pub fn new(kind: RejectionKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// What the client is told, as it is.
    #[error(transparent)]
    Failed(#[from] Failure),
    /// A refusal recorded under the request's key with its kind.
    #[error(transparent)]
    Rejected(#[from] Rejection),
}

impl Error {
    pub fn key_reused(request_id: &str) -> Self {
        Failure::key_reused(request_id).into()
    }

    /// Another request with the same key is executing.
    pub fn in_progress() -> Self {
        Failure::InProgress("another request with the same request_id is executing; retry".into())
            .into()
    }

    pub fn shutting_down() -> Self {
        Failure::Unavailable("the wallet is shutting down; retry".into()).into()
    }

    /// What the client is told.
    pub fn kind(self) -> Failure {
        match self {
            Self::Failed(failure) => failure,
            Self::Rejected(rejection) => Failure::Refused(rejection.into()),
        }
    }
}

/// A rejection as the client reads it: a missing account or debit is
/// RESOURCE_NOT_FOUND, any other its kind's reason.
impl From<Rejection> for Refusal {
    fn from(rejection: Rejection) -> Self {
        let reason = match rejection.kind {
            RejectionKind::AccountNotFound | RejectionKind::DebitNotFound => {
                reason::RESOURCE_NOT_FOUND
            }
            kind => kind.as_str(),
        };
        Refusal::new(reason, rejection.message)
    }
}

numhub_runtime::service_error!(Error);

#[cfg(test)]
mod tests {
    use tonic::Code;
    use tonic::Status;

    use super::*;
    use tonic_types::StatusExt;

    #[test]
    fn rejection_kinds_round_trip_through_storage() {
        for kind in RejectionKind::ALL {
            assert_eq!(RejectionKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(RejectionKind::parse("nope"), None);
    }

    #[test]
    fn statuses_carry_stable_reasons() {
        let status = Status::from(Error::from(Rejection::insufficient_balance(1, 2)));
        assert_eq!(status.code(), Code::FailedPrecondition);
        let info = status.get_error_details().error_info().cloned().unwrap();
        assert_eq!(info.reason, "INSUFFICIENT_BALANCE");
        let status = Status::from(Error::from(Rejection::debit_not_found("x")));
        assert_eq!(status.code(), Code::NotFound);
    }
}
