//! The mapping from numhub's errors to gRPC statuses: canonical codes, a
//! stable machine reason in `google.rpc.ErrorInfo`, field violations in
//! `google.rpc.BadRequest`, and never any database text for internal errors.

use std::collections::HashMap;
use std::fmt::Write as _;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

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
}

/// Builds a status with an `ErrorInfo` detail.
pub fn status(code: Code, reason: &str, message: impl Into<String>) -> Status {
    status_with_metadata(code, reason, message, HashMap::new())
}

/// Builds a status with an `ErrorInfo` detail carrying metadata.
pub fn status_with_metadata(
    code: Code,
    reason: &str,
    message: impl Into<String>,
    metadata: HashMap<String, String>,
) -> Status {
    let details = ErrorDetails::with_error_info(reason, ERROR_DOMAIN, metadata);
    Status::with_error_details(code, bounded(message.into()), details)
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

/// `message`, cut to [`MAX_MESSAGE_BYTES`] on a character boundary: the last
/// line of defence should a message ever quote more than [`quote`] allows.
fn bounded(mut message: String) -> String {
    if message.len() > MAX_MESSAGE_BYTES {
        let mut end = MAX_MESSAGE_BYTES - '…'.len_utf8();
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    message
}

/// INVALID_ARGUMENT naming every field at fault.
pub fn invalid_argument(violations: &[Violation]) -> Status {
    let mut message = String::from("invalid request:");
    for (i, v) in violations.iter().enumerate() {
        let sep = if i == 0 { " " } else { "; " };
        let _ = write!(message, "{sep}{}: {}", v.field, v.description);
    }
    let mut details = ErrorDetails::with_bad_request(
        violations
            .iter()
            .map(|v| FieldViolation::new(v.field.clone(), v.description.clone()))
            .collect::<Vec<_>>(),
    );
    details.set_error_info(reason::INVALID_FIELD, ERROR_DOMAIN, HashMap::new());
    Status::with_error_details(Code::InvalidArgument, bounded(message), details)
}

/// NOT_FOUND for a resource that does not exist or belongs to someone else;
/// the two cases are indistinguishable on purpose.
pub fn not_found(resource: &str, id: &str) -> Status {
    status(
        Code::NotFound,
        reason::RESOURCE_NOT_FOUND,
        format!("{resource} {} not found", quote(id)),
    )
}

/// INTERNAL without any detail of the cause, which goes to the log with its
/// whole chain instead.
pub fn internal(error: &(dyn std::error::Error + 'static)) -> Status {
    tracing::error!(error = %error_chain(error), "internal error");
    status(Code::Internal, reason::INTERNAL_ERROR, "internal error")
}

/// An error and its sources, joined with ": ".
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

/// A business refusal: FAILED_PRECONDITION with a stable reason (or
/// NOT_FOUND for RESOURCE_NOT_FOUND), recorded under a purchase's request
/// id so a retry gets the same answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub reason: String,
    pub message: String,
    pub metadata: Vec<(String, String)>,
}

impl Refusal {
    pub fn new(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            message: message.into(),
            metadata: Vec::new(),
        }
    }

    pub fn with(mut self, key: &str, value: impl ToString) -> Self {
        self.metadata.push((key.to_owned(), value.to_string()));
        self
    }

    /// A request found invalid by another service (a price limit in a
    /// currency only the catalog knows) as a refusal a saga can record:
    /// reason INVALID_FIELD, "field: description" joined by "; ".
    pub fn invalid(violations: &[Violation]) -> Self {
        let described = violations
            .iter()
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect::<Vec<_>>()
            .join("; ");
        Self::new(reason::INVALID_FIELD, described)
    }

    /// The field violations of a refusal made by [`Refusal::invalid`];
    /// `None` for a business refusal.
    pub fn violations(reason: &str, message: &str) -> Option<Vec<Violation>> {
        (reason == reason::INVALID_FIELD).then(|| {
            message
                .split("; ")
                .map(|v| {
                    let (field, description) = v.split_once(": ").unwrap_or(("request", v));
                    Violation::new(field, description)
                })
                .collect()
        })
    }
}

/// The violations an upstream service found in `fields`, the ones a
/// caller passed on from its client unchecked; empty when it named none
/// of them (then the fault is the caller's own).
pub fn client_violations(status: &Status, fields: &[&str]) -> Vec<Violation> {
    status
        .get_error_details()
        .bad_request()
        .map(|br| {
            br.field_violations
                .iter()
                .filter(|v| fields.contains(&v.field.as_str()))
                .map(|v| Violation::new(v.field.clone(), v.description.clone()))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_names_every_field() {
        let status = invalid_argument(&[
            Violation::new("amount", "must be positive"),
            Violation::new("request_id", "is required"),
        ]);
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let fields: Vec<_> = details
            .bad_request()
            .unwrap()
            .field_violations
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        assert_eq!(fields, ["amount", "request_id"]);
        assert_eq!(details.error_info().unwrap().reason, reason::INVALID_FIELD);
        assert!(status.message().contains("amount: must be positive"));
    }

    #[test]
    fn errors_never_echo_more_than_a_short_quote() {
        assert_eq!(quote("wa"), "\"wa\"");
        let long = "A".repeat(1 << 20);
        let status = not_found("account", &long);
        assert!(status.message().len() < 120, "{}", status.message());
        assert!(status.message().contains("1048576 characters"));
        // Whatever a message is built from, it stays short.
        let built = super::status(Code::NotFound, reason::RESOURCE_NOT_FOUND, long.clone());
        assert!(built.message().len() <= MAX_MESSAGE_BYTES);
        let many: Vec<_> = (0..500)
            .map(|i| Violation::new(format!("field_{i}"), "ж is not allowed here"))
            .collect();
        assert!(invalid_argument(&many).message().len() <= MAX_MESSAGE_BYTES);
        // Escaped, so a quote cannot forge the rest of a message or a log line.
        assert_eq!(quote("a\"\nb"), "\"a\\\"\\nb\"");
    }

    #[test]
    fn invalid_refusals_keep_their_violations() {
        let violations = [
            Violation::new("max_price", "currency_code must be USD"),
            Violation::new("request_id", "is required"),
        ];
        let refusal = Refusal::invalid(&violations);
        assert_eq!(refusal.reason, reason::INVALID_FIELD);
        let read = Refusal::violations(&refusal.reason, &refusal.message).unwrap();
        assert_eq!(read, violations);
        assert_eq!(Refusal::violations("NO_NUMBERS_AVAILABLE", "none"), None);
        let upstream = invalid_argument(&violations);
        assert_eq!(
            client_violations(&upstream, &["max_price"]),
            violations[..1]
        );
        assert!(client_violations(&upstream, &["operator"]).is_empty());
    }

    #[test]
    fn internal_hides_the_cause() {
        let cause = std::io::Error::other("relation \"ledger\" does not exist");
        let status = internal(&cause);
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal error");
        assert!(!format!("{:?}", status.details()).contains("ledger"));
    }
}
