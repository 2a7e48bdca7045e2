//! Rentals: `getRentServicesAndCountries`, over the catalog's rental
//! packages. Every answer is JSON: `"status":"success"`, or
//! `{"status":"error","message":"<TOKEN>"}`.
//!
//! The protocol rents by the hour (`rent_time`, or `time`; `duration` in
//! minutes for hero-sms's clients); numhub sells packages of days and
//! months. A rent buys the shortest package on sale that is sure to last
//! the hours asked, the cheapest of those that last alike (see
//! [`values::package_for`]).

use numhub_proto::catalog::v1 as catalog_pb;
use serde::Serialize;

use super::catalog::{ANY_OPERATOR, Countries};
use super::{Caller, Outcome, country_id};
use crate::sms_activate::answer::{Answer, Success, token};
use crate::sms_activate::params::Params;
use crate::sms_activate::values::{self, Number};

/// The most countries a page of rental pricing holds, asked for on every
/// page.
const PRICING_PAGE: i32 = 300;

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
async fn country(caller: &Caller, params: &Params) -> Result<catalog_pb::Country, Answer> {
    let id = country_id(params).ok_or_else(|| caller.refuse(token::BAD_COUNTRY))?;
    Countries::load(caller)
        .await?
        .by_id(id)
        .cloned()
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
    countries: std::collections::BTreeMap<usize, i32>,
    operators: std::collections::BTreeMap<usize, &'static str>,
    services: std::collections::BTreeMap<&'static str, RentOffer>,
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
    let country = country(caller, params).await?;
    let countries = Countries::load(caller).await?;
    let rentable: std::collections::BTreeMap<usize, i32> = rental_pricing(caller)
        .await?
        .iter()
        .filter_map(|p| countries.by_iso(&p.country.as_ref()?.code))
        .map(|c| c.activate_id)
        .enumerate()
        .collect();
    let packages = packages(caller, &country.code, "")
        .await?
        .ok_or_else(|| caller.refuse(token::OUT_OF_STOCK))?;
    let plan = package(hours, &packages, None).ok_or_else(|| caller.refuse(token::OUT_OF_STOCK))?;
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
