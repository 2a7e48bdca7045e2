//! The REST API under `/v1`, in the shapes of seeds 000 and 004: each
//! module is one resource, its handlers thin: read the request, call a
//! service as the caller, write the envelope.

pub mod account;
pub mod activations;
pub mod catalog;
pub mod events;
pub mod keys;
pub mod numbers;
pub mod pricing;
pub mod wallet;

use axum::Router;
use axum::routing::{get, post};
use serde::Deserialize;
use tonic::Status;
use utoipa::IntoParams;

use crate::Gateway;
use crate::reply::{ApiError, Quota, Reply};

/// Every REST route.
pub fn routes() -> Router<Gateway> {
    Router::new()
        .route("/v1/account", get(account::get_account))
        .route("/v1/services", get(catalog::list_services))
        .route("/v1/countries", get(catalog::list_countries))
        .route(
            "/v1/services/{service}/countries",
            get(catalog::list_service_countries),
        )
        .route(
            "/v1/activations",
            post(activations::create).get(activations::list),
        )
        .route(
            "/v1/activations/{id}",
            get(activations::get).delete(activations::cancel),
        )
        .route("/v1/activations/{id}/complete", post(activations::complete))
        .route(
            "/v1/activations/{id}/resend",
            post(activations::request_another_sms),
        )
        .route("/v1/activations/{id}/skip", post(activations::skip))
        .route("/v1/activations/{id}/reuse", post(activations::reuse))
        .route("/v1/activations/{id}/events", get(events::activation))
        .route("/v1/messages/events", get(events::messages))
        .route("/v1/transactions", get(wallet::list_transactions))
        .route("/v1/keys", get(keys::list).post(keys::create))
        .route("/v1/keys/{id}", axum::routing::delete(keys::revoke))
        .route("/v1/pricing", get(pricing::list_pricing))
        .route("/v1/pricing/{countryCode}", get(pricing::get_pricing))
        .route("/v1/inventory", get(pricing::check_inventory))
        .route("/v1/numbers", get(numbers::list))
        .route("/v1/numbers/buy", post(numbers::buy))
        .route("/v1/numbers/{id}/renew", post(numbers::renew))
        .route("/v1/numbers/{id}/cancel", post(numbers::cancel))
        .route("/v1/numbers/{id}/sms", get(numbers::sms))
        .route("/v1/numbers/{id}/events", get(events::number))
        .route("/v1/receive-sms", get(numbers::receive_sms))
}

/// The most pages of countries a route reads from the catalog for one
/// answer, at its largest page (300): codes are two letters, so there are
/// at most 676 countries, three pages.
pub const MAX_COUNTRY_PAGES: usize = 10;

/// A service's answer with the caller's quota, or what its refusal means
/// to the HTTP client (fields named as [`rest_field`] names them, or as
/// `rename` does).
pub trait Answer<T> {
    fn answer(self) -> Result<(T, Quota), ApiError>;
    fn answer_with(self, rename: impl Fn(&str) -> String) -> Result<(T, Quota), ApiError>;
}

impl<T> Answer<T> for Result<tonic::Response<T>, Status> {
    fn answer(self) -> Result<(T, Quota), ApiError> {
        self.answer_with(rest_field)
    }

    fn answer_with(self, rename: impl Fn(&str) -> String) -> Result<(T, Quota), ApiError> {
        let response = self.map_err(|status| ApiError::from_status(&status, rename))?;
        let quota = Quota::of(response.metadata());
        Ok((response.into_inner(), quota))
    }
}

/// The page a client asks for: `?limit=` (1 to 100, default 50) and the
/// `cursor` of a previous page's `meta.nextCursor`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The opaque cursor from a previous page's `meta.nextCursor`.
    pub cursor: Option<String>,
}

impl PageParams {
    const DEFAULT: u32 = 50;
    const MAX: u32 = 100;

    /// The page size and token for a service's list call.
    pub fn page(&self) -> Result<(i32, String), ApiError> {
        let size = self.limit.unwrap_or(Self::DEFAULT);
        if !(1..=Self::MAX).contains(&size) {
            return Err(ApiError::invalid(
                "limit",
                format!("must be 1 to {}", Self::MAX),
            ));
        }
        Ok((size as i32, self.cursor.clone().unwrap_or_default()))
    }
}

/// A page of a service's list in the envelope: each item written by
/// `write`, the cursor of the next page, the caller's quota.
pub fn paged<P, T: serde::Serialize>(
    items: Vec<P>,
    write: impl FnMut(P) -> T,
    next_page_token: String,
    page_size: i32,
    quota: Quota,
) -> Reply {
    let items = items.into_iter().map(write).collect();
    let body = crate::reply::Many::new(items, cursor(next_page_token), page_size as u32);
    Reply::ok(&body, quota)
}

/// A service's `next_page_token` as a cursor: `None` on the last page.
pub fn cursor(next_page_token: String) -> Option<String> {
    (!next_page_token.is_empty()).then_some(next_page_token)
}

/// The services' field names as the REST API names them.
pub fn rest_field(field: &str) -> String {
    match field {
        "page_token" => "cursor".into(),
        "page_size" => "limit".into(),
        other => other.to_owned(),
    }
}
