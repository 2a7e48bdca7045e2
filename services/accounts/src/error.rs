//! The accounts service's errors and their gRPC statuses.

use std::collections::HashMap;

use numhub_runtime::error::{self as status, reason};
use tonic::{Code, Status};

/// Reasons of the accounts service's own refusals.
pub mod accounts_reason {
    /// FAILED_PRECONDITION: the account has the most active keys allowed.
    pub const TOO_MANY_API_KEYS: &str = "TOO_MANY_API_KEYS";
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{resource} {id:?} not found")]
    NotFound { resource: &'static str, id: String },
    #[error("{field}: {description}")]
    InvalidField {
        field: &'static str,
        description: String,
    },
    #[error("this key cannot grant the {scope:?} scope, which it does not hold")]
    ScopeNotHeld { scope: &'static str },
    #[error("the account already has {max} active API keys; revoke one first")]
    TooManyKeys { max: u32 },
    #[error("request_id {0:?} was already used with other fields")]
    IdempotencyKeyReused(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl Error {
    pub fn account_not_found(id: &str) -> Self {
        Self::NotFound {
            resource: "account",
            id: id.to_owned(),
        }
    }

    pub fn key_not_found(id: &str) -> Self {
        Self::NotFound {
            resource: "API key",
            id: id.to_owned(),
        }
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        let message = error.to_string();
        match error {
            Error::NotFound { resource, id } => status::not_found(resource, &id),
            Error::InvalidField { field, description } => {
                status::invalid_argument(&[status::Violation::new(field, description)])
            }
            Error::ScopeNotHeld { scope } => status::status_with_metadata(
                Code::PermissionDenied,
                numhub_auth::reasons::MISSING_SCOPE,
                message,
                HashMap::from([("scope".to_owned(), scope.to_owned())]),
            ),
            Error::TooManyKeys { .. } => status::status(
                Code::FailedPrecondition,
                accounts_reason::TOO_MANY_API_KEYS,
                message,
            ),
            Error::IdempotencyKeyReused(_) => status::status(
                Code::FailedPrecondition,
                reason::IDEMPOTENCY_KEY_REUSED,
                message,
            ),
            Error::Database(error) => status::internal(&error),
        }
    }
}
