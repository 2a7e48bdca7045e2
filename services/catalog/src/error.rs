//! The catalog's errors and their gRPC statuses.
//!
//! A [`Rejection`] is LeaseNumber's business answer: it is recorded under
//! the request's idempotency key, so a retry gets the same answer. An
//! [`Error`] is anything that can go wrong while answering.

use numhub_runtime::error::{self as errors, Failure, Refusal, reason};

/// Reasons of the catalog's own refusals (FAILED_PRECONDITION).
pub mod catalog_reason {
    pub const NO_NUMBERS_AVAILABLE: &str = "NO_NUMBERS_AVAILABLE";
    pub const PRICE_ABOVE_MAX: &str = "PRICE_ABOVE_MAX";
    pub const NOT_OFFERED: &str = "NOT_OFFERED";
    pub const LEASE_ENDED: &str = "LEASE_ENDED";
    pub const ACTIVATE_ID_TAKEN: &str = "ACTIVATE_ID_TAKEN";
}

/// The kinds of LeaseNumber's refusals, stored by name with the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    /// The service or country is unknown or disabled (NOT_FOUND).
    NotFound,
    NotOffered,
    NoNumbersAvailable,
    PriceAboveMax,
}

impl errors::RejectionKind for RejectionKind {
    const ALL: &'static [Self] = &[
        Self::NotFound,
        Self::NotOffered,
        Self::NoNumbersAvailable,
        Self::PriceAboveMax,
    ];

    /// A kind's name is its reason (RESOURCE_NOT_FOUND for NotFound).
    fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => reason::RESOURCE_NOT_FOUND,
            Self::NotOffered => catalog_reason::NOT_OFFERED,
            Self::NoNumbersAvailable => catalog_reason::NO_NUMBERS_AVAILABLE,
            Self::PriceAboveMax => catalog_reason::PRICE_ABOVE_MAX,
        }
    }
}

/// Why LeaseNumber gave no number.
pub type Rejection = errors::Rejection<RejectionKind>;

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
