//! The whole stack of rentals' tests: orders' test stack (accounts, wallet,
//! catalog and orders on fresh databases of one backend, one manual
//! clock), plus rentals, inbound routing to both, and an orders whose
//! WatchMessages follows rentals; each on its own database and gRPC
//! server.

#![allow(dead_code)]

use std::time::Duration;

use numhub_auth::ServiceInterceptor;
use numhub_inbound::Inbound;
use numhub_orders::Orders;
use numhub_proto::catalog::v1 as catalog_pb;
use numhub_proto::catalog::v1::{NumberType, RentalDuration as D};
use numhub_proto::inbound::v1 as inbound_pb;
use numhub_proto::orders::v1::orders_service_client::OrdersServiceClient;
use numhub_proto::rentals::v1 as pb;
use numhub_proto::rentals::v1::rentals_internal_service_client::RentalsInternalServiceClient;
use numhub_proto::rentals::v1::rentals_service_client::RentalsServiceClient;
use numhub_rentals::{Dependencies, Rentals, RentalsSettings};
use numhub_runtime::clock::{SharedClock, Timestamp};
pub use numhub_testkit::Backend;
pub use numhub_testkit::stack::inbound::Intake;
use numhub_testkit::stack::{self, database};
// Not every test binary uses every helper.
#[allow(unused_imports)]
pub use numhub_testkit::stack::orders::{GENEROUS, Harness, LedgerRow, units, usd};
#[allow(unused_imports)]
pub use numhub_testkit::status::{assert_status, bad_fields, reason};
use numhub_testkit::{BearerKey, TestDb, TestServer};
use sqlx::Row;
use tonic::codegen::InterceptedService;
use tonic::transport::Channel;

pub type Client = RentalsServiceClient<InterceptedService<Channel, BearerKey>>;
pub type Internal = RentalsInternalServiceClient<InterceptedService<Channel, ServiceInterceptor>>;
pub type InboundAdmin = stack::inbound::Admin;
pub type OrdersClient = OrdersServiceClient<InterceptedService<Channel, BearerKey>>;

/// The rental plans of US VoIP numbers in the test catalog.
pub const DAY_PRICE: i64 = 100;
pub const WEEK_PRICE: i64 = 300;
pub const MONTH_PRICE: i64 = 500;
/// The price of a month of a number that receives only WhatsApp's SMS.
pub const WA_MONTH_PRICE: i64 = 700;
pub const DAY: Duration = Duration::from_secs(86_400);
pub const HOUR: Duration = Duration::from_secs(3600);

pub struct Rented {
    pub h: Harness,
    pub rentals: Rentals,
    pub client: Client,
    pub internal: Internal,
    pub intake: Intake,
    pub inbound_admin: InboundAdmin,
    pub inbound: Inbound,
    /// Orders' public service, with rental messages in WatchMessages.
    pub orders: OrdersClient,
    pub rentals_db: TestDb,
    pub rentals_server: TestServer,
    inbound_db: TestDb,
    inbound_server: TestServer,
    orders_server: TestServer,
}

/// Rentals' settings in tests: the defaults (a 120-minute refund window,
/// auto-renew a day ahead and every 30 minutes after a failure), workers
/// run by hand, streams that re-check only after an hour.
pub fn settings() -> RentalsSettings {
    RentalsSettings {
        worker_interval: Duration::from_secs(3600),
        stream_recheck: Duration::from_secs(3600),
        ..RentalsSettings::default()
    }
}

pub async fn start(backend: Backend) -> Rented {
    start_with(backend, settings()).await
}

pub async fn start_with(backend: Backend, settings: RentalsSettings) -> Rented {
    let mut h = stack::orders::start(backend).await;
    let rentals_db = database::<Rentals>(backend).await;
    let rentals = rentals_on(&h, &rentals_db, settings).await;
    let rentals_server = h.stack.serve(&rentals).await;

    // A second orders on orders' database, which follows rentals too;
    // inbound delivers through it, so its streams wake at once.
    let orders = Orders::new(
        h.orders_db.db.clone(),
        h.clock.clone(),
        stack::orders::settings(),
        numhub_orders::Dependencies::new(
            h.wallet_server.outbound("wallet"),
            h.catalog_server.outbound("catalog"),
            &h.stack.credentials,
        )
        .with_rentals(rentals_server.outbound("rentals"), &h.stack.credentials),
    )
    .await
    .expect("start orders");
    let orders_server = h.stack.serve(&orders).await;

    let inbound_db = database::<Inbound>(backend).await;
    let inbound = stack::inbound::inbound_on(
        &h,
        &inbound_db,
        orders_server.outbound("orders"),
        rentals_server.outbound("rentals"),
    )
    .await;
    let inbound_server = h.stack.serve(&inbound).await;

    for (duration, price) in [
        (D::OneDay, DAY_PRICE),
        (D::SevenDays, WEEK_PRICE),
        (D::OneMonth, MONTH_PRICE),
    ] {
        set_plan(&mut h, "", duration, price).await;
    }
    set_plan(&mut h, "wa", D::OneMonth, WA_MONTH_PRICE).await;

    let key = BearerKey(h.customer.key.clone());
    let (intake, inbound_admin) = stack::inbound::clients(&h, inbound_server.channel());
    Rented {
        client: RentalsServiceClient::with_interceptor(rentals_server.channel(), key.clone()),
        internal: RentalsInternalServiceClient::with_interceptor(
            rentals_server.channel(),
            h.stack.credentials.interceptor(),
        ),
        intake,
        inbound_admin,
        orders: OrdersServiceClient::with_interceptor(orders_server.channel(), key),
        h,
        rentals,
        inbound,
        rentals_db,
        rentals_server,
        inbound_db,
        inbound_server,
        orders_server,
    }
}

/// A rentals service on `db` with the harness's wallet, catalog and clock:
/// a second replica when `db` is another's.
pub async fn rentals_on(h: &Harness, db: &TestDb, settings: RentalsSettings) -> Rentals {
    let clock: SharedClock = h.clock.clone();
    Rentals::new(
        db.db.clone(),
        clock,
        settings,
        Dependencies::new(
            h.wallet_server.outbound("wallet"),
            h.catalog_server.outbound("catalog"),
            &h.stack.credentials,
        ),
    )
    .await
    .expect("start rentals")
}

pub async fn set_plan(h: &mut Harness, service: &str, duration: D, price: i64) {
    h.catalog_admin
        .set_rental_plan(catalog_pb::SetRentalPlanRequest {
            country_code: "US".into(),
            number_type: NumberType::Voip as i32,
            service_code: service.into(),
            duration: duration as i32,
            price: usd(price),
            original_price: None,
        })
        .await
        .expect("set rental plan");
}

pub fn rent_request(request_id: &str, duration: D) -> pb::CreateRentalRequest {
    pb::CreateRentalRequest {
        country_code: "US".into(),
        number_type: NumberType::Voip as i32,
        duration: duration as i32,
        service_code: String::new(),
        auto_renew: None,
        request_id: request_id.into(),
        max_price: None,
    }
}

/// Asserts a status's code and ErrorInfo reason.
pub fn assert_refused(status: &tonic::Status, code: tonic::Code, reason_text: &str) {
    assert_eq!(status.code(), code, "{status:?}");
    assert_eq!(reason(status), reason_text, "{status:?}");
}

pub fn status(r: &pb::Rental) -> pb::RentalStatus {
    pb::RentalStatus::try_from(r.status).expect("a known status")
}

pub fn seconds(t: &Option<prost_types::Timestamp>) -> i64 {
    t.as_ref().expect("a time").seconds
}

/// A response's instant, to the microsecond.
pub fn instant(t: &Option<prost_types::Timestamp>) -> Timestamp {
    Timestamp::from_proto(t.as_ref().expect("a time")).expect("a valid time")
}

impl Rented {
    pub fn account(&self) -> String {
        self.h.account()
    }

    pub async fn rent(
        &mut self,
        request_id: &str,
        duration: D,
    ) -> Result<pb::CreateRentalResponse, tonic::Status> {
        let request = rent_request(request_id, duration);
        Ok(self.client.create_rental(request).await?.into_inner())
    }

    pub async fn get(&mut self, id: &str) -> pb::Rental {
        self.client
            .get_rental(pb::GetRentalRequest { id: id.into() })
            .await
            .expect("get rental")
            .into_inner()
    }

    pub async fn renew(
        &mut self,
        id: &str,
        duration: Option<D>,
        request_id: &str,
    ) -> Result<pb::RenewRentalResponse, tonic::Status> {
        self.renew_within(id, duration, None, request_id).await
    }

    /// Renews for at most `max_price`.
    pub async fn renew_within(
        &mut self,
        id: &str,
        duration: Option<D>,
        max_price: Option<numhub_proto::common::v1::Money>,
        request_id: &str,
    ) -> Result<pb::RenewRentalResponse, tonic::Status> {
        let request = pb::RenewRentalRequest {
            id: id.into(),
            duration: duration.map_or(0, |d| d as i32),
            request_id: request_id.into(),
            max_price,
        };
        Ok(self.client.renew_rental(request).await?.into_inner())
    }

    pub async fn cancel(&mut self, id: &str) -> Result<pb::CancelRentalResponse, tonic::Status> {
        let request = pb::CancelRentalRequest {
            id: id.into(),
            request_id: uuid::Uuid::now_v7().to_string(),
        };
        Ok(self.client.cancel_rental(request).await?.into_inner())
    }

    pub async fn list(&mut self, filter: pb::RentalFilter) -> Vec<String> {
        self.client
            .list_rentals(pb::ListRentalsRequest {
                filter: filter as i32,
                page_size: 100,
                page_token: String::new(),
            })
            .await
            .expect("list rentals")
            .into_inner()
            .rentals
            .into_iter()
            .map(|r| r.id)
            .collect()
    }

    /// Sends an SMS to `to` through inbound, as a SIM bank would, and
    /// routes it at once; inbound's message id.
    pub async fn sms(&mut self, to: &str, sender: &str, body: &str) -> String {
        let request = inbound_pb::DeliverRequest {
            upstream: "simbank-1".into(),
            upstream_message_id: uuid::Uuid::now_v7().to_string(),
            to: to.into(),
            sender: sender.into(),
            body: body.into(),
            receive_time: Some(self.h.now().to_proto()),
        };
        let id = self
            .intake
            .deliver(request)
            .await
            .expect("deliver")
            .into_inner()
            .message
            .expect("the stored message")
            .id;
        self.inbound.route_due().await.expect("route");
        id
    }

    /// What inbound made of a message: where it went (the holder's id),
    /// or why it stayed unrouted.
    pub async fn routed(&self, inbound_id: &str) -> Result<String, String> {
        let message = self
            .inbound
            .get(inbound_id)
            .await
            .expect("read inbound")
            .expect("an inbound message");
        if message.holder_id.is_empty() {
            Err(message.unrouted_reason)
        } else {
            Ok(message.holder_id)
        }
    }

    pub fn advance(&self, by: Duration) {
        self.h.advance(by);
    }

    pub fn now(&self) -> Timestamp {
        self.h.now()
    }

    /// Runs rentals' workers until a pass finds nothing to do.
    pub async fn settle(&self) -> numhub_rentals::workers::Pass {
        let mut total = numhub_rentals::workers::Pass::default();
        for _ in 0..20 {
            let pass = self.rentals.run_workers_once().await.expect("workers");
            if pass == Default::default() {
                return total;
            }
            total.expired += pass.expired;
            total.renewed += pass.renewed;
            total.renewals_refused += pass.renewals_refused;
            total.recovered += pass.recovered;
            total.settled += pass.settled;
            total.failed += pass.failed;
        }
        panic!("the workers never ran out of work");
    }

    /// Debits of `account` whose reference names `rental`, in minor units.
    pub async fn debits_of(&self, account: &str, rental: &str) -> Vec<i64> {
        self.h
            .ledger(account)
            .await
            .into_iter()
            .filter(|e| e.kind == "debit" && e.reference == format!("rental:{rental}"))
            .map(|e| e.amount.abs())
            .collect()
    }

    /// The catalog's lease of a rental: (released, expiry in seconds).
    pub async fn lease(&self, rental: &str) -> (bool, i64) {
        let row = sqlx::query("SELECT released_at, expires_at FROM leases WHERE holder_id = $1")
            .bind(rental)
            .fetch_one(self.h.catalog_db.db.reader())
            .await
            .unwrap();
        let released = row.get::<Option<i64>, _>("released_at").is_some();
        (released, row.get::<i64, _>("expires_at") / 1_000_000)
    }

    /// When the catalog will let anyone lease the number again, in seconds.
    pub async fn free_at(&self, phone_number: &str) -> i64 {
        let row = sqlx::query("SELECT free_at FROM numbers WHERE e164 = $1")
            .bind(phone_number)
            .fetch_one(self.h.catalog_db.db.reader())
            .await
            .unwrap();
        row.get::<i64, _>("free_at") / 1_000_000
    }
}
