//! What the gateway answers, in seed 000's conventions: one envelope for
//! every route, errors with a stable machine `code`, the caller's quota in
//! `X-RateLimit-*` headers, money as exact decimals and times in ISO 8601
//! UTC.
//!
//! The envelope rule, written once here so that the clients of both seeds
//! read every answer unchanged:
//! - one resource: `{"success": true, …its fields…, "data": {…its
//!   fields…}, "meta": {…}}`: its fields at the top level (seed 004's
//!   clients read `id`, `phoneNumber`, `status`, `smsCode` there, and seed
//!   000's `/v1/account` puts `balance` beside `success`) and the same
//!   object under `data` (seed 000's clients read `data.id`);
//! - a collection: `{"success": true, "data": […], "meta": {"count",
//!   "hasMore", "nextCursor", …}}`;
//! - an error: `{"success": false, "code": "…", "message": "…",
//!   "errors": [{"field", "message"}]}` with the matching HTTP status.

use std::time::{Duration, SystemTime};

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode};
use numhub_runtime::error::http_status;
use serde::Serialize;
use serde_json::value::RawValue;
use tonic::{Code, Status};
use tonic_types::StatusExt as _;
use utoipa::ToSchema;

const RATELIMIT_LIMIT: &str = "x-ratelimit-limit";
const RATELIMIT_REMAINING: &str = "x-ratelimit-remaining";

/// The caller's quota as the services reported it on their last answer.
#[derive(Debug, Clone, Default)]
pub struct Quota(Option<(HeaderValue, HeaderValue)>);

impl Quota {
    /// The quota in a gRPC answer's headers, if it carried one.
    pub fn of(metadata: &tonic::metadata::MetadataMap) -> Self {
        let headers = metadata.clone().into_headers();
        Self(
            headers
                .get(RATELIMIT_LIMIT)
                .cloned()
                .zip(headers.get(RATELIMIT_REMAINING).cloned()),
        )
    }

    fn write(&self, headers: &mut HeaderMap) {
        if let Some((limit, remaining)) = &self.0 {
            headers.insert("X-RateLimit-Limit", limit.clone());
            headers.insert("X-RateLimit-Remaining", remaining.clone());
        }
    }
}

/// A success: the envelope as JSON, with the caller's quota.
#[derive(Debug)]
pub struct Reply {
    status: StatusCode,
    body: Vec<u8>,
    quota: Quota,
}

impl Reply {
    /// 200 with `body`, one of [`One`] or [`Many`].
    pub fn ok(body: &impl Serialize, quota: Quota) -> Self {
        Self::with_status(StatusCode::OK, body, quota)
    }

    /// `status` with `body`.
    pub fn with_status(status: StatusCode, body: &impl Serialize, quota: Quota) -> Self {
        // Serializing the gateway's own types cannot fail: plain structs,
        // string keys, amounts checked when made.
        let body = serde_json::to_vec(body).expect("the envelope serializes");
        Self {
            status,
            body,
            quota,
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [(http::header::CONTENT_TYPE, "application/json")],
            self.body,
        )
            .into_response();
        self.quota.write(response.headers_mut());
        response
    }
}

/// One resource in the envelope: its fields at the top level and under
/// `data` (see the module's documentation).
#[derive(Debug, Serialize, ToSchema)]
pub struct One<T: Serialize, M: Serialize = NoMeta> {
    /// Always `true` on a success.
    pub success: bool,
    #[serde(flatten)]
    pub fields: T,
    /// The same resource, for clients that read it under `data`.
    pub data: T,
    #[serde(skip_serializing_if = "is_no_meta")]
    pub meta: Option<M>,
}

impl<T: Serialize + Clone> One<T> {
    pub fn new(resource: T) -> Self {
        One {
            success: true,
            fields: resource.clone(),
            data: resource,
            meta: None,
        }
    }
}

impl<T: Serialize + Clone, M: Serialize> One<T, M> {
    pub fn with_meta(resource: T, meta: M) -> Self {
        One {
            success: true,
            fields: resource.clone(),
            data: resource,
            meta: Some(meta),
        }
    }
}

fn is_no_meta<M>(meta: &Option<M>) -> bool {
    meta.is_none()
}

/// No `meta` for this resource.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NoMeta {}

/// A collection in the envelope: its items under `data`, its page (or,
/// for a complete list, its count) in `meta`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Many<T: Serialize, M: Serialize = Page> {
    /// Always `true` on a success.
    pub success: bool,
    pub data: Vec<T>,
    pub meta: M,
}

impl<T: Serialize> Many<T> {
    /// `items`, with the cursor of the next page (`None` on the last).
    pub fn new(items: Vec<T>, next_cursor: Option<String>, page_size: u32) -> Self {
        let meta = Page::of(items.len(), next_cursor, page_size);
        Self::with_meta(items, meta)
    }
}

impl<T: Serialize> Many<T, Count> {
    /// Every item there is, in one answer.
    pub fn complete(items: Vec<T>) -> Self {
        let meta = Count { count: items.len() };
        Self::with_meta(items, meta)
    }
}

impl<T: Serialize, M: Serialize> Many<T, M> {
    pub fn with_meta(items: Vec<T>, meta: M) -> Self {
        Many {
            success: true,
            data: items,
            meta,
        }
    }
}

/// How many items an answer holds.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Count {
    pub count: usize,
}

/// Where a collection's page stands: pass `nextCursor` back as `cursor`
/// for the next one.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    /// The items on this page.
    pub count: usize,
    /// The most items a page holds.
    pub page_size: u32,
    /// Whether another page follows.
    pub has_more: bool,
    /// The opaque cursor of the next page; null on the last.
    pub next_cursor: Option<String>,
}

impl Page {
    /// A page of `count` items, with the cursor of the next (`None` on the
    /// last).
    pub fn of(count: usize, next_cursor: Option<String>, page_size: u32) -> Self {
        Page {
            count,
            page_size,
            has_more: next_cursor.is_some(),
            next_cursor,
        }
    }
}

/// An amount of money as an exact JSON number with its currency's minor
/// digits (`124.50`), converted from integer minor units without floating
/// point.
#[derive(Debug, Clone, ToSchema)]
#[schema(value_type = f64, example = 124.5)]
pub struct Amount(String);

impl Amount {
    /// `money`'s amount; zero when it is unset.
    pub fn of(money: Option<&numhub_proto::common::v1::Money>) -> Self {
        let (units, currency) = money.map_or((0, "USD"), |m| (m.minor_units, &m.currency_code));
        Amount(numhub_proto::decimal::to_decimal(
            units,
            numhub_proto::decimal::exponent(currency),
        ))
    }
}

impl Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Decimal text is a valid JSON number: written as it is.
        RawValue::from_string(self.0.clone())
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }
}

/// A time in ISO 8601 UTC to the second (`2026-05-13T17:42:09Z`); `None`
/// when unset.
pub fn time(timestamp: Option<&prost_types::Timestamp>) -> Option<String> {
    let time = SystemTime::try_from(*timestamp?).ok()?;
    Some(humantime::format_rfc3339_seconds(time).to_string())
}

/// One field at fault.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldError {
    /// The field, as the client named it (a body field, a parameter, a
    /// header).
    pub field: String,
    pub message: String,
}

/// A refusal: `{"success": false, "code", "message", "errors"}` (boxed:
/// it travels in every handler's `Err`).
#[derive(Debug, Clone)]
pub struct ApiError(Box<Refusal>);

/// What a refusal says.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub status: StatusCode,
    /// A stable machine code: `invalid_argument`, `unauthorized`,
    /// `not_found`, `insufficient_balance`, `no_numbers_available`, …
    pub code: String,
    pub message: String,
    pub errors: Vec<FieldError>,
    retry_after: Option<Duration>,
    quota: Quota,
}

/// An error's body, for the OpenAPI document.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Always `false` on an error.
    pub success: bool,
    /// A stable machine code, lower case: `invalid_argument`,
    /// `unauthorized`, `forbidden`, `not_found`, `rate_limited`,
    /// `insufficient_balance`, `no_numbers_available`, `unavailable`,
    /// `internal`, …
    pub code: String,
    /// What went wrong, for people; never the refused input whole.
    pub message: String,
    /// The fields at fault, for a request that was not valid.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl std::ops::Deref for ApiError {
    type Target = Refusal;

    fn deref(&self) -> &Refusal {
        &self.0
    }
}

impl std::ops::DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut Refusal {
        &mut self.0
    }
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self(Box::new(Refusal {
            status,
            code: code.to_owned(),
            message: message.into(),
            errors: Vec::new(),
            retry_after: None,
            quota: Quota::default(),
        }))
    }

    pub fn unauthorized(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 400 for `field`.
    pub fn invalid(field: &str, description: impl Into<String>) -> Self {
        Self::invalid_fields(vec![FieldError {
            field: field.to_owned(),
            message: description.into(),
        }])
    }

    /// 400 for each field at fault.
    pub fn invalid_fields(errors: Vec<FieldError>) -> Self {
        let message = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        let mut error = Self::new(StatusCode::BAD_REQUEST, "invalid_field", message);
        error.errors = errors;
        error
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// What a service's refusal means to an HTTP client. `field` renames
    /// the services' field names to the client's (`service_code` to
    /// `serviceCode`). An internal error's text is never shown.
    pub fn from_status(status: &Status, field: impl Fn(&str) -> String) -> Self {
        let details = status.get_error_details();
        let reason = details
            .error_info()
            .map(|info| info.reason.as_str())
            .filter(|r| !r.is_empty());
        let http = http_status(status.code(), reason);
        let code = match (status.code(), reason) {
            (Code::Unauthenticated, _) => "unauthorized".to_owned(),
            (_, Some(reason)) => reason.to_ascii_lowercase(),
            (code, None) => code_name(code).to_owned(),
        };
        let mut error = if http.is_server_error() && status.code() != Code::Unavailable {
            let message = match status.code() {
                Code::DeadlineExceeded => "numhub did not answer in time; retry",
                _ => "internal error",
            };
            Self::new(http, &code, message)
        } else {
            Self::new(http, &code, status.message())
        };
        if let Some(bad_request) = details.bad_request() {
            error.errors = bad_request
                .field_violations
                .iter()
                .map(|v| FieldError {
                    field: field(&v.field),
                    message: v.description.clone(),
                })
                .collect();
            if !error.errors.is_empty() {
                error.message = Self::invalid_fields(error.errors.clone()).message.clone();
            }
        }
        error.retry_after = details.retry_info().and_then(|r| r.retry_delay);
        if error.retry_after.is_none() && http == StatusCode::SERVICE_UNAVAILABLE {
            error.retry_after = Some(Duration::from_secs(1));
        }
        error.quota = Quota::of(status.metadata());
        error
    }

    /// An error's JSON, as the OpenAPI document describes it.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            success: false,
            code: self.code.clone(),
            message: self.message.clone(),
            errors: self.errors.clone(),
        }
    }
}

impl From<Status> for ApiError {
    fn from(status: Status) -> Self {
        Self::from_status(&status, str::to_owned)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        let headers = response.headers_mut();
        self.quota.write(headers);
        if let Some(delay) = self.retry_after {
            let seconds = delay.as_micros().div_ceil(1_000_000).max(1) as u64;
            headers.insert(http::header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// A canonical code's name in lower case (`not_found`).
fn code_name(code: Code) -> &'static str {
    match code {
        Code::InvalidArgument | Code::OutOfRange => "invalid_argument",
        Code::NotFound => "not_found",
        Code::PermissionDenied => "forbidden",
        Code::FailedPrecondition => "failed_precondition",
        Code::Aborted | Code::AlreadyExists => "conflict",
        Code::ResourceExhausted => "rate_limited",
        Code::Unavailable => "unavailable",
        Code::DeadlineExceeded => "timeout",
        _ => "internal",
    }
}

#[cfg(test)]
mod tests {
    use numhub_runtime::error::{Failure, Refusal, Violation};

    use super::*;

    #[derive(Debug, Clone, Serialize)]
    struct Thing {
        id: i64,
        price: Amount,
    }

    #[test]
    fn one_resource_stands_at_the_top_and_under_data_with_exact_money() {
        let money = numhub_proto::common::v1::Money {
            currency_code: "USD".into(),
            minor_units: 12450,
        };
        let body = serde_json::to_string(&One::new(Thing {
            id: 1482,
            price: Amount::of(Some(&money)),
        }))
        .unwrap();
        assert_eq!(
            body,
            r#"{"success":true,"id":1482,"price":124.50,"data":{"id":1482,"price":124.50}}"#
        );
    }

    #[test]
    fn a_collection_has_its_page_in_meta() {
        let body = serde_json::to_value(Many::new(vec![1, 2], Some("c2".into()), 2)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"success": true, "data": [1, 2],
                "meta": {"count": 2, "pageSize": 2, "hasMore": true, "nextCursor": "c2"}})
        );
        let last = serde_json::to_value(Many::<i32>::new(vec![], None, 50)).unwrap();
        assert_eq!(last["meta"]["hasMore"], false);
        assert_eq!(last["meta"]["nextCursor"], serde_json::Value::Null);
    }

    #[test]
    fn a_services_refusal_keeps_its_reason_fields_and_http_status() {
        let refused: Status = Failure::from(Refusal::new(
            "INSUFFICIENT_BALANCE",
            "the balance is too low",
        ))
        .into();
        let error = ApiError::from(refused);
        assert_eq!(error.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error.code, "insufficient_balance");

        let invalid: Status =
            Failure::Invalid(vec![Violation::new("service_code", "is required")]).into();
        let error = ApiError::from_status(&invalid, |f| match f {
            "service_code" => "serviceCode".into(),
            other => other.into(),
        });
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert_eq!(error.code, "invalid_field");
        assert_eq!(error.errors[0].field, "serviceCode");
        assert_eq!(error.message, "serviceCode: is required");
    }

    #[test]
    fn internal_errors_never_show_their_text() {
        let status = Status::internal("relation \"activations\" does not exist");
        let error = ApiError::from(status);
        assert_eq!(error.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(error.message, "internal error");
        let unauthenticated = ApiError::from(Status::unauthenticated("no key"));
        assert_eq!(unauthenticated.status, StatusCode::UNAUTHORIZED);
        assert_eq!(unauthenticated.code, "unauthorized");
    }
}
