//! Buying an activation: a saga over the catalog and the wallet.
//!
//! 1. The activation is inserted as CREATING under the account's
//!    `request_id` (a retry finds it and drives the same saga).
//! 2. catalog.LeaseNumber, keyed `activation:<id>`, picks a number and says
//!    its price.
//! 3. wallet.Debit, keyed `activation:<id>`, charges the price.
//! 4. The activation becomes WAITING, with its lease and its debit.
//!
//! Every step is idempotent by its key, so any driver (the request, its
//! retry, the recovery worker of any replica) may run the saga again from
//! the start and reach the same end. A refusal before the charge ends the
//! activation FAILED and releases any number; nothing is ever charged
//! without a recorded lease, because the debit comes only after it.

use numhub_proto::catalog::v1 as catalog_pb;
use numhub_proto::common::v1::Money;
use numhub_proto::wallet::v1 as wallet_pb;
use numhub_runtime::error::reason;

use crate::error::{Failure, Refusal, orders_reason};
use crate::model::{Activation, Purchase, Settle, Status};
use crate::{Change, Orders, store};

pub use crate::model::Step;

/// The fields of a lease the catalog alone can judge, passed on from the
/// client unchecked: the price limit, in a currency only the catalog knows.
/// The catalog finding them invalid is the client's mistake.
const CLIENT_FIELDS: &[&str] = &["max_price"];

/// The reason a purchase ends FAILED when it could not lease a number
/// before the activation would have expired anyway.
pub const PURCHASE_TIMED_OUT: &str = "PURCHASE_TIMED_OUT";

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
        previous_id: &str,
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
        let retry = store::activation_by_request(self.db.reader(), account_id, request_id).await?;
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
            if self.clock.now() > ended.plus(window) {
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
        let existing = |a: Activation| {
            if a.fingerprint == fingerprint {
                Ok(a)
            } else {
                Err(Failure::key_reused(&purchase.request_id))
            }
        };
        let now = self.clock.now();
        let lifetime = self.settings.lifetime_of(&purchase.service_code);
        let mut activation = Activation {
            id: uuid::Uuid::now_v7().to_string(),
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
        let claim = self.claim_until(now);
        let max_open = i64::from(self.settings.max_open);
        let inserted = if max_open == 0 {
            // No limit to keep: one statement, which also finds a retry.
            store::insert_activation(self.db.writer(), &activation, claim).await?
        } else {
            let mut tx = self.db.begin_write().await?;
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
            let inserted = store::insert_activation(&mut *tx, &activation, claim).await?;
            tx.commit().await?;
            inserted
        };
        if !inserted {
            let a = store::activation_by_request(
                self.db.writer(),
                &purchase.account_id,
                &purchase.request_id,
            )
            .await?
            .ok_or_else(|| Failure::corrupt("a taken request id has no activation"))?;
            return existing(a);
        }
        Ok(activation)
    }

    /// Runs the saga from wherever the activation is; idempotent.
    pub(crate) async fn drive(&self, activation: Activation) -> Result<Activation, Failure> {
        match activation.status {
            Status::Creating => {}
            Status::Failed => return Err(failure_of(&activation)),
            _ => return Ok(activation),
        }
        self.crash_point(Step::AfterInsert)?;
        // The lease is kept in memory only: a retry or the recovery asks the
        // catalog again with the same key and gets the same lease back.
        let mut leased = activation.clone();
        match self.lease(&activation).await {
            Ok(lease) => take_lease(&mut leased, lease)?,
            Err(Failure::Refused(refusal)) => {
                return self.fail(&activation, refusal, Settle::Nothing).await;
            }
            // The catalog refused the request itself (a price limit in
            // another currency): recorded like a refusal, answered as the
            // client's mistake.
            Err(Failure::Invalid(violations)) => {
                let refusal = Refusal::invalid(&violations);
                return self.fail(&activation, refusal, Settle::Nothing).await;
            }
            Err(error) => return Err(error),
        }
        self.crash_point(Step::AfterLease)?;
        let debit_id = match self.debit(&leased).await {
            Ok(id) => id,
            Err(Failure::Refused(refusal)) => {
                return self.fail(&leased, refusal, Settle::Release).await;
            }
            Err(error) => return Err(error),
        };
        self.crash_point(Step::AfterDebit)?;
        let (activation, _) = self
            .change(&leased.account_id, &leased.id, |a, _| {
                if a.status != Status::Creating {
                    return Ok(Change::None);
                }
                copy_lease(a, &leased);
                a.status = Status::Waiting;
                a.debit_id = Some(debit_id);
                Ok(Change::Status)
            })
            .await?;
        match activation.status {
            Status::Failed => Err(failure_of(&activation)),
            _ => Ok(activation),
        }
    }

    /// Step 2: the catalog's lease for this activation (a replay when it
    /// was already made).
    async fn lease(&self, a: &Activation) -> Result<catalog_pb::Lease, Failure> {
        let request = catalog_pb::LeaseNumberRequest {
            kind: catalog_pb::LeaseKind::Activation as i32,
            account_id: a.account_id.clone(),
            holder_id: a.id.clone(),
            country_code: a.country_code.clone(),
            service_code: a.service_code.clone(),
            operator: a.operator.clone(),
            number_type: 0,
            rental_duration: 0,
            // The catalog checks the currency, and knows which is its own.
            max_price: a.max_price.map(|units| Money {
                currency_code: a.max_price_currency.clone(),
                minor_units: units,
            }),
            expire_time: Some(a.expires_at.to_proto()),
            request_id: saga_key(&a.id),
            phone_number: a.phone_number.clone(),
        };
        let reuse = a.reused_activation_id.is_some();
        match self.deps.catalog.clone().lease_number(request).await {
            Ok(lease) => Ok(lease.into_inner()),
            // Never leased (a replay would have answered the lease), and too
            // late to lease now: the purchase ends without a number.
            Err(status)
                if status.code() == tonic::Code::InvalidArgument
                    && a.expires_at <= self.clock.now() =>
            {
                Err(Refusal::new(
                    PURCHASE_TIMED_OUT,
                    "the purchase could not finish before the activation's expiry",
                )
                .into())
            }
            Err(status) => match Failure::from_upstream("catalog", &status, CLIENT_FIELDS) {
                // For a reuse, "that number is not available" means the
                // number is gone.
                Failure::Refused(r) if reuse && r.reason == "NO_NUMBERS_AVAILABLE" => {
                    Err(Refusal::new(
                        orders_reason::NUMBER_OFFLINE,
                        "the number is no longer available",
                    )
                    .into())
                }
                Failure::Refused(r) if reuse && r.reason == "NOT_OFFERED" => Err(Refusal::new(
                    orders_reason::NUMBER_OFFLINE,
                    "the number is no longer sold for this service",
                )
                .into()),
                failure => Err(failure),
            },
        }
    }

    /// Step 3: the wallet's debit for this activation (a replay when it was
    /// already made); the debit's id.
    async fn debit(&self, a: &Activation) -> Result<String, Failure> {
        let request = wallet_pb::DebitRequest {
            account_id: a.account_id.clone(),
            amount: Some(Money {
                currency_code: a.currency.clone(),
                minor_units: a.price,
            }),
            request_id: saga_key(&a.id),
            reference: format!("activation:{}", a.id),
        };
        let response = self
            .deps
            .wallet
            .clone()
            .debit(request)
            .await
            .map_err(|status| Failure::from_upstream("wallet", &status, &[]))?;
        response
            .into_inner()
            .transaction
            .map(|t| t.id)
            .ok_or_else(|| Failure::corrupt("a debit without its transaction"))
    }

    /// Ends a purchase FAILED with `refusal`, releases what it holds, and
    /// answers the refusal.
    async fn fail(
        &self,
        activation: &Activation,
        refusal: Refusal,
        settle: Settle,
    ) -> Result<Activation, Failure> {
        let (a, _) = self
            .change(&activation.account_id, &activation.id, |a, now| {
                if a.status != Status::Creating {
                    return Ok(Change::None);
                }
                copy_lease(a, activation);
                a.status = Status::Failed;
                a.failure_reason = refusal.reason.clone();
                a.failure_message = refusal.message.clone();
                a.ended_at = Some(now);
                a.settle = if a.lease_id.is_some() {
                    settle
                } else {
                    Settle::Nothing
                };
                Ok(Change::Status)
            })
            .await?;
        if a.settle != Settle::Nothing {
            self.settle_logged(&a).await;
        }
        match a.status {
            Status::Failed => Err(failure_of(&a)),
            // Another driver finished it first.
            _ => Ok(a),
        }
    }

    /// Drives a purchase left CREATING (the recovery worker).
    pub(crate) async fn recover(&self, id: &str) -> Result<(), Failure> {
        let Some(activation) = store::activation(self.db.writer(), id).await? else {
            return Ok(());
        };
        match self.drive(activation).await {
            Ok(_) | Err(Failure::Refused(_)) => Ok(()),
            Err(error) => Err(error),
        }
    }
}

/// Puts the catalog's lease on the activation: its number and price.
fn take_lease(a: &mut Activation, lease: catalog_pb::Lease) -> Result<(), Failure> {
    let price = lease
        .price
        .ok_or_else(|| Failure::corrupt("a lease without a price"))?;
    a.lease_id = Some(lease.id);
    a.phone_number = lease.phone_number;
    a.operator = lease.operator;
    a.price = price.minor_units;
    a.currency = price.currency_code;
    Ok(())
}

/// Copies the lease a driver holds in memory onto the stored row.
fn copy_lease(a: &mut Activation, from: &Activation) {
    if from.lease_id.is_some() {
        a.lease_id.clone_from(&from.lease_id);
        a.phone_number.clone_from(&from.phone_number);
        a.operator.clone_from(&from.operator);
        a.price = from.price;
        a.currency.clone_from(&from.currency);
    }
}

/// The idempotency key of an activation's lease and debit.
pub fn saga_key(activation_id: &str) -> String {
    format!("activation:{activation_id}")
}

/// The answer a FAILED activation gives every retry of its purchase.
fn failure_of(a: &Activation) -> Failure {
    if let Some(violations) = Refusal::violations(&a.failure_reason, &a.failure_message) {
        return Failure::Invalid(violations);
    }
    let reason = if a.failure_reason.is_empty() {
        reason::INTERNAL_ERROR.to_owned()
    } else {
        a.failure_reason.clone()
    };
    Refusal::new(reason, a.failure_message.clone()).into()
}
