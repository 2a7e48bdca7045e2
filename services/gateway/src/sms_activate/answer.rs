//! What the protocol answers, byte for byte: a plain-text token
//! (`ACCESS_BALANCE:49.55`, `NO_NUMBERS`) or a JSON document, always with
//! HTTP 200, errors included. Its clients read the outcome from the body
//! alone, and several of them turn any other status into a network error
//! and lose the token.
//!
//! A token is sent as `text/plain; charset=utf-8` with nothing after it
//! (clients compare whole bodies, or keep a trailing newline in the phone
//! number they split out); JSON as `application/json; charset=utf-8` (one
//! client decodes JSON only under that header).

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};
use serde::Serialize;

/// The protocol's tokens, spelled as its documentation and clients spell
/// them.
pub mod token {
    pub const ACCESS_BALANCE: &str = "ACCESS_BALANCE";
    pub const ACCESS_NUMBER: &str = "ACCESS_NUMBER";
    pub const ACCESS_READY: &str = "ACCESS_READY";
    pub const ACCESS_RETRY_GET: &str = "ACCESS_RETRY_GET";
    pub const ACCESS_ACTIVATION: &str = "ACCESS_ACTIVATION";
    pub const ACCESS_CANCEL: &str = "ACCESS_CANCEL";
    pub const STATUS_WAIT_CODE: &str = "STATUS_WAIT_CODE";
    pub const STATUS_WAIT_RETRY: &str = "STATUS_WAIT_RETRY";
    pub const STATUS_OK: &str = "STATUS_OK";
    pub const STATUS_CANCEL: &str = "STATUS_CANCEL";
    pub const STATUS_FINISH: &str = "STATUS_FINISH";

    pub const BAD_KEY: &str = "BAD_KEY";
    pub const BAD_ACTION: &str = "BAD_ACTION";
    pub const BAD_SERVICE: &str = "BAD_SERVICE";
    pub const BAD_COUNTRY: &str = "BAD_COUNTRY";
    pub const BAD_OPERATOR: &str = "BAD_OPERATOR";
    pub const BAD_STATUS: &str = "BAD_STATUS";
    pub const NO_NUMBERS: &str = "NO_NUMBERS";
    pub const NO_BALANCE: &str = "NO_BALANCE";
    pub const NO_ACTIVATION: &str = "NO_ACTIVATION";
    pub const NO_ACTIVATIONS: &str = "NO_ACTIVATIONS";
    pub const WRONG_ACTIVATION_ID: &str = "WRONG_ACTIVATION_ID";
    pub const WRONG_MAX_PRICE: &str = "WRONG_MAX_PRICE";
    pub const EARLY_CANCEL_DENIED: &str = "EARLY_CANCEL_DENIED";
    pub const CHANNELS_LIMIT: &str = "CHANNELS_LIMIT";
    pub const OPERATORS_NOT_FOUND: &str = "OPERATORS_NOT_FOUND";
    pub const ERROR_SQL: &str = "ERROR_SQL";

    // The rent actions' error `message`s.
    pub const NO_ID_RENT: &str = "NO_ID_RENT";
    pub const INCORECT_STATUS: &str = "INCORECT_STATUS";
    pub const ALREADY_FINISH: &str = "ALREADY_FINISH";
    pub const ALREADY_CANCEL: &str = "ALREADY_CANCEL";
    pub const INVALID_TIME: &str = "INVALID_TIME";
    pub const RENT_DIE: &str = "RENT_DIE";
    pub const OUT_OF_STOCK: &str = "OUT_OF_STOCK";
    pub const SERVER_ERROR: &str = "SERVER_ERROR";
}

/// One answer of the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A plain-text token, with its value after a colon when it has one.
    Text(String),
    /// A JSON document.
    Json(Vec<u8>),
}

impl Answer {
    /// A token alone: `NO_NUMBERS`.
    pub fn token(token: &str) -> Self {
        Self::Text(token.to_owned())
    }

    /// A token and its value: `ACCESS_BALANCE:49.55`.
    pub fn with(token: &str, value: impl std::fmt::Display) -> Self {
        Self::Text(format!("{token}:{value}"))
    }

    /// `body` as JSON.
    pub fn json(body: &impl Serialize) -> Self {
        // The gateway's own plain structs and maps with string keys, and
        // amounts checked when made: serializing cannot fail.
        Self::Json(serde_json::to_vec(body).expect("an answer serializes"))
    }

    /// A rent action's error: `{"status":"error","message":"NO_ID_RENT"}`.
    pub fn rent_error(message: &str) -> Self {
        Self::json(&RentError {
            status: "error",
            message,
        })
    }

    /// The body as text, for tests.
    pub fn text(&self) -> &str {
        match self {
            Self::Text(text) => text,
            Self::Json(bytes) => std::str::from_utf8(bytes).unwrap_or_default(),
        }
    }
}

#[derive(Serialize)]
struct RentError<'a> {
    status: &'static str,
    message: &'a str,
}

/// `{"status":"success"}`, the whole of some rent answers.
#[derive(Debug, Serialize)]
pub struct Success {
    pub status: &'static str,
}

impl Success {
    pub const SUCCESS: &'static str = "success";

    pub fn new() -> Self {
        Self {
            status: Self::SUCCESS,
        }
    }
}

impl Default for Success {
    fn default() -> Self {
        Self::new()
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let (content_type, body) = match self {
            Self::Text(text) => ("text/plain; charset=utf-8", text.into_bytes()),
            Self::Json(bytes) => ("application/json; charset=utf-8", bytes),
        };
        (
            StatusCode::OK,
            [(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static(content_type),
            )],
            body,
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_nothing_after_them() {
        assert_eq!(Answer::token(token::NO_NUMBERS).text(), "NO_NUMBERS");
        assert_eq!(
            Answer::with(token::ACCESS_BALANCE, "49.55").text(),
            "ACCESS_BALANCE:49.55"
        );
        assert_eq!(
            Answer::rent_error(token::NO_ID_RENT).text(),
            r#"{"status":"error","message":"NO_ID_RENT"}"#
        );
    }

    #[test]
    fn every_answer_is_200_with_its_content_type() {
        for (answer, content_type) in [
            (Answer::token(token::BAD_KEY), "text/plain; charset=utf-8"),
            (
                Answer::json(&Success::new()),
                "application/json; charset=utf-8",
            ),
        ] {
            let response = answer.into_response();
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.headers()[http::header::CONTENT_TYPE], content_type);
        }
    }
}
