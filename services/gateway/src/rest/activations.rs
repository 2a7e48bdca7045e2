//! `/v1/activations`: a number bought for one verification (seed 004),
//! and what numhub adds: another SMS, skip, reuse.

use axum::extract::{Path, State};
use http::StatusCode;
use numhub_proto::common::v1::Money;
use numhub_proto::orders::v1 as pb;
use numhub_proto::wallet::v1::GetBalanceRequest;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};

use super::{Answer as _, PageParams, paged, rest_field};
use crate::Gateway;
use crate::caller::ApiKey;
use crate::idempotency::RequestId;
use crate::input::{JsonBody, Params};
use crate::reply::{self, Amount, ApiError, ErrorBody, Many, One, Reply};

/// An activation's id in a path: its numeric id, or its numhub uuid.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ActivationId {
    /// The activation's numeric id (or its numhub uuid).
    #[param(
        pattern = "^([1-9][0-9]{0,17}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
    )]
    pub id: String,
}

/// An activation as seed 004's clients read it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Activation {
    /// Its numeric id, for every route and the SMS-Activate protocol.
    pub id: i64,
    /// Its id in numhub's gRPC API (a UUIDv7).
    pub uuid: String,
    /// The number to give the service, E.164; empty while `CREATING`.
    pub phone_number: String,
    pub service_code: String,
    /// ISO 3166-1 alpha-2.
    pub country_iso: String,
    /// The operator the number belongs to, when known.
    pub operator: Option<String>,
    /// `CREATING`, `WAITING` (for an SMS), `RECEIVED` (one arrived:
    /// `smsCode` is set), `FINISHED` (completed), `CANCELLED`, `EXPIRED`
    /// (no SMS in time: refunded), `SKIPPED`, `FAILED` (nothing charged).
    pub status: String,
    /// The verification code of the latest SMS; null until one arrives.
    pub sms_code: Option<String>,
    /// The full text of the latest SMS; null until one arrives.
    pub sms_text: Option<String>,
    /// What it cost.
    pub price: Amount,
    pub currency: String,
    /// What was given back, when it ended without an SMS.
    pub refunded: Option<Amount>,
    pub created_at: Option<String>,
    /// When it stops waiting for an SMS.
    pub expires_at: Option<String>,
    pub ended_at: Option<String>,
    /// Every SMS it received, oldest first.
    pub messages: Vec<Sms>,
    /// Why the purchase failed (a `FAILED` activation's reason).
    pub failure_reason: Option<String>,
}

/// An SMS that reached a number.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Sms {
    pub id: String,
    /// The sender as the network gave it: a number or a name.
    pub from: String,
    /// The number it reached, E.164.
    pub to: String,
    /// The full text.
    pub text: String,
    /// The verification code read out of it; null when none was found.
    pub code: Option<String>,
    pub received_at: Option<String>,
    /// The activation it belongs to (its numhub id), if any.
    pub activation_uuid: Option<String>,
    /// The rental it belongs to (its numhub id), if any.
    pub rental_uuid: Option<String>,
}

impl From<pb::Message> for Sms {
    fn from(m: pb::Message) -> Self {
        Sms {
            id: m.id,
            from: m.sender,
            to: m.phone_number,
            text: m.body,
            code: some(m.code),
            received_at: reply::time(m.receive_time.as_ref()),
            activation_uuid: some(m.activation_id),
            rental_uuid: some(m.rental_id),
        }
    }
}

impl From<pb::Activation> for Activation {
    fn from(a: pb::Activation) -> Self {
        let status = pb::ActivationStatus::try_from(a.status)
            .unwrap_or(pb::ActivationStatus::Unspecified)
            .as_str_name()
            .trim_start_matches("ACTIVATION_STATUS_")
            .to_owned();
        let latest = a.messages.last();
        let sms_text = latest.map(|m| m.body.clone());
        let price = a.price.unwrap_or_default();
        Activation {
            id: a.numeric_id,
            uuid: a.id,
            phone_number: a.phone_number,
            service_code: a.service_code,
            country_iso: a.country_code,
            operator: some(a.operator),
            status,
            sms_code: some(a.code),
            sms_text,
            price: Amount::of(Some(&price)),
            currency: price.currency_code,
            refunded: a.refunded.as_ref().map(|m| Amount::of(Some(m))),
            created_at: reply::time(a.create_time.as_ref()),
            expires_at: reply::time(a.expire_time.as_ref()),
            ended_at: reply::time(a.end_time.as_ref()),
            messages: a.messages.into_iter().map(Sms::from).collect(),
            failure_reason: some(a.failure_reason),
        }
    }
}

fn some(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

/// What to buy (seed 004's body; seed 000's snake_case names are read
/// too).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewActivation {
    /// The service, e.g. `tg` (see `/v1/services`).
    #[serde(alias = "service_code", alias = "service")]
    #[schema(pattern = "^[a-z0-9]{1,16}$", example = "tg")]
    pub service_code: String,
    /// The country, ISO 3166-1 alpha-2, e.g. `US`.
    #[serde(alias = "country_iso", alias = "countryCode", alias = "country_code")]
    #[schema(pattern = "^[A-Z]{2}$", example = "US")]
    pub country_iso: String,
    /// Only numbers of this operator.
    #[serde(default)]
    #[schema(pattern = "^[a-z0-9]{1,32}$")]
    pub operator: Option<String>,
    /// The most to pay, a decimal in the account's currency (`0.50`);
    /// omit for no limit.
    #[serde(default, alias = "max_price")]
    #[schema(value_type = Option<f64>, exclusive_minimum = 0, multiple_of = 0.01, example = 0.5)]
    pub max_price: Option<Box<RawValue>>,
}

/// Which activations to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only activations in this status (`WAITING`, `RECEIVED`, ...); all
    /// when omitted.
    pub status: Option<String>,
    /// Page size, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The opaque cursor from a previous page's `meta.nextCursor`.
    pub cursor: Option<String>,
}

/// Buys a number for one verification and charges its price once.
#[utoipa::path(
    post, path = "/v1/activations", tag = "activations",
    request_body = NewActivation,
    params(("Idempotency-Key" = Option<String>, Header, description = "A unique key per purchase: a retry with it is answered with the first result and charged once.", min_length = 1, max_length = 128, pattern = "^[!-~]+$")),
    responses(
        (status = 201, body = One<Activation>),
        (status = 422, description = "`insufficient_balance`, `no_numbers_available`, `price_above_max`, ...", body = ErrorBody),
    )
)]
pub async fn create(
    State(gateway): State<Gateway>,
    key: ApiKey,
    request_id: RequestId,
    JsonBody(new): JsonBody<NewActivation>,
) -> Result<Reply, ApiError> {
    let max_price = match &new.max_price {
        Some(raw) => Some(max_price(&gateway, &key, raw).await?),
        None => None,
    };
    let mut orders = gateway.upstream().orders.clone();
    let request = pb::CreateActivationRequest {
        service_code: new.service_code,
        country_code: new.country_iso,
        operator: new.operator.unwrap_or_default(),
        max_price,
        request_id: request_id.0,
    };
    bought(orders.create_activation(key.request(request)).await)
}

/// A call that answers one activation, in the envelope.
fn one(answer: Result<tonic::Response<pb::Activation>, tonic::Status>) -> Result<Reply, ApiError> {
    let (activation, quota) = answer.answer()?;
    Ok(Reply::ok(&One::new(Activation::from(activation)), quota))
}

/// A purchase's answer: 201 with the activation, its refusal named in the
/// body's fields.
fn bought(
    answer: Result<tonic::Response<pb::Activation>, tonic::Status>,
) -> Result<Reply, ApiError> {
    let (activation, quota) = answer.answer_with(body_field)?;
    let body = One::new(Activation::from(activation));
    Ok(Reply::with_status(StatusCode::CREATED, &body, quota))
}

/// `maxPrice` as a JSON number or a decimal string, in minor units of the
/// account's currency (which the wallet knows).
async fn max_price(gateway: &Gateway, key: &ApiKey, raw: &RawValue) -> Result<Money, ApiError> {
    let text = raw.get();
    let text = match serde_json::from_str::<String>(text) {
        Ok(string) => string,
        Err(_) => text.to_owned(),
    };
    let (balance, _) = gateway
        .upstream()
        .wallet
        .clone()
        .get_balance(key.request(GetBalanceRequest {}))
        .await
        .answer()?;
    let currency = balance.available.unwrap_or_default().currency_code;
    let places = numhub_proto::decimal::exponent(&currency);
    let minor_units = numhub_proto::decimal::parse_decimal(&text, places)
        .filter(|units| *units > 0)
        .ok_or_else(|| {
            ApiError::invalid(
                "maxPrice",
                format!("must be a positive amount with at most {places} decimals"),
            )
        })?;
    Ok(Money {
        currency_code: currency,
        minor_units,
    })
}

/// The orders service's field names as seed 004's body names them.
fn body_field(field: &str) -> String {
    match field {
        "service_code" => "serviceCode".into(),
        "country_code" => "countryIso".into(),
        "max_price" => "maxPrice".into(),
        "request_id" => crate::idempotency::HEADER.into(),
        "activation_id" => "id".into(),
        other => rest_field(other),
    }
}

/// One activation with its messages and latest code; 404 for another
/// account's.
#[utoipa::path(
    get, path = "/v1/activations/{id}", tag = "activations",
    params(ActivationId),
    responses((status = 200, body = One<Activation>))
)]
pub async fn get(
    State(gateway): State<Gateway>,
    key: ApiKey,
    Path(ActivationId { id }): Path<ActivationId>,
) -> Result<Reply, ApiError> {
    let mut orders = gateway.upstream().orders.clone();
    one(orders
        .get_activation(key.request(pb::GetActivationRequest { id }))
        .await)
}

/// The caller's activations, newest first, a page at a time.
#[utoipa::path(
    get, path = "/v1/activations", tag = "activations", params(ListParams),
    responses((status = 200, body = Many<Activation>), (status = 400, body = ErrorBody))
)]
pub async fn list(
    State(gateway): State<Gateway>,
    key: ApiKey,
    Params(params): Params<ListParams>,
) -> Result<Reply, ApiError> {
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    };
    let (page_size, page_token) = page.page()?;
    let statuses = match params.status.as_deref() {
        None | Some("") => Vec::new(),
        Some(name) => vec![status_named(name)? as i32],
    };
    let (listed, quota) = gateway
        .upstream()
        .orders
        .clone()
        .list_activations(key.request(pb::ListActivationsRequest {
            statuses,
            page_size,
            page_token,
        }))
        .await
        .answer()?;
    let (items, next) = (listed.activations, listed.next_page_token);
    Ok(paged(items, Activation::from, next, page_size, quota))
}

fn status_named(name: &str) -> Result<pb::ActivationStatus, ApiError> {
    pb::ActivationStatus::from_str_name(&format!(
        "ACTIVATION_STATUS_{}",
        name.to_ascii_uppercase()
    ))
    .filter(|s| *s != pb::ActivationStatus::Unspecified)
    .ok_or_else(|| {
        ApiError::invalid(
            "status",
            "must be one of CREATING, WAITING, RECEIVED, FINISHED, CANCELLED, EXPIRED, SKIPPED, FAILED",
        )
    })
}

/// Handlers of one shape: a change to one activation, named by its id,
/// answered with the activation.
macro_rules! change {
    ($(#[$doc:meta])* $name:ident, $path:literal, $rpc:ident, $request:ident) => {
        $(#[$doc])*
        #[utoipa::path(
            post, path = $path, tag = "activations", params(ActivationId),
            responses((status = 200, body = One<Activation>), (status = 422, body = ErrorBody))
        )]
        pub async fn $name(
            State(gateway): State<Gateway>,
            key: ApiKey,
            Path(ActivationId { id }): Path<ActivationId>,
        ) -> Result<Reply, ApiError> {
            let mut orders = gateway.upstream().orders.clone();
            one(orders.$rpc(key.request(pb::$request { id })).await)
        }
    };
}

change!(
    /// The code was used: the activation ends with its price kept.
    complete, "/v1/activations/{id}/complete", complete_activation, CompleteActivationRequest
);
change!(
    /// Asks for another SMS on the same number (after a code that did not
    /// work, or for a second step).
    request_another_sms, "/v1/activations/{id}/resend", request_another_sms, RequestAnotherSmsRequest
);
change!(
    /// Gives the number back before any SMS, refunded, and never gets it
    /// again for this service.
    skip, "/v1/activations/{id}/skip", skip_number, SkipNumberRequest
);

/// Cancels before any SMS: the price is refunded at once.
#[utoipa::path(
    delete, path = "/v1/activations/{id}", tag = "activations",
    params(ActivationId),
    responses((status = 200, body = One<Activation>), (status = 422, body = ErrorBody))
)]
pub async fn cancel(
    State(gateway): State<Gateway>,
    key: ApiKey,
    Path(ActivationId { id }): Path<ActivationId>,
) -> Result<Reply, ApiError> {
    let mut orders = gateway.upstream().orders.clone();
    one(orders
        .cancel_activation(key.request(pb::CancelActivationRequest { id }))
        .await)
}

/// Buys a finished activation's number again for the same service.
#[utoipa::path(
    post, path = "/v1/activations/{id}/reuse", tag = "activations",
    params(
        ActivationId,
        ("Idempotency-Key" = Option<String>, Header, description = "A unique key per purchase.", min_length = 1, max_length = 128, pattern = "^[!-~]+$"),
    ),
    responses((status = 201, body = One<Activation>), (status = 422, body = ErrorBody))
)]
pub async fn reuse(
    State(gateway): State<Gateway>,
    key: ApiKey,
    request_id: RequestId,
    Path(ActivationId { id }): Path<ActivationId>,
) -> Result<Reply, ApiError> {
    let mut orders = gateway.upstream().orders.clone();
    let request = pb::ReuseNumberRequest {
        activation_id: id,
        max_price: None,
        request_id: request_id.0,
    };
    bought(orders.reuse_number(key.request(request)).await)
}
