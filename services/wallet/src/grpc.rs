//! The wallet's public, admin and internal gRPC services: thin handlers that validate a request,
//! call the domain, and map its answer. No rule lives here.

use numhub_auth::Caller;
use numhub_proto::common::v1::Money;
use numhub_proto::wallet::v1 as pb;
use numhub_runtime::money;
use numhub_runtime::tokens::TokenScope;
use numhub_runtime::validate::{self, Validator};
use tonic::{Request, Response, Status};

use crate::Wallet;
use crate::model::{Balance, Command, Entry, Kind, Movement};

/// Longest account id accepted.
const MAX_ACCOUNT_ID_LEN: usize = 255;
/// Longest reason or reference accepted.
const MAX_TEXT_LEN: usize = 1024;
const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 100;
const LIST_TRANSACTIONS: &str = "numhub.wallet.v1.WalletService/ListTransactions";

#[tonic::async_trait]
impl pb::wallet_service_server::WalletService for Wallet {
    async fn get_balance(
        &self,
        request: Request<pb::GetBalanceRequest>,
    ) -> Result<Response<pb::Balance>, Status> {
        let caller = Caller::of(&request)?;
        let balance = self.balance_or_zero(&caller.account_id).await?;
        Ok(Response::new(balance_to_proto(balance)))
    }

    async fn list_transactions(
        &self,
        request: Request<pb::ListTransactionsRequest>,
    ) -> Result<Response<pb::ListTransactionsResponse>, Status> {
        let caller = Caller::of(&request)?;
        let r = request.into_inner();
        let mut v = Validator::new();
        let page_size = v.check(
            "page_size",
            validate::page_size(r.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE),
        );
        let scope = TokenScope::new(LIST_TRANSACTIONS, &caller.account_id);
        let cursor = v.check("page_token", self.tokens.decode_uuid(&scope, &r.page_token));
        v.finish()?;
        let (entries, next) = self
            .list(
                &caller.account_id,
                cursor.flatten().as_deref(),
                page_size.unwrap_or(DEFAULT_PAGE_SIZE),
            )
            .await?;
        Ok(Response::new(pb::ListTransactionsResponse {
            transactions: entries.into_iter().map(entry_to_proto).collect(),
            next_page_token: next
                .map(|id| self.tokens.encode(&scope, &id))
                .unwrap_or_default(),
        }))
    }
}

#[tonic::async_trait]
impl pb::wallet_admin_service_server::WalletAdminService for Wallet {
    async fn credit(
        &self,
        request: Request<pb::CreditRequest>,
    ) -> Result<Response<pb::CreditResponse>, Status> {
        credit(self, request.into_inner()).await
    }

    async fn get_account_balance(
        &self,
        request: Request<pb::GetAccountBalanceRequest>,
    ) -> Result<Response<pb::Balance>, Status> {
        let mut v = Validator::new();
        let account_id = v.check("account_id", account_id(&request.get_ref().account_id));
        v.finish()?;
        let balance = self.balance(&account_id.unwrap_or_default()).await?;
        Ok(Response::new(balance_to_proto(balance)))
    }
}

#[tonic::async_trait]
impl pb::wallet_internal_service_server::WalletInternalService for Wallet {
    async fn credit(
        &self,
        request: Request<pb::CreditRequest>,
    ) -> Result<Response<pb::CreditResponse>, Status> {
        credit(self, request.into_inner()).await
    }

    async fn debit(
        &self,
        request: Request<pb::DebitRequest>,
    ) -> Result<Response<pb::DebitResponse>, Status> {
        let r = request.into_inner();
        let m = movement_fields(
            &r.account_id,
            r.amount.as_ref(),
            &r.request_id,
            "reference",
            &r.reference,
        )?;
        let command = Command {
            request_id: m.request_id,
            movement: Movement::Debit {
                account_id: m.account_id,
                amount: m.amount,
                currency: m.currency,
                reference: m.text,
            },
        };
        let transaction = Some(entry_to_proto(self.execute(command).await?));
        Ok(Response::new(pb::DebitResponse { transaction }))
    }

    async fn refund(
        &self,
        request: Request<pb::RefundRequest>,
    ) -> Result<Response<pb::RefundResponse>, Status> {
        let r = request.into_inner();
        let mut v = Validator::new();
        let debit_id = v.check(
            "debit_transaction_id",
            validate::uuid(&r.debit_transaction_id).map(|id| id.to_string()),
        );
        let amount = v.check("amount", money::optional(r.amount.as_ref()));
        let request_id = v.check("request_id", validate::request_id(&r.request_id));
        let reason = v.check("reason", validate::text(&r.reason, MAX_TEXT_LEN));
        v.finish()?;
        let (amount, currency) = amount.unwrap_or_default();
        let command = Command {
            request_id: request_id.unwrap_or_default(),
            movement: Movement::Refund {
                debit_id: debit_id.unwrap_or_default(),
                amount,
                currency,
                reason: reason.unwrap_or_default(),
            },
        };
        let entry = self.execute(command).await?;
        Ok(Response::new(pb::RefundResponse {
            transaction: Some(entry_to_proto(entry)),
        }))
    }
}

/// Credit, as both the admin and the internal surface offer it.
async fn credit(
    wallet: &Wallet,
    r: pb::CreditRequest,
) -> Result<Response<pb::CreditResponse>, Status> {
    let m = movement_fields(
        &r.account_id,
        r.amount.as_ref(),
        &r.request_id,
        "reason",
        &r.reason,
    )?;
    let command = Command {
        request_id: m.request_id,
        movement: Movement::Credit {
            account_id: m.account_id,
            amount: m.amount,
            currency: m.currency,
            reason: m.text,
        },
    };
    let transaction = Some(entry_to_proto(wallet.execute(command).await?));
    Ok(Response::new(pb::CreditResponse { transaction }))
}

/// The fields that Credit and Debit share, validated together.
struct MovementFields {
    account_id: String,
    amount: i64,
    currency: Option<String>,
    request_id: String,
    /// The reason of a credit or the reference of a debit.
    text: String,
}

fn movement_fields(
    account: &str,
    amount: Option<&Money>,
    request_id: &str,
    text_field: &str,
    text: &str,
) -> Result<MovementFields, Status> {
    let mut v = Validator::new();
    let account_id = v.check("account_id", account_id(account));
    let amount = v.check("amount", money::positive(amount));
    let request_id = v.check("request_id", validate::request_id(request_id));
    let text = v.check(text_field, validate::text(text, MAX_TEXT_LEN));
    v.finish()?;
    let (amount, currency) = amount.unwrap_or_default();
    Ok(MovementFields {
        account_id: account_id.unwrap_or_default(),
        amount,
        currency,
        request_id: request_id.unwrap_or_default(),
        text: text.unwrap_or_default(),
    })
}

/// The wallet never sees accounts' tables, so it takes any identifier; one
/// that is a UUID (as every account id accounts issues) is read lower-case,
/// so an id sent upper-case names the same account, as everywhere else.
fn account_id(value: &str) -> Result<String, String> {
    let id = validate::identifier(value, MAX_ACCOUNT_ID_LEN)?;
    Ok(validate::uuid(&id).map_or(id, |uuid| uuid.to_string()))
}

fn balance_to_proto(balance: Balance) -> pb::Balance {
    pb::Balance {
        available: money::to_proto(&balance.currency, balance.available),
        account_id: balance.account_id,
        update_time: balance.updated_at.map(|t| t.to_proto()),
    }
}

pub fn entry_to_proto(entry: Entry) -> pb::Transaction {
    let kind = match entry.kind {
        Kind::Credit => pb::TransactionKind::Credit,
        Kind::Debit => pb::TransactionKind::Debit,
        Kind::Refund => pb::TransactionKind::Refund,
    };
    pb::Transaction {
        amount: money::to_proto(&entry.currency, entry.amount),
        balance_after: money::to_proto(&entry.currency, entry.balance_after),
        id: entry.id,
        account_id: entry.account_id,
        kind: kind as i32,
        reference: entry.reference,
        refunded_transaction_id: entry.refund_of.unwrap_or_default(),
        request_id: entry.request_id,
        create_time: Some(entry.created_at.to_proto()),
    }
}
