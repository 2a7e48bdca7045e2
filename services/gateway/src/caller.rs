//! Who is calling: the API key an HTTP client presents, passed on as it is
//! to the public gRPC services, which decide auth, scopes, isolation and
//! rate limits exactly as they do for gRPC clients.

use axum::extract::FromRequestParts;
use http::HeaderMap;
use http::request::Parts;
use tonic::metadata::MetadataValue;

use crate::reply::ApiError;

/// The longest key the gateway passes on; numhub's keys are far shorter.
const MAX_KEY_LEN: usize = 256;

/// The caller's API key, from `Authorization: Bearer <key>`, `X-API-Key`
/// or `API-Key` (the headers the seeds' clients send).
#[derive(Clone)]
pub struct ApiKey(MetadataValue<tonic::metadata::Ascii>);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(…)")
    }
}

impl ApiKey {
    /// The key in `headers`, if the client sent one.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, ApiError> {
        let bearer = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, key) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then_some(key.trim())
            });
        let key = bearer
            .or_else(|| header(headers, "x-api-key"))
            .or_else(|| header(headers, "api-key"));
        match key {
            Some(key) => Self::new(key),
            None => Err(ApiError::unauthorized(
                "send an API key as `Authorization: Bearer <key>`, `X-API-Key: <key>` or \
                 `API-Key: <key>`",
            )),
        }
    }

    /// A key given as a parameter (the SMS-Activate protocol's `api_key`).
    pub fn new(key: &str) -> Result<Self, ApiError> {
        let valid = !key.is_empty()
            && key.len() <= MAX_KEY_LEN
            && key.bytes().all(|b| b.is_ascii_graphic());
        let value = valid
            .then(|| MetadataValue::try_from(format!("Bearer {key}")).ok())
            .flatten();
        value
            .map(Self)
            .ok_or_else(|| ApiError::unauthorized("the API key is not valid"))
    }

    /// `message` as a request to a public service on the caller's behalf:
    /// its key, and the trace context of the HTTP request being served.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        self.sign(&mut request);
        request
    }

    /// `message` as a request that opens a server stream on the caller's
    /// behalf: no per-call deadline ends it once open.
    pub fn stream<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = numhub_runtime::channel::open_ended(message);
        self.sign(&mut request);
        request
    }

    fn sign<T>(&self, request: &mut tonic::Request<T>) {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        let context =
            tracing_opentelemetry::OpenTelemetrySpanExt::context(&tracing::Span::current());
        numhub_runtime::telemetry::inject_context(&context, request.metadata_mut());
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

impl<S: Send + Sync> FromRequestParts<S> for ApiKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Self::from_headers(&parts.headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, value.parse().unwrap());
        }
        headers
    }

    fn presented(key: &ApiKey) -> String {
        key.0.to_str().unwrap().to_owned()
    }

    #[test]
    fn each_header_the_seeds_use_carries_the_key() {
        for pairs in [
            vec![("authorization", "Bearer nh_test_a")],
            vec![("authorization", "bearer nh_test_a")],
            vec![("x-api-key", "nh_test_a")],
            vec![("api-key", "nh_test_a")],
            // Bearer wins over the others.
            vec![
                ("authorization", "Bearer nh_test_a"),
                ("x-api-key", "other"),
            ],
        ] {
            let key = ApiKey::from_headers(&headers(&pairs)).unwrap();
            assert_eq!(presented(&key), "Bearer nh_test_a", "{pairs:?}");
        }
    }

    #[test]
    fn a_missing_or_malformed_key_is_unauthorized() {
        for pairs in [
            vec![],
            vec![("authorization", "Basic dXNlcjpwYXNz")],
            vec![("authorization", "Bearer ")],
            vec![("x-api-key", "")],
        ] {
            let error = ApiKey::from_headers(&headers(&pairs)).unwrap_err();
            assert_eq!(error.status, http::StatusCode::UNAUTHORIZED, "{pairs:?}");
        }
        assert!(ApiKey::new(&"k".repeat(MAX_KEY_LEN + 1)).is_err());
        assert!(ApiKey::new("with space").is_err());
    }
}
