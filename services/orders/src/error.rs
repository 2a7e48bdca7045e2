//! Orders' errors and their gRPC statuses.

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

pub use numhub_runtime::error::{Failure, Refusal};

#[cfg(feature = "fault-injection")]
use crate::model::Step;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// What the client is told, as it is.
    #[error(transparent)]
    Failed(#[from] Failure),
    /// A fault injected by a test between two steps of the saga.
    #[cfg(feature = "fault-injection")]
    #[error("injected crash at {0:?}")]
    Crashed(Step),
}

impl Error {
    pub fn not_found(resource: &'static str, id: impl Into<String>) -> Self {
        Failure::not_found(resource, id).into()
    }

    pub fn invalid(field: &str, description: impl Into<String>) -> Self {
        Failure::invalid(field, description).into()
    }

    pub fn key_reused(request_id: &str) -> Self {
        Failure::key_reused(request_id).into()
    }

    /// The purchase of the activation has not finished yet.
    pub fn in_progress() -> Self {
        Failure::InProgress("the purchase is still in progress; retry shortly".into()).into()
    }

    /// What the client is told.
    pub fn kind(self) -> Failure {
        match self {
            Self::Failed(failure) => failure,
            #[cfg(feature = "fault-injection")]
            Self::Crashed(_) => Failure::interrupted(),
        }
    }
}

impl From<Refusal> for Error {
    fn from(refusal: Refusal) -> Self {
        Failure::Refused(refusal).into()
    }
}

numhub_runtime::service_error!(Error);

#[cfg(test)]
mod tests {
    use tonic::Code;
    use tonic::Status;

    use super::*;

    #[test]
    fn a_stream_that_ends_is_resumed() {
        let status = Status::from(Error::from(Failure::shutting_down()));
        assert_eq!(status.code(), Code::Unavailable);
        assert!(status.message().contains("cursor"));
    }
}
