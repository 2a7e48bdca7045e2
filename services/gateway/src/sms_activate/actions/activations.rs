//! Activations: `getNumber`, `getNumberV2`, `setStatus`, `getStatus`,
//! `getStatusV2` and `getActiveActivations`, over OrdersService. An
//! activation goes by its `numeric_id`, which OrdersService's requests
//! accept in decimal.

use numhub_proto::orders::v1 as pb;
use numhub_proto::orders::v1::ActivationStatus as Status;
use serde::Serialize;

use super::catalog::{ANY_OPERATOR, Countries, prices};
use super::{Caller, Outcome, country_id, numeric_id, request_id};
use crate::sms_activate::answer::{Answer, token};
use crate::sms_activate::params::Params;
use crate::sms_activate::refusal;
use crate::sms_activate::values::{self, Number};

/// `getNumber` (`ACCESS_NUMBER:1482:15550100042`) or, `v2`, `getNumberV2`
/// (JSON): a new activation of `service` in `country` (an SMS-Activate id,
/// 0 when absent), of `operator` when named, at most `maxPrice`.
///
/// Every request is a new purchase: the protocol has no idempotency key,
/// so the gateway makes a fresh one (a UUIDv7) for each.
pub(super) async fn get_number(caller: &Caller, params: &Params, v2: bool) -> Outcome {
    let service = params
        .get("service")
        .ok_or_else(|| caller.refuse(token::BAD_SERVICE))?;
    let country_id = country_id(params).ok_or_else(|| caller.refuse(token::BAD_COUNTRY))?;
    let countries = Countries::load(caller).await?;
    let country = countries
        .by_id(country_id)
        .ok_or_else(|| caller.refuse(token::BAD_COUNTRY))?
        .clone();
    let operator = operator(params);
    // With a limit, the price list says the currency it is in and the
    // lowest price, which a refused limit names.
    let limit = match params.get("maxPrice") {
        None => None,
        Some(text) => {
            let prices = prices(caller, service, &country.code).await?;
            let lowest =
                lowest_price(&prices, &operator).ok_or_else(|| caller.refuse(token::NO_NUMBERS))?;
            let max = values::parse_amount(text, &lowest.currency_code)
                .ok_or_else(|| Answer::with(token::WRONG_MAX_PRICE, values::amount(&lowest)))?;
            let max = numhub_proto::common::v1::Money {
                currency_code: lowest.currency_code.clone(),
                minor_units: max,
            };
            Some((max, lowest))
        }
    };
    let bought = caller
        .orders()
        .create_activation(caller.request(pb::CreateActivationRequest {
            service_code: service.to_owned(),
            country_code: country.code.clone(),
            operator: operator.clone(),
            max_price: limit.as_ref().map(|(max, _)| max.clone()),
            request_id: request_id(),
        }))
        .await;
    let activation = match bought {
        Ok(response) => response.into_inner(),
        Err(status) => {
            let refused = refusal::token_of(&status, caller.family);
            return Err(match (refused, &limit) {
                (token::WRONG_MAX_PRICE, Some((_, lowest))) => {
                    Answer::with(token::WRONG_MAX_PRICE, values::amount(lowest))
                }
                _ => caller.refuse(refused),
            });
        }
    };
    if activation.status == Status::Failed as i32 {
        let refused = refusal::token_for(&activation.failure_reason, caller.family);
        return Err(caller.refuse(refused));
    }
    if !v2 {
        return Ok(Answer::Text(format!(
            "{}:{}:{}",
            token::ACCESS_NUMBER,
            activation.numeric_id,
            values::digits(&activation.phone_number)
        )));
    }
    let price = activation.price.clone().unwrap_or_default();
    Ok(Answer::json(&NumberV2 {
        activation_id: activation.numeric_id,
        phone_number: values::digits(&activation.phone_number),
        activation_cost: Number::of(&price),
        currency: values::currency_number(&price.currency_code),
        country_code: country.activate_id.to_string(),
        can_get_another_sms: "1",
        activation_time: values::datetime(activation.create_time.as_ref()),
        activation_end_time: values::datetime(activation.expire_time.as_ref()),
        activation_operator: operator_name(&activation.operator),
    }))
}

/// The operator a purchase names: the first of a comma-separated list
/// (numhub buys from one operator), none for `any` or when absent.
fn operator(params: &Params) -> String {
    let first = params
        .get("operator")
        .and_then(|list| list.split(',').map(str::trim).find(|o| !o.is_empty()))
        .unwrap_or_default();
    if first.eq_ignore_ascii_case(ANY_OPERATOR) {
        String::new()
    } else {
        first.to_owned()
    }
}

fn operator_name(operator: &str) -> String {
    if operator.is_empty() {
        ANY_OPERATOR.to_owned()
    } else {
        operator.to_owned()
    }
}

/// The price a purchase pays: `operator`'s own, else the country's for any
/// operator; with no operator named, the lowest of all.
fn lowest_price(
    prices: &[numhub_proto::catalog::v1::ActivationPrice],
    operator: &str,
) -> Option<numhub_proto::common::v1::Money> {
    let own = |o: &str| prices.iter().find(|p| p.operator == o);
    let chosen = if operator.is_empty() {
        prices
            .iter()
            .min_by_key(|p| p.price.as_ref().map_or(0, |m| m.minor_units))
    } else {
        own(operator).or_else(|| own(""))
    };
    chosen.and_then(|p| p.price.clone())
}

/// getNumberV2's answer, in the shape every client read parses: the phone
/// and the country as strings, the currency as its ISO 4217 number.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct NumberV2 {
    activation_id: i64,
    phone_number: String,
    activation_cost: Number,
    currency: u16,
    country_code: String,
    can_get_another_sms: &'static str,
    activation_time: String,
    activation_end_time: String,
    activation_operator: String,
}

/// `setStatus`: 1 (the number is ready: numhub needs no such step, so an
/// open activation answers `ACCESS_READY`), 3 (another SMS), 6 (complete),
/// 8 and -1 (cancel, refunded in full).
pub(super) async fn set_status(caller: &Caller, params: &Params) -> Outcome {
    let id = numeric_id(params, "id").ok_or_else(|| caller.refuse(token::WRONG_ACTIVATION_ID))?;
    let status = match params.integer("status") {
        Some(Ok(status)) => status,
        _ => return Err(caller.refuse(token::BAD_STATUS)),
    };
    let orders = caller.orders();
    match status {
        1 => {
            let activation = get(caller, id).await?;
            if is_open(&activation) {
                Ok(Answer::token(token::ACCESS_READY))
            } else {
                Err(caller.refuse(token::BAD_STATUS))
            }
        }
        3 => {
            let request = caller.request(pb::RequestAnotherSmsRequest { id });
            caller.answer(orders.clone().request_another_sms(request).await)?;
            Ok(Answer::token(token::ACCESS_RETRY_GET))
        }
        6 => {
            let request = caller.request(pb::CompleteActivationRequest { id });
            caller.answer(orders.clone().complete_activation(request).await)?;
            Ok(Answer::token(token::ACCESS_ACTIVATION))
        }
        8 | -1 => {
            let request = caller.request(pb::CancelActivationRequest { id });
            caller.answer(orders.clone().cancel_activation(request).await)?;
            Ok(Answer::token(token::ACCESS_CANCEL))
        }
        _ => Err(caller.refuse(token::BAD_STATUS)),
    }
}

async fn get(caller: &Caller, id: String) -> Result<pb::Activation, Answer> {
    caller.answer(
        caller
            .orders()
            .get_activation(caller.request(pb::GetActivationRequest { id }))
            .await,
    )
}

fn status_of(activation: &pb::Activation) -> Status {
    Status::try_from(activation.status).unwrap_or(Status::Unspecified)
}

fn is_open(activation: &pb::Activation) -> bool {
    matches!(
        status_of(activation),
        Status::Creating | Status::Waiting | Status::Received
    )
}

/// The latest message, once an SMS arrived.
fn latest(activation: &pb::Activation) -> Option<&pb::Message> {
    activation.messages.last()
}

/// What `STATUS_OK` carries: the code numhub read out of the latest SMS,
/// else its text, with what would break the token (`:`, line breaks) made
/// spaces.
fn received_value(message: &pb::Message) -> String {
    let value = if message.code.is_empty() {
        &message.body
    } else {
        &message.code
    };
    value
        .chars()
        .map(|c| if c == ':' || c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// `getStatus`: `STATUS_WAIT_CODE` until an SMS, `STATUS_OK:<code>` once one
/// arrived (also after completion or an expiry that kept it, so a late poll
/// still reads its code), `STATUS_WAIT_RETRY:<last code>` while waiting for
/// another after `setStatus` 3, `STATUS_CANCEL` once cancelled, expired
/// without an SMS, or failed.
pub(super) async fn get_status(caller: &Caller, params: &Params) -> Outcome {
    let id = numeric_id(params, "id").ok_or_else(|| caller.refuse(token::NO_ACTIVATION))?;
    let activation = get(caller, id).await?;
    Ok(match (status_of(&activation), latest(&activation)) {
        (Status::Received | Status::Finished, Some(message)) => {
            Answer::with(token::STATUS_OK, received_value(message))
        }
        (Status::Waiting, Some(_)) if !activation.code.is_empty() => {
            Answer::with(token::STATUS_WAIT_RETRY, &activation.code)
        }
        (Status::Creating | Status::Waiting | Status::Received, _) => {
            Answer::token(token::STATUS_WAIT_CODE)
        }
        _ => Answer::token(token::STATUS_CANCEL),
    })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusV2 {
    /// 0: an SMS; numhub receives no calls.
    verification_type: u8,
    sms: Option<Sms>,
    call: Option<()>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Sms {
    date_time: String,
    code: String,
    text: String,
}

/// `getStatusV2`: `{"verificationType":0,"sms":null,"call":null}` while
/// waiting (for a first SMS, or another after `setStatus` 3), with `sms` the
/// latest message once one arrived; plain `STATUS_CANCEL` once cancelled,
/// expired without an SMS, or failed.
pub(super) async fn get_status_v2(caller: &Caller, params: &Params) -> Outcome {
    let id = numeric_id(params, "id").ok_or_else(|| caller.refuse(token::NO_ACTIVATION))?;
    let activation = get(caller, id).await?;
    let sms = match (status_of(&activation), latest(&activation)) {
        (Status::Received | Status::Finished, Some(message)) => Some(Sms {
            date_time: values::datetime(message.receive_time.as_ref()),
            code: message.code.clone(),
            text: message.body.clone(),
        }),
        (Status::Creating | Status::Waiting | Status::Received, _) => None,
        _ => return Ok(Answer::token(token::STATUS_CANCEL)),
    };
    Ok(Answer::json(&StatusV2 {
        verification_type: 0,
        sms,
        call: None,
    }))
}

/// The most open activations `getActiveActivations` lists: those a page of
/// OrdersService holds, enough for any account within its open limit.
const ACTIVE_PAGE: i32 = 100;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ActiveActivations {
    status: &'static str,
    active_activations: Vec<ActiveActivation>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ActiveActivation {
    activation_id: String,
    service_code: String,
    phone_number: String,
    activation_cost: Number,
    /// "4" waiting for a first SMS, "3" waiting for another after
    /// `setStatus` 3, "2" an SMS received (numhub's numbering: the
    /// protocol documents none).
    activation_status: &'static str,
    /// The code of the latest message that carried one.
    sms_code: Option<Vec<String>>,
    /// Lists carry no message texts: `getStatusV2` has the text.
    sms_text: Option<String>,
    activation_time: String,
    discount: &'static str,
    /// "1" while waiting for another SMS.
    repeated: &'static str,
    country_code: String,
    country_name: String,
    can_get_another_sms: &'static str,
    currency: u16,
}

/// `{"status":"success","activeActivations":[...]}`: the open activations,
/// newest first; `NO_ACTIVATIONS` when there is none.
pub(super) async fn get_active_activations(caller: &Caller) -> Outcome {
    let listed = caller.answer(
        caller
            .orders()
            .list_activations(caller.request(pb::ListActivationsRequest {
                statuses: vec![
                    Status::Creating as i32,
                    Status::Waiting as i32,
                    Status::Received as i32,
                ],
                page_size: ACTIVE_PAGE,
                page_token: String::new(),
            }))
            .await,
    )?;
    if listed.activations.is_empty() {
        return Err(caller.refuse(token::NO_ACTIVATIONS));
    }
    let countries = Countries::load(caller).await?;
    let active = listed
        .activations
        .into_iter()
        .map(|a| {
            let price = a.price.clone().unwrap_or_default();
            let country = countries.by_iso(&a.country_code);
            let retrying = status_of(&a) == Status::Waiting && !a.code.is_empty();
            let activation_status = match status_of(&a) {
                Status::Received => "2",
                _ if retrying => "3",
                _ => "4",
            };
            ActiveActivation {
                activation_id: a.numeric_id.to_string(),
                service_code: a.service_code.clone(),
                phone_number: values::digits(&a.phone_number),
                activation_cost: Number::of(&price),
                activation_status,
                sms_code: (!a.code.is_empty()).then(|| vec![a.code.clone()]),
                sms_text: None,
                activation_time: values::datetime(a.create_time.as_ref()),
                discount: "0.00",
                repeated: if retrying { "1" } else { "0" },
                country_code: country.map_or(String::new(), |c| c.activate_id.to_string()),
                country_name: country.map_or(String::new(), |c| c.name.clone()),
                can_get_another_sms: "1",
                currency: values::currency_number(&price.currency_code),
            }
        })
        .collect();
    Ok(Answer::json(&ActiveActivations {
        status: crate::sms_activate::answer::Success::SUCCESS,
        active_activations: active,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(code: &str, body: &str) -> pb::Message {
        pb::Message {
            code: code.into(),
            body: body.into(),
            ..Default::default()
        }
    }

    #[test]
    fn status_ok_carries_the_code_or_a_text_that_keeps_the_token_whole() {
        assert_eq!(received_value(&message("123456", "x")), "123456");
        assert_eq!(
            received_value(&message("", "Code: none\r\nhere ")),
            "Code  none  here"
        );
    }

    #[test]
    fn the_operator_is_the_first_named_and_any_is_none() {
        let params = |q: &str| Params::read(Some(q), &http::HeaderMap::new(), b"");
        assert_eq!(operator(&params("operator=tmobile,att")), "tmobile");
        assert_eq!(operator(&params("operator=any")), "");
        assert_eq!(operator(&params("operator=,att")), "att");
        assert_eq!(operator(&params("")), "");
    }
}
