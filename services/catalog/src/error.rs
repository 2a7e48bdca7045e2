//! The catalog's errors and their gRPC statuses.
//!
//! A [`Rejection`] is LeaseNumber's business answer: it is recorded under
//! the request's idempotency key, so a retry gets the same answer. An
//! [`Error`] is anything that can go wrong while answering.

use numhub_runtime::error::{Failure, Refusal, reason};

/// Reasons of the catalog's own refusals (FAILED_PRECONDITION).
pub mod catalog_reason {
    pub const NO_NUMBERS_AVAILABLE: &str = "NO_NUMBERS_AVAILABLE";
    pub const PRICE_ABOVE_MAX: &str = "PRICE_ABOVE_MAX";
    pub const NOT_OFFERED: &str = "NOT_OFFERED";
    pub const LEASE_ENDED: &str = "LEASE_ENDED";
    pub const ACTIVATE_ID_TAKEN: &str = "ACTIVATE_ID_TAKEN";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    /// The service or country is unknown or disabled (NOT_FOUND).
    NotFound,
    NotOffered,
    NoNumbersAvailable,
    PriceAboveMax,
}

impl RejectionKind {
    const ALL: [RejectionKind; 4] = [
        Self::NotFound,
        Self::NotOffered,
        Self::NoNumbersAvailable,
        Self::PriceAboveMax,
    ];

    /// The name stored with a recorded outcome.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => reason::RESOURCE_NOT_FOUND,
            Self::NotOffered => catalog_reason::NOT_OFFERED,
            Self::NoNumbersAvailable => catalog_reason::NO_NUMBERS_AVAILABLE,
            Self::PriceAboveMax => catalog_reason::PRICE_ABOVE_MAX,
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// Why LeaseNumber gave no number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Rejection {
    pub kind: RejectionKind,
    pub message: String,
}

impl Rejection {
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
    pub fn not_found(resource: &'static str, id: impl Into<String>) -> Self {
        Failure::not_found(resource, id).into()
    }

    pub fn invalid(field: &str, description: impl Into<String>) -> Self {
        Failure::invalid(field, description).into()
    }

    pub fn lease_ended(id: &str) -> Self {
        let message = format!("lease {id:?} has ended");
        Failure::Refused(Refusal::new(catalog_reason::LEASE_ENDED, message)).into()
    }

    pub fn activate_id_taken(id: i32) -> Self {
        let message = format!("activate_id {id} belongs to another country");
        Failure::Refused(Refusal::new(catalog_reason::ACTIVATE_ID_TAKEN, message)).into()
    }

    pub fn key_reused(request_id: &str) -> Self {
        Failure::key_reused(request_id).into()
    }

    /// What the client is told.
    pub fn kind(self) -> Failure {
        match self {
            Self::Failed(failure) => failure,
            // A kind's name is its reason (RESOURCE_NOT_FOUND for NotFound).
            Self::Rejected(rejection) => {
                Failure::Refused(Refusal::new(rejection.kind.as_str(), rejection.message))
            }
        }
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
        let status = Status::from(Error::from(Rejection::new(
            RejectionKind::PriceAboveMax,
            "dear",
        )));
        assert_eq!(status.code(), Code::FailedPrecondition);
        let info = status.get_error_details().error_info().cloned().unwrap();
        assert_eq!(info.reason, "PRICE_ABOVE_MAX");
        let status = Status::from(Error::from(Rejection::new(RejectionKind::NotFound, "x")));
        assert_eq!(status.code(), Code::NotFound);
        let status = Status::from(Error::invalid("expire_time", "is required"));
        assert_eq!(status.code(), Code::InvalidArgument);
    }
}
