//! What customers browse: services, countries with price, stock and arrival
//! time, prices, rental packages and rental stock. Stock comes from the
//! counters (see [`crate::store::stock`]), never from a scan.

use std::collections::BTreeMap;

use numhub_runtime::validate::page_token;

use crate::Catalog;
use crate::error::{Error, Rejection, RejectionKind};
use crate::model::{
    ActivationPrice, CountryOffer, InventoryStatus, NumberType, RentalDuration, RentalPlan,
    RentalPricing, Service,
};
use crate::store::{reference, stock};

/// A page of items and the cursor of the next one.
pub type Page<T> = (Vec<T>, Option<String>);

impl Catalog {
    pub async fn list_services(&self, after: &str, page_size: u32) -> Result<Page<Service>, Error> {
        let rows = reference::list_services(self.db.reader(), after, page_size + 1).await?;
        Ok(page_token::split(rows, page_size, |s| s.code.clone()))
    }

    /// Countries in code order. For a service, only where it has a price,
    /// with the lowest price, the stock never used for it and the average
    /// arrival time; without one, every country with its whole stock.
    pub async fn list_countries(
        &self,
        service: Option<&str>,
        after: &str,
        page_size: u32,
    ) -> Result<Page<CountryOffer>, Error> {
        // One statement: a listing never queues for the pool more than once.
        let offers = stock::offers(self.db.reader(), service, after, page_size + 1).await?;
        if offers.is_empty()
            && let Some(service) = service
        {
            // An empty page, or a service that is not there?
            self.enabled_service(service).await?;
        }
        Ok(page_token::split(offers, page_size, |o| {
            o.country.code.clone()
        }))
    }

    /// Activation prices after the key `after` (service, country, operator).
    pub async fn list_prices(
        &self,
        service: Option<&str>,
        country: Option<&str>,
        after: (&str, &str, &str),
        page_size: u32,
    ) -> Result<Page<ActivationPrice>, Error> {
        let rows = reference::list_prices(
            self.db.reader(),
            service.unwrap_or_default(),
            country.unwrap_or_default(),
            after,
            page_size + 1,
        )
        .await?;
        Ok(page_token::split(rows, page_size, price_cursor))
    }

    /// The packages of a country that can be bought now. NOT_FOUND when the
    /// country is unknown or has no active route.
    pub async fn rental_pricing(
        &self,
        country: &str,
        service: Option<&str>,
    ) -> Result<RentalPricing, Error> {
        let country = self.enabled_country(country).await?;
        if let Some(service) = service {
            self.enabled_service(service).await?;
        }
        let packages = self.active_packages(&country.code, service).await?;
        if packages.is_empty() {
            return Err(Error::not_found("rental route of country", &country.code));
        }
        Ok(RentalPricing { country, packages })
    }

    /// The price of one package now: the service's own plan, else the
    /// general one. NOT_OFFERED when neither exists.
    pub async fn quote_rental(
        &self,
        country: &str,
        number_type: NumberType,
        service: Option<&str>,
        duration: RentalDuration,
    ) -> Result<RentalPlan, Error> {
        let country = self.enabled_country(country).await?;
        if let Some(service) = service {
            self.enabled_service(service).await?;
        }
        reference::rental_plans(self.db.reader(), &country.code, service.unwrap_or_default())
            .await?
            .into_iter()
            .filter(|p| p.number_type == number_type && p.duration == duration)
            .max_by_key(|p| !p.service_code.is_empty())
            .ok_or_else(|| {
                Rejection::new(
                    RejectionKind::NotOffered,
                    format!(
                        "no rental plan of this type and duration in {}",
                        country.code
                    ),
                )
                .into()
            })
    }

    /// Countries with an active rental route, in code order. A page may hold
    /// fewer countries than asked when some have no stock right now.
    pub async fn list_rental_pricing(
        &self,
        service: Option<&str>,
        after: &str,
        page_size: u32,
    ) -> Result<Page<RentalPricing>, Error> {
        if let Some(service) = service {
            self.enabled_service(service).await?;
        }
        let countries =
            reference::countries_with_plans(self.db.reader(), after, page_size + 1).await?;
        let (countries, next) = page_token::split(countries, page_size, |c| c.code.clone());
        let mut routes = Vec::with_capacity(countries.len());
        for country in countries {
            let packages = self.active_packages(&country.code, service).await?;
            if !packages.is_empty() {
                routes.push(RentalPricing { country, packages });
            }
        }
        Ok((routes, next))
    }

    /// Rental stock of a country for a duration and type, defaulting to the
    /// route's: one month (else the shortest plan), VoIP (else non-VoIP).
    pub async fn check_inventory(
        &self,
        country: &str,
        duration: Option<RentalDuration>,
        number_type: Option<NumberType>,
    ) -> Result<InventoryStatus, Error> {
        let country = self.enabled_country(country).await?;
        let plans = reference::rental_plans(self.db.reader(), &country.code, "").await?;
        let general: Vec<&RentalPlan> =
            plans.iter().filter(|p| p.service_code.is_empty()).collect();
        let number_type = number_type
            .or_else(|| general.iter().map(|p| p.number_type).min())
            .ok_or_else(|| Error::not_found("rental route of country", &country.code))?;
        let durations: Vec<RentalDuration> = general
            .iter()
            .filter(|p| p.number_type == number_type)
            .map(|p| p.duration)
            .collect();
        let duration = match duration {
            Some(d) => d,
            None if durations.contains(&RentalDuration::OneMonth) => RentalDuration::OneMonth,
            None => durations
                .iter()
                .copied()
                .min()
                .ok_or_else(|| Error::not_found("rental route of country", &country.code))?,
        };
        if !durations.contains(&duration) {
            return Err(Error::not_found(
                "rental plan",
                format!("{}/{number_type:?}/{duration:?}", country.code),
            ));
        }
        let free = stock::free_by_type(self.db.reader(), &country.code).await?;
        Ok(InventoryStatus {
            country_code: country.code,
            duration,
            number_type,
            stock: free.get(&number_type).copied().unwrap_or(0).max(0),
        })
    }

    /// A country's plans for `service` (its own replacing the general ones
    /// of the same type and duration), of the types with stock now.
    async fn active_packages(
        &self,
        country: &str,
        service: Option<&str>,
    ) -> Result<Vec<RentalPlan>, Error> {
        let db = self.db.reader();
        let plans = reference::rental_plans(db, country, service.unwrap_or_default()).await?;
        let mut chosen: BTreeMap<(NumberType, RentalDuration), RentalPlan> = BTreeMap::new();
        for plan in plans {
            let key = (plan.number_type, plan.duration);
            let replaces = !plan.service_code.is_empty() || !chosen.contains_key(&key);
            if replaces {
                chosen.insert(key, plan);
            }
        }
        let free = stock::free_by_type(db, country).await?;
        Ok(chosen
            .into_values()
            .filter(|p| free.get(&p.number_type).copied().unwrap_or(0) > 0)
            .collect())
    }
}

/// The page cursor of a price: its key, joined by a character no code has.
pub fn price_cursor(price: &ActivationPrice) -> String {
    format!(
        "{}/{}/{}",
        price.service_code, price.country_code, price.operator
    )
}

/// The key inside a price cursor.
pub fn parse_price_cursor(cursor: &str) -> Option<(String, String, String)> {
    let mut parts = cursor.splitn(3, '/');
    Some((
        parts.next()?.to_owned(),
        parts.next()?.to_owned(),
        parts.next()?.to_owned(),
    ))
}
