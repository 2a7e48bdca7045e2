//! Why a command failed, as one line on standard error and an exit code:
//! 2 for a usage error, 1 for anything else.

use std::fmt::Write as _;
use std::io;

use tonic::Code;
use tonic_types::StatusExt as _;

use crate::output::clean;

/// A command's failure.
#[derive(Debug)]
pub enum Failure {
    /// The command line cannot work (exit code 2).
    Usage(String),
    /// numhub answered with an error.
    Rpc(tonic::Status),
    /// A purchase (or a renewal) failed in a way a retry with the same
    /// request id finishes (or undoes) without paying twice.
    Purchase {
        status: tonic::Status,
        request_id: String,
        /// What the retry does, e.g. "finish this purchase without buying
        /// twice".
        retry: &'static str,
    },
    /// numhub cannot be reached at the address.
    Unreachable { addr: String, cause: String },
    /// Anything else worth one line (exit code 1).
    Message(String),
    /// Standard output or error could not be written.
    Io(io::Error),
}

impl From<tonic::Status> for Failure {
    fn from(status: tonic::Status) -> Self {
        Self::Rpc(status)
    }
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

impl Failure {
    /// The failure of a purchase made with `request_id`: when the outcome
    /// is unknown or pending, the line says how to retry it safely.
    pub fn purchase(status: tonic::Status, request_id: &str) -> Self {
        Self::money(
            status,
            request_id,
            "finish this purchase without buying twice",
        )
    }

    /// The failure of a renewal made with `request_id`, as
    /// [`Failure::purchase`].
    pub fn renewal(status: tonic::Status, request_id: &str) -> Self {
        Self::money(
            status,
            request_id,
            "finish this renewal without paying twice",
        )
    }

    fn money(status: tonic::Status, request_id: &str, retry: &'static str) -> Self {
        let retryable = matches!(
            status.code(),
            Code::Unavailable
                | Code::Aborted
                | Code::DeadlineExceeded
                | Code::Cancelled
                | Code::Unknown
        );
        if retryable {
            Self::Purchase {
                status,
                request_id: request_id.to_owned(),
                retry,
            }
        } else {
            Self::Rpc(status)
        }
    }

    /// The exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            Self::Io(e) if e.kind() == io::ErrorKind::BrokenPipe => 0,
            _ => 1,
        }
    }

    /// The one line to show, without the `numhub: ` prefix; None when there
    /// is nothing to say (the reader of our output went away).
    pub fn line(&self, addr: &str) -> Option<String> {
        let line = match self {
            Self::Usage(text) | Self::Message(text) => text.clone(),
            Self::Rpc(status) => describe(status, addr),
            Self::Purchase {
                status,
                request_id,
                retry,
            } => format!(
                "{}; run the command again with --request-id {request_id} to {retry}",
                describe(status, addr)
            ),
            Self::Unreachable { addr, cause } => {
                format!("cannot reach numhub at {addr}: {cause}")
            }
            Self::Io(e) if e.kind() == io::ErrorKind::BrokenPipe => return None,
            Self::Io(e) => format!("cannot write the output: {e}"),
        };
        Some(clean(&line))
    }
}

/// The canonical name of a gRPC code, e.g. "FAILED_PRECONDITION".
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The flag of the command line that fills a request field, for an
/// INVALID_ARGUMENT naming it.
fn flag_of(field: &str) -> Option<&'static str> {
    let top = field.split(['.', '[']).next().unwrap_or(field);
    Some(match top {
        "service_code" => "--service",
        "country_code" => "--country",
        "operator" => "--operator",
        "max_price" => "--max-price",
        "request_id" => "--request-id",
        "after" => "--after",
        "name" => "--name",
        "scopes" => "--scope",
        "statuses" => "--status",
        "number_type" => "--type",
        "duration" => "--duration",
        "filter" => "--filter",
        _ => return None,
    })
}

/// One line for an error status: its ErrorInfo reason and message, the
/// fields a BadRequest names, what to do about a missing or invalid key,
/// and the address when numhub cannot be reached.
pub fn describe(status: &tonic::Status, addr: &str) -> String {
    let details = status.get_error_details();
    let reason = details
        .error_info()
        .map(|info| info.reason.clone())
        .unwrap_or_default();
    let message = status.message().trim();
    let label = if reason.is_empty() {
        code_name(status.code()).to_owned()
    } else {
        reason.clone()
    };
    match status.code() {
        Code::Unauthenticated => {
            return format!(
                "{label}: the API key is missing or invalid; pass a key numhub issued with \
                 --key or set NUMHUB_API_KEY"
            );
        }
        Code::InvalidArgument => {
            if let Some(bad) = details.bad_request()
                && !bad.field_violations.is_empty()
            {
                let mut line = format!("{label}:");
                for (i, v) in bad.field_violations.iter().enumerate() {
                    let sep = if i == 0 { " " } else { "; " };
                    let _ = write!(line, "{sep}{}", v.field);
                    if let Some(flag) = flag_of(&v.field) {
                        let _ = write!(line, " ({flag})");
                    }
                    let _ = write!(line, ": {}", v.description);
                }
                return line;
            }
        }
        // The transport's own UNAVAILABLE (no ErrorInfo): nobody answered.
        Code::Unavailable if reason.is_empty() => {
            return format!("cannot reach numhub at {addr}: {message}");
        }
        Code::ResourceExhausted => {
            if let Some(delay) = details.retry_info().and_then(|r| r.retry_delay) {
                let secs = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
                return format!("{label}: {message} (retry in {secs}s)");
            }
        }
        Code::Unimplemented => {
            return format!("{label}: the server at {addr} does not serve this ({message})");
        }
        _ => {}
    }
    if message.is_empty() {
        label
    } else {
        format!("{label}: {message}")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use tonic_types::{ErrorDetails, FieldViolation};

    use super::*;

    fn with_reason(code: Code, reason: &str, message: &str) -> tonic::Status {
        tonic::Status::with_error_details(
            code,
            message,
            ErrorDetails::with_error_info(reason, "numhub.dev", HashMap::new()),
        )
    }

    #[test]
    fn a_refusal_shows_its_reason_and_message() {
        let status = with_reason(
            Code::FailedPrecondition,
            "INSUFFICIENT_BALANCE",
            "the balance of 10 minor units is less than 45",
        );
        assert_eq!(
            describe(&status, "http://x"),
            "INSUFFICIENT_BALANCE: the balance of 10 minor units is less than 45"
        );
    }

    #[test]
    fn invalid_arguments_name_their_fields_and_flags() {
        let mut details = ErrorDetails::with_bad_request(vec![
            FieldViolation::new("country_code", "must be an ISO 3166-1 alpha-2 code"),
            FieldViolation::new("page_size", "must be at most 100"),
        ]);
        details.set_error_info("INVALID_FIELD", "numhub.dev", HashMap::new());
        let status =
            tonic::Status::with_error_details(Code::InvalidArgument, "invalid request", details);
        assert_eq!(
            describe(&status, "http://x"),
            "INVALID_FIELD: country_code (--country): must be an ISO 3166-1 alpha-2 code; \
             page_size: must be at most 100"
        );
    }

    #[test]
    fn a_bad_key_says_how_to_set_one() {
        let status = with_reason(
            Code::Unauthenticated,
            "INVALID_API_KEY",
            "the API key is not valid",
        );
        let line = describe(&status, "http://x");
        assert!(line.starts_with("INVALID_API_KEY: "), "{line}");
        assert!(line.contains("NUMHUB_API_KEY"), "{line}");
    }

    #[test]
    fn an_unreachable_server_names_its_address() {
        let status = tonic::Status::unavailable("tcp connect error");
        assert_eq!(
            describe(&status, "http://127.0.0.1:9"),
            "cannot reach numhub at http://127.0.0.1:9: tcp connect error"
        );
        let shutting_down = with_reason(
            Code::Unavailable,
            "TEMPORARILY_UNAVAILABLE",
            "shutting down",
        );
        assert_eq!(
            describe(&shutting_down, "http://x"),
            "TEMPORARILY_UNAVAILABLE: shutting down"
        );
    }

    #[test]
    fn an_unfinished_purchase_says_how_to_retry_it() {
        let status = with_reason(
            Code::Unavailable,
            "TEMPORARILY_UNAVAILABLE",
            "the wallet is unavailable",
        );
        let line = Failure::purchase(status, "buy-1").line("http://x").unwrap();
        assert_eq!(
            line,
            "TEMPORARILY_UNAVAILABLE: the wallet is unavailable; run the command again with \
             --request-id buy-1 to finish this purchase without buying twice"
        );
        let aborted = with_reason(
            Code::Aborted,
            "REQUEST_IN_PROGRESS",
            "a purchase or renewal of the rental is in progress; retry shortly",
        );
        let line = Failure::renewal(aborted, "renew-1")
            .line("http://x")
            .unwrap();
        assert!(
            line.ends_with(
                "; run the command again with --request-id renew-1 to finish this renewal \
                 without paying twice"
            ),
            "{line}"
        );
        let refused = with_reason(Code::FailedPrecondition, "INSUFFICIENT_BALANCE", "short");
        assert!(matches!(
            Failure::purchase(refused, "buy-1"),
            Failure::Rpc(_)
        ));
    }

    #[test]
    fn rate_limits_say_when_to_retry() {
        let mut details = ErrorDetails::with_retry_info(Some(Duration::from_millis(1500)));
        details.set_error_info("RATE_LIMITED", "numhub.dev", HashMap::new());
        let status = tonic::Status::with_error_details(
            Code::ResourceExhausted,
            "rate limit of 60 requests per minute reached; retry later",
            details,
        );
        assert_eq!(
            describe(&status, "http://x"),
            "RATE_LIMITED: rate limit of 60 requests per minute reached; retry later (retry in 2s)"
        );
    }

    #[test]
    fn a_status_without_details_shows_its_code() {
        let status = tonic::Status::internal("boom\nsecond line");
        let line = Failure::Rpc(status).line("http://x").unwrap();
        assert_eq!(line, "INTERNAL: boom second line");
        assert_eq!(
            Failure::Io(io::Error::from(io::ErrorKind::BrokenPipe)).line("x"),
            None
        );
    }
}
