//! Orders' own refusals; every error is a runtime [`Failure`].

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

/// The purchase of the activation has not finished yet.
pub fn in_progress() -> Failure {
    Failure::InProgress("the purchase is still in progress; retry shortly".into())
}
