//! Shared fixture of the catalog's tests: a catalog on a fresh database,
//! served over real gRPC behind an auth layer that resolves keys through a
//! real accounts service, and helpers to stock it.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use numhub_auth::ServiceInterceptor;
use numhub_catalog::{Catalog, CatalogSettings};
use numhub_proto::catalog::v1 as pb;
use numhub_proto::catalog::v1::catalog_admin_service_client::CatalogAdminServiceClient;
use numhub_proto::catalog::v1::catalog_internal_service_client::CatalogInternalServiceClient;
use numhub_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use numhub_proto::common::v1::{Money, Scope};
use numhub_runtime::clock::{ManualClock, SharedClock, Timestamp};
pub use numhub_testkit::stack::usd;
use numhub_testkit::stack::{Customer, Stack, database};
use numhub_testkit::{Backend, BearerKey, TestDb, TestServer};
use sqlx::Row;
use tonic::codegen::InterceptedService;
use tonic::transport::Channel;

pub use numhub_testkit::status::{assert_status, bad_fields, reason};

/// The internal surface, with the service credential.
pub type Internal = CatalogInternalServiceClient<InterceptedService<Channel, ServiceInterceptor>>;
/// The public surface, with a customer's key.
pub type Public = CatalogServiceClient<InterceptedService<Channel, BearerKey>>;
/// The admin surface, with the operator's key.
pub type Admin = CatalogAdminServiceClient<InterceptedService<Channel, BearerKey>>;

/// The quarantine of every test catalog.
pub const QUARANTINE: Duration = Duration::from_secs(3600);

pub struct Harness {
    pub internal: Internal,
    pub admin: Admin,
    pub public: Public,
    pub customer: Customer,
    pub server: TestServer,
    pub clock: Arc<ManualClock>,
    pub catalog: Catalog,
    pub stack: Stack,
    pub db: TestDb,
}

pub fn settings() -> CatalogSettings {
    CatalogSettings {
        quarantine: QUARANTINE,
        ..CatalogSettings::default()
    }
}

/// A catalog with the built-in reference data, and no numbers or prices.
pub async fn start(backend: Backend) -> Harness {
    let db = database::<Catalog>(backend).await;
    let clock = Arc::new(ManualClock::starting_now());
    let stack = Stack::start(backend, clock.clone()).await;
    let shared: SharedClock = clock.clone();
    let catalog = Catalog::new(db.db.clone(), shared, settings())
        .await
        .expect("catalog");
    let server = stack.serve(&catalog).await;
    let customer = stack.customer("customer", &[Scope::Read]).await;
    Harness {
        internal: CatalogInternalServiceClient::with_interceptor(
            server.channel(),
            stack.credentials.interceptor(),
        ),
        admin: CatalogAdminServiceClient::with_interceptor(
            server.channel(),
            BearerKey(stack.admin_key.clone()),
        ),
        public: CatalogServiceClient::with_interceptor(
            server.channel(),
            BearerKey(customer.key.clone()),
        ),
        customer,
        server,
        clock,
        catalog,
        stack,
        db,
    }
}

pub fn units(money: &Option<Money>) -> i64 {
    money.as_ref().expect("money").minor_units
}

/// `count` US numbers +1555000NNNN from `first`, of `operator`.
pub fn us_numbers(
    first: u32,
    count: u32,
    operator: &str,
    number_type: pb::NumberType,
) -> Vec<pb::NumberImport> {
    (first..first + count)
        .map(|n| pb::NumberImport {
            phone_number: format!("+1555{n:07}"),
            country_code: "US".into(),
            operator: operator.into(),
            number_type: number_type as i32,
            source: "test bank".into(),
        })
        .collect()
}

impl Harness {
    pub async fn import(&mut self, numbers: Vec<pb::NumberImport>) -> pb::ImportNumbersResponse {
        self.admin
            .import_numbers(pb::ImportNumbersRequest { numbers })
            .await
            .expect("import")
            .into_inner()
    }

    pub async fn set_price(&mut self, service: &str, country: &str, operator: &str, price: i64) {
        self.admin
            .set_activation_price(pb::SetActivationPriceRequest {
                service_code: service.into(),
                country_code: country.into(),
                operator: operator.into(),
                price: usd(price),
            })
            .await
            .expect("set price");
    }

    pub async fn set_plan(
        &mut self,
        country: &str,
        number_type: pb::NumberType,
        service: &str,
        duration: pb::RentalDuration,
        price: i64,
    ) -> pb::RentalPlan {
        self.admin
            .set_rental_plan(pb::SetRentalPlanRequest {
                country_code: country.into(),
                number_type: number_type as i32,
                service_code: service.into(),
                duration: duration as i32,
                price: usd(price),
                original_price: None,
            })
            .await
            .expect("set plan")
            .into_inner()
    }

    pub fn in_minutes(&self, minutes: u64) -> Timestamp {
        use numhub_runtime::clock::Clock;
        self.clock.now().plus(Duration::from_secs(minutes * 60))
    }

    pub fn advance_minutes(&self, minutes: u64) {
        self.clock.advance(Duration::from_secs(minutes * 60));
    }

    /// An activation lease request of `account` for `service` in the US,
    /// 20 minutes long.
    pub fn activation(
        &self,
        account: &str,
        service: &str,
        request_id: &str,
    ) -> pb::LeaseNumberRequest {
        pb::LeaseNumberRequest {
            kind: pb::LeaseKind::Activation as i32,
            account_id: account.into(),
            holder_id: format!("activation-{request_id}"),
            country_code: "US".into(),
            service_code: service.into(),
            expire_time: Some(self.in_minutes(20).to_proto()),
            request_id: request_id.into(),
            ..Default::default()
        }
    }

    /// A rental lease request of `account` for a VoIP number for one day.
    pub fn rental(&self, account: &str, request_id: &str) -> pb::LeaseNumberRequest {
        pb::LeaseNumberRequest {
            kind: pb::LeaseKind::Rental as i32,
            account_id: account.into(),
            holder_id: format!("rental-{request_id}"),
            country_code: "US".into(),
            number_type: pb::NumberType::Voip as i32,
            rental_duration: pb::RentalDuration::OneDay as i32,
            expire_time: Some(self.in_minutes(24 * 60).to_proto()),
            request_id: request_id.into(),
            ..Default::default()
        }
    }

    pub async fn lease(
        &mut self,
        request: pb::LeaseNumberRequest,
    ) -> Result<pb::Lease, tonic::Status> {
        Ok(self.internal.lease_number(request).await?.into_inner())
    }

    pub async fn release(&mut self, lease_id: &str) -> pb::Lease {
        self.internal
            .release(pb::ReleaseRequest {
                lease_id: lease_id.into(),
                unused: false,
            })
            .await
            .expect("release")
            .into_inner()
    }

    pub async fn resolve(
        &mut self,
        number: &str,
        at: Timestamp,
    ) -> Result<pb::Lease, tonic::Status> {
        let request = pb::ResolveRequest {
            phone_number: number.into(),
            time: Some(at.to_proto()),
        };
        Ok(self.internal.resolve(request).await?.into_inner())
    }

    /// The stock ListCountries shows for `service` in `country`.
    pub async fn stock(&mut self, service: &str, country: &str) -> i64 {
        let response = self
            .public
            .list_countries(pb::ListCountriesRequest {
                service_code: service.into(),
                ..Default::default()
            })
            .await
            .expect("list countries")
            .into_inner();
        response
            .countries
            .iter()
            .find(|o| o.country.as_ref().is_some_and(|c| c.code == country))
            .map_or(0, |o| o.stock)
    }

    /// Asserts that the stock counters equal a count over the inventory,
    /// for every country and for `service`.
    pub async fn assert_counters_match_inventory(&self, service: &str) {
        let pool = self.db.db.reader();
        let counted: i64 =
            sqlx::query("SELECT CAST(COALESCE(SUM(free), 0) AS BIGINT) AS n FROM stock_free")
                .fetch_one(pool)
                .await
                .unwrap()
                .get("n");
        let actual: i64 = sqlx::query("SELECT COUNT(*) AS n FROM numbers WHERE counted_free = 1")
            .fetch_one(pool)
            .await
            .unwrap()
            .get("n");
        assert_eq!(counted, actual, "free counters");
        let counted: i64 = sqlx::query(
            "SELECT CAST(COALESCE(SUM(free), 0) AS BIGINT) AS n FROM stock_used WHERE service_code = $1",
        )
        .bind(service)
        .fetch_one(pool)
        .await
        .unwrap()
        .get("n");
        let actual: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM numbers n JOIN number_usage u ON u.number_id = n.id \
             WHERE n.counted_free = 1 AND u.service_code = $1",
        )
        .bind(service)
        .fetch_one(pool)
        .await
        .unwrap()
        .get("n");
        assert_eq!(counted, actual, "used-for-{service} counters");
    }
}
