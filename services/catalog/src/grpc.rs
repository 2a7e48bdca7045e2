//! The catalog's public, admin and internal gRPC services: thin handlers
//! that validate a request, call the domain, and map its answer. No rule
//! lives here.

use numhub_proto::catalog::v1 as pb;
use numhub_runtime::clock::Timestamp;
use numhub_runtime::money;
use numhub_runtime::tokens::{self, TokenScope};
use numhub_runtime::validate::{self, Validator};
use tonic::{Request, Response, Status};

use crate::Catalog;
use crate::codes;
use crate::listing::parse_price_cursor;
use crate::model::{
    ActivationPrice, Country, CountryOffer, ImportProblem, InventoryStatus, Lease, LeaseKind,
    LeaseSpec, LeaseState, NumberImport, NumberState, NumberType, Operator, PhoneNumber,
    RentalDuration, RentalPlan, RentalPricing, Service,
};
use crate::phone;

/// Longest account, holder or lease id accepted.
const MAX_ID_LEN: usize = 255;
const MAX_NAME_LEN: usize = 200;
const MAX_DOMAIN_LEN: usize = 253;
/// The longest arrival time RecordArrival takes.
const MAX_ARRIVAL_SECONDS: i64 = 24 * 3600;
const LIST_NUMBERS: &str = "numhub.catalog.v1.CatalogAdminService/ListNumbers";

#[tonic::async_trait]
impl pb::catalog_service_server::CatalogService for Catalog {
    async fn list_services(
        &self,
        request: Request<pb::ListServicesRequest>,
    ) -> Result<Response<pb::ListServicesResponse>, Status> {
        let r = request.into_inner();
        let mut v = Validator::new();
        let page_size = v.check("page_size", validate::page_size(r.page_size, 500, 1000));
        let scope = public_scope("ListServices");
        let after = v.check(
            "page_token",
            self.code_cursor(&scope, &r.page_token, codes::service),
        );
        v.finish()?;
        let (services, next) = self
            .list_services(&after.unwrap_or_default(), page_size.unwrap_or(500))
            .await?;
        Ok(Response::new(pb::ListServicesResponse {
            services: services.into_iter().map(service_to_proto).collect(),
            next_page_token: self.next_token(&scope, next),
        }))
    }

    async fn list_countries(
        &self,
        request: Request<pb::ListCountriesRequest>,
    ) -> Result<Response<pb::ListCountriesResponse>, Status> {
        let r = request.into_inner();
        let mut v = Validator::new();
        let service = v.check("service_code", codes::optional_service(&r.service_code));
        let page_size = v.check("page_size", validate::page_size(r.page_size, 300, 300));
        let scope = public_scope("ListCountries").filter("service_code", &r.service_code);
        let after = v.check(
            "page_token",
            self.code_cursor(&scope, &r.page_token, codes::country),
        );
        v.finish()?;
        let (offers, next) = self
            .list_countries(
                service.flatten().as_deref(),
                &after.unwrap_or_default(),
                page_size.unwrap_or(300),
            )
            .await?;
        Ok(Response::new(pb::ListCountriesResponse {
            countries: offers.into_iter().map(offer_to_proto).collect(),
            next_page_token: self.next_token(&scope, next),
        }))
    }

    async fn list_prices(
        &self,
        request: Request<pb::ListPricesRequest>,
    ) -> Result<Response<pb::ListPricesResponse>, Status> {
        let r = request.into_inner();
        let mut v = Validator::new();
        let service = v.check("service_code", codes::optional_service(&r.service_code));
        let country = v.check("country_code", codes::optional_country(&r.country_code));
        let page_size = v.check("page_size", validate::page_size(r.page_size, 500, 1000));
        let scope = public_scope("ListPrices")
            .filter("service_code", &r.service_code)
            .filter("country_code", &r.country_code);
        let after = v.check(
            "page_token",
            self.tokens
                .decode(&scope, &r.page_token)
                .and_then(|cursor| match cursor {
                    None => Ok(None),
                    Some(c) => parse_price_cursor(&c)
                        .map(Some)
                        .ok_or_else(|| tokens::INVALID.to_string()),
                }),
        );
        v.finish()?;
        let after = after.flatten().unwrap_or_default();
        let (prices, next) = self
            .list_prices(
                service.flatten().as_deref(),
                country.flatten().as_deref(),
                (&after.0, &after.1, &after.2),
                page_size.unwrap_or(500),
            )
            .await?;
        Ok(Response::new(pb::ListPricesResponse {
            prices: prices.into_iter().map(price_to_proto).collect(),
            next_page_token: self.next_token(&scope, next),
        }))
    }

    async fn get_rental_pricing(
        &self,
        request: Request<pb::GetRentalPricingRequest>,
    ) -> Result<Response<pb::RentalPricing>, Status> {
        let r = request.into_inner();
        let mut v = Validator::new();
        let country = v.check("country_code", codes::country(&r.country_code));
        let service = v.check("service_code", codes::optional_service(&r.service_code));
        v.finish()?;
        let pricing = self
            .rental_pricing(&country.unwrap_or_default(), service.flatten().as_deref())
            .await?;
        Ok(Response::new(rental_pricing_to_proto(pricing)))
    }

    async fn list_rental_pricing(
        &self,
        request: Request<pb::ListRentalPricingRequest>,
    ) -> Result<Response<pb::ListRentalPricingResponse>, Status> {
        let r = request.into_inner();
        let mut v = Validator::new();
        let service = v.check("service_code", codes::optional_service(&r.service_code));
        let page_size = v.check("page_size", validate::page_size(r.page_size, 300, 300));
        let scope = public_scope("ListRentalPricing").filter("service_code", &r.service_code);
        let after = v.check(
            "page_token",
            self.code_cursor(&scope, &r.page_token, codes::country),
        );
        v.finish()?;
        let (routes, next) = self
            .list_rental_pricing(
                service.flatten().as_deref(),
                &after.unwrap_or_default(),
                page_size.unwrap_or(300),
            )
            .await?;
        Ok(Response::new(pb::ListRentalPricingResponse {
            countries: routes.into_iter().map(rental_pricing_to_proto).collect(),
            next_page_token: self.next_token(&scope, next),
        }))
    }

    async fn check_inventory(
        &self,
        request: Request<pb::CheckInventoryRequest>,
    ) -> Result<Response<pb::InventoryStatus>, Status> {
        let r = request.into_inner();
        let mut v = Validator::new();
        let country = v.check("country_code", codes::country(&r.country_code));
        let duration = v.check("duration", optional_duration(r.duration));
        let number_type = v.check("number_type", optional_number_type(r.number_type));
        v.finish()?;
        let status = self
            .check_inventory(
                &country.unwrap_or_default(),
                duration.flatten(),
                number_type.flatten(),
            )
            .await?;
        Ok(Response::new(inventory_to_proto(status)))
    }
}

#[tonic::async_trait]
impl pb::catalog_admin_service_server::CatalogAdminService for Catalog {
    async fn upsert_service(
        &self,
        request: Request<pb::UpsertServiceRequest>,
    ) -> Result<Response<pb::Service>, Status> {
        let s = request.into_inner().service.unwrap_or_default();
        let mut v = Validator::new();
        let code = v.check("service.code", codes::service(&s.code));
        let name = v.check("service.name", name(&s.name));
        let domain = v.check("service.domain", domain(&s.domain));
        v.finish()?;
        let service = Service {
            code: code.unwrap_or_default(),
            name: name.unwrap_or_default(),
            domain: domain.unwrap_or_default(),
            disabled: s.disabled,
        };
        Ok(Response::new(service_to_proto(
            self.upsert_service(service).await?,
        )))
    }

    async fn upsert_country(
        &self,
        request: Request<pb::UpsertCountryRequest>,
    ) -> Result<Response<pb::Country>, Status> {
        let c = request.into_inner().country.unwrap_or_default();
        let mut v = Validator::new();
        let code = v.check("country.code", codes::country(&c.code));
        let name = v.check("country.name", name(&c.name));
        let dial_prefix = v.check("country.dial_prefix", codes::dial_prefix(&c.dial_prefix));
        if c.activate_id < 0 {
            v.violation("country.activate_id", "must not be negative");
        }
        v.finish()?;
        let country = Country {
            code: code.unwrap_or_default(),
            name: name.unwrap_or_default(),
            dial_prefix: dial_prefix.unwrap_or_default(),
            activate_id: c.activate_id,
            disabled: c.disabled,
        };
        Ok(Response::new(country_to_proto(
            self.upsert_country(country).await?,
        )))
    }

    async fn upsert_operator(
        &self,
        request: Request<pb::UpsertOperatorRequest>,
    ) -> Result<Response<pb::Operator>, Status> {
        let o = request.into_inner().operator.unwrap_or_default();
        let mut v = Validator::new();
        let country = v.check("operator.country_code", codes::country(&o.country_code));
        let code = v.check("operator.code", codes::operator(&o.code));
        let name = v.check("operator.name", name(&o.name));
        v.finish()?;
        let operator = Operator {
            country_code: country.unwrap_or_default(),
            code: code.unwrap_or_default(),
            name: name.unwrap_or_default(),
            disabled: o.disabled,
        };
        Ok(Response::new(operator_to_proto(
            self.upsert_operator(operator).await?,
        )))
    }

    async fn list_operators(
        &self,
        request: Request<pb::ListOperatorsRequest>,
    ) -> Result<Response<pb::ListOperatorsResponse>, Status> {
        let mut v = Validator::new();
        let country = v.check(
            "country_code",
            codes::country(&request.get_ref().country_code),
        );
        v.finish()?;
        let operators = self.operators(&country.unwrap_or_default()).await?;
        Ok(Response::new(pb::ListOperatorsResponse {
            operators: operators.into_iter().map(operator_to_proto).collect(),
        }))
    }

    async fn set_activation_price(
        &self,
        request: Request<pb::SetActivationPriceRequest>,
    ) -> Result<Response<pb::ActivationPrice>, Status> {
        let r = request.into_inner();
        let mut v = Validator::new();
        let service = v.check("service_code", codes::service(&r.service_code));
        let country = v.check("country_code", codes::country(&r.country_code));
        let operator = v.check("operator", codes::optional_operator(&r.operator));
        let price = v.check("price", money::positive(r.price.as_ref()));
        v.finish()?;
        let (price, currency) = price.unwrap_or_default();
        let price = self
            .set_activation_price(
                &service.unwrap_or_default(),
                &country.unwrap_or_default(),
                &operator.flatten().unwrap_or_default(),
                price,
                currency.as_deref(),
            )
            .await?;
        Ok(Response::new(price_to_proto(price)))
    }

    async fn delete_activation_price(
        &self,
        request: Request<pb::DeleteActivationPriceRequest>,
    ) -> Result<Response<()>, Status> {
        let r = request.into_inner();
        let mut v = Validator::new();
        let service = v.check("service_code", codes::service(&r.service_code));
        let country = v.check("country_code", codes::country(&r.country_code));
        let operator = v.check("operator", codes::optional_operator(&r.operator));
        v.finish()?;
        self.delete_activation_price(
            &service.unwrap_or_default(),
            &country.unwrap_or_default(),
            &operator.flatten().unwrap_or_default(),
        )
        .await?;
        Ok(Response::new(()))
    }

    async fn set_rental_plan(
        &self,
        request: Request<pb::SetRentalPlanRequest>,
    ) -> Result<Response<pb::RentalPlan>, Status> {
        let r = request.into_inner();
        let mut v = Validator::new();
        let country = v.check("country_code", codes::country(&r.country_code));
        let number_type = v.check("number_type", required_number_type(r.number_type));
        let service = v.check("service_code", codes::optional_service(&r.service_code));
        let duration = v.check("duration", required_duration(r.duration));
        let price = v.check("price", money::positive(r.price.as_ref()));
        let original = v.check(
            "original_price",
            r.original_price
                .as_ref()
                .map(|m| money::positive(Some(m)))
                .transpose(),
        );
        if let (Some((price, _)), Some(Some((original, _)))) = (&price, &original)
            && original < price
        {
            v.violation("original_price", "must not be less than price");
        }
        v.finish()?;
        let (price, currency) = price.unwrap_or_default();
        let plan = self
            .set_rental_plan(
                &country.unwrap_or_default(),
                number_type.unwrap_or(NumberType::Voip),
                &service.flatten().unwrap_or_default(),
                duration.unwrap_or(RentalDuration::OneMonth),
                price,
                original.flatten(),
                currency.as_deref(),
            )
            .await?;
        Ok(Response::new(plan_to_proto(plan)))
    }

    async fn delete_rental_plan(
        &self,
        request: Request<pb::DeleteRentalPlanRequest>,
    ) -> Result<Response<()>, Status> {
        let r = request.into_inner();
        let mut v = Validator::new();
        let country = v.check("country_code", codes::country(&r.country_code));
        let number_type = v.check("number_type", required_number_type(r.number_type));
        let service = v.check("service_code", codes::optional_service(&r.service_code));
        let duration = v.check("duration", required_duration(r.duration));
        v.finish()?;
        self.delete_rental_plan(
            &country.unwrap_or_default(),
            number_type.unwrap_or(NumberType::Voip),
            &service.flatten().unwrap_or_default(),
            duration.unwrap_or(RentalDuration::OneMonth),
        )
        .await?;
        Ok(Response::new(()))
    }

    async fn import_numbers(
        &self,
        request: Request<pb::ImportNumbersRequest>,
    ) -> Result<Response<pb::ImportNumbersResponse>, Status> {
        let rows = request.into_inner().numbers;
        if rows.is_empty() || rows.len() > crate::inventory::MAX_IMPORT_ROWS {
            let mut v = Validator::new();
            v.violation(
                "numbers",
                format!("must hold 1 to {} rows", crate::inventory::MAX_IMPORT_ROWS),
            );
            v.finish()?;
        }
        let rows = rows
            .into_iter()
            .map(|n| NumberImport {
                number_type: optional_number_type(n.number_type).ok().flatten(),
                phone_number: n.phone_number,
                country_code: n.country_code,
                operator: n.operator,
                source: n.source,
            })
            .collect();
        let report = self.import_numbers(rows).await?;
        Ok(Response::new(pb::ImportNumbersResponse {
            imported_count: report.imported as i32,
            rejected: report
                .rejected
                .into_iter()
                .map(|r| pb::RejectedNumber {
                    index: r.index as i32,
                    phone_number: r.phone_number,
                    problem: match r.problem {
                        ImportProblem::Invalid => pb::ImportProblem::Invalid,
                        ImportProblem::Unknown => pb::ImportProblem::Unknown,
                        ImportProblem::AlreadyExists => pb::ImportProblem::AlreadyExists,
                    } as i32,
                    field: r.field.into(),
                    description: r.description,
                })
                .collect(),
        }))
    }

    async fn list_numbers(
        &self,
        request: Request<pb::ListNumbersRequest>,
    ) -> Result<Response<pb::ListNumbersResponse>, Status> {
        let r = request.into_inner();
        let mut v = Validator::new();
        let country = v.check("country_code", codes::optional_country(&r.country_code));
        let page_size = v.check("page_size", validate::page_size(r.page_size, 100, 1000));
        // Every account's numbers: bound to the method and its filter.
        let scope = TokenScope::new(LIST_NUMBERS, "").filter("country_code", &r.country_code);
        let before = v.check("page_token", self.tokens.decode_uuid(&scope, &r.page_token));
        v.finish()?;
        let (numbers, next) = self
            .list_numbers(
                country.flatten().as_deref(),
                before.flatten().as_deref(),
                page_size.unwrap_or(100),
            )
            .await?;
        let now = self.clock.now();
        Ok(Response::new(pb::ListNumbersResponse {
            numbers: numbers
                .into_iter()
                .map(|n| number_to_proto(n, now))
                .collect(),
            next_page_token: self.next_token(&scope, next),
        }))
    }
}

#[tonic::async_trait]
impl pb::catalog_internal_service_server::CatalogInternalService for Catalog {
    async fn quote_rental(
        &self,
        request: Request<pb::QuoteRentalRequest>,
    ) -> Result<Response<pb::RentalPlan>, Status> {
        let r = request.into_inner();
        let mut v = Validator::new();
        let country = v.check("country_code", codes::country(&r.country_code));
        let number_type = v.check("number_type", required_number_type(r.number_type));
        let service = v.check("service_code", codes::optional_service(&r.service_code));
        let duration = v.check("duration", required_duration(r.duration));
        v.finish()?;
        let plan = self
            .quote_rental(
                &country.unwrap_or_default(),
                number_type.unwrap_or(NumberType::Voip),
                service.flatten().as_deref(),
                duration.unwrap_or(RentalDuration::OneMonth),
            )
            .await?;
        Ok(Response::new(plan_to_proto(plan)))
    }

    async fn lease_number(
        &self,
        request: Request<pb::LeaseNumberRequest>,
    ) -> Result<Response<pb::Lease>, Status> {
        let spec = lease_spec(request.into_inner(), self.currency())?;
        let lease = self.lease(&spec).await?;
        Ok(Response::new(lease_to_proto(lease, self.clock.now())))
    }

    async fn get_lease(
        &self,
        request: Request<pb::GetLeaseRequest>,
    ) -> Result<Response<pb::Lease>, Status> {
        let id = lease_id(&request.get_ref().lease_id)?;
        let lease = self.get_lease(&id).await?;
        Ok(Response::new(lease_to_proto(lease, self.clock.now())))
    }

    async fn release(
        &self,
        request: Request<pb::ReleaseRequest>,
    ) -> Result<Response<pb::Lease>, Status> {
        let id = lease_id(&request.get_ref().lease_id)?;
        let lease = self.release(&id, request.get_ref().unused).await?;
        Ok(Response::new(lease_to_proto(lease, self.clock.now())))
    }

    async fn extend(
        &self,
        request: Request<pb::ExtendRequest>,
    ) -> Result<Response<pb::Lease>, Status> {
        let r = request.into_inner();
        let mut v = Validator::new();
        let id = v.check("lease_id", validate::uuid(&r.lease_id));
        let until = v.check("expire_time", required_time(r.expire_time.as_ref()));
        v.finish()?;
        let id = id.map(|id| id.to_string()).unwrap_or_default();
        let lease = self
            .extend(&id, until.unwrap_or(Timestamp::from_unix_micros(0)))
            .await?;
        Ok(Response::new(lease_to_proto(lease, self.clock.now())))
    }

    async fn list_active_leases(
        &self,
        request: Request<pb::ListActiveLeasesRequest>,
    ) -> Result<Response<pb::ListActiveLeasesResponse>, Status> {
        let r = request.into_inner();
        let mut v = Validator::new();
        let after = match r.after_lease_id.as_str() {
            "" => Some(String::new()),
            id => v.check(
                "after_lease_id",
                validate::uuid(id).map(|id| id.to_string()),
            ),
        };
        let page_size = v.check("page_size", validate::page_size(r.page_size, 100, 1000));
        v.finish()?;
        let now = self.clock.now();
        let leases = self
            .active_leases(&after.unwrap_or_default(), page_size.unwrap_or(100))
            .await?;
        Ok(Response::new(pb::ListActiveLeasesResponse {
            leases: leases.into_iter().map(|l| lease_to_proto(l, now)).collect(),
        }))
    }

    async fn mark_skipped(
        &self,
        request: Request<pb::MarkSkippedRequest>,
    ) -> Result<Response<()>, Status> {
        let r = request.into_inner();
        let mut v = Validator::new();
        let account = v.check(
            "account_id",
            validate::identifier(&r.account_id, MAX_ID_LEN),
        );
        let number = v.check("phone_number", phone::normalize(&r.phone_number));
        v.finish()?;
        self.mark_skipped(&account.unwrap_or_default(), &number.unwrap_or_default())
            .await?;
        Ok(Response::new(()))
    }

    async fn resolve(
        &self,
        request: Request<pb::ResolveRequest>,
    ) -> Result<Response<pb::Lease>, Status> {
        let r = request.into_inner();
        let mut v = Validator::new();
        let number = v.check("phone_number", phone::normalize(&r.phone_number));
        let at = v.check("time", required_time(r.time.as_ref()));
        v.finish()?;
        let lease = self
            .resolve(
                &number.unwrap_or_default(),
                at.unwrap_or(Timestamp::from_unix_micros(0)),
            )
            .await?;
        Ok(Response::new(lease_to_proto(lease, self.clock.now())))
    }

    async fn record_arrival(
        &self,
        request: Request<pb::RecordArrivalRequest>,
    ) -> Result<Response<()>, Status> {
        let r = request.into_inner();
        let mut v = Validator::new();
        let service = v.check("service_code", codes::service(&r.service_code));
        let country = v.check("country_code", codes::country(&r.country_code));
        let arrival = v.check("arrival_time", arrival_ms(r.arrival_time.as_ref()));
        v.finish()?;
        self.record_arrival(
            &service.unwrap_or_default(),
            &country.unwrap_or_default(),
            arrival.unwrap_or_default(),
        )
        .await?;
        Ok(Response::new(()))
    }
}

/// LeaseNumber's fields, validated together.
fn lease_spec(r: pb::LeaseNumberRequest, currency: &str) -> Result<LeaseSpec, Status> {
    let mut v = Validator::new();
    let kind = match pb::LeaseKind::try_from(r.kind) {
        Ok(pb::LeaseKind::Activation) => Some(LeaseKind::Activation),
        Ok(pb::LeaseKind::Rental) => Some(LeaseKind::Rental),
        _ => {
            v.violation("kind", "must be ACTIVATION or RENTAL");
            None
        }
    };
    let account_id = v.check(
        "account_id",
        validate::identifier(&r.account_id, MAX_ID_LEN),
    );
    let holder_id = v.check("holder_id", validate::identifier(&r.holder_id, MAX_ID_LEN));
    let country = v.check("country_code", codes::country(&r.country_code));
    let service = v.check("service_code", codes::optional_service(&r.service_code));
    let operator = v.check("operator", codes::optional_operator(&r.operator));
    let number_type = v.check("number_type", optional_number_type(r.number_type));
    let duration = v.check("rental_duration", optional_duration(r.rental_duration));
    let max_price = v.check(
        "max_price",
        r.max_price
            .as_ref()
            .map(|m| {
                let (units, code) = money::positive(Some(m))?;
                match code {
                    Some(code) if code != currency => Err(format!(
                        "currency_code must be {currency}, the catalog's currency"
                    )),
                    _ => Ok(units),
                }
            })
            .transpose(),
    );
    let expires_at = v.check("expire_time", required_time(r.expire_time.as_ref()));
    let request_id = v.check("request_id", validate::request_id(&r.request_id));
    let phone_number = if r.phone_number.is_empty() {
        None
    } else {
        v.check("phone_number", phone::normalize(&r.phone_number))
    };
    match kind {
        Some(LeaseKind::Activation) => {
            if matches!(service, Some(None)) {
                v.violation("service_code", "is required for an activation");
            }
            if matches!(duration, Some(Some(_))) {
                v.violation("rental_duration", "must be unset for an activation");
            }
        }
        Some(LeaseKind::Rental) => {
            if phone_number.is_some() {
                v.violation("phone_number", "is only for an activation's reuse");
            }
            if matches!(number_type, Some(None)) {
                v.violation("number_type", "is required for a rental");
            }
            if matches!(duration, Some(None)) {
                v.violation("rental_duration", "is required for a rental");
            }
        }
        None => {}
    }
    v.finish()?;
    Ok(LeaseSpec {
        kind: kind.unwrap_or(LeaseKind::Activation),
        account_id: account_id.unwrap_or_default(),
        holder_id: holder_id.unwrap_or_default(),
        country_code: country.unwrap_or_default(),
        service_code: service.flatten(),
        operator: operator.flatten(),
        number_type: number_type.flatten(),
        rental_duration: duration.flatten(),
        max_price: max_price.flatten(),
        expires_at: expires_at.unwrap_or(Timestamp::from_unix_micros(0)),
        request_id: request_id.unwrap_or_default(),
        phone_number,
    })
}

fn lease_id(value: &str) -> Result<String, Status> {
    let mut v = Validator::new();
    let id = v.check("lease_id", validate::uuid(value));
    v.finish()?;
    Ok(id.map(|id| id.to_string()).unwrap_or_default())
}

/// The scope of a page token of a public list. The catalog's lists are the
/// same for every caller, so no account is bound, only the method and the
/// filters.
fn public_scope(method: &str) -> TokenScope {
    TokenScope::new(&format!("numhub.catalog.v1.CatalogService/{method}"), "")
}

impl Catalog {
    /// A page cursor that is a code, checked with `check`.
    fn code_cursor(
        &self,
        scope: &TokenScope,
        token: &str,
        check: fn(&str) -> Result<String, String>,
    ) -> Result<String, String> {
        match self.tokens.decode(scope, token)? {
            None => Ok(String::new()),
            Some(cursor) => check(&cursor).map_err(|_| tokens::INVALID.into()),
        }
    }

    fn next_token(&self, scope: &TokenScope, next: Option<String>) -> String {
        next.map(|cursor| self.tokens.encode(scope, &cursor))
            .unwrap_or_default()
    }
}

fn name(value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        return Err("is required".into());
    }
    validate::text(value, MAX_NAME_LEN)
}

fn domain(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Ok(String::new());
    }
    validate::identifier(value, MAX_DOMAIN_LEN)
}

fn required_time(ts: Option<&prost_types::Timestamp>) -> Result<Timestamp, String> {
    Timestamp::from_proto(ts.ok_or("is required")?)
}

fn arrival_ms(duration: Option<&prost_types::Duration>) -> Result<i64, String> {
    let d = duration.ok_or("is required")?;
    if d.seconds < 0 || d.nanos < 0 || d.seconds > MAX_ARRIVAL_SECONDS {
        return Err("must be from 0 to 24 hours".into());
    }
    Ok(d.seconds * 1000 + i64::from(d.nanos / 1_000_000))
}

fn optional_number_type(value: i32) -> Result<Option<NumberType>, String> {
    match pb::NumberType::try_from(value) {
        Ok(pb::NumberType::Unspecified) => Ok(None),
        Ok(pb::NumberType::Voip) => Ok(Some(NumberType::Voip)),
        Ok(pb::NumberType::NonVoip) => Ok(Some(NumberType::NonVoip)),
        Err(_) => Err(format!("{value} is not a number type")),
    }
}

fn required_number_type(value: i32) -> Result<NumberType, String> {
    optional_number_type(value)?.ok_or_else(|| "is required: VOIP or NON_VOIP".into())
}

fn optional_duration(value: i32) -> Result<Option<RentalDuration>, String> {
    if value == 0 {
        return Ok(None);
    }
    RentalDuration::from_i64(i64::from(value))
        .map(Some)
        .ok_or_else(|| format!("{value} is not a rental duration"))
}

fn required_duration(value: i32) -> Result<RentalDuration, String> {
    optional_duration(value)?.ok_or_else(|| "is required".into())
}

fn number_type_to_proto(t: NumberType) -> i32 {
    let t = match t {
        NumberType::Voip => pb::NumberType::Voip,
        NumberType::NonVoip => pb::NumberType::NonVoip,
    };
    t as i32
}

fn service_to_proto(s: Service) -> pb::Service {
    pb::Service {
        code: s.code,
        name: s.name,
        domain: s.domain,
        disabled: s.disabled,
    }
}

fn country_to_proto(c: Country) -> pb::Country {
    pb::Country {
        code: c.code,
        name: c.name,
        dial_prefix: c.dial_prefix,
        activate_id: c.activate_id,
        disabled: c.disabled,
    }
}

fn operator_to_proto(o: Operator) -> pb::Operator {
    pb::Operator {
        country_code: o.country_code,
        code: o.code,
        name: o.name,
        disabled: o.disabled,
    }
}

fn offer_to_proto(o: CountryOffer) -> pb::CountryOffer {
    pb::CountryOffer {
        country: Some(country_to_proto(o.country)),
        price: o
            .price
            .and_then(|(units, currency)| money::to_proto(&currency, units)),
        stock: o.stock,
        average_arrival_time: o.average_arrival_ms.map(|ms| prost_types::Duration {
            seconds: ms.div_euclid(1000),
            nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
        }),
    }
}

fn price_to_proto(p: ActivationPrice) -> pb::ActivationPrice {
    pb::ActivationPrice {
        price: money::to_proto(&p.currency, p.price),
        service_code: p.service_code,
        country_code: p.country_code,
        operator: p.operator,
        update_time: Some(p.updated_at.to_proto()),
    }
}

fn plan_to_proto(p: RentalPlan) -> pb::RentalPlan {
    pb::RentalPlan {
        price: money::to_proto(&p.currency, p.price),
        original_price: p
            .original_price
            .and_then(|units| money::to_proto(&p.currency, units)),
        country_code: p.country_code,
        number_type: number_type_to_proto(p.number_type),
        service_code: p.service_code,
        duration: p.duration as i32,
        update_time: Some(p.updated_at.to_proto()),
    }
}

fn rental_pricing_to_proto(r: RentalPricing) -> pb::RentalPricing {
    pb::RentalPricing {
        country: Some(country_to_proto(r.country)),
        packages: r.packages.into_iter().map(plan_to_proto).collect(),
    }
}

fn inventory_to_proto(s: InventoryStatus) -> pb::InventoryStatus {
    pb::InventoryStatus {
        country_code: s.country_code,
        duration: s.duration as i32,
        number_type: number_type_to_proto(s.number_type),
        stock: s.stock,
        available: s.stock > 0,
    }
}

fn number_to_proto(n: PhoneNumber, now: Timestamp) -> pb::PhoneNumber {
    let state = match n.state(now) {
        NumberState::Available => pb::NumberState::Available,
        NumberState::Leased => pb::NumberState::Leased,
        NumberState::Quarantined => pb::NumberState::Quarantined,
    };
    pb::PhoneNumber {
        free_time: (n.free_at > now).then(|| n.free_at.to_proto()),
        state: state as i32,
        phone_number: n.e164,
        country_code: n.country_code,
        operator: n.operator,
        number_type: number_type_to_proto(n.number_type),
        source: n.source,
        create_time: Some(n.created_at.to_proto()),
    }
}

pub fn lease_to_proto(l: Lease, now: Timestamp) -> pb::Lease {
    let state = match l.state(now) {
        LeaseState::Active => pb::LeaseState::Active,
        LeaseState::Released => pb::LeaseState::Released,
        LeaseState::Expired => pb::LeaseState::Expired,
    };
    let kind = match l.kind {
        LeaseKind::Activation => pb::LeaseKind::Activation,
        LeaseKind::Rental => pb::LeaseKind::Rental,
    };
    pb::Lease {
        price: money::to_proto(&l.currency, l.price),
        state: state as i32,
        kind: kind as i32,
        id: l.id,
        holder_id: l.holder_id,
        account_id: l.account_id,
        phone_number: l.phone_number,
        country_code: l.country_code,
        operator: l.operator,
        number_type: number_type_to_proto(l.number_type),
        service_code: l.service_code,
        rental_duration: l.rental_duration.map_or(0, |d| d as i32),
        start_time: Some(l.started_at.to_proto()),
        expire_time: Some(l.expires_at.to_proto()),
        release_time: l.released_at.map(|t| t.to_proto()),
    }
}
