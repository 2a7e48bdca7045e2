//! Rentals' errors and their gRPC statuses.

pub use numhub_runtime::error::{Failure, Refusal};

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

#[cfg(feature = "fault-injection")]
use crate::model::Step;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// What the client is told, as it is.
    #[error(transparent)]
    Failed(#[from] Failure),
    /// A fault injected by a test between two steps of a saga.
    #[cfg(feature = "fault-injection")]
    #[error("injected crash at {0:?}")]
    Crashed(Step),
}

impl Error {
    pub fn not_found(resource: &'static str, id: impl Into<String>) -> Self {
        Failure::not_found(resource, id).into()
    }

    pub fn key_reused(request_id: &str) -> Self {
        Failure::key_reused(request_id).into()
    }

    /// The purchase, or a renewal, of the rental has not finished yet.
    pub fn in_progress() -> Self {
        Failure::InProgress(
            "a purchase or renewal of the rental is in progress; retry shortly".into(),
        )
        .into()
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
