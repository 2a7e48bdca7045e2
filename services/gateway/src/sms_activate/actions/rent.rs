//! Rentals: `getRentServicesAndCountries`, `getRentNumber`,
//! `getRentStatus`, `setRentStatus`, `getRentList` and
//! `continueRentNumber`, over RentalsService and the catalog's rental
//! packages. A rental goes by its `numeric_id`, which RentalsService's
//! requests accept in decimal. Every answer is JSON: `"status":"success"`,
//! or `{"status":"error","message":"<TOKEN>"}`.
//!
//! The protocol rents by the hour (`rent_time`, or `time`; `duration` in
//! minutes for hero-sms's clients); numhub sells packages of days and
//! months. A rent buys the shortest package on sale that is sure to last
//! the hours asked, the cheapest of those that last alike (see
//! [`values::package_for`]).

use std::collections::BTreeMap;

use numhub_proto::catalog::v1 as catalog_pb;
use numhub_proto::rentals::v1 as pb;
use numhub_proto::rentals::v1::RentalStatus as Status;
use serde::Serialize;

use super::catalog::{ANY_OPERATOR, Countries};
use super::{Caller, Outcome, country_id, numeric_id, request_id};
use crate::sms_activate::answer::{Answer, Success, token};
use crate::sms_activate::params::Params;
use crate::sms_activate::values::{self, Number};

/// The most countries a page of rental pricing holds, asked for on every
/// page.
const PRICING_PAGE: i32 = 300;
/// The most rentals and messages one page lists.
const MAX_PAGE: usize = 100;

/// Every country with a rental package on sale now, with its packages.
pub(super) async fn rental_pricing(
    caller: &Caller,
) -> Result<Vec<catalog_pb::RentalPricing>, Answer> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = caller.answer(
            caller
                .catalog()
                .list_rental_pricing(caller.request(catalog_pb::ListRentalPricingRequest {
                    service_code: String::new(),
                    page_size: PRICING_PAGE,
                    page_token,
                }))
                .await,
        )?;
        all.extend(page.countries);
        if page.next_page_token.is_empty() {
            return Ok(all);
        }
        page_token = page.next_page_token;
    }
}

/// The hours a rent asks for: `rent_time` or `time`, or `duration` in
/// minutes (rounded up to the hour); 0 (the shortest package) when absent.
/// `None` when it is not a positive whole number.
fn hours(params: &Params) -> Option<u32> {
    let positive = |text: &str| text.parse::<u32>().ok().filter(|n| *n > 0);
    if let Some(text) = params.any(&["rent_time", "time"]) {
        return positive(text);
    }
    match params.get("duration") {
        Some(minutes) => positive(minutes).map(|m| m.div_ceil(60)),
        None => Some(0),
    }
}

/// The package a rent of `hours` buys, of `number_type` when named.
fn package(
    hours: u32,
    packages: &[catalog_pb::RentalPlan],
    number_type: Option<i32>,
) -> Option<catalog_pb::RentalPlan> {
    values::package_for(
        hours,
        packages
            .iter()
            .filter(|p| number_type.is_none_or(|t| p.number_type == t)),
        |p| p.duration(),
        |p| p.price.as_ref().map_or(0, |m| m.minor_units),
    )
    .cloned()
}

/// The country a rent names by its SMS-Activate id (0 when absent).
fn country<'c>(
    caller: &Caller,
    countries: &'c Countries,
    params: &Params,
) -> Result<&'c catalog_pb::Country, Answer> {
    country_id(params)
        .and_then(|id| countries.by_id(id))
        .ok_or_else(|| caller.refuse(token::BAD_COUNTRY))
}

/// The packages of `country` on sale now: `None` when it has none (no
/// plan, or no number in stock).
async fn packages(
    caller: &Caller,
    country: &str,
    service: &str,
) -> Result<Option<Vec<catalog_pb::RentalPlan>>, Answer> {
    let pricing = caller
        .catalog()
        .get_rental_pricing(caller.request(catalog_pb::GetRentalPricingRequest {
            country_code: country.to_owned(),
            service_code: service.to_owned(),
        }))
        .await;
    match pricing {
        Ok(pricing) => Ok(Some(pricing.into_inner().packages)),
        Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
        Err(status) => Err(caller.refusal(&status)),
    }
}

#[derive(Debug, Serialize)]
struct ServicesAndCountries {
    status: &'static str,
    countries: BTreeMap<usize, i32>,
    operators: BTreeMap<usize, &'static str>,
    services: BTreeMap<&'static str, RentOffer>,
    currency: u16,
}

#[derive(Debug, Serialize)]
struct RentOffer {
    cost: Number,
    quant: i64,
}

/// `{"status":"success","countries":{"0":187},"operators":{"0":"any"},
/// "services":{"full":{"cost":2.00,"quant":100}},"currency":840}`: the
/// countries with rentals on sale, and in `country` (0 when absent) the
/// price and stock of a rent of `rent_time` hours that receives every SMS
/// (`full`). A rent for one service costs the service's own plan where the
/// operator set one. `OUT_OF_STOCK` when the country sells no such rent.
pub(super) async fn get_rent_services_and_countries(caller: &Caller, params: &Params) -> Outcome {
    let hours = hours(params).ok_or_else(|| caller.refuse(token::INVALID_TIME))?;
    let countries = Countries::load(caller).await?;
    let country = country(caller, &countries, params)?;
    let pricing = rental_pricing(caller).await?;
    let rentable: BTreeMap<usize, i32> = pricing
        .iter()
        .filter_map(|p| countries.by_iso(&p.country.as_ref()?.code))
        .map(|c| c.activate_id)
        .enumerate()
        .collect();
    let packages = pricing
        .iter()
        .find(|p| p.country.as_ref().is_some_and(|c| c.code == country.code))
        .map(|p| p.packages.as_slice())
        .unwrap_or_default();
    let plan = package(hours, packages, None).ok_or_else(|| caller.refuse(token::OUT_OF_STOCK))?;
    let inventory = caller.answer(
        caller
            .catalog()
            .check_inventory(caller.request(catalog_pb::CheckInventoryRequest {
                country_code: country.code.clone(),
                duration: plan.duration,
                number_type: plan.number_type,
            }))
            .await,
    )?;
    let price = plan.price.unwrap_or_default();
    Ok(Answer::json(&ServicesAndCountries {
        status: Success::SUCCESS,
        countries: rentable,
        operators: [(0, ANY_OPERATOR)].into(),
        services: [(
            "full",
            RentOffer {
                cost: Number::of(&price),
                quant: inventory.stock,
            },
        )]
        .into(),
        currency: values::currency_number(&price.currency_code),
    }))
}

#[derive(Debug, Serialize)]
struct RentPhone {
    status: &'static str,
    phone: Phone,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Phone {
    id: i64,
    /// When the rent ends unless continued, in UTC.
    end_date: String,
    number: String,
}

fn rent_phone(rental: &pb::Rental) -> Answer {
    Answer::json(&RentPhone {
        status: Success::SUCCESS,
        phone: Phone {
            id: rental.numeric_id,
            end_date: values::end_date(rental.expire_time.as_ref()),
            number: values::digits(&rental.phone_number),
        },
    })
}

/// `getRentNumber`: a number of `country` (0 when absent) for `rent_time`
/// hours, receiving the SMS of `service` (every SMS for `full` or when
/// absent). Protocol rents do not renew themselves: `continueRentNumber`
/// extends one. Every request is a new purchase (a fresh UUIDv7 key).
pub(super) async fn get_rent_number(caller: &Caller, params: &Params) -> Outcome {
    let service = match params.get("service") {
        None | Some("full") => "",
        Some(service) => service,
    };
    let hours = hours(params).ok_or_else(|| caller.refuse(token::NO_NUMBERS))?;
    let countries = Countries::load(caller).await?;
    let country = country(caller, &countries, params)?;
    let packages = packages(caller, &country.code, "")
        .await?
        .ok_or_else(|| caller.refuse(token::NO_NUMBERS))?;
    let plan = package(hours, &packages, None).ok_or_else(|| caller.refuse(token::NO_NUMBERS))?;
    let created = caller.answer(
        caller
            .rentals()
            .create_rental(caller.request(pb::CreateRentalRequest {
                country_code: country.code.clone(),
                number_type: plan.number_type,
                duration: plan.duration,
                service_code: service.to_owned(),
                auto_renew: Some(false),
                request_id: request_id(),
                max_price: None,
            }))
            .await,
    )?;
    Ok(rent_phone(&created.rental.unwrap_or_default()))
}

async fn get(caller: &Caller, params: &Params) -> Result<pb::Rental, Answer> {
    let id = numeric_id(params, "id").ok_or_else(|| caller.refuse(token::NO_ID_RENT))?;
    caller.answer(
        caller
            .rentals()
            .get_rental(caller.request(pb::GetRentalRequest { id }))
            .await,
    )
}

fn status_of(rental: &pb::Rental) -> Status {
    Status::try_from(rental.status).unwrap_or(Status::Unspecified)
}

#[derive(Debug, Serialize)]
struct RentStatus {
    status: &'static str,
    /// Every SMS the rental received.
    quantity: String,
    values: BTreeMap<usize, RentSms>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RentSms {
    phone_from: String,
    text: String,
    service: String,
    date: String,
}

/// `getRentStatus`: the rental's SMS, newest first (`"0"` is the latest),
/// `size` a page (10 by default, at most 100) from `page` (1 by default),
/// among its latest hundred. `STATUS_WAIT_CODE` before any SMS,
/// `STATUS_CANCEL` once cancelled, `STATUS_FINISH` once expired.
pub(super) async fn get_rent_status(caller: &Caller, params: &Params) -> Outcome {
    let rental = get(caller, params).await?;
    match status_of(&rental) {
        Status::Cancelled => return Err(caller.refuse(token::STATUS_CANCEL)),
        Status::Expired => return Err(caller.refuse(token::STATUS_FINISH)),
        Status::Failed => return Err(caller.refuse(token::NO_ID_RENT)),
        _ if rental.messages.is_empty() => {
            return Err(caller.refuse(token::STATUS_WAIT_CODE));
        }
        _ => {}
    }
    let page = params
        .integer("page")
        .and_then(Result::ok)
        .filter(|p| *p > 0)
        .unwrap_or(1) as usize;
    let size = params
        .integer("size")
        .and_then(Result::ok)
        .filter(|s| *s > 0)
        .map_or(10, |s| (s as usize).min(MAX_PAGE));
    let values = rental
        .messages
        .iter()
        .skip((page - 1).saturating_mul(size))
        .take(size)
        .enumerate()
        .map(|(i, m)| {
            let sms = RentSms {
                phone_from: m.sender.clone(),
                text: m.body.clone(),
                service: m.service_code.clone(),
                date: values::datetime(m.receive_time.as_ref()),
            };
            (i, sms)
        })
        .collect();
    Ok(Answer::json(&RentStatus {
        status: Success::SUCCESS,
        quantity: rental.sms_count.to_string(),
        values,
    }))
}

/// `setRentStatus`: 1 (finish) and 2 (cancel) both release the number at
/// once; numhub's rule decides the refund (everything charged, within its
/// refund window after purchase and before any SMS; nothing otherwise).
/// `ALREADY_CANCEL` or `ALREADY_FINISH` for a rental that has ended.
pub(super) async fn set_rent_status(caller: &Caller, params: &Params) -> Outcome {
    if !matches!(params.integer("status"), Some(Ok(1 | 2))) {
        return Err(caller.refuse(token::INCORECT_STATUS));
    }
    let rental = get(caller, params).await?;
    match status_of(&rental) {
        Status::Cancelled => return Err(caller.refuse(token::ALREADY_CANCEL)),
        Status::Expired => return Err(caller.refuse(token::ALREADY_FINISH)),
        Status::Failed => return Err(caller.refuse(token::NO_ID_RENT)),
        _ => {}
    }
    caller.answer(
        caller
            .rentals()
            .cancel_rental(caller.request(pb::CancelRentalRequest {
                id: rental.id,
                request_id: request_id(),
            }))
            .await,
    )?;
    Ok(Answer::json(&Success::new()))
}

#[derive(Debug, Serialize)]
struct RentList {
    status: &'static str,
    values: BTreeMap<usize, RentEntry>,
}

#[derive(Debug, Serialize)]
struct RentEntry {
    id: String,
    phone: String,
}

/// `getRentList`: the active rentals, newest first, `length` a page (100
/// by default and at most) from `page` (1 by default). `NO_NUMBERS` when
/// there is none.
pub(super) async fn get_rent_list(caller: &Caller, params: &Params) -> Outcome {
    let length = params
        .integer("length")
        .and_then(Result::ok)
        .filter(|l| *l > 0)
        .map_or(MAX_PAGE, |l| (l as usize).min(MAX_PAGE));
    let page = params
        .integer("page")
        .and_then(Result::ok)
        .filter(|p| *p > 0)
        .unwrap_or(1);
    let mut page_token = String::new();
    let mut rentals = Vec::new();
    for _ in 0..page {
        let listed = caller.answer(
            caller
                .rentals()
                .list_rentals(caller.request(pb::ListRentalsRequest {
                    filter: pb::RentalFilter::Active as i32,
                    page_size: length as i32,
                    page_token,
                }))
                .await,
        )?;
        rentals = listed.rentals;
        page_token = listed.next_page_token;
        if page_token.is_empty() {
            break;
        }
    }
    if rentals.is_empty() {
        return Err(caller.refuse(token::NO_NUMBERS));
    }
    let values = rentals
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let entry = RentEntry {
                id: r.numeric_id.to_string(),
                phone: values::digits(&r.phone_number),
            };
            (i, entry)
        })
        .collect();
    Ok(Answer::json(&RentList {
        status: Success::SUCCESS,
        values,
    }))
}

/// `continueRentNumber`: adds a package of at least `rent_time` hours to an
/// active rental, at its price today; without `rent_time`, the package it
/// was bought with. The id stays the same. `RENT_DIE` for a rental that
/// has ended, `INVALID_TIME` when no package on sale lasts that long.
pub(super) async fn continue_rent_number(caller: &Caller, params: &Params) -> Outcome {
    let rental = get(caller, params).await?;
    let duration = match params.any(&["rent_time", "time", "duration"]) {
        None => catalog_pb::RentalDuration::Unspecified as i32,
        Some(_) => {
            let hours = hours(params).ok_or_else(|| caller.refuse(token::INVALID_TIME))?;
            let on_sale = packages(caller, &rental.country_code, &rental.service_code)
                .await?
                .and_then(|packages| package(hours, &packages, Some(rental.number_type)));
            // When nothing is on sale (no number free), the rental's own
            // package still renews it.
            let own = values::package_hours(rental.renewal_duration()) >= hours;
            match on_sale {
                Some(plan) => plan.duration,
                None if own => rental.renewal_duration,
                None => return Err(caller.refuse(token::INVALID_TIME)),
            }
        }
    };
    let renewed = caller.answer(
        caller
            .rentals()
            .renew_rental(caller.request(pb::RenewRentalRequest {
                id: rental.id,
                duration,
                request_id: request_id(),
                max_price: None,
            }))
            .await,
    )?;
    Ok(rent_phone(&renewed.rental.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: &str) -> Params {
        Params::read(Some(query), &http::HeaderMap::new(), b"")
    }

    #[test]
    fn hours_come_as_rent_time_time_or_minutes() {
        assert_eq!(hours(&params("rent_time=4")), Some(4));
        assert_eq!(hours(&params("time=24")), Some(24));
        assert_eq!(hours(&params("duration=90")), Some(2));
        assert_eq!(hours(&params("")), Some(0));
        assert_eq!(hours(&params("rent_time=0")), None);
        assert_eq!(hours(&params("rent_time=two")), None);
    }
}
