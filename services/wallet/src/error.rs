//! The wallet's errors and their gRPC statuses.
//!
//! A [`Rejection`] is a business outcome: it is recorded under the request's
//! idempotency key, so a retry gets the same answer. An [`Error`] is anything
//! that can go wrong while answering.

use numhub_runtime::error::{self as errors, Failure, reason};

/// Reasons of the wallet's own refusals (FAILED_PRECONDITION).
pub mod wallet_reason {
    pub const INSUFFICIENT_BALANCE: &str = "INSUFFICIENT_BALANCE";
    pub const CURRENCY_MISMATCH: &str = "CURRENCY_MISMATCH";
    pub const BALANCE_LIMIT_EXCEEDED: &str = "BALANCE_LIMIT_EXCEEDED";
    pub const REFUND_EXCEEDS_DEBIT: &str = "REFUND_EXCEEDS_DEBIT";
}

/// The kinds of the wallet's refusals, stored by name with the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    AccountNotFound,
    DebitNotFound,
    InsufficientBalance,
    CurrencyMismatch,
    BalanceLimitExceeded,
    RefundExceedsDebit,
}

impl errors::RejectionKind for RejectionKind {
    const ALL: &'static [Self] = &[
        Self::AccountNotFound,
        Self::DebitNotFound,
        Self::InsufficientBalance,
        Self::CurrencyMismatch,
        Self::BalanceLimitExceeded,
        Self::RefundExceedsDebit,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Self::AccountNotFound => "ACCOUNT_NOT_FOUND",
            Self::DebitNotFound => "DEBIT_NOT_FOUND",
            Self::InsufficientBalance => wallet_reason::INSUFFICIENT_BALANCE,
            Self::CurrencyMismatch => wallet_reason::CURRENCY_MISMATCH,
            Self::BalanceLimitExceeded => wallet_reason::BALANCE_LIMIT_EXCEEDED,
            Self::RefundExceedsDebit => wallet_reason::REFUND_EXCEEDS_DEBIT,
        }
    }

    /// A missing account or debit is RESOURCE_NOT_FOUND to the client.
    fn reason(self) -> &'static str {
        match self {
            Self::AccountNotFound | Self::DebitNotFound => reason::RESOURCE_NOT_FOUND,
            kind => kind.as_str(),
        }
    }
}

/// Why the wallet refused a movement.
pub type Rejection = errors::Rejection<RejectionKind>;

/// The wallet's rejections, each with its message.
pub mod reject {
    use super::{Rejection, RejectionKind};

    pub fn account_not_found(account_id: &str) -> Rejection {
        Rejection::new(
            RejectionKind::AccountNotFound,
            format!("account {account_id:?} not found"),
        )
    }

    pub fn debit_not_found(debit_id: &str) -> Rejection {
        Rejection::new(
            RejectionKind::DebitNotFound,
            format!("debit {debit_id:?} not found"),
        )
    }

    pub fn insufficient_balance(balance: i64, amount: i64) -> Rejection {
        Rejection::new(
            RejectionKind::InsufficientBalance,
            format!("the balance of {balance} minor units is less than {amount}"),
        )
    }

    pub fn currency_mismatch(account: &str, given: &str) -> Rejection {
        Rejection::new(
            RejectionKind::CurrencyMismatch,
            format!("the account holds {account}, not {given}"),
        )
    }

    pub fn balance_limit_exceeded() -> Rejection {
        Rejection::new(
            RejectionKind::BalanceLimitExceeded,
            "the balance would exceed the largest amount the wallet can hold",
        )
    }

    pub fn refund_exceeds_debit(remaining: i64, requested: i64) -> Rejection {
        Rejection::new(
            RejectionKind::RefundExceedsDebit,
            format!(
                "{requested} minor units asked, but only {remaining} of the debit are left to refund"
            ),
        )
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
            Self::Rejected(rejection) => rejection.into(),
        }
    }
}

numhub_runtime::service_error!(Error);

#[cfg(test)]
mod tests {
    use tonic::Code;
    use tonic::Status;

    use super::*;
    use errors::RejectionKind as _;
    use tonic_types::StatusExt;

    #[test]
    fn rejection_kinds_round_trip_through_storage() {
        for &kind in RejectionKind::ALL {
            assert_eq!(RejectionKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(RejectionKind::parse("nope"), None);
    }

    #[test]
    fn statuses_carry_stable_reasons() {
        let status = Status::from(Error::from(reject::insufficient_balance(1, 2)));
        assert_eq!(status.code(), Code::FailedPrecondition);
        let info = status.get_error_details().error_info().cloned().unwrap();
        assert_eq!(info.reason, "INSUFFICIENT_BALANCE");
        let status = Status::from(Error::from(reject::debit_not_found("x")));
        assert_eq!(status.code(), Code::NotFound);
    }
}
