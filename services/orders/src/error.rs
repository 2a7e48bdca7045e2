//! Orders' errors and their gRPC statuses.

use std::collections::HashMap;

use numhub_runtime::error::{self as status, Violation, reason};
use tonic::{Code, Status};

/// Reasons of orders' own refusals (FAILED_PRECONDITION). The catalog's and
/// the wallet's (NO_NUMBERS_AVAILABLE, INSUFFICIENT_BALANCE, ...) pass
/// through unchanged.
pub mod orders_reason {
    pub const OPEN_ACTIVATION_LIMIT: &str = "OPEN_ACTIVATION_LIMIT";
    pub const SMS_ALREADY_RECEIVED: &str = "SMS_ALREADY_RECEIVED";
    pub const NO_SMS_RECEIVED: &str = "NO_SMS_RECEIVED";
    pub const EARLY_CANCEL_DENIED: &str = "EARLY_CANCEL_DENIED";
    pub const ACTIVATION_ENDED: &str = "ACTIVATION_ENDED";
    pub const NUMBER_OFFLINE: &str = "NUMBER_OFFLINE";
    pub const REUSE_WINDOW_CLOSED: &str = "REUSE_WINDOW_CLOSED";
}

pub use numhub_runtime::error::Refusal;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("{resource} {id:?} not found")]
    NotFound { resource: &'static str, id: String },
    #[error("invalid request")]
    Invalid(Vec<Violation>),
    #[error("request_id {0:?} was already used with different fields")]
    IdempotencyKeyReused(String),
    /// The process is shutting down: a stream ends, to be resumed.
    #[error("shutting down")]
    ShuttingDown,
    /// The purchase of the activation has not finished yet.
    #[error("the purchase is still in progress")]
    InProgress,
    /// A dependency is unreachable or shutting down; the caller retries.
    #[error("{0} is unavailable")]
    Unavailable(String),
    /// A dependency answered what it never should (a bug or a mismatch of
    /// versions): logged, INTERNAL to the client.
    #[error("{service} answered {code:?}: {message}")]
    Upstream {
        service: &'static str,
        code: Code,
        message: String,
    },
    /// A fault injected by a test between two steps of the saga.
    #[error("injected crash at {0:?}")]
    Crashed(crate::saga::Step),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

impl Error {
    pub fn not_found(resource: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            resource,
            id: id.into(),
        }
    }

    pub fn invalid(field: &str, description: impl Into<String>) -> Self {
        Self::Invalid(vec![Violation::new(field, description)])
    }

    /// The error for a failed call to `service`: business refusals pass
    /// through with their reason, transient failures become UNAVAILABLE,
    /// anything else is a fault.
    pub fn from_upstream(service: &'static str, status: &Status) -> Self {
        use tonic_types::StatusExt as _;
        let upstream_reason = status
            .get_error_details()
            .error_info()
            .map(|info| info.reason.clone())
            .unwrap_or_default();
        match status.code() {
            Code::FailedPrecondition | Code::NotFound if !upstream_reason.is_empty() => {
                Refusal::new(upstream_reason, status.message()).into()
            }
            Code::Unavailable | Code::DeadlineExceeded | Code::Aborted | Code::Cancelled => {
                Self::Unavailable(service.into())
            }
            // The client's price limit, which only the catalog can judge
            // (its currency); any other field is orders' to have checked.
            Code::InvalidArgument => {
                let violations = numhub_runtime::error::client_violations(status, &["max_price"]);
                if violations.is_empty() {
                    Self::Upstream {
                        service,
                        code: Code::InvalidArgument,
                        message: status.message().to_owned(),
                    }
                } else {
                    Self::Invalid(violations)
                }
            }
            code => Self::Upstream {
                service,
                code,
                message: status.message().to_owned(),
            },
        }
    }

    /// Whether retrying the same step later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unavailable(_)
                | Self::Crashed(_)
                | Self::Database(_)
                | Self::InProgress
                | Self::ShuttingDown
        )
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::Refused(refusal) if refusal.reason == reason::RESOURCE_NOT_FOUND => {
                status::status(Code::NotFound, reason::RESOURCE_NOT_FOUND, refusal.message)
            }
            Error::Refused(refusal) => status::status_with_metadata(
                Code::FailedPrecondition,
                &refusal.reason,
                refusal.message,
                refusal.metadata.into_iter().collect::<HashMap<_, _>>(),
            ),
            Error::NotFound { resource, id } => status::not_found(resource, &id),
            Error::Invalid(violations) => status::invalid_argument(&violations),
            Error::IdempotencyKeyReused(id) => status::status(
                Code::FailedPrecondition,
                reason::IDEMPOTENCY_KEY_REUSED,
                format!(
                    "request_id {} was already used with different fields",
                    numhub_runtime::error::quote(&id)
                ),
            ),
            Error::ShuttingDown => status::status(
                Code::Unavailable,
                reason::TEMPORARILY_UNAVAILABLE,
                "the server is shutting down; resume with the cursor of the last event",
            ),
            Error::InProgress => status::status(
                Code::Aborted,
                reason::REQUEST_IN_PROGRESS,
                "the purchase is still in progress; retry shortly",
            ),
            Error::Unavailable(service) => status::status(
                Code::Unavailable,
                reason::TEMPORARILY_UNAVAILABLE,
                format!("{service} is unavailable; retry with the same request_id"),
            ),
            Error::Crashed(_) => status::status(
                Code::Unavailable,
                reason::TEMPORARILY_UNAVAILABLE,
                "interrupted; retry with the same request_id",
            ),
            Error::Upstream { .. } | Error::Database(_) | Error::Corrupt(_) => {
                status::internal(&error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::StatusExt;

    #[test]
    fn upstream_refusals_pass_through_with_their_reason() {
        let insufficient = status::status(
            Code::FailedPrecondition,
            "INSUFFICIENT_BALANCE",
            "balance 5 is less than 10",
        );
        let error = Error::from_upstream("wallet", &insufficient);
        assert!(matches!(&error, Error::Refused(r) if r.reason == "INSUFFICIENT_BALANCE"));
        let status = Status::from(error);
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(
            status.get_error_details().error_info().unwrap().reason,
            "INSUFFICIENT_BALANCE"
        );
        let not_found = status::not_found("service", "zz");
        let status = Status::from(Error::from_upstream("catalog", &not_found));
        assert_eq!(status.code(), Code::NotFound);
    }

    #[test]
    fn transient_and_unexpected_upstream_failures() {
        let down = Status::unavailable("connection refused");
        assert!(Error::from_upstream("wallet", &down).is_transient());
        let bug = Status::invalid_argument("amount: must be positive");
        let error = Error::from_upstream("wallet", &bug);
        assert!(!error.is_transient());
        let status = Status::from(error);
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("amount"));
    }

    #[test]
    fn database_errors_never_reach_the_client() {
        let status = Status::from(Error::Database(sqlx::Error::Protocol(
            "relation activations does not exist".into(),
        )));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("activations"));
    }
}
