//! What numhub sells (seed 004's catalogue): `/v1/services`,
//! `/v1/countries` and `/v1/services/{service}/countries` with price, stock
//! and arrival time.

use axum::extract::{Path, State};
use numhub_proto::catalog::v1 as pb;
use serde::Serialize;
use utoipa::ToSchema;

use super::{Answer as _, PageParams, paged, rest_field};
use crate::Gateway;
use crate::caller::ApiKey;
use crate::input::Params;
use crate::reply::{Amount, ApiError, ErrorBody, Many, Reply};

/// A service numbers are sold for.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    /// Its code, e.g. `wa` (the `serviceCode` of an activation).
    pub code: String,
    pub name: String,
}

/// A country numbers come from.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Country {
    /// ISO 3166-1 alpha-2 code, e.g. `US` (the `countryIso` of an
    /// activation).
    pub iso: String,
    pub name: String,
    /// Its international dial prefix, e.g. `+1`.
    pub dial_prefix: String,
    /// Its id in the SMS-Activate protocol's numbering.
    pub activate_id: i32,
}

/// A country where a service has numbers, with its price and stock.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CountryOffer {
    #[serde(flatten)]
    pub country: Country,
    /// The lowest price of an activation, charged from the wallet.
    pub price: Amount,
    pub currency: String,
    /// Numbers free to lease now.
    pub stock: i64,
    /// How long an SMS has taken to arrive here lately, in seconds; null
    /// when none has yet.
    pub avg_arrival_seconds: Option<u64>,
}

/// Every service on sale, a page at a time.
#[utoipa::path(
    get, path = "/v1/services", tag = "catalog", params(PageParams),
    responses((status = 200, body = Many<Service>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
pub async fn list_services(
    State(gateway): State<Gateway>,
    key: ApiKey,
    Params(page): Params<PageParams>,
) -> Result<Reply, ApiError> {
    let (page_size, page_token) = page.page()?;
    let (listed, quota) = gateway
        .upstream()
        .catalog
        .clone()
        .list_services(key.request(pb::ListServicesRequest {
            page_size,
            page_token,
        }))
        .await
        .answer()?;
    let write = |s: pb::Service| Service {
        code: s.code,
        name: s.name,
    };
    Ok(paged(
        listed.services,
        write,
        listed.next_page_token,
        page_size,
        quota,
    ))
}

/// Every country numbers come from, a page at a time.
#[utoipa::path(
    get, path = "/v1/countries", tag = "catalog", params(PageParams),
    responses((status = 200, body = Many<Country>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
pub async fn list_countries(
    State(gateway): State<Gateway>,
    key: ApiKey,
    Params(page): Params<PageParams>,
) -> Result<Reply, ApiError> {
    offers(&gateway, &key, String::new(), &page, |offer| offer.country).await
}

/// The countries where `service` has numbers, with price, stock and
/// arrival time.
#[utoipa::path(
    get, path = "/v1/services/{service}/countries", tag = "catalog",
    params(("service" = String, Path, description = "A service code, e.g. `wa`.", pattern = "^[a-z0-9]{1,16}$"), PageParams),
    responses((status = 200, body = Many<CountryOffer>), (status = 400, body = ErrorBody), (status = 404, description = "No such service", body = ErrorBody))
)]
pub async fn list_service_countries(
    State(gateway): State<Gateway>,
    key: ApiKey,
    Path(service): Path<String>,
    Params(page): Params<PageParams>,
) -> Result<Reply, ApiError> {
    offers(&gateway, &key, service, &page, |offer| offer).await
}

/// A page of the catalog's countries (for `service_code`, if any), each
/// written by `write`.
async fn offers<T: Serialize>(
    gateway: &Gateway,
    key: &ApiKey,
    service_code: String,
    page: &PageParams,
    write: impl Fn(CountryOffer) -> T,
) -> Result<Reply, ApiError> {
    let (page_size, page_token) = page.page()?;
    let (listed, quota) = gateway
        .upstream()
        .catalog
        .clone()
        .list_countries(key.request(pb::ListCountriesRequest {
            service_code,
            page_size,
            page_token,
        }))
        .await
        .answer_with(|f| match f {
            "service_code" => "service".into(),
            other => rest_field(other),
        })?;
    let write = |offer| write(country_offer(offer));
    Ok(paged(
        listed.countries,
        write,
        listed.next_page_token,
        page_size,
        quota,
    ))
}

fn country_offer(offer: pb::CountryOffer) -> CountryOffer {
    let country = offer.country.unwrap_or_default();
    let price = offer.price.unwrap_or_default();
    CountryOffer {
        country: Country {
            iso: country.code,
            name: country.name,
            dial_prefix: country.dial_prefix,
            activate_id: country.activate_id,
        },
        price: Amount::of(Some(&price)),
        currency: price.currency_code,
        stock: offer.stock,
        avg_arrival_seconds: offer
            .average_arrival_time
            .and_then(|d| u64::try_from(d.seconds).ok()),
    }
}
