//! Inbound's errors and their gRPC statuses.

use numhub_runtime::error::{self as status, Violation, reason};
use tonic::{Code, Status};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{resource} {id:?} not found")]
    NotFound { resource: &'static str, id: String },
    #[error("invalid request")]
    Invalid(Vec<Violation>),
    #[error("upstream message id {0:?} was already delivered with other fields")]
    IdempotencyKeyReused(String),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::NotFound { resource, id } => status::not_found(resource, &id),
            Error::Invalid(violations) => status::invalid_argument(&violations),
            Error::IdempotencyKeyReused(id) => status::status(
                Code::FailedPrecondition,
                reason::IDEMPOTENCY_KEY_REUSED,
                format!(
                    "upstream_message_id {} was already delivered with other fields",
                    numhub_runtime::error::quote(&id)
                ),
            ),
            Error::Database(_) | Error::Corrupt(_) => status::internal(&error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_errors_never_reach_the_client() {
        let status = Status::from(Error::Database(sqlx::Error::Protocol(
            "relation inbound_messages does not exist".into(),
        )));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("inbound_messages"));
    }
}
