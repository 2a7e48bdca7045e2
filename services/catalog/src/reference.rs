//! Reference data and prices: what operators change through the admin
//! surface, and the built-in seed.

use numhub_runtime::db::is_unique_violation;

use crate::error::Error;
use crate::model::{
    ActivationPrice, Country, NumberType, Operator, RentalDuration, RentalPlan, Service,
};
use crate::store::reference::{self as store, OnConflict};
use crate::{Catalog, seed};

impl Catalog {
    /// Loads the built-in services, countries and operators in one
    /// transaction, leaving alone every row that already exists: an
    /// operator's edits survive restarts.
    pub async fn load_seed(&self) -> Result<(), Error> {
        let now = self.clock.now();
        let mut tx = self.db.begin_write().await?;
        for s in seed::SERVICES {
            let service = Service {
                code: s.code.into(),
                name: s.name.into(),
                domain: s.domain.into(),
                disabled: false,
            };
            store::put_service(&mut *tx, &service, now, OnConflict::Keep).await?;
        }
        for c in seed::COUNTRIES {
            let country = Country {
                code: c.code.into(),
                name: c.name.into(),
                dial_prefix: c.dial_prefix.into(),
                activate_id: c.activate_id,
                disabled: false,
            };
            store::put_country(&mut *tx, &country, now, OnConflict::Keep).await?;
        }
        for o in seed::OPERATORS {
            // A seed country is missing when an operator's own country
            // took its activate id first.
            if store::country(&mut *tx, o.country_code).await?.is_none() {
                continue;
            }
            let operator = Operator {
                country_code: o.country_code.into(),
                code: o.code.into(),
                name: o.name.into(),
                disabled: false,
            };
            store::put_operator(&mut *tx, &operator, now, OnConflict::Keep).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn upsert_service(&self, service: Service) -> Result<Service, Error> {
        store::put_service(
            self.db.writer(),
            &service,
            self.clock.now(),
            OnConflict::Replace,
        )
        .await?;
        Ok(service)
    }

    pub async fn upsert_country(&self, country: Country) -> Result<Country, Error> {
        let holder = store::country_by_activate_id(self.db.reader(), country.activate_id).await?;
        if holder.is_some_and(|c| c.code != country.code) {
            return Err(Error::activate_id_taken(country.activate_id));
        }
        match store::put_country(
            self.db.writer(),
            &country,
            self.clock.now(),
            OnConflict::Replace,
        )
        .await
        {
            Ok(()) => Ok(country),
            // Another country took the id meanwhile.
            Err(error) if is_unique_violation(&error) => {
                Err(Error::activate_id_taken(country.activate_id))
            }
            Err(error) => Err(error.into()),
        }
    }

    pub async fn upsert_operator(&self, operator: Operator) -> Result<Operator, Error> {
        self.known_country(&operator.country_code).await?;
        store::put_operator(
            self.db.writer(),
            &operator,
            self.clock.now(),
            OnConflict::Replace,
        )
        .await?;
        Ok(operator)
    }

    /// Every operator of a country, disabled ones too.
    pub async fn operators(&self, country: &str) -> Result<Vec<Operator>, Error> {
        self.known_country(country).await?;
        Ok(store::operators(self.db.reader(), country).await?)
    }

    pub async fn set_activation_price(
        &self,
        service: &str,
        country: &str,
        operator: &str,
        price: i64,
        currency: Option<&str>,
    ) -> Result<ActivationPrice, Error> {
        let currency = self.price_currency(currency, "price")?;
        self.known_service(service).await?;
        self.known_country(country).await?;
        if !operator.is_empty()
            && store::operator(self.db.reader(), country, operator)
                .await?
                .is_none()
        {
            return Err(Error::not_found(
                "operator",
                format!("{country}/{operator}"),
            ));
        }
        let price = ActivationPrice {
            service_code: service.into(),
            country_code: country.into(),
            operator: operator.into(),
            price,
            currency,
            updated_at: self.clock.now(),
        };
        store::set_activation_price(self.db.writer(), &price).await?;
        Ok(price)
    }

    pub async fn delete_activation_price(
        &self,
        service: &str,
        country: &str,
        operator: &str,
    ) -> Result<(), Error> {
        Ok(store::delete_activation_price(self.db.writer(), service, country, operator).await?)
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn set_rental_plan(
        &self,
        country: &str,
        number_type: NumberType,
        service: &str,
        duration: RentalDuration,
        price: i64,
        original_price: Option<(i64, Option<String>)>,
        currency: Option<&str>,
    ) -> Result<RentalPlan, Error> {
        let currency = self.price_currency(currency, "price")?;
        let original_price = match original_price {
            Some((units, code)) => {
                self.price_currency(code.as_deref(), "original_price")?;
                Some(units)
            }
            None => None,
        };
        self.known_country(country).await?;
        if !service.is_empty() {
            self.known_service(service).await?;
        }
        let plan = RentalPlan {
            country_code: country.into(),
            number_type,
            service_code: service.into(),
            duration,
            price,
            original_price,
            currency,
            updated_at: self.clock.now(),
        };
        store::set_rental_plan(self.db.writer(), &plan).await?;
        Ok(plan)
    }

    pub async fn delete_rental_plan(
        &self,
        country: &str,
        number_type: NumberType,
        service: &str,
        duration: RentalDuration,
    ) -> Result<(), Error> {
        Ok(
            store::delete_rental_plan(self.db.writer(), country, number_type, service, duration)
                .await?,
        )
    }

    /// The catalog's currency, checked against the one a request named.
    fn price_currency(&self, given: Option<&str>, field: &str) -> Result<String, Error> {
        match given {
            Some(code) if code != self.currency() => Err(Error::invalid(
                &format!("{field}.currency_code"),
                format!("must be {}, the catalog's currency", self.currency()),
            )),
            _ => Ok(self.currency().to_owned()),
        }
    }

    /// The service, which must exist (enabled or not).
    pub(crate) async fn known_service(&self, code: &str) -> Result<Service, Error> {
        store::service(self.db.reader(), code)
            .await?
            .ok_or_else(|| Error::not_found("service", code))
    }

    /// The country, which must exist (enabled or not).
    pub(crate) async fn known_country(&self, code: &str) -> Result<Country, Error> {
        store::country(self.db.reader(), code)
            .await?
            .ok_or_else(|| Error::not_found("country", code))
    }

    /// The service, which must exist and be enabled: a disabled one is, to
    /// customers, not there.
    pub(crate) async fn enabled_service(&self, code: &str) -> Result<Service, Error> {
        match store::service(self.db.reader(), code).await? {
            Some(service) if !service.disabled => Ok(service),
            _ => Err(Error::not_found("service", code)),
        }
    }

    pub(crate) async fn enabled_country(&self, code: &str) -> Result<Country, Error> {
        match store::country(self.db.reader(), code).await? {
            Some(country) if !country.disabled => Ok(country),
            _ => Err(Error::not_found("country", code)),
        }
    }
}
