//! The whole buying stack on fresh databases of one backend: accounts,
//! wallet, catalog and orders, each on its own database and its own gRPC
//! server, one manual clock, and helpers to stock the catalog, fund
//! customers and read the ledgers.

use std::sync::Arc;
use std::time::Duration;

use numhub_auth::{RateLimits, ServiceInterceptor};
use numhub_catalog::{Catalog, CatalogSettings};
use numhub_orders::{Dependencies, Orders, OrdersSettings};
use numhub_proto::catalog::v1 as catalog_pb;
use numhub_proto::catalog::v1::catalog_admin_service_client::CatalogAdminServiceClient;
use numhub_proto::catalog::v1::catalog_internal_service_client::CatalogInternalServiceClient;
use numhub_proto::common::v1::{Money, Scope};
use numhub_proto::orders::v1 as pb;
use numhub_proto::orders::v1::orders_internal_service_client::OrdersInternalServiceClient;
use numhub_proto::orders::v1::orders_service_client::OrdersServiceClient;
use numhub_proto::wallet::v1 as wallet_pb;
use numhub_proto::wallet::v1::wallet_internal_service_client::WalletInternalServiceClient;
use numhub_runtime::clock::{Clock, ManualClock, SharedClock, Timestamp};
use numhub_runtime::config::CallConfig;
use numhub_skeleton::Service as _;
use numhub_wallet::{Wallet, WalletSettings};
use sqlx::Row;
use tonic::codegen::InterceptedService;
use tonic::transport::Channel;

pub use super::usd;
use super::{Customer, Stack, database};
use crate::hang::Mute;
use crate::{Backend, BearerKey, TestDb, TestServer, outbound};

pub type Public = OrdersServiceClient<InterceptedService<Channel, BearerKey>>;
pub type Internal = OrdersInternalServiceClient<InterceptedService<Channel, ServiceInterceptor>>;
pub type WalletInternal =
    WalletInternalServiceClient<InterceptedService<Channel, ServiceInterceptor>>;
pub type CatalogInternal =
    CatalogInternalServiceClient<InterceptedService<Channel, ServiceInterceptor>>;
pub type CatalogAdmin = CatalogAdminServiceClient<InterceptedService<Channel, BearerKey>>;

/// The price of a "wa" activation in the test catalog; "tg" costs 30.
pub const WA_PRICE: i64 = 45;
pub const TG_PRICE: i64 = 30;
/// Every test activation's lifetime.
pub const LIFETIME: Duration = Duration::from_secs(20 * 60);

/// Limits no test reaches.
pub const GENEROUS: RateLimits = RateLimits {
    requests_per_minute: 1_000_000,
    money_requests_per_minute: 1_000_000,
};

pub struct Harness {
    pub orders: Orders,
    pub client: Public,
    pub internal: Internal,
    pub wallet: WalletInternal,
    pub catalog: CatalogInternal,
    pub catalog_admin: CatalogAdmin,
    pub customer: Customer,
    pub clock: Arc<ManualClock>,
    pub server: TestServer,
    pub stack: Stack,
    pub orders_db: TestDb,
    pub wallet_db: TestDb,
    pub catalog_db: TestDb,
    pub wallet_server: TestServer,
    /// Silences the wallet's answers (lets them through unless set).
    pub wallet_mute: Mute,
    pub catalog_server: TestServer,
}

/// The settings of every test's orders: no minimum age, no open limit,
/// recovery after 30 s, streams that re-check only after an hour (so
/// tests see wake-ups, not the re-check).
pub fn settings() -> OrdersSettings {
    OrdersSettings {
        lifetime: LIFETIME,
        max_open: 0,
        reuse_window: Duration::from_secs(3600),
        recovery_after: Duration::from_secs(30),
        worker_interval: Duration::from_secs(3600),
        stream_recheck: Duration::from_secs(3600),
        ..OrdersSettings::default()
    }
}

pub async fn start(backend: Backend) -> Harness {
    start_with(backend, settings()).await
}

/// The stack, with `settings` for orders; workers are not started, tests
/// run them with [`Orders::run_workers_once`] after moving the clock.
pub async fn start_with(backend: Backend, settings: OrdersSettings) -> Harness {
    let clock = Arc::new(ManualClock::starting_now());
    let shared: SharedClock = clock.clone();
    let stack = Stack::start(backend, clock.clone()).await;

    let wallet_db = database::<Wallet>(backend).await;
    let wallet = Wallet::start(
        wallet_db.db.clone(),
        shared.clone(),
        &WalletSettings::default(),
    )
    .await
    .expect("start the wallet");
    let wallet_mute = Mute::default();
    let (routes, names) = wallet.protected(&stack.remote_auth_layer());
    let wallet_server = TestServer::start(wallet_mute.routes(routes), names).await;

    let catalog_db = database::<Catalog>(backend).await;
    let catalog = Catalog::new(
        catalog_db.db.clone(),
        shared.clone(),
        CatalogSettings::default(),
    )
    .await
    .expect("catalog");
    let catalog_server = stack.serve(&catalog).await;

    let orders_db = database::<Orders>(backend).await;
    let deps = Dependencies::new(
        wallet_server.outbound("wallet"),
        catalog_server.outbound("catalog"),
        &stack.credentials,
    );
    let orders = Orders::new(orders_db.db.clone(), shared, settings, deps)
        .await
        .expect("start orders");
    let server = stack.serve(&orders).await;

    let customer = stack
        .customer_with_limits("customer", &[Scope::Read, Scope::Write], Some(GENEROUS))
        .await;
    let mut harness = Harness {
        client: OrdersServiceClient::with_interceptor(
            server.channel(),
            BearerKey(customer.key.clone()),
        ),
        internal: OrdersInternalServiceClient::with_interceptor(
            server.channel(),
            stack.credentials.interceptor(),
        ),
        wallet: WalletInternalServiceClient::with_interceptor(
            wallet_server.channel(),
            stack.credentials.interceptor(),
        ),
        catalog: CatalogInternalServiceClient::with_interceptor(
            catalog_server.channel(),
            stack.credentials.interceptor(),
        ),
        catalog_admin: CatalogAdminServiceClient::with_interceptor(
            catalog_server.channel(),
            BearerKey(stack.admin_key.clone()),
        ),
        orders,
        customer,
        clock,
        server,
        stack,
        orders_db,
        wallet_db,
        catalog_db,
        wallet_server,
        wallet_mute,
        catalog_server,
    };
    harness.set_price("wa", WA_PRICE).await;
    harness.set_price("tg", TG_PRICE).await;
    harness
}

pub fn units(money: &Option<Money>) -> i64 {
    money.as_ref().map_or(0, |m| m.minor_units)
}

impl Harness {
    pub async fn set_price(&mut self, service: &str, price: i64) {
        self.catalog_admin
            .set_activation_price(catalog_pb::SetActivationPriceRequest {
                service_code: service.into(),
                country_code: "US".into(),
                operator: String::new(),
                price: usd(price),
            })
            .await
            .expect("set price");
    }

    /// Imports `count` US numbers +1555000NNNN from `first`.
    pub async fn import(&mut self, first: u32, count: u32) {
        let numbers = (first..first + count)
            .map(|n| catalog_pb::NumberImport {
                phone_number: format!("+1555{n:07}"),
                country_code: "US".into(),
                operator: String::new(),
                number_type: catalog_pb::NumberType::Voip as i32,
                source: "test bank".into(),
            })
            .collect();
        let report = self
            .catalog_admin
            .import_numbers(catalog_pb::ImportNumbersRequest { numbers })
            .await
            .expect("import")
            .into_inner();
        assert_eq!(report.imported_count, count as i32, "{report:?}");
    }

    /// Credits `amount` to `account`.
    pub async fn fund(&mut self, account: &str, amount: i64) {
        self.wallet
            .credit(wallet_pb::CreditRequest {
                account_id: account.into(),
                amount: usd(amount),
                request_id: uuid::Uuid::now_v7().to_string(),
                reason: "test top-up".into(),
            })
            .await
            .expect("credit");
    }

    pub async fn balance(&self, account: &str) -> i64 {
        sqlx::query("SELECT balance FROM accounts WHERE account_id = $1")
            .bind(account)
            .fetch_optional(self.wallet_db.db.reader())
            .await
            .unwrap()
            .map_or(0, |row| row.get("balance"))
    }

    /// Another customer with its own key, and a client using it.
    pub async fn other_customer(&self, name: &str) -> (Customer, Public) {
        let customer = self
            .stack
            .customer_with_limits(name, &[Scope::Read, Scope::Write], Some(GENEROUS))
            .await;
        let client = self.client_for(&customer);
        (customer, client)
    }

    pub fn client_for(&self, customer: &Customer) -> Public {
        OrdersServiceClient::with_interceptor(
            self.server.channel(),
            BearerKey(customer.key.clone()),
        )
    }

    pub fn account(&self) -> String {
        self.customer.account_id.clone()
    }

    pub fn buy_request(service: &str, request_id: &str) -> pb::CreateActivationRequest {
        pb::CreateActivationRequest {
            service_code: service.into(),
            country_code: "US".into(),
            operator: String::new(),
            max_price: None,
            request_id: request_id.into(),
        }
    }

    pub async fn buy(
        &mut self,
        service: &str,
        request_id: &str,
    ) -> Result<pb::Activation, tonic::Status> {
        let request = Self::buy_request(service, request_id);
        Ok(self.client.create_activation(request).await?.into_inner())
    }

    pub async fn get(&mut self, id: &str) -> pb::Activation {
        self.client
            .get_activation(pb::GetActivationRequest { id: id.into() })
            .await
            .expect("get activation")
            .into_inner()
    }

    pub fn delivery(
        &self,
        activation: &str,
        inbound: &str,
        body: &str,
    ) -> pb::DeliverMessageRequest {
        pb::DeliverMessageRequest {
            activation_id: activation.into(),
            inbound_message_id: inbound.into(),
            sender: "WhatsApp".into(),
            body: body.into(),
            receive_time: Some(self.clock.now().to_proto()),
        }
    }

    pub async fn deliver(
        &mut self,
        activation: &str,
        inbound: &str,
        body: &str,
    ) -> Result<pb::Message, tonic::Status> {
        let request = self.delivery(activation, inbound, body);
        Ok(self.internal.deliver_message(request).await?.into_inner())
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The catalog's lease of an activation, by its holder id.
    pub async fn lease_of(&self, activation: &str) -> Option<LeaseRow> {
        let row = sqlx::query(
            "SELECT l.id, n.e164, l.released_at, l.expires_at FROM leases l \
             JOIN numbers n ON n.id = l.number_id WHERE l.holder_id = $1",
        )
        .bind(activation)
        .fetch_optional(self.catalog_db.db.reader())
        .await
        .unwrap()?;
        let released = row.get::<Option<i64>, _>("released_at").is_some();
        let expires_at: i64 = row.get("expires_at");
        Some(LeaseRow {
            id: row.get("id"),
            phone_number: row.get("e164"),
            released,
            held: !released && expires_at > self.now().unix_micros(),
        })
    }

    /// The ledger entries of `account`.
    pub async fn ledger(&self, account: &str) -> Vec<LedgerRow> {
        let rows = sqlx::query(
            "SELECT entry_id, kind, amount, reference, refund_of FROM ledger_entries \
             WHERE account_id = $1 ORDER BY entry_id",
        )
        .bind(account)
        .fetch_all(self.wallet_db.db.reader())
        .await
        .unwrap();
        rows.iter()
            .map(|row| LedgerRow {
                id: row.get("entry_id"),
                kind: row.get("kind"),
                amount: row.get("amount"),
                reference: row.get("reference"),
                refund_of: row.get("refund_of"),
            })
            .collect()
    }

    /// Debits and refunds of `account`, as (debits, refunds) in minor units.
    pub async fn charged(&self, account: &str) -> (i64, i64) {
        let ledger = self.ledger(account).await;
        let sum = |kind: &str| -> i64 {
            ledger
                .iter()
                .filter(|e| e.kind == kind)
                .map(|e| e.amount.abs())
                .sum()
        };
        (sum("debit"), sum("refund"))
    }

    /// Orders again on the same database, reaching the wallet at
    /// `wallet_url` (the wallet's own, or a relay in front of it) with
    /// `calls`' timeouts; the client and the workers use the new one.
    pub async fn rewire(&mut self, wallet_url: &str, calls: &CallConfig) {
        let catalog_url = format!("http://{}", self.catalog_server.addr());
        let deps = Dependencies::new(
            outbound("wallet", wallet_url, calls),
            outbound("catalog", &catalog_url, calls),
            &self.stack.credentials,
        );
        let clock: SharedClock = self.clock.clone();
        let settings = self.orders.settings().clone();
        let orders = Orders::new(self.orders_db.db.clone(), clock, settings, deps)
            .await
            .expect("start orders");
        let server = self.stack.serve(&orders).await;
        self.client = OrdersServiceClient::with_interceptor(
            server.channel(),
            BearerKey(self.customer.key.clone()),
        );
        self.internal = OrdersInternalServiceClient::with_interceptor(
            server.channel(),
            self.stack.credentials.interceptor(),
        );
        self.orders = orders;
        std::mem::replace(&mut self.server, server).shutdown().await;
    }

    /// The wallet's own URL.
    pub fn wallet_url(&self) -> String {
        format!("http://{}", self.wallet_server.addr())
    }

    /// Runs the workers until a pass finds nothing to do.
    pub async fn settle_everything(&self) {
        for _ in 0..50 {
            let pass = self.orders.run_workers_once().await.expect("workers");
            if pass == Default::default() {
                return;
            }
        }
        panic!("the workers never ran out of work");
    }

    /// Orders' own row of an activation: (status, settle, sms_count).
    pub async fn stored(&self, id: &str) -> (i64, i64, i64) {
        let row = sqlx::query("SELECT status, settle, sms_count FROM activations WHERE id = $1")
            .bind(id)
            .fetch_one(self.orders_db.db.reader())
            .await
            .unwrap();
        (row.get("status"), row.get("settle"), row.get("sms_count"))
    }
}

#[derive(Debug, Clone)]
pub struct LeaseRow {
    pub id: String,
    pub phone_number: String,
    pub released: bool,
    /// Whether the lease holds its number now: neither released nor expired.
    pub held: bool,
}

#[derive(Debug, Clone)]
pub struct LedgerRow {
    pub id: String,
    pub kind: String,
    pub amount: i64,
    pub reference: String,
    pub refund_of: Option<String>,
}

/// An activation's status.
pub fn status(a: &pb::Activation) -> pb::ActivationStatus {
    pb::ActivationStatus::try_from(a.status).expect("a known status")
}
