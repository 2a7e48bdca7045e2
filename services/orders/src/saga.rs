//! Buying an activation: the shared purchase saga
//! ([`numhub_holding::purchase`]) over the catalog and the wallet, keyed
//! `activation:<id>`. Orders adds the reuse of a finished activation's
//! number and the limit of open activations per account.

use numhub_holding::purchase;
use numhub_holding::{HeldId, Holder as _, Store as _};

use crate::Orders;
use crate::error::{Failure, Refusal, orders_reason};
use crate::model::{Activation, Purchase, Settle, Status};
use crate::store::{self, Activations};

pub use crate::model::Step;

pub use numhub_holding::purchase::PURCHASE_TIMED_OUT;

impl Orders {
    /// Buys an activation, or returns the one (or the refusal) a previous
    /// request with the same `request_id` got.
    pub async fn purchase(&self, purchase: Purchase) -> Result<Activation, Failure> {
        let activation = self.insert_creating(&purchase).await?;
        self.drive(activation).await
    }

    /// Buys a new activation on the number of a FINISHED one, for the same
    /// service, within the reuse window.
    pub async fn reuse(
        &self,
        account_id: &str,
        previous_id: &HeldId,
        max_price: (Option<i64>, String),
        request_id: &str,
    ) -> Result<Activation, Failure> {
        let previous = self.get(account_id, previous_id).await?;
        let purchase = Purchase {
            account_id: account_id.to_owned(),
            request_id: request_id.to_owned(),
            service_code: previous.service_code.clone(),
            country_code: previous.country_code.clone(),
            operator: None,
            max_price: max_price.0,
            max_price_currency: max_price.1,
            reuse: Some((previous.id.clone(), previous.phone_number.clone())),
        };
        // A retry replays whatever the window says now.
        let retry = Activations::by_request(self.core.db.reader(), account_id, request_id).await?;
        if retry.is_none() {
            let window = self.settings.reuse_window;
            let closed = |message: String| {
                Err::<Activation, Failure>(
                    Refusal::new(orders_reason::REUSE_WINDOW_CLOSED, message)
                        .with("reuse_window_seconds", window.as_secs())
                        .into(),
                )
            };
            if previous.status != Status::Finished || previous.sms_count == 0 {
                return closed(format!(
                    "only an activation FINISHED with an SMS can be reused; this one is {}",
                    previous.status.name()
                ));
            }
            let ended = previous.ended_at.unwrap_or(previous.created_at);
            if self.core.clock.now() > ended.plus(window) {
                return closed(format!(
                    "a number can be reused only within {} after it finished",
                    humantime::format_duration(window)
                ));
            }
        }
        self.purchase(purchase).await
    }

    /// Step 1: the CREATING row, or the row of an earlier request with the
    /// same id. The open-activation limit is checked under the account's
    /// lock, so concurrent purchases cannot pass it together; a refusal is
    /// recorded as a FAILED activation, so a retry gets it too.
    async fn insert_creating(&self, purchase: &Purchase) -> Result<Activation, Failure> {
        let fingerprint = purchase.fingerprint();
        let now = self.core.clock.now();
        let lifetime = self.settings.lifetime_of(&purchase.service_code);
        let mut activation = Activation {
            id: uuid::Uuid::now_v7().to_string(),
            numeric_id: 0,
            account_id: purchase.account_id.clone(),
            request_id: purchase.request_id.clone(),
            fingerprint: fingerprint.clone(),
            service_code: purchase.service_code.clone(),
            country_code: purchase.country_code.clone(),
            operator: purchase.operator.clone().unwrap_or_default(),
            max_price: purchase.max_price,
            max_price_currency: purchase.max_price_currency.clone(),
            reused_activation_id: purchase.reuse.as_ref().map(|(id, _)| id.clone()),
            status: Status::Creating,
            phone_number: purchase
                .reuse
                .as_ref()
                .map(|(_, number)| number.clone())
                .unwrap_or_default(),
            lease_id: None,
            price: 0,
            currency: String::new(),
            debit_id: None,
            refunded: 0,
            code: String::new(),
            sms_count: 0,
            failure_reason: String::new(),
            failure_message: String::new(),
            created_at: now,
            expires_at: now.plus(lifetime),
            ended_at: None,
            settle: Settle::Nothing,
        };
        let claim = self.core.claim_until(now);
        let max_open = i64::from(self.settings.max_open);
        let backend = self.core.db.backend();
        let inserted = if max_open == 0 {
            // No limit to keep: one statement, which also finds a retry.
            store::insert_activation(self.core.db.writer(), backend, &activation, claim).await?
        } else {
            let mut tx = self.core.db.begin_write().await?;
            store::LOG
                .lock_account(&mut tx, &purchase.account_id, 0)
                .await?;
            if store::count_open(&mut tx, &purchase.account_id).await? >= max_open {
                activation.status = Status::Failed;
                activation.failure_reason = orders_reason::OPEN_ACTIVATION_LIMIT.into();
                activation.failure_message =
                    format!("the account already has {max_open} open activations");
                activation.ended_at = Some(now);
            }
            let inserted = store::insert_activation(&mut *tx, backend, &activation, claim).await?;
            tx.commit().await?;
            inserted
        };
        let Some(numeric_id) = inserted else {
            let a = Activations::by_request(
                self.core.db.writer(),
                &purchase.account_id,
                &purchase.request_id,
            )
            .await?
            .ok_or_else(|| Failure::corrupt("a taken request id has no activation"))?;
            return purchase::replay(a, &fingerprint, &purchase.request_id);
        };
        activation.numeric_id = numeric_id;
        Ok(activation)
    }

    /// Runs the saga from wherever the activation is; idempotent.
    pub(crate) async fn drive(&self, activation: Activation) -> Result<Activation, Failure> {
        purchase::drive(self, activation).await
    }

    /// Drives a purchase left CREATING (the recovery worker).
    pub(crate) async fn recover(&self, id: &str) -> Result<(), Failure> {
        purchase::recover(self, id).await
    }
}

/// For a reuse, "that number is not available" means the number is
/// gone.
pub(crate) fn lease_refused(activation: &Activation, failure: Failure) -> Failure {
    if activation.reused_activation_id.is_none() {
        return failure;
    }
    match failure {
        Failure::Refused(r) if r.reason == "NO_NUMBERS_AVAILABLE" => Refusal::new(
            orders_reason::NUMBER_OFFLINE,
            "the number is no longer available",
        )
        .into(),
        Failure::Refused(r) if r.reason == "NOT_OFFERED" => Refusal::new(
            orders_reason::NUMBER_OFFLINE,
            "the number is no longer sold for this service",
        )
        .into(),
        failure => failure,
    }
}
