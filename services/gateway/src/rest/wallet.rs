//! `/v1/transactions`: the wallet's log of every money movement on the
//! caller's account (seed 004), newest first.

use axum::extract::State;
use numhub_proto::wallet::v1 as pb;
use serde::Serialize;
use utoipa::ToSchema;

use super::{Answer as _, PageParams, paged};
use crate::Gateway;
use crate::caller::ApiKey;
use crate::input::Params;
use crate::reply::{self, Amount, ApiError, ErrorBody, Many, Reply};

/// One movement of money.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    pub id: String,
    /// `CREDIT`, `DEBIT` or `REFUND`.
    pub kind: String,
    /// The signed change: positive for credits and refunds, negative for
    /// debits.
    pub amount: Amount,
    pub currency: String,
    /// The balance right after it.
    pub balance_after: Amount,
    /// What it was for (a purchase's id, a credit's reason).
    pub reference: String,
    /// For a refund, the debit it gives back.
    pub refunded_transaction_id: Option<String>,
    pub created_at: Option<String>,
}

impl From<pb::Transaction> for Transaction {
    fn from(t: pb::Transaction) -> Self {
        let kind = pb::TransactionKind::try_from(t.kind)
            .unwrap_or(pb::TransactionKind::Unspecified)
            .as_str_name()
            .trim_start_matches("TRANSACTION_KIND_")
            .to_owned();
        let amount = t.amount.unwrap_or_default();
        Transaction {
            id: t.id,
            kind,
            amount: Amount::of(Some(&amount)),
            currency: amount.currency_code,
            balance_after: Amount::of(t.balance_after.as_ref()),
            reference: t.reference,
            refunded_transaction_id: (!t.refunded_transaction_id.is_empty())
                .then_some(t.refunded_transaction_id),
            created_at: reply::time(t.create_time.as_ref()),
        }
    }
}

/// The caller's transactions, newest first, a page at a time.
#[utoipa::path(
    get, path = "/v1/transactions", tag = "wallet", params(PageParams),
    responses((status = 200, body = Many<Transaction>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
pub async fn list_transactions(
    State(gateway): State<Gateway>,
    key: ApiKey,
    Params(page): Params<PageParams>,
) -> Result<Reply, ApiError> {
    let (page_size, page_token) = page.page()?;
    let (listed, quota) = gateway
        .upstream()
        .wallet
        .clone()
        .list_transactions(key.request(pb::ListTransactionsRequest {
            page_size,
            page_token,
        }))
        .await
        .answer()?;
    let (items, next) = (listed.transactions, listed.next_page_token);
    Ok(paged(items, Transaction::from, next, page_size, quota))
}
