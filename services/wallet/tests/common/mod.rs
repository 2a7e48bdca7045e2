//! Shared fixture of the wallet's tests: a wallet on a fresh database, served
//! over real gRPC, and helpers to read statuses.

#![allow(dead_code)]

use std::sync::Arc;

use numhub_auth::ServiceInterceptor;
use numhub_proto::common::v1::{Money, Scope};
use numhub_proto::wallet::v1 as pb;
use numhub_proto::wallet::v1::wallet_admin_service_client::WalletAdminServiceClient;
use numhub_proto::wallet::v1::wallet_internal_service_client::WalletInternalServiceClient;
use numhub_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use numhub_runtime::clock::{ManualClock, SharedClock};
pub use numhub_testkit::stack::usd;
use numhub_testkit::stack::{Customer, Stack, database};
use numhub_testkit::{Backend, BearerKey, TestDb, TestServer};
use numhub_wallet::{Wallet, WalletSettings};
use tonic::codegen::InterceptedService;
use tonic::transport::Channel;

/// The internal surface, with the service credential: Credit, Debit, Refund.
pub type Client = WalletInternalServiceClient<InterceptedService<Channel, ServiceInterceptor>>;
/// The public surface, with a customer's key.
pub type PublicClient = WalletServiceClient<InterceptedService<Channel, BearerKey>>;
/// The admin surface, with the operator's key.
pub type AdminClient = WalletAdminServiceClient<InterceptedService<Channel, BearerKey>>;

pub struct Harness {
    pub client: Client,
    pub admin: AdminClient,
    pub server: TestServer,
    pub clock: Arc<ManualClock>,
    pub wallet: Wallet,
    pub stack: Stack,
    pub db: TestDb,
}

/// A wallet on a fresh database, behind an auth layer that resolves keys
/// through a real accounts service on its own database.
pub async fn start(backend: Backend) -> Harness {
    let db = database::<Wallet>(backend).await;
    let clock = Arc::new(ManualClock::starting_now());
    let stack = Stack::start(backend, clock.clone()).await;
    let shared: SharedClock = clock.clone();
    let wallet = Wallet::start(db.db.clone(), shared, &WalletSettings::default())
        .await
        .expect("start the wallet");
    let server = stack.serve(&wallet).await;
    Harness {
        client: internal_client(&server, &stack),
        admin: WalletAdminServiceClient::with_interceptor(
            server.channel(),
            BearerKey(stack.admin_key.clone()),
        ),
        server,
        clock,
        wallet,
        stack,
        db,
    }
}

pub fn internal_client(server: &TestServer, stack: &Stack) -> Client {
    WalletInternalServiceClient::with_interceptor(server.channel(), stack.credentials.interceptor())
}

impl Harness {
    /// A new customer with a read key, and the public client using it.
    pub async fn customer(&self) -> (Customer, PublicClient) {
        let customer = self.stack.customer("customer", &[Scope::Read]).await;
        let client = self.public_client(&customer.key);
        (customer, client)
    }

    pub fn public_client(&self, key: &str) -> PublicClient {
        WalletServiceClient::with_interceptor(self.server.channel(), BearerKey(key.to_owned()))
    }
}

pub fn units(money: &Option<Money>) -> i64 {
    money.as_ref().expect("money").minor_units
}

pub async fn credit(
    client: &mut Client,
    account: &str,
    amount: i64,
    request_id: &str,
) -> pb::Transaction {
    client
        .credit(pb::CreditRequest {
            account_id: account.into(),
            amount: usd(amount),
            request_id: request_id.into(),
            reason: "top-up".into(),
        })
        .await
        .expect("credit")
        .into_inner()
        .transaction
        .expect("transaction")
}

pub fn debit_request(account: &str, amount: i64, request_id: &str) -> pb::DebitRequest {
    pb::DebitRequest {
        account_id: account.into(),
        amount: usd(amount),
        request_id: request_id.into(),
        reference: "activation".into(),
    }
}

pub async fn debit(
    client: &mut Client,
    account: &str,
    amount: i64,
    request_id: &str,
) -> Result<pb::Transaction, tonic::Status> {
    let response = client
        .debit(debit_request(account, amount, request_id))
        .await?;
    Ok(response.into_inner().transaction.expect("transaction"))
}

pub fn refund_request(debit_id: &str, amount: Option<i64>, request_id: &str) -> pb::RefundRequest {
    pb::RefundRequest {
        debit_transaction_id: debit_id.into(),
        amount: amount.and_then(usd),
        request_id: request_id.into(),
        reason: "cancelled".into(),
    }
}

pub async fn refund(
    client: &mut Client,
    debit_id: &str,
    amount: Option<i64>,
    request_id: &str,
) -> Result<pb::Transaction, tonic::Status> {
    let response = client
        .refund(refund_request(debit_id, amount, request_id))
        .await?;
    Ok(response.into_inner().transaction.expect("transaction"))
}

/// An account's balance, read through the domain: invariant checks read
/// any account, which no single key may.
pub async fn balance(wallet: &Wallet, account: &str) -> i64 {
    wallet.balance(account).await.expect("balance").available
}

/// Every entry of an account, newest first, read page by page through the
/// domain.
pub async fn ledger(wallet: &Wallet, account: &str) -> Vec<pb::Transaction> {
    let mut entries = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let (page, next) = wallet
            .list(account, cursor.as_deref(), 100)
            .await
            .expect("list");
        entries.extend(page.into_iter().map(numhub_wallet::proto::entry_to_proto));
        match next {
            Some(next) => cursor = Some(next),
            None => return entries,
        }
    }
}

pub use numhub_testkit::status::{assert_status, bad_fields, reason};
