//! `getBalance` (and `getBalanceAndCashBack`): the wallet's balance.

use numhub_proto::wallet::v1::GetBalanceRequest;

use super::{Caller, Outcome};
use crate::sms_activate::answer::{Answer, token};
use crate::sms_activate::values;

/// `ACCESS_BALANCE:49.55`: what the caller may spend.
pub(super) async fn get_balance(caller: &Caller) -> Outcome {
    let balance = caller.answer(
        caller
            .wallet()
            .get_balance(caller.request(GetBalanceRequest {}))
            .await,
    )?;
    let available = balance.available.unwrap_or_default();
    Ok(Answer::with(
        token::ACCESS_BALANCE,
        values::amount(&available),
    ))
}
