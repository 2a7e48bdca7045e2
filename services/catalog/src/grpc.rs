//! The catalog's public, admin and internal gRPC services: thin handlers
//! that parse a request (see [`crate::proto`]), call the domain, and map its
//! answer. No rule lives here.

use numhub_proto::catalog::v1 as pb;
use numhub_runtime::parse;
use numhub_runtime::tokens::TokenScope;
use tonic::{Request, Response, Status};

use crate::Catalog;
use crate::model::{
    ArrivalTime, Country, Extension, InventoryQuery, LeasePage, NewActivationPrice, NewRentalPlan,
    Operator, PlanKey, PriceKey, PricingQuery, Resolution, Service, Skip,
};
use crate::proto::{
    self, country_to_proto, inventory_to_proto, lease_to_proto, number_to_proto, offer_to_proto,
    operator_to_proto, plan_to_proto, price_to_proto, rental_pricing_to_proto, service_to_proto,
};

const LIST_NUMBERS: &str = "numhub.catalog.v1.CatalogAdminService/ListNumbers";

#[tonic::async_trait]
impl pb::catalog_service_server::CatalogService for Catalog {
    async fn list_services(
        &self,
        request: Request<pb::ListServicesRequest>,
    ) -> Result<Response<pb::ListServicesResponse>, Status> {
        let scope = public_scope("ListServices");
        let page = parse::request(proto::service_page(&self.tokens, &scope, request.get_ref()))?;
        let (services, next) = self.list_services(&page.after, page.size).await?;
        Ok(Response::new(pb::ListServicesResponse {
            services: services.into_iter().map(service_to_proto).collect(),
            next_page_token: self.tokens.next_page(&scope, next),
        }))
    }

    async fn list_countries(
        &self,
        request: Request<pb::ListCountriesRequest>,
    ) -> Result<Response<pb::ListCountriesResponse>, Status> {
        let r = request.into_inner();
        let scope = public_scope("ListCountries").filter("service_code", &r.service_code);
        let q = parse::request(proto::country_page(
            &self.tokens,
            &scope,
            (&r.service_code, r.page_size, &r.page_token),
        ))?;
        let (offers, next) = self
            .list_countries(q.service_code.as_deref(), &q.page.after, q.page.size)
            .await?;
        Ok(Response::new(pb::ListCountriesResponse {
            countries: offers.into_iter().map(offer_to_proto).collect(),
            next_page_token: self.tokens.next_page(&scope, next),
        }))
    }

    async fn list_prices(
        &self,
        request: Request<pb::ListPricesRequest>,
    ) -> Result<Response<pb::ListPricesResponse>, Status> {
        let r = request.into_inner();
        let scope = public_scope("ListPrices")
            .filter("service_code", &r.service_code)
            .filter("country_code", &r.country_code);
        let q = parse::request(proto::price_page(&self.tokens, &scope, &r))?;
        let (service, country, operator) = &q.after;
        let (prices, next) = self
            .list_prices(
                q.service_code.as_deref(),
                q.country_code.as_deref(),
                (service, country, operator),
                q.size,
            )
            .await?;
        Ok(Response::new(pb::ListPricesResponse {
            prices: prices.into_iter().map(price_to_proto).collect(),
            next_page_token: self.tokens.next_page(&scope, next),
        }))
    }

    async fn get_rental_pricing(
        &self,
        request: Request<pb::GetRentalPricingRequest>,
    ) -> Result<Response<pb::RentalPricing>, Status> {
        let q = parse::request(PricingQuery::try_from(request.into_inner()))?;
        let pricing = self
            .rental_pricing(&q.country_code, q.service_code.as_deref())
            .await?;
        Ok(Response::new(rental_pricing_to_proto(pricing)))
    }

    async fn list_rental_pricing(
        &self,
        request: Request<pb::ListRentalPricingRequest>,
    ) -> Result<Response<pb::ListRentalPricingResponse>, Status> {
        let r = request.into_inner();
        let scope = public_scope("ListRentalPricing").filter("service_code", &r.service_code);
        let q = parse::request(proto::country_page(
            &self.tokens,
            &scope,
            (&r.service_code, r.page_size, &r.page_token),
        ))?;
        let (routes, next) = self
            .list_rental_pricing(q.service_code.as_deref(), &q.page.after, q.page.size)
            .await?;
        Ok(Response::new(pb::ListRentalPricingResponse {
            countries: routes.into_iter().map(rental_pricing_to_proto).collect(),
            next_page_token: self.tokens.next_page(&scope, next),
        }))
    }

    async fn check_inventory(
        &self,
        request: Request<pb::CheckInventoryRequest>,
    ) -> Result<Response<pb::InventoryStatus>, Status> {
        let q = parse::request(InventoryQuery::try_from(request.into_inner()))?;
        let status = self
            .check_inventory(&q.country_code, q.duration, q.number_type)
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
        let service = parse::request(Service::try_from(request.into_inner()))?;
        Ok(Response::new(service_to_proto(
            self.upsert_service(service).await?,
        )))
    }

    async fn upsert_country(
        &self,
        request: Request<pb::UpsertCountryRequest>,
    ) -> Result<Response<pb::Country>, Status> {
        let country = parse::request(Country::try_from(request.into_inner()))?;
        Ok(Response::new(country_to_proto(
            self.upsert_country(country).await?,
        )))
    }

    async fn upsert_operator(
        &self,
        request: Request<pb::UpsertOperatorRequest>,
    ) -> Result<Response<pb::Operator>, Status> {
        let operator = parse::request(Operator::try_from(request.into_inner()))?;
        Ok(Response::new(operator_to_proto(
            self.upsert_operator(operator).await?,
        )))
    }

    async fn list_operators(
        &self,
        request: Request<pb::ListOperatorsRequest>,
    ) -> Result<Response<pb::ListOperatorsResponse>, Status> {
        let country = parse::request(proto::operators_country(request.get_ref()))?;
        let operators = self.operators(&country).await?;
        Ok(Response::new(pb::ListOperatorsResponse {
            operators: operators.into_iter().map(operator_to_proto).collect(),
        }))
    }

    async fn set_activation_price(
        &self,
        request: Request<pb::SetActivationPriceRequest>,
    ) -> Result<Response<pb::ActivationPrice>, Status> {
        let new = parse::request(NewActivationPrice::try_from(request.into_inner()))?;
        let price = self
            .set_activation_price(
                &new.key.service_code,
                &new.key.country_code,
                any(&new.key.operator),
                new.price,
                new.currency.as_deref(),
            )
            .await?;
        Ok(Response::new(price_to_proto(price)))
    }

    async fn delete_activation_price(
        &self,
        request: Request<pb::DeleteActivationPriceRequest>,
    ) -> Result<Response<()>, Status> {
        let key = parse::request(PriceKey::try_from(request.into_inner()))?;
        self.delete_activation_price(&key.service_code, &key.country_code, any(&key.operator))
            .await?;
        Ok(Response::new(()))
    }

    async fn set_rental_plan(
        &self,
        request: Request<pb::SetRentalPlanRequest>,
    ) -> Result<Response<pb::RentalPlan>, Status> {
        let new = parse::request(NewRentalPlan::try_from(request.into_inner()))?;
        let plan = self
            .set_rental_plan(
                &new.key.country_code,
                new.key.number_type,
                any(&new.key.service_code),
                new.key.duration,
                new.price,
                new.original_price,
                new.currency.as_deref(),
            )
            .await?;
        Ok(Response::new(plan_to_proto(plan)))
    }

    async fn delete_rental_plan(
        &self,
        request: Request<pb::DeleteRentalPlanRequest>,
    ) -> Result<Response<()>, Status> {
        let key = parse::request(PlanKey::try_from(request.into_inner()))?;
        self.delete_rental_plan(
            &key.country_code,
            key.number_type,
            any(&key.service_code),
            key.duration,
        )
        .await?;
        Ok(Response::new(()))
    }

    async fn import_numbers(
        &self,
        request: Request<pb::ImportNumbersRequest>,
    ) -> Result<Response<pb::ImportNumbersResponse>, Status> {
        let rows = parse::request(proto::import_rows(request.into_inner()))?;
        let report = self.import_numbers(rows).await?;
        Ok(Response::new(proto::import_report_to_proto(report)))
    }

    async fn list_numbers(
        &self,
        request: Request<pb::ListNumbersRequest>,
    ) -> Result<Response<pb::ListNumbersResponse>, Status> {
        let r = request.into_inner();
        // Every account's numbers: bound to the method and its filter.
        let scope = TokenScope::new(LIST_NUMBERS, "").filter("country_code", &r.country_code);
        let q = parse::request(proto::number_page(&self.tokens, &scope, &r))?;
        let (numbers, next) = self
            .list_numbers(q.country_code.as_deref(), q.before.as_deref(), q.size)
            .await?;
        let now = self.clock.now();
        Ok(Response::new(pb::ListNumbersResponse {
            numbers: numbers
                .into_iter()
                .map(|n| number_to_proto(n, now))
                .collect(),
            next_page_token: self.tokens.next_page(&scope, next),
        }))
    }
}

#[tonic::async_trait]
impl pb::catalog_internal_service_server::CatalogInternalService for Catalog {
    async fn quote_rental(
        &self,
        request: Request<pb::QuoteRentalRequest>,
    ) -> Result<Response<pb::RentalPlan>, Status> {
        let key = parse::request(PlanKey::try_from(request.into_inner()))?;
        let plan = self
            .quote_rental(
                &key.country_code,
                key.number_type,
                key.service_code.as_deref(),
                key.duration,
            )
            .await?;
        Ok(Response::new(plan_to_proto(plan)))
    }

    async fn lease_number(
        &self,
        request: Request<pb::LeaseNumberRequest>,
    ) -> Result<Response<pb::Lease>, Status> {
        let spec = parse::request(proto::lease_spec(request.into_inner(), self.currency()))?;
        let lease = self.lease(&spec).await?;
        Ok(Response::new(lease_to_proto(lease, self.clock.now())))
    }

    async fn get_lease(
        &self,
        request: Request<pb::GetLeaseRequest>,
    ) -> Result<Response<pb::Lease>, Status> {
        let id = parse::request(proto::lease_id(&request.get_ref().lease_id))?;
        let lease = self.get_lease(&id).await?;
        Ok(Response::new(lease_to_proto(lease, self.clock.now())))
    }

    async fn release(
        &self,
        request: Request<pb::ReleaseRequest>,
    ) -> Result<Response<pb::Lease>, Status> {
        let id = parse::request(proto::lease_id(&request.get_ref().lease_id))?;
        let lease = self.release(&id, request.get_ref().unused).await?;
        Ok(Response::new(lease_to_proto(lease, self.clock.now())))
    }

    async fn extend(
        &self,
        request: Request<pb::ExtendRequest>,
    ) -> Result<Response<pb::Lease>, Status> {
        let e = parse::request(Extension::try_from(request.into_inner()))?;
        let lease = self.extend(&e.lease_id, e.until).await?;
        Ok(Response::new(lease_to_proto(lease, self.clock.now())))
    }

    async fn list_active_leases(
        &self,
        request: Request<pb::ListActiveLeasesRequest>,
    ) -> Result<Response<pb::ListActiveLeasesResponse>, Status> {
        let page = parse::request(LeasePage::try_from(request.into_inner()))?;
        let now = self.clock.now();
        // The store reads an empty id as "from the first".
        let leases = self
            .active_leases(page.after.as_deref().unwrap_or(""), page.size)
            .await?;
        Ok(Response::new(pb::ListActiveLeasesResponse {
            leases: leases.into_iter().map(|l| lease_to_proto(l, now)).collect(),
        }))
    }

    async fn mark_skipped(
        &self,
        request: Request<pb::MarkSkippedRequest>,
    ) -> Result<Response<()>, Status> {
        let skip = parse::request(Skip::try_from(request.into_inner()))?;
        self.mark_skipped(&skip.account_id, &skip.phone_number)
            .await?;
        Ok(Response::new(()))
    }

    async fn resolve(
        &self,
        request: Request<pb::ResolveRequest>,
    ) -> Result<Response<pb::Lease>, Status> {
        let q = parse::request(Resolution::try_from(request.into_inner()))?;
        let lease = self.resolve(&q.phone_number, q.at).await?;
        Ok(Response::new(lease_to_proto(lease, self.clock.now())))
    }

    async fn record_arrival(
        &self,
        request: Request<pb::RecordArrivalRequest>,
    ) -> Result<Response<()>, Status> {
        let a = parse::request(ArrivalTime::try_from(request.into_inner()))?;
        self.record_arrival(&a.service_code, &a.country_code, a.arrival_ms)
            .await?;
        Ok(Response::new(()))
    }
}

/// A code the domain reads empty as "any": a price for any operator, a
/// plan for any service.
fn any(code: &Option<String>) -> &str {
    code.as_deref().unwrap_or("")
}

/// The scope of a page token of a public list. The catalog's lists are the
/// same for every caller, so no account is bound, only the method and the
/// filters.
fn public_scope(method: &str) -> TokenScope {
    TokenScope::new(&format!("numhub.catalog.v1.CatalogService/{method}"), "")
}
