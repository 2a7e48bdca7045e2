//! Rentals' own refusals; every error is a runtime [`Failure`].

pub use numhub_runtime::error::{Failure, Refusal};

/// Reasons of rentals' own refusals (FAILED_PRECONDITION). The catalog's
/// and the wallet's (NO_NUMBERS_AVAILABLE, INSUFFICIENT_BALANCE, ...) pass
/// through unchanged.
pub mod rentals_reason {
    pub const NUMBER_EXPIRED: &str = "NUMBER_EXPIRED";
    pub const RENTAL_ENDED: &str = "RENTAL_ENDED";
    pub const OTHER_SERVICE: &str = "OTHER_SERVICE";
    pub use numhub_holding::purchase::PURCHASE_TIMED_OUT;
    /// A renewal's price is above the customer's limit: the catalog's
    /// reason for a purchase, so both read alike.
    pub const PRICE_ABOVE_MAX: &str = "PRICE_ABOVE_MAX";
}

/// The purchase, or a renewal, of the rental has not finished yet.
pub fn in_progress() -> Failure {
    Failure::InProgress("a purchase or renewal of the rental is in progress; retry shortly".into())
}
