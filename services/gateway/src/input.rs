//! Reading a request: a JSON body and query parameters into the route's
//! own types, refused with 400 naming the field at fault and never
//! echoing the input whole.

use axum::extract::{FromRequest, FromRequestParts, Request};
use bytes::Bytes;
use http::request::Parts;
use numhub_runtime::error::quote;
use serde::de::DeserializeOwned;

use crate::reply::ApiError;

/// A JSON body. An empty body reads as `{}` (seed 004's clients send
/// `Content-Type: application/json` with no body on complete and cancel);
/// a body that is not JSON is 415.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let json = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| {
                let essence = v.split(';').next().unwrap_or_default().trim();
                essence.eq_ignore_ascii_case("application/json")
                    || essence.to_ascii_lowercase().ends_with("+json")
            });
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|_| ApiError::invalid("body", "cannot be read"))?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else if json {
            &bytes
        } else {
            return Err(ApiError::new(
                http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with `Content-Type: application/json`",
            ));
        };
        // Every body of the API is an object; serde would take an array
        // for a struct, field by field.
        if text.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::invalid("body", "must be a JSON object"));
        }
        let mut deserializer = serde_json::Deserializer::from_slice(text);
        let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            let path = error.path().to_string();
            let inner = error.into_inner();
            let (field, message) = if inner.is_data() {
                let message = inner.to_string();
                let field = named_in(&message).unwrap_or_else(|| field_of(&path, "body"));
                (field, without_input(&message))
            } else {
                let message = format!(
                    "is not valid JSON (line {}, column {})",
                    inner.line(),
                    inner.column()
                );
                ("body".to_owned(), message)
            };
            ApiError::invalid(&field, message)
        })?;
        deserializer
            .end()
            .map_err(|_| ApiError::invalid("body", "has more after its JSON value"))?;
        Ok(JsonBody(value))
    }
}

/// Query parameters.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        parse_form(query.as_bytes()).map(Params)
    }
}

/// `application/x-www-form-urlencoded` text (a query string or a form
/// body) into `T`, refused naming the parameter at fault.
pub fn parse_form<T: DeserializeOwned>(form: &[u8]) -> Result<T, ApiError> {
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(form));
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        let field = named_in(&message).unwrap_or_else(|| field_of(&path, "query"));
        ApiError::invalid(&field, without_input(&message))
    })
}

/// The field a deserializer's path names, or `whole` for the input itself;
/// a missing field is named in the message (`missing field `x``).
fn field_of(path: &str, whole: &str) -> String {
    // `?` is the deserializer's name for a place it could not tell, e.g.
    // the end of a cut-off body.
    if path.is_empty() || path == "." || path == "?" {
        whole.to_owned()
    } else {
        path.to_owned()
    }
}

/// The field a deserializer's message names when it is not in the path:
/// a missing field, or one the type does not have.
fn named_in(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("missing field `")
        .or_else(|| message.strip_prefix("unknown field `"))?;
    let name = rest.split('`').next()?;
    (!name.is_empty() && name.len() <= 64).then(|| name.to_owned())
}

/// A deserializer's message with each quoted piece of input cut, so that
/// an error never echoes the input whole: `invalid type: string "…",
/// expected …`.
fn without_input(message: &str) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(start) = rest.find('"') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('"') {
            Some(end) => {
                out.push_str(&quote(&after[..end]));
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&quote(after));
                rest = "";
            }
        }
    }
    out.push_str(rest);
    // A missing field is the field at fault, named in its message.
    out.split(" at line ").next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_input_is_cut() {
        let long = "x".repeat(500);
        let message = without_input(&format!(
            "invalid type: string \"{long}\", expected a number at line 1 column 600"
        ));
        assert!(message.len() < 200, "{message}");
        assert!(message.starts_with("invalid type: string \"xxx"));
        assert!(message.ends_with("expected a number"));
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Page {
        limit: Option<u32>,
        cursor: Option<String>,
    }

    #[test]
    fn a_bad_parameter_is_named() {
        let error = parse_form::<Page>(b"limit=abc").unwrap_err();
        assert_eq!(error.status, http::StatusCode::BAD_REQUEST);
        assert_eq!(error.errors[0].field, "limit");
        assert!(parse_form::<Page>(b"limit=5&cursor=c").is_ok());
    }
}
