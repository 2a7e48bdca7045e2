//! Shared fixture of the wallet's tests: a wallet on a fresh database, served
//! over real gRPC, and helpers to read statuses.

#![allow(dead_code)]

use std::sync::Arc;

use numhub_proto::common::v1::Money;
use numhub_proto::wallet::v1 as pb;
use numhub_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use numhub_runtime::clock::{ManualClock, SharedClock};
use numhub_testkit::{Backend, TestDb, TestServer};
use numhub_wallet::{MIGRATIONS, SERVICE_NAME, Wallet, WalletSettings};
use tonic::transport::Channel;
use tonic_types::StatusExt;

pub type Client = WalletServiceClient<Channel>;

pub struct Harness {
    pub client: Client,
    pub server: TestServer,
    pub clock: Arc<ManualClock>,
    pub wallet: Wallet,
    pub db: TestDb,
}

pub async fn start(backend: Backend) -> Harness {
    let db = TestDb::new(backend).await;
    db.db.migrate(&MIGRATIONS).await.expect("migrate");
    let clock = Arc::new(ManualClock::starting_now());
    let shared: SharedClock = clock.clone();
    let wallet = Wallet::start(db.db.clone(), shared, &WalletSettings::default());
    let server = TestServer::start(wallet.routes(), vec![SERVICE_NAME]).await;
    Harness {
        client: WalletServiceClient::new(server.channel()),
        server,
        clock,
        wallet,
        db,
    }
}

pub fn usd(minor_units: i64) -> Option<Money> {
    Some(Money {
        currency_code: "USD".into(),
        minor_units,
    })
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

pub async fn balance(client: &mut Client, account: &str) -> i64 {
    let balance = client
        .get_balance(pb::GetBalanceRequest {
            account_id: account.into(),
        })
        .await
        .expect("balance")
        .into_inner();
    units(&balance.available)
}

/// Every entry of an account, newest first, read page by page.
pub async fn ledger(client: &mut Client, account: &str) -> Vec<pb::Transaction> {
    let mut entries = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_transactions(pb::ListTransactionsRequest {
                account_id: account.into(),
                page_size: 100,
                page_token,
            })
            .await
            .expect("list")
            .into_inner();
        entries.extend(page.transactions);
        if page.next_page_token.is_empty() {
            return entries;
        }
        page_token = page.next_page_token;
    }
}

/// The ErrorInfo reason of a status.
pub fn reason(status: &tonic::Status) -> String {
    status
        .get_error_details()
        .error_info()
        .map(|info| info.reason.clone())
        .unwrap_or_default()
}

/// The fields a BadRequest detail names.
pub fn bad_fields(status: &tonic::Status) -> Vec<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|br| {
            br.field_violations
                .iter()
                .map(|v| v.field.clone())
                .collect()
        })
        .unwrap_or_default()
}

#[track_caller]
pub fn assert_status(
    result: Result<impl std::fmt::Debug, tonic::Status>,
    code: tonic::Code,
    reason_text: &str,
) -> tonic::Status {
    let status = result.expect_err("expected an error");
    assert_eq!(status.code(), code, "{status:?}");
    assert_eq!(reason(&status), reason_text, "{status:?}");
    status
}
