//! Seed 000's numbers: a private number bought, renewed and cancelled
//! (`/v1/numbers/buy`, `/v1/numbers/{id}/renew`, `/v1/numbers/{id}/cancel`),
//! the caller's numbers (`/v1/numbers`), and their SMS by id
//! (`/v1/numbers/{id}/sms`) or by phone number (`/v1/receive-sms`): numhub's
//! rentals, known by their numeric ids.

use std::collections::HashMap;

use axum::extract::{Path, State};
use numhub_proto::catalog::v1 as catalog_pb;
use numhub_proto::rentals::v1 as pb;
use numhub_proto::rentals::v1::{RentalFilter, RentalStatus};
use numhub_proto::wallet::v1::GetBalanceRequest;
use serde::{Deserialize, Deserializer, Serialize};
use tonic::Code;
use utoipa::{IntoParams, ToSchema};

use super::pricing::{Kind, Package, named};
use super::{Answer as _, MAX_COUNTRY_PAGES, PageParams, cursor, rest_field};
use crate::Gateway;
use crate::caller::ApiKey;
use crate::idempotency::{self, RequestId};
use crate::input::{JsonBody, Params};
use crate::reply::{self, Amount, ApiError, Count, ErrorBody, FieldError, Many, One, Page, Reply};

/// A number the caller rents.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Number {
    /// Its id, for the routes under `/v1/numbers/{id}`.
    #[schema(example = 1482)]
    pub id: i64,
    /// E.164, e.g. `+14035551234`; empty while it is being bought.
    pub phone_number: String,
    /// ISO 3166-1 alpha-2.
    pub country_code: String,
    pub country_name: String,
    /// `voip` or `non_voip`.
    #[schema(value_type = String, example = "voip")]
    pub number_type: Kind,
    /// `active`, `expired`, `cancelled`; `creating` for a moment while it
    /// is bought.
    pub status: &'static str,
    /// When it was bought.
    pub purchase_date: Option<String>,
    /// When it expires unless renewed.
    pub expire_date: Option<String>,
    /// Whether numhub renews it shortly before it expires, at the price of
    /// the day.
    pub auto_renew: bool,
}

/// A number after a renewal.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Renewed {
    #[schema(example = 1482)]
    pub id: i64,
    pub phone_number: String,
    pub status: &'static str,
    /// The new expiry: the old one plus the package.
    pub expire_date: Option<String>,
}

/// A number after its cancel.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Released {
    #[schema(example = 1482)]
    pub id: i64,
    pub phone_number: String,
    /// `cancelled`.
    pub status: &'static str,
}

/// What a purchase or a renewal charged.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Charge {
    pub charged: Amount,
    /// ISO 4217 code of both amounts.
    pub currency: String,
    /// The wallet's balance right after the charge.
    pub wallet_balance_after: Option<Amount>,
}

/// What a cancel gave back.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Refund {
    /// Everything charged for the number when the cancel came within 120
    /// minutes of the purchase, before any SMS; zero otherwise.
    pub refunded: Amount,
    /// ISO 4217 code of both amounts.
    pub currency: String,
    /// The wallet's balance after the refund.
    pub wallet_balance_after: Option<Amount>,
}

/// An SMS a number received.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Sms {
    /// The message's id (a UUID).
    pub id: String,
    /// The sender: a number or a name (`WhatsApp`).
    pub from: String,
    /// The full text, as received.
    pub body: String,
    /// The verification code numhub read out of it; null when none.
    pub code: Option<String>,
    pub received_at: Option<String>,
}

impl From<pb::Message> for Sms {
    fn from(m: pb::Message) -> Self {
        Sms {
            id: m.id,
            from: m.sender,
            body: m.body,
            code: (!m.code.is_empty()).then_some(m.code),
            received_at: reply::time(m.receive_time.as_ref()),
        }
    }
}

/// A number with its newest SMS.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NumberWithSms {
    pub number: Number,
    /// Newest first, at most 100.
    pub messages: Vec<Sms>,
}

/// The body of a purchase.
#[derive(Debug, Deserialize, ToSchema)]
pub struct BuyBody {
    /// A country of `GET /v1/pricing`. Required.
    pub country_code: Option<String>,
    /// A package key of that country's `packages`. Required.
    #[schema(value_type = String, example = "oneMonth")]
    pub duration: Option<Package>,
    /// `voip` or `non_voip`; omit for the route's default (VoIP if sold).
    #[schema(value_type = Option<String>, example = "voip")]
    pub number_type: Option<Kind>,
    /// Whether numhub renews the number shortly before it expires, at the
    /// price of the day; omit for on.
    pub auto_renew: Option<bool>,
}

/// Rents a new number and charges its package, at once; a retry with the
/// same `Idempotency-Key` answers the same and charges nothing more.
#[utoipa::path(
    post, path = "/v1/numbers/buy", tag = "rentals", request_body = BuyBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "A unique key per purchase, e.g. a UUID.")),
    responses(
        (status = 200, body = One<Number, Charge>),
        (status = 404, body = ErrorBody, description = "The country is unknown."),
        (status = 409, body = ErrorBody, description = "The key was used with another body, or its purchase is still in progress."),
        (status = 422, body = ErrorBody, description = "`insufficient_balance`, `no_numbers_available`, `not_offered`."),
    )
)]
pub async fn buy(
    State(gateway): State<Gateway>,
    key: ApiKey,
    RequestId(request_id): RequestId,
    JsonBody(body): JsonBody<BuyBody>,
) -> Result<Reply, ApiError> {
    let mut missing = Vec::new();
    for (field, present) in [
        ("country_code", body.country_code.is_some()),
        ("duration", body.duration.is_some()),
    ] {
        if !present {
            missing.push(FieldError {
                field: field.into(),
                message: "is required".into(),
            });
        }
    }
    let (Some(country_code), Some(duration)) = (body.country_code, body.duration) else {
        return Err(ApiError::invalid_fields(missing));
    };
    // Read before anything is charged: a failure here refuses the purchase.
    let names = country_names(&gateway, &key).await?;
    let number_type = match body.number_type {
        Some(kind) => kind.0 as i32,
        None => route_default_type(&gateway, &key, &country_code, duration).await?,
    };
    let (bought, quota) = gateway
        .upstream()
        .rentals
        .clone()
        .create_rental(key.request(pb::CreateRentalRequest {
            country_code,
            number_type,
            duration: duration.0 as i32,
            service_code: String::new(),
            auto_renew: body.auto_renew,
            request_id,
            max_price: None,
        }))
        .await
        .answer_with(field_name)?;
    let rental = bought.rental.unwrap_or_default();
    let charged = bought.charged.unwrap_or_default();
    let meta = Charge {
        charged: Amount::of(Some(&charged)),
        currency: charged.currency_code,
        wallet_balance_after: bought.balance_after.as_ref().map(|m| Amount::of(Some(m))),
    };
    Ok(Reply::ok(
        &One::with_meta(number(rental, &names), meta),
        quota,
    ))
}

/// The number type a purchase without one gets: the route's default as the
/// catalog tells it (VoIP if the country sells it, else non-VoIP). Unset
/// (rentals' VoIP) when the country or the package has no route: the
/// purchase then refuses on its own terms. Any other failure refuses the
/// purchase before it charges, so that a retry never buys another type.
async fn route_default_type(
    gateway: &Gateway,
    key: &ApiKey,
    country_code: &str,
    duration: Package,
) -> Result<i32, ApiError> {
    let answer = gateway
        .upstream()
        .catalog
        .clone()
        .check_inventory(key.request(catalog_pb::CheckInventoryRequest {
            country_code: country_code.to_owned(),
            duration: duration.0 as i32,
            number_type: 0,
        }))
        .await;
    match answer {
        Ok(route) => Ok(route.into_inner().number_type),
        Err(status) if matches!(status.code(), Code::NotFound | Code::InvalidArgument) => Ok(0),
        Err(status) => Err(ApiError::from(status)),
    }
}

/// The body of a renewal.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RenewBody {
    /// The package to add; omit for `oneMonth`.
    #[schema(value_type = Option<String>, example = "threeMonths")]
    pub package: Option<Package>,
}

/// Extends a number by a package, added to its current expiry, at the
/// package's current price; a retry with the same `Idempotency-Key`
/// answers the same and charges nothing more.
#[utoipa::path(
    post, path = "/v1/numbers/{id}/renew", tag = "rentals", request_body = RenewBody,
    params(
        ("id" = i64, Path, description = "A number's id from `GET /v1/numbers`."),
        ("Idempotency-Key" = Option<String>, Header, description = "A unique key per renewal, e.g. a UUID."),
    ),
    responses(
        (status = 200, body = One<Renewed, Charge>),
        (status = 422, body = ErrorBody, description = "`insufficient_balance`, `number_expired`, `not_offered`."),
    )
)]
pub async fn renew(
    State(gateway): State<Gateway>,
    key: ApiKey,
    Path(id): Path<String>,
    RequestId(request_id): RequestId,
    JsonBody(body): JsonBody<RenewBody>,
) -> Result<Reply, ApiError> {
    let id = number_id(&id)?;
    let package = body.package.unwrap_or(Package::ONE_MONTH);
    let (renewed, quota) = gateway
        .upstream()
        .rentals
        .clone()
        .renew_rental(key.request(pb::RenewRentalRequest {
            id,
            duration: package.0 as i32,
            request_id,
            max_price: None,
        }))
        .await
        .answer_with(|f| match f {
            "duration" => "package".into(),
            other => field_name(other),
        })?;
    let rental = renewed.rental.unwrap_or_default();
    let charged = renewed.charged.unwrap_or_default();
    let resource = Renewed {
        id: rental.numeric_id,
        status: status_name(rental.status),
        expire_date: reply::time(rental.expire_time.as_ref()),
        phone_number: rental.phone_number,
    };
    let meta = Charge {
        charged: Amount::of(Some(&charged)),
        currency: charged.currency_code,
        wallet_balance_after: renewed.balance_after.as_ref().map(|m| Amount::of(Some(m))),
    };
    Ok(Reply::ok(&One::with_meta(resource, meta), quota))
}

/// Releases a number: it receives no more SMS. Everything charged for it
/// is refunded when the cancel comes within 120 minutes of the purchase,
/// before any SMS, while it is active; otherwise nothing is (see
/// `meta.refunded`). Cancelling it again answers the same.
#[utoipa::path(
    post, path = "/v1/numbers/{id}/cancel", tag = "rentals",
    params(
        ("id" = i64, Path, description = "A number's id from `GET /v1/numbers`."),
        ("Idempotency-Key" = Option<String>, Header, description = "A unique key per cancel, e.g. a UUID."),
    ),
    responses(
        (status = 200, body = One<Released, Refund>),
        (status = 422, body = ErrorBody, description = "`rental_ended`: it expired."),
    )
)]
pub async fn cancel(
    State(gateway): State<Gateway>,
    key: ApiKey,
    Path(id): Path<String>,
    RequestId(request_id): RequestId,
) -> Result<Reply, ApiError> {
    let id = number_id(&id)?;
    let (cancelled, quota) = gateway
        .upstream()
        .rentals
        .clone()
        .cancel_rental(key.request(pb::CancelRentalRequest { id, request_id }))
        .await
        .answer_with(field_name)?;
    let rental = cancelled.rental.unwrap_or_default();
    let refunded = cancelled.refunded.unwrap_or_default();
    // Rentals gives the balance after a refund it paid; otherwise the
    // balance is the wallet's as it is now. The number is released either
    // way, so a failure to read it leaves it null rather than failing.
    let balance_after = match cancelled.balance_after {
        Some(balance) => Some(balance),
        None => gateway
            .upstream()
            .wallet
            .clone()
            .get_balance(key.request(GetBalanceRequest {}))
            .await
            .ok()
            .and_then(|answer| answer.into_inner().available),
    };
    let resource = Released {
        id: rental.numeric_id,
        status: status_name(rental.status),
        phone_number: rental.phone_number,
    };
    let meta = Refund {
        refunded: Amount::of(Some(&refunded)),
        currency: refunded.currency_code,
        wallet_balance_after: balance_after.as_ref().map(|m| Amount::of(Some(m))),
    };
    Ok(Reply::ok(&One::with_meta(resource, meta), quota))
}

/// Which numbers `GET /v1/numbers` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusFilter(RentalFilter);

const FILTERS: [(&str, StatusFilter); 5] = [
    ("active", StatusFilter(RentalFilter::Active)),
    ("expiring_soon", StatusFilter(RentalFilter::ExpiringSoon)),
    ("expired", StatusFilter(RentalFilter::Expired)),
    ("cancelled", StatusFilter(RentalFilter::Cancelled)),
    ("all", StatusFilter(RentalFilter::All)),
];

impl<'de> Deserialize<'de> for StatusFilter {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        named(deserializer, &FILTERS)
    }
}

impl StatusFilter {
    fn key(self) -> &'static str {
        FILTERS
            .iter()
            .find(|(_, filter)| *filter == self)
            .map_or("all", |(key, _)| key)
    }
}

/// The numbers to list, a page at a time.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `active`, `expiring_soon` (active, expiring within 10 days),
    /// `expired`, `cancelled`, or `all` (the default).
    #[param(value_type = Option<String>, example = "expiring_soon")]
    pub status: Option<StatusFilter>,
    /// Page size, 1 to 100 (default 50).
    pub limit: Option<u32>,
    /// The opaque cursor from a previous page's `meta.nextCursor`.
    pub cursor: Option<String>,
}

/// A page of numbers, with the filter it applied.
#[derive(Debug, Serialize, ToSchema)]
pub struct NumbersPage {
    #[serde(flatten)]
    pub page: Page,
    /// The `status` asked for, or `all`.
    pub status: &'static str,
}

/// The caller's numbers, newest first, filtered by lifecycle, a page at a
/// time. Purchases that failed (nothing charged) are not numbers and are
/// left out, so a page may hold fewer than `limit`.
#[utoipa::path(
    get, path = "/v1/numbers", tag = "rentals", params(ListParams),
    responses(
        (status = 200, body = Many<Number, NumbersPage>),
    )
)]
pub async fn list(
    State(gateway): State<Gateway>,
    key: ApiKey,
    Params(params): Params<ListParams>,
) -> Result<Reply, ApiError> {
    let filter = params.status.unwrap_or(StatusFilter(RentalFilter::All));
    let (page_size, page_token) = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    }
    .page()?;
    let (listed, quota) = gateway
        .upstream()
        .rentals
        .clone()
        .list_rentals(key.request(pb::ListRentalsRequest {
            filter: filter.0 as i32,
            page_size,
            page_token,
        }))
        .await
        .answer_with(|f| match f {
            "filter" => "status".into(),
            other => rest_field(other),
        })?;
    let names = country_names(&gateway, &key).await?;
    let numbers: Vec<Number> = listed
        .rentals
        .into_iter()
        .filter(|r| r.status != RentalStatus::Failed as i32)
        .map(|r| number(r, &names))
        .collect();
    let meta = NumbersPage {
        page: Page::of(
            numbers.len(),
            cursor(listed.next_page_token),
            page_size as u32,
        ),
        status: filter.key(),
    };
    Ok(Reply::ok(&Many::with_meta(numbers, meta), quota))
}

/// One of the caller's numbers with its SMS, newest first; 404 for an id
/// that is not the caller's.
#[utoipa::path(
    get, path = "/v1/numbers/{id}/sms", tag = "rentals",
    params(("id" = i64, Path, description = "A number's id from `GET /v1/numbers`.")),
    responses(
        (status = 200, body = One<NumberWithSms, Count>),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn sms(
    State(gateway): State<Gateway>,
    key: ApiKey,
    Path(id): Path<String>,
) -> Result<Reply, ApiError> {
    let id = number_id(&id)?;
    let (mut rental, quota) = gateway
        .upstream()
        .rentals
        .clone()
        .get_rental(key.request(pb::GetRentalRequest { id }))
        .await
        .answer()?;
    let names = country_names(&gateway, &key).await?;
    let messages: Vec<Sms> = std::mem::take(&mut rental.messages)
        .into_iter()
        .map(Sms::from)
        .collect();
    let meta = Count {
        count: messages.len(),
    };
    let resource = NumberWithSms {
        number: number(rental, &names),
        messages,
    };
    Ok(Reply::ok(&One::with_meta(resource, meta), quota))
}

/// The SMS of a number to read, a page at a time.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct InboxParams {
    /// The number, E.164 or its digits alone. Required.
    pub phone_number: Option<String>,
    /// Page size, 1 to 100 (default 50).
    pub limit: Option<u32>,
    /// The opaque cursor from a previous answer's `meta.nextCursor` or
    /// `meta.pollCursor`.
    pub cursor: Option<String>,
}

/// One SMS in `/v1/receive-sms`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboxMessage {
    /// The message's id (a UUID).
    pub id: String,
    /// The sender: a number or a name (`WhatsApp`).
    pub from: String,
    /// The number it reached, E.164.
    pub to: String,
    /// The full text, as received.
    pub message: String,
    /// The verification code numhub read out of it; null when none.
    pub code: Option<String>,
    pub received_at: Option<String>,
}

/// A number's SMS.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Inbox {
    /// The number, E.164.
    pub phone_number: String,
    /// The status of the caller's latest rental of the number: `active`,
    /// `expired` or `cancelled`; null when it cannot be told.
    pub purchase_status: Option<&'static str>,
    /// Oldest first, after the cursor.
    pub messages: Vec<InboxMessage>,
}

/// Where a page of `/v1/receive-sms` stands.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboxPage {
    /// The messages on this page.
    pub count: usize,
    /// The most messages a page holds.
    pub page_size: u32,
    /// Whether more messages are there now: the page is full.
    pub has_more: bool,
    /// The cursor of the next page when `hasMore`; null otherwise.
    pub next_cursor: Option<String>,
    /// Always null: pages go forward only.
    pub prev_cursor: Option<String>,
    /// Where to poll from later for only the messages after this page;
    /// never null.
    pub poll_cursor: String,
    /// When numhub read the page.
    pub requested_at: Option<String>,
}

/// The SMS of a number the caller rents or rented, by its phone number,
/// oldest first, a page at a time: made for polling. 404 for a number the
/// caller never rented.
#[utoipa::path(
    get, path = "/v1/receive-sms", tag = "rentals", params(InboxParams),
    responses(
        (status = 200, body = One<Inbox, InboxPage>),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn receive_sms(
    State(gateway): State<Gateway>,
    key: ApiKey,
    Params(params): Params<InboxParams>,
) -> Result<Reply, ApiError> {
    let requested_at = reply::time(Some(&std::time::SystemTime::now().into()));
    let raw = params
        .phone_number
        .ok_or_else(|| ApiError::invalid("phoneNumber", "is required"))?;
    // An unescaped `+` in a query string reads as a space.
    let phone_number = numhub_runtime::phone::normalize(raw.trim())
        .map_err(|e| ApiError::invalid("phoneNumber", e.to_string()))?;
    let (page_size, page_token) = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    }
    .page()?;
    let (listed, quota) = gateway
        .upstream()
        .rentals
        .clone()
        .list_messages(key.request(pb::ListMessagesRequest {
            phone_number: phone_number.clone(),
            page_size,
            page_token,
        }))
        .await
        .answer_with(|f| match f {
            "phone_number" => "phoneNumber".into(),
            other => rest_field(other),
        })?;
    let purchase_status = latest_status(&gateway, &key, &phone_number).await?;
    let messages: Vec<InboxMessage> = listed
        .messages
        .into_iter()
        .map(|m| InboxMessage {
            id: m.id,
            from: m.sender,
            to: m.phone_number,
            message: m.body,
            code: (!m.code.is_empty()).then_some(m.code),
            received_at: reply::time(m.receive_time.as_ref()),
        })
        .collect();
    // A full page may have more after it; a shorter one is all there is
    // for now (rentals' contract).
    let has_more = messages.len() == page_size as usize;
    let meta = InboxPage {
        count: messages.len(),
        page_size: page_size as u32,
        has_more,
        next_cursor: has_more.then(|| listed.next_page_token.clone()),
        prev_cursor: None,
        poll_cursor: listed.next_page_token,
        requested_at,
    };
    let inbox = Inbox {
        phone_number,
        purchase_status,
        messages,
    };
    Ok(Reply::ok(&One::with_meta(inbox, meta), quota))
}

/// The most pages of rentals read to find the caller's latest rental of a
/// number: rentals has no lookup by number, so its list is searched, newest
/// first, within this bound.
const MAX_RENTAL_PAGES: usize = 5;

/// The status of the caller's latest rental of `phone_number`. A number is
/// held by one rental at a time, so an active one is the latest; else the
/// newest ended one. `None` when neither is within the bound.
async fn latest_status(
    gateway: &Gateway,
    key: &ApiKey,
    phone_number: &str,
) -> Result<Option<&'static str>, ApiError> {
    for filter in [RentalFilter::Active, RentalFilter::All] {
        let mut page_token = String::new();
        for _ in 0..MAX_RENTAL_PAGES {
            let (listed, _) = gateway
                .upstream()
                .rentals
                .clone()
                .list_rentals(key.request(pb::ListRentalsRequest {
                    filter: filter as i32,
                    page_size: 100,
                    page_token,
                }))
                .await
                .answer()?;
            if let Some(rental) = listed
                .rentals
                .iter()
                .find(|r| r.phone_number == phone_number && r.status != RentalStatus::Failed as i32)
            {
                return Ok(Some(status_name(rental.status)));
            }
            page_token = listed.next_page_token;
            if page_token.is_empty() {
                break;
            }
        }
    }
    Ok(None)
}

/// A number's id as the path gives it: a positive decimal integer, handed
/// to rentals as its numeric id.
pub(super) fn number_id(raw: &str) -> Result<String, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0 && raw.bytes().all(|b| b.is_ascii_digit()))
        .map(|id| id.to_string())
        .ok_or_else(|| ApiError::invalid("id", "must be a number's id from GET /v1/numbers"))
}

/// Rentals' field names as the number routes name them.
fn field_name(field: &str) -> String {
    match field {
        "request_id" => idempotency::HEADER.into(),
        other => rest_field(other),
    }
}

/// A rental as a number, its country named from `names`.
pub(super) fn number(rental: pb::Rental, names: &HashMap<String, String>) -> Number {
    Number {
        id: rental.numeric_id,
        country_name: names.get(&rental.country_code).cloned().unwrap_or_default(),
        number_type: Kind::of(rental.number_type).unwrap_or(Kind(catalog_pb::NumberType::Voip)),
        status: status_name(rental.status),
        purchase_date: reply::time(rental.create_time.as_ref()),
        expire_date: reply::time(rental.expire_time.as_ref()),
        auto_renew: rental.auto_renew,
        phone_number: rental.phone_number,
        country_code: rental.country_code,
    }
}

/// A rental's status as seed 000 writes it.
fn status_name(status: i32) -> &'static str {
    match RentalStatus::try_from(status) {
        Ok(RentalStatus::Creating) => "creating",
        Ok(RentalStatus::Active) => "active",
        Ok(RentalStatus::Expired) => "expired",
        Ok(RentalStatus::Cancelled) => "cancelled",
        Ok(RentalStatus::Failed) => "failed",
        Ok(RentalStatus::Unspecified) | Err(_) => "unknown",
    }
}

/// Every country's name by its code: rentals name only the code.
pub(super) async fn country_names(
    gateway: &Gateway,
    key: &ApiKey,
) -> Result<HashMap<String, String>, ApiError> {
    let mut names = HashMap::new();
    let mut page_token = String::new();
    for _ in 0..MAX_COUNTRY_PAGES {
        let (page, _) = gateway
            .upstream()
            .catalog
            .clone()
            .list_countries(key.request(catalog_pb::ListCountriesRequest {
                service_code: String::new(),
                page_size: 300,
                page_token,
            }))
            .await
            .answer()?;
        names.extend(page.countries.into_iter().filter_map(|offer| {
            let country = offer.country?;
            Some((country.code, country.name))
        }));
        page_token = page.next_page_token;
        if page_token.is_empty() {
            break;
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use http::StatusCode;

    use super::*;

    #[test]
    fn a_number_id_is_a_positive_decimal() {
        assert_eq!(number_id("1482").unwrap(), "1482");
        for bad in [
            "0",
            "-3",
            "+3",
            "abc",
            "1e3",
            "",
            "99999999999999999999",
            " 12",
        ] {
            let error = number_id(bad).unwrap_err();
            assert_eq!(error.status, StatusCode::BAD_REQUEST, "{bad:?}");
            assert_eq!(error.errors[0].field, "id");
        }
    }

    #[test]
    fn every_status_filter_has_its_key() {
        for (key, filter) in FILTERS {
            let read: StatusFilter = serde_json::from_str(&format!("\"{key}\"")).unwrap();
            assert_eq!(read, filter);
            assert_eq!(read.key(), key);
        }
    }
}
