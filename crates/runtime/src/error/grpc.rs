//! Builders of gRPC statuses in numhub's shape: an `ErrorInfo` with a
//! stable reason on every status, and a bounded message.

use std::collections::HashMap;
use std::fmt::Write as _;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use super::{ERROR_DOMAIN, MAX_MESSAGE_BYTES, Violation, quote, reason};

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
    fn internal_hides_the_cause() {
        let cause = std::io::Error::other("relation \"ledger\" does not exist");
        let status = internal(&cause);
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal error");
        assert!(!format!("{:?}", status.details()).contains("ledger"));
    }
}
