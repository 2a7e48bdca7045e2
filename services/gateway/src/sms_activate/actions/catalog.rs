//! What numhub sells, in the protocol's shapes: `getPrices`,
//! `getCountries`, `getServicesList`, `getOperators` and
//! `getNumbersStatus`. Countries go by their SMS-Activate id (the
//! catalog's `Country.activate_id`), read from the catalog on every
//! request: the gateway keeps nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use numhub_proto::catalog::v1 as pb;
use serde::Serialize;

use super::{Caller, Outcome, country_id};
use crate::sms_activate::answer::{Answer, Success, token};
use crate::sms_activate::params::Params;
use crate::sms_activate::values::Number;

/// The most items a page of the catalog holds, asked for on every page.
const COUNTRIES_PAGE: i32 = 300;
const PRICES_PAGE: i32 = 1000;

/// The catalog's countries, each with its whole free stock.
pub(super) struct Countries(Vec<pb::CountryOffer>);

impl Countries {
    pub(super) async fn load(caller: &Caller) -> Result<Self, Answer> {
        offers(caller, "").await.map(Self)
    }

    /// The country of an SMS-Activate id.
    pub(super) fn by_id(&self, id: i32) -> Option<&pb::Country> {
        self.countries().find(|c| c.activate_id == id)
    }

    /// The country of an ISO code.
    pub(super) fn by_iso(&self, iso: &str) -> Option<&pb::Country> {
        self.countries().find(|c| c.code == iso)
    }

    fn countries(&self) -> impl Iterator<Item = &pb::Country> {
        self.0.iter().filter_map(|offer| offer.country.as_ref())
    }

    /// Numbers free in each country, by ISO code.
    fn stock(&self) -> HashMap<String, i64> {
        stock(&self.0)
    }
}

/// Every page of the catalog's countries (with the price and fresh stock
/// of `service`, when named).
async fn offers(caller: &Caller, service: &str) -> Result<Vec<pb::CountryOffer>, Answer> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = caller.answer(
            caller
                .catalog()
                .list_countries(caller.request(pb::ListCountriesRequest {
                    service_code: service.to_owned(),
                    page_size: COUNTRIES_PAGE,
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

fn stock(offers: &[pb::CountryOffer]) -> HashMap<String, i64> {
    offers
        .iter()
        .filter_map(|o| Some((o.country.as_ref()?.code.clone(), o.stock)))
        .collect()
}

/// Every page of the activation prices, of `service` and `country` when
/// named.
pub(super) async fn prices(
    caller: &Caller,
    service: &str,
    country: &str,
) -> Result<Vec<pb::ActivationPrice>, Answer> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = caller.answer(
            caller
                .catalog()
                .list_prices(caller.request(pb::ListPricesRequest {
                    service_code: service.to_owned(),
                    country_code: country.to_owned(),
                    page_size: PRICES_PAGE,
                    page_token,
                }))
                .await,
        )?;
        all.extend(page.prices);
        if page.next_page_token.is_empty() {
            return Ok(all);
        }
        page_token = page.next_page_token;
    }
}

/// The ISO code of the `country` a request names, when it names one;
/// `Err` for an id that is not a number, `Ok(Some(None))` for a number no
/// country has.
fn named_country(
    caller: &Caller,
    countries: &Countries,
    params: &Params,
) -> Result<Option<Option<String>>, Answer> {
    if params.get("country").is_none() {
        return Ok(None);
    }
    let id = country_id(params).ok_or_else(|| caller.refuse(token::BAD_COUNTRY))?;
    Ok(Some(countries.by_id(id).map(|c| c.code.clone())))
}

/// One service's price in one country.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PriceEntry {
    /// The lowest price of an activation.
    cost: Number,
    /// Numbers free to sell.
    count: i64,
    /// The same: every number numhub sells is one it holds.
    physical_count: i64,
}

/// `{"187":{"wa":{"cost":0.45,"count":100,"physicalCount":100}}}`: the
/// lowest price of each service in each country, with the numbers free
/// there. With `service`, the numbers never used for that service; without,
/// every free number of the country (a purchase finds fewer when the
/// number was already used for the service). `{}` when nothing is priced.
pub(super) async fn get_prices(caller: &Caller, params: &Params) -> Outcome {
    let service = params.get("service").unwrap_or_default();
    let countries = Countries::load(caller).await?;
    let country = match named_country(caller, &countries, params)? {
        None => String::new(),
        Some(Some(iso)) => iso,
        Some(None) => return Ok(Answer::json(&BTreeMap::<i32, ()>::new())),
    };
    let stock = if service.is_empty() {
        countries.stock()
    } else {
        stock(&offers(caller, service).await?)
    };
    let mut lowest: BTreeMap<i32, BTreeMap<String, pb::ActivationPrice>> = BTreeMap::new();
    for price in prices(caller, service, &country).await? {
        let Some(country) = countries.by_iso(&price.country_code) else {
            continue;
        };
        let services = lowest.entry(country.activate_id).or_default();
        let cheaper = services
            .get(&price.service_code)
            .is_none_or(|held| units(held) > units(&price));
        if cheaper {
            services.insert(price.service_code.clone(), price);
        }
    }
    let table: BTreeMap<i32, BTreeMap<String, PriceEntry>> = lowest
        .into_iter()
        .map(|(id, services)| {
            let services = services
                .into_iter()
                .map(|(code, price)| {
                    let count = stock.get(&price.country_code).copied().unwrap_or(0);
                    let entry = PriceEntry {
                        cost: Number::of(&price.price.unwrap_or_default()),
                        count,
                        physical_count: count,
                    };
                    (code, entry)
                })
                .collect();
            (id, services)
        })
        .collect();
    Ok(Answer::json(&table))
}

fn units(price: &pb::ActivationPrice) -> i64 {
    price.price.as_ref().map_or(0, |m| m.minor_units)
}

/// One country of `getCountries`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CountryEntry {
    id: i32,
    /// numhub names countries in English only: the same name in the three
    /// languages the protocol has fields for.
    rus: String,
    eng: String,
    chn: String,
    visible: u8,
    /// Another SMS can always be asked for (`setStatus` 3).
    retry: u8,
    /// Whether numbers of the country can be rented now.
    rent: u8,
    /// numhub sells one service per activation.
    multi_service: u8,
}

/// `{"187":{"id":187,"rus":"United States",...,"rent":1}}`: every country
/// by its SMS-Activate id.
pub(super) async fn get_countries(caller: &Caller) -> Outcome {
    let countries = Countries::load(caller).await?;
    let rentable = rental_countries(caller).await?;
    let table: BTreeMap<i32, CountryEntry> = countries
        .countries()
        .map(|c| {
            let entry = CountryEntry {
                id: c.activate_id,
                rus: c.name.clone(),
                eng: c.name.clone(),
                chn: c.name.clone(),
                visible: 1,
                retry: 1,
                rent: u8::from(rentable.contains(&c.code)),
                multi_service: 0,
            };
            (c.activate_id, entry)
        })
        .collect();
    Ok(Answer::json(&table))
}

/// The ISO codes of the countries with a rental package on sale now.
async fn rental_countries(caller: &Caller) -> Result<BTreeSet<String>, Answer> {
    Ok(super::rent::rental_pricing(caller)
        .await?
        .into_iter()
        .filter_map(|pricing| pricing.country.map(|c| c.code))
        .collect())
}

#[derive(Debug, Serialize)]
struct ServicesList {
    #[serde(flatten)]
    success: Success,
    services: Vec<ServiceEntry>,
}

#[derive(Debug, Serialize)]
struct ServiceEntry {
    code: String,
    name: String,
}

/// `{"status":"success","services":[{"code":"wa","name":"WhatsApp"}]}`:
/// every service on sale; with `country`, those priced there.
pub(super) async fn get_services_list(caller: &Caller, params: &Params) -> Outcome {
    let priced = if params.get("country").is_some() {
        let countries = Countries::load(caller).await?;
        let iso = named_country(caller, &countries, params)?
            .flatten()
            .unwrap_or_default();
        let priced: BTreeSet<String> = if iso.is_empty() {
            BTreeSet::new()
        } else {
            prices(caller, "", &iso)
                .await?
                .into_iter()
                .map(|p| p.service_code)
                .collect()
        };
        Some(priced)
    } else {
        None
    };
    let mut services = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = caller.answer(
            caller
                .catalog()
                .list_services(caller.request(pb::ListServicesRequest {
                    page_size: PRICES_PAGE,
                    page_token,
                }))
                .await,
        )?;
        services.extend(
            page.services
                .into_iter()
                .filter(|s| priced.as_ref().is_none_or(|p| p.contains(&s.code)))
                .map(|s| ServiceEntry {
                    code: s.code,
                    name: s.name,
                }),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    Ok(Answer::json(&ServicesList {
        success: Success::new(),
        services,
    }))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Operators {
    #[serde(flatten)]
    success: Success,
    country_operators: BTreeMap<i32, Vec<String>>,
}

/// The operator a request may name for "any operator".
pub(super) const ANY_OPERATOR: &str = "any";

/// `{"status":"success","countryOperators":{"187":["any","tmobile"]}}`: the
/// operators a purchase can name in each country (of `country`, when
/// named): `any` where the country has a price for any operator, and each
/// operator with a price of its own. Customers see operators through the
/// prices alone; an operator without a price of its own sells at the
/// country's under `any`. `OPERATORS_NOT_FOUND` when there is none.
pub(super) async fn get_operators(caller: &Caller, params: &Params) -> Outcome {
    let countries = Countries::load(caller).await?;
    let country = match named_country(caller, &countries, params) {
        Ok(None) => String::new(),
        Ok(Some(Some(iso))) => iso,
        Ok(Some(None)) | Err(_) => return Err(caller.refuse(token::OPERATORS_NOT_FOUND)),
    };
    let mut table: BTreeMap<i32, BTreeSet<String>> = BTreeMap::new();
    for price in prices(caller, "", &country).await? {
        let Some(country) = countries.by_iso(&price.country_code) else {
            continue;
        };
        let operator = if price.operator.is_empty() {
            ANY_OPERATOR.to_owned()
        } else {
            price.operator
        };
        table
            .entry(country.activate_id)
            .or_default()
            .insert(operator);
    }
    if table.is_empty() {
        return Err(caller.refuse(token::OPERATORS_NOT_FOUND));
    }
    let country_operators = table
        .into_iter()
        .map(|(id, operators)| {
            // `any` first, then the operators by name.
            let (any, named): (Vec<String>, Vec<String>) =
                operators.into_iter().partition(|o| o == ANY_OPERATOR);
            (id, any.into_iter().chain(named).collect())
        })
        .collect();
    Ok(Answer::json(&Operators {
        success: Success::new(),
        country_operators,
    }))
}

/// `{"wa_0":100,"tg_0":100}`: for each service priced in `country` (0
/// when absent), the numbers free there, keyed `<service>_0` (`_0`: without
/// call forwarding, which numhub does not sell). The count is every free
/// number of the country: `getPrices` with `service` counts those never
/// used for it. `{}` for a country without prices.
pub(super) async fn get_numbers_status(caller: &Caller, params: &Params) -> Outcome {
    let id = country_id(params).ok_or_else(|| caller.refuse(token::BAD_COUNTRY))?;
    let countries = Countries::load(caller).await?;
    let Some(country) = countries.by_id(id) else {
        return Ok(Answer::json(&BTreeMap::<String, i64>::new()));
    };
    let free = countries.stock().get(&country.code).copied().unwrap_or(0);
    let table: BTreeMap<String, i64> = prices(caller, "", &country.code)
        .await?
        .into_iter()
        .map(|p| (format!("{}_0", p.service_code), free))
        .collect();
    Ok(Answer::json(&table))
}
