//! numhub's one vocabulary of errors and its mapping to gRPC and HTTP.
//!
//! A service's own error converts to a [`Failure`], one of a few kinds;
//! the kind alone decides the gRPC status (canonical code, a stable reason
//! in `google.rpc.ErrorInfo`, field violations in `google.rpc.BadRequest`)
//! and the HTTP status code. Internal errors never show their text: they
//! are logged with their whole chain.

mod failure;
mod grpc;
mod refusal;
mod rejection;
mod upstream;

pub use failure::{Failure, http_status};
pub use grpc::{error_chain, internal, invalid_argument, not_found, status, status_with_metadata};
pub use refusal::Refusal;
pub use rejection::{Rejection, RejectionKind};
pub use upstream::{UpstreamFault, client_violations};

/// The glue of a service's error type, written once: `?` on a database
/// error (an internal failure), `corrupt`, and the one mapping to a gRPC
/// status through [`Failure`]. The type is an enum with a
/// `Failed(Failure)` variant and a `kind(self) -> Failure` method that
/// says what its other variants are.
#[macro_export]
macro_rules! service_error {
    ($error:ty) => {
        impl ::core::convert::From<::sqlx::Error> for $error {
            fn from(error: ::sqlx::Error) -> Self {
                Self::Failed(error.into())
            }
        }

        impl ::core::convert::From<$error> for ::tonic::Status {
            fn from(error: $error) -> Self {
                error.kind().into()
            }
        }

        impl $error {
            /// Stored data that breaks a rule it was written under.
            pub fn corrupt(what: impl ::core::fmt::Display) -> Self {
                Self::Failed($crate::error::Failure::corrupt(what))
            }
        }
    };
}

/// The `domain` of every numhub `ErrorInfo`.
pub const ERROR_DOMAIN: &str = "numhub.dev";

/// Reasons shared by every service (see numhub/common/v1/conventions.proto).
pub mod reason {
    pub const INVALID_FIELD: &str = "INVALID_FIELD";
    pub const RESOURCE_NOT_FOUND: &str = "RESOURCE_NOT_FOUND";
    pub const IDEMPOTENCY_KEY_REUSED: &str = "IDEMPOTENCY_KEY_REUSED";
    pub const REQUEST_IN_PROGRESS: &str = "REQUEST_IN_PROGRESS";
    pub const INTERNAL_ERROR: &str = "INTERNAL_ERROR";
    pub const TEMPORARILY_UNAVAILABLE: &str = "TEMPORARILY_UNAVAILABLE";
}

/// One field at fault in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub field: String,
    pub description: String,
}

impl Violation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }

    /// The fields at fault, in the order they were found.
    pub fn fields(violations: &[Violation]) -> Vec<&str> {
        violations.iter().map(|v| v.field.as_str()).collect()
    }
}

/// The most characters of a client's input an error message repeats.
pub const MAX_QUOTE_CHARS: usize = 64;

/// The longest message a status carries. It travels in a header
/// (`grpc-message`), which clients cap (8 KiB by default in many), so a
/// message that quoted too much would turn one error into another.
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// A client's input as an error message may repeat it: quoted, escaped, and
/// cut to [`MAX_QUOTE_CHARS`] characters, so an error never echoes what it
/// refuses.
pub fn quote(input: &str) -> String {
    let mut chars = input.chars();
    let head: String = chars.by_ref().take(MAX_QUOTE_CHARS).collect();
    if chars.next().is_some() {
        format!("{:?}… ({} characters)", head, input.chars().count())
    } else {
        format!("{head:?}")
    }
}
