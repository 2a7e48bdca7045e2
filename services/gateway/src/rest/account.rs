//! `/v1/account`: the caller's wallet balance (seed 000).

use axum::extract::State;
use numhub_proto::wallet::v1::GetBalanceRequest;
use serde::Serialize;
use utoipa::ToSchema;

use super::Answer as _;
use crate::Gateway;
use crate::caller::ApiKey;
use crate::reply::{Amount, ApiError, ErrorBody, One, Reply};

/// The caller's available balance.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Account {
    /// What the caller may spend, in `currency`, with its minor digits.
    pub balance: Amount,
    /// ISO 4217 code of the account's currency.
    pub currency: String,
}

/// The caller's balance and currency.
#[utoipa::path(
    get, path = "/v1/account", tag = "account",
    responses(
        (status = 200, body = One<Account>),
        (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody),
    )
)]
pub async fn get_account(State(gateway): State<Gateway>, key: ApiKey) -> Result<Reply, ApiError> {
    let (balance, quota) = gateway
        .upstream()
        .wallet
        .clone()
        .get_balance(key.request(GetBalanceRequest {}))
        .await
        .answer()?;
    let available = balance.available.unwrap_or_default();
    let account = Account {
        balance: Amount::of(Some(&available)),
        currency: available.currency_code,
    };
    Ok(Reply::ok(&One::new(account), quota))
}
