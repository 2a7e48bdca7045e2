//! The kinds of failure every numhub service answers with, and the one
//! place each becomes a gRPC status and an HTTP status code.

use std::collections::HashMap;

use http::StatusCode;
use tonic::{Code, Status};

use super::{Refusal, Violation, grpc, quote, reason};

/// Why a request failed, as its client is told. A service's own error
/// converts to one of these; the kind alone decides the answer.
///
/// | kind          | gRPC code (reason)                               | HTTP |
/// |---------------|--------------------------------------------------|------|
/// | `NotFound`    | NOT_FOUND (RESOURCE_NOT_FOUND)                   | 404  |
/// | `Invalid`     | INVALID_ARGUMENT (INVALID_FIELD, BadRequest)     | 400  |
/// | `Refused`     | FAILED_PRECONDITION (its own reason); NOT_FOUND for RESOURCE_NOT_FOUND | 422; 404 |
/// | `Denied`      | PERMISSION_DENIED (its own reason)               | 403  |
/// | `KeyReused`   | FAILED_PRECONDITION (IDEMPOTENCY_KEY_REUSED)     | 409  |
/// | `InProgress`  | ABORTED (REQUEST_IN_PROGRESS)                    | 409  |
/// | `Unavailable` | UNAVAILABLE (TEMPORARILY_UNAVAILABLE)            | 503  |
/// | `Internal`    | INTERNAL (INTERNAL_ERROR), its text only logged  | 500  |
///
/// A refusal is 422 (the request is understood and well formed, the
/// business says no: a short balance, no numbers left), set apart from
/// 409, which says the request clashes with another under the same
/// idempotency key and changes nothing by being resent as it is.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// A resource that does not exist, or is someone else's.
    #[error("{resource} {id:?} not found")]
    NotFound { resource: &'static str, id: String },
    /// The fields at fault in the request.
    #[error("invalid request")]
    Invalid(Vec<Violation>),
    /// A business refusal with a stable reason.
    #[error(transparent)]
    Refused(Refusal),
    /// The caller may not do this (a scope it does not hold).
    #[error(transparent)]
    Denied(Refusal),
    /// The idempotency key was used before with other fields; the message.
    #[error("{0}")]
    KeyReused(String),
    /// The request under this key has not finished yet; the message.
    #[error("{0}")]
    InProgress(String),
    /// Retry later (a dependency is down, the server is stopping); the
    /// message says what and how to resume.
    #[error("{0}")]
    Unavailable(String),
    /// A fault of numhub's own: logged with its chain, never shown.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Failure {
    pub fn not_found(resource: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            resource,
            id: id.into(),
        }
    }

    /// One field at fault.
    pub fn invalid(field: &str, description: impl Into<String>) -> Self {
        Self::Invalid(vec![Violation::new(field, description)])
    }

    /// `request_id` reused with different fields.
    pub fn key_reused(request_id: &str) -> Self {
        Self::KeyReused(format!(
            "request_id {} was already used with different fields",
            quote(request_id)
        ))
    }

    /// A stream's server is stopping: the client resumes elsewhere.
    pub fn shutting_down() -> Self {
        Self::Unavailable(
            "the server is shutting down; resume with the cursor of the last event".into(),
        )
    }

    /// A request cut short between two of its steps; its key finishes it.
    pub fn interrupted() -> Self {
        Self::Unavailable("interrupted; retry with the same request_id".into())
    }

    pub fn internal(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(error.into())
    }

    /// Stored data that breaks a rule it was written under: a fault.
    pub fn corrupt(what: impl std::fmt::Display) -> Self {
        Self::Internal(format!("corrupt stored data: {what}").into())
    }

    /// The database error inside an internal failure, for a caller that
    /// retries some (a serialization failure).
    pub fn database_error(&self) -> Option<&sqlx::Error> {
        match self {
            Self::Internal(error) => error.downcast_ref(),
            _ => None,
        }
    }

    /// The gRPC code the client sees.
    pub fn code(&self) -> Code {
        match self {
            Self::NotFound { .. } => Code::NotFound,
            Self::Invalid(_) => Code::InvalidArgument,
            Self::Refused(r) if r.reason == reason::RESOURCE_NOT_FOUND => Code::NotFound,
            Self::Refused(_) | Self::KeyReused(_) => Code::FailedPrecondition,
            Self::Denied(_) => Code::PermissionDenied,
            Self::InProgress(_) => Code::Aborted,
            Self::Unavailable(_) => Code::Unavailable,
            Self::Internal(_) => Code::Internal,
        }
    }

    /// The HTTP status code the client sees (see the table on [`Failure`]).
    pub fn http_status(&self) -> StatusCode {
        let reason = match self {
            Self::KeyReused(_) => Some(reason::IDEMPOTENCY_KEY_REUSED),
            _ => None,
        };
        http_status(self.code(), reason)
    }
}

/// The HTTP status code of a gRPC status with its `ErrorInfo` reason, as
/// every numhub HTTP edge answers it: the table on [`Failure`], plus the
/// codes only the auth layer and the transport give (UNAUTHENTICATED 401,
/// RESOURCE_EXHAUSTED 429, DEADLINE_EXCEEDED 504).
pub fn http_status(code: Code, reason: Option<&str>) -> StatusCode {
    match code {
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::FailedPrecondition if reason == Some(reason::IDEMPOTENCY_KEY_REUSED) => {
            StatusCode::CONFLICT
        }
        Code::FailedPrecondition => StatusCode::UNPROCESSABLE_ENTITY,
        Code::Aborted | Code::AlreadyExists => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<Refusal> for Failure {
    fn from(refusal: Refusal) -> Self {
        Self::Refused(refusal)
    }
}

/// A database error is a fault of numhub's own: logged, never shown.
impl From<sqlx::Error> for Failure {
    fn from(error: sqlx::Error) -> Self {
        Self::Internal(Box::new(error))
    }
}

impl From<Failure> for Status {
    fn from(failure: Failure) -> Self {
        let code = failure.code();
        match failure {
            Failure::NotFound { resource, id } => grpc::not_found(resource, &id),
            Failure::Invalid(violations) => grpc::invalid_argument(&violations),
            Failure::Refused(refusal) | Failure::Denied(refusal) => grpc::status_with_metadata(
                code,
                &refusal.reason,
                refusal.message,
                refusal.metadata.into_iter().collect::<HashMap<_, _>>(),
            ),
            Failure::KeyReused(message) => {
                grpc::status(code, reason::IDEMPOTENCY_KEY_REUSED, message)
            }
            Failure::InProgress(message) => {
                grpc::status(code, reason::REQUEST_IN_PROGRESS, message)
            }
            Failure::Unavailable(message) => {
                grpc::status(code, reason::TEMPORARILY_UNAVAILABLE, message)
            }
            Failure::Internal(error) => grpc::internal(&*error),
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic_types::StatusExt as _;

    use super::*;

    fn reason_of(status: &Status) -> String {
        status
            .get_error_details()
            .error_info()
            .unwrap()
            .reason
            .clone()
    }

    #[test]
    fn each_kind_has_one_code_reason_and_http_status() {
        let cases = [
            (
                Failure::not_found("lease", "l1"),
                Code::NotFound,
                reason::RESOURCE_NOT_FOUND,
                404,
            ),
            (
                Failure::invalid("amount", "must be positive"),
                Code::InvalidArgument,
                reason::INVALID_FIELD,
                400,
            ),
            (
                Refusal::new("INSUFFICIENT_BALANCE", "short").into(),
                Code::FailedPrecondition,
                "INSUFFICIENT_BALANCE",
                422,
            ),
            (
                Refusal::new(reason::RESOURCE_NOT_FOUND, "no debit").into(),
                Code::NotFound,
                reason::RESOURCE_NOT_FOUND,
                404,
            ),
            (
                Failure::Denied(Refusal::new("MISSING_SCOPE", "no")),
                Code::PermissionDenied,
                "MISSING_SCOPE",
                403,
            ),
            (
                Failure::key_reused("r1"),
                Code::FailedPrecondition,
                reason::IDEMPOTENCY_KEY_REUSED,
                409,
            ),
            (
                Failure::InProgress("wait".into()),
                Code::Aborted,
                reason::REQUEST_IN_PROGRESS,
                409,
            ),
            (
                Failure::shutting_down(),
                Code::Unavailable,
                reason::TEMPORARILY_UNAVAILABLE,
                503,
            ),
            (
                Failure::interrupted(),
                Code::Unavailable,
                reason::TEMPORARILY_UNAVAILABLE,
                503,
            ),
            (
                Failure::internal("boom"),
                Code::Internal,
                reason::INTERNAL_ERROR,
                500,
            ),
        ];
        for (failure, code, reason, http) in cases {
            let described = format!("{failure:?}");
            assert_eq!(failure.http_status().as_u16(), http, "{described}");
            let status = Status::from(failure);
            assert_eq!(status.code(), code, "{described}");
            assert_eq!(reason_of(&status), reason, "{described}");
        }
    }

    #[test]
    fn messages_and_details_reach_the_client() {
        let status = Status::from(Failure::key_reused("r1"));
        assert_eq!(
            status.message(),
            "request_id \"r1\" was already used with different fields"
        );
        let refusal = Refusal::new("PRICE_ABOVE_MAX", "dear").with("price", 12);
        let status = Status::from(Failure::from(refusal));
        assert_eq!(status.message(), "dear");
        let info = status.get_error_details().error_info().cloned().unwrap();
        assert_eq!(info.metadata["price"], "12");
        let status = Status::from(Failure::Invalid(vec![
            Violation::new("max_price", "must be positive"),
            Violation::new("request_id", "is required"),
        ]));
        let fields: Vec<_> = status
            .get_error_details()
            .bad_request()
            .unwrap()
            .field_violations
            .iter()
            .map(|v| (v.field.clone(), v.description.clone()))
            .collect();
        assert_eq!(
            fields,
            [
                ("max_price".to_owned(), "must be positive".to_owned()),
                ("request_id".to_owned(), "is required".to_owned())
            ]
        );
        let status = Status::from(Failure::not_found("lease", "l1"));
        assert_eq!(status.message(), "lease \"l1\" not found");
    }

    #[test]
    fn internal_hides_its_text_and_keeps_its_chain() {
        let cause = std::io::Error::other("relation \"ledger\" does not exist");
        let failure = Failure::internal(cause);
        assert!(
            super::super::error_chain(&failure).ends_with("relation \"ledger\" does not exist")
        );
        let status = Status::from(failure);
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal error");
        assert!(!format!("{:?}", status.details()).contains("ledger"));
    }
}
