//! Rentals' errors and their gRPC statuses.

use std::collections::HashMap;

use numhub_runtime::error::{self as status, Violation, reason};
use tonic::{Code, Status};

pub use numhub_runtime::error::Refusal;

/// Reasons of rentals' own refusals (FAILED_PRECONDITION). The catalog's
/// and the wallet's (NO_NUMBERS_AVAILABLE, INSUFFICIENT_BALANCE, ...) pass
/// through unchanged.
pub mod rentals_reason {
    pub const NUMBER_EXPIRED: &str = "NUMBER_EXPIRED";
    pub const RENTAL_ENDED: &str = "RENTAL_ENDED";
    pub const OTHER_SERVICE: &str = "OTHER_SERVICE";
    pub const PURCHASE_TIMED_OUT: &str = "PURCHASE_TIMED_OUT";
    /// A renewal's price is above the customer's limit: the catalog's
    /// reason for a purchase, so both read alike.
    pub const PRICE_ABOVE_MAX: &str = "PRICE_ABOVE_MAX";
}

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
    /// The purchase, or a renewal, of the rental has not finished yet.
    #[error("a purchase or renewal of the rental is in progress")]
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
    /// A fault injected by a test between two steps of a saga.
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
            // (its currency); any other field is rentals' to have checked.
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
                "a purchase or renewal of the rental is in progress; retry shortly",
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
    fn upstream_refusals_pass_through_and_faults_stay_inside() {
        let short = status::status(Code::FailedPrecondition, "INSUFFICIENT_BALANCE", "short");
        let status = Status::from(Error::from_upstream("wallet", &short));
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(
            status.get_error_details().error_info().unwrap().reason,
            "INSUFFICIENT_BALANCE"
        );
        let down = Status::unavailable("connection refused");
        assert!(matches!(
            Error::from_upstream("catalog", &down),
            Error::Unavailable(_)
        ));
        let bug = Status::invalid_argument("lease_id: is required");
        let status = Status::from(Error::from_upstream("catalog", &bug));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("lease_id"));
        // The client's own limit is the client's mistake, naming its field.
        let euros = status::invalid_argument(&[Violation::new(
            "max_price",
            "currency_code must be USD, the catalog's currency",
        )]);
        let status = Status::from(Error::from_upstream("catalog", &euros));
        assert_eq!(status.code(), Code::InvalidArgument);
        let fields: Vec<String> = status
            .get_error_details()
            .bad_request()
            .unwrap()
            .field_violations
            .iter()
            .map(|v| v.field.clone())
            .collect();
        assert_eq!(fields, ["max_price"]);
        let status = Status::from(Error::Database(sqlx::Error::Protocol(
            "relation rentals does not exist".into(),
        )));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("rentals"));
    }
}
