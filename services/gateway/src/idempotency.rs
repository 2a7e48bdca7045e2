//! The request id of a state-changing call (buy, renew, cancel, complete):
//! the client's `Idempotency-Key`, passed on as the service's
//! `request_id`, so that a retry with the same key is answered with the
//! first call's result and charged once.
//!
//! A call without the header is not refused: seed 004's clients never send
//! one, and buy activations in parallel with identical bodies, which a key
//! derived from the body would wrongly merge into one. The gateway gives
//! such a call a fresh UUIDv7 of its own: the call is charged once, however
//! the services retry inside it, but a client's own retry of it is a new
//! call. A client that retries sends the header.

use axum::extract::FromRequestParts;
use http::request::Parts;

use crate::reply::ApiError;

/// The header, as seed 000 names it.
pub const HEADER: &str = "Idempotency-Key";

/// A call's request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.headers.get(HEADER) {
            None => Ok(RequestId(uuid::Uuid::now_v7().to_string())),
            Some(value) => value
                .to_str()
                .map_err(|_| "must be printable ASCII without spaces".to_owned())
                .and_then(numhub_runtime::validate::request_id)
                .map(RequestId)
                .map_err(|description| ApiError::invalid(HEADER, description)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(value: Option<&str>) -> Result<RequestId, ApiError> {
        let mut request = http::Request::builder();
        if let Some(value) = value {
            request = request.header(HEADER, value);
        }
        let (mut parts, ()) = request.body(()).unwrap().into_parts();
        RequestId::from_request_parts(&mut parts, &()).await
    }

    #[tokio::test]
    async fn the_key_is_the_request_id_or_a_fresh_one_per_call() {
        let key = "5f9b1b3a-c4e9-4f7c-a3b3-1c8b3e8f8f8f";
        assert_eq!(read(Some(key)).await.unwrap().0, key);
        let one = read(None).await.unwrap().0;
        let two = read(None).await.unwrap().0;
        assert_ne!(one, two);
        assert!(uuid::Uuid::parse_str(&one).is_ok());
    }

    #[tokio::test]
    async fn a_malformed_key_is_refused_naming_the_header() {
        for bad in ["", "with space", &"k".repeat(300)] {
            let error = read(Some(bad)).await.unwrap_err();
            assert_eq!(error.status, http::StatusCode::BAD_REQUEST, "{bad:?}");
            assert_eq!(error.errors[0].field, HEADER);
        }
    }
}
