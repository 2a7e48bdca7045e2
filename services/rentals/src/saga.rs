//! Renting a number: a saga over the catalog and the wallet.
//!
//! 1. The rental is inserted as CREATING under the account's `request_id`
//!    (a retry finds it and drives the same saga).
//! 2. catalog.LeaseNumber, keyed `rental:<id>`, picks a number and says the
//!    package's price.
//! 3. wallet.Debit, keyed `rental:<id>`, charges it.
//! 4. The rental becomes ACTIVE, with its lease and its debit.
//!
//! Every step is idempotent by its key, so any driver (the request, its
//! retry, the recovery worker of any replica) may run the saga again from
//! the start and reach the same end. A refusal ends the rental FAILED and
//! releases any number; nothing is ever charged without a recorded lease,
//! because the debit comes only after it.

use numhub_proto::catalog::v1 as catalog_pb;
use numhub_proto::common::v1::Money;
use numhub_proto::wallet::v1 as wallet_pb;
use numhub_runtime::error::reason;

use crate::error::{Failure, Refusal, rentals_reason};
use crate::model::{Purchase, Rental, Settle, Status};
use crate::{Rentals, store};

pub use crate::model::Step;

/// The fields of a lease the catalog alone can judge, passed on from the
/// client unchecked: the price limit, in a currency only the catalog knows.
/// The catalog finding them invalid is the client's mistake.
const CLIENT_FIELDS: &[&str] = &["max_price"];

/// The charge of a purchase or a renewal: the ledger entry and the balance
/// right after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Charge {
    pub debit_id: String,
    pub balance_after: Option<i64>,
}

impl Rentals {
    /// Rents a number, or returns the rental (or the refusal) a previous
    /// request with the same `request_id` got.
    pub async fn purchase(&self, purchase: Purchase) -> Result<Rental, Failure> {
        let rental = self.insert_creating(&purchase).await?;
        self.drive(rental).await
    }

    /// Step 1: the CREATING row, or the row of an earlier request with the
    /// same id.
    async fn insert_creating(&self, purchase: &Purchase) -> Result<Rental, Failure> {
        let fingerprint = purchase.fingerprint();
        let now = self.clock.now();
        let rental = Rental {
            id: uuid::Uuid::now_v7().to_string(),
            account_id: purchase.account_id.clone(),
            request_id: purchase.request_id.clone(),
            fingerprint: fingerprint.clone(),
            country_code: purchase.country_code.clone(),
            number_type: purchase.number_type,
            service_code: purchase.service_code.clone(),
            duration: purchase.duration,
            renewal_duration: purchase.duration,
            auto_renew: purchase.auto_renew,
            max_price: purchase.max_price,
            max_price_currency: purchase.max_price_currency.clone(),
            status: Status::Creating,
            phone_number: String::new(),
            lease_id: None,
            price: 0,
            currency: String::new(),
            debit_id: None,
            balance_after: None,
            total_charged: 0,
            refunded: 0,
            refund_balance_after: None,
            sms_count: 0,
            renewals: 0,
            auto_renew_failure: String::new(),
            auto_renew_failed_at: None,
            failure_reason: String::new(),
            failure_message: String::new(),
            created_at: now,
            // The package runs from the purchase: the same instant for
            // every driver of the saga, so the lease's end is too.
            expires_at: purchase.duration.end(now),
            ended_at: None,
            settle: Settle::Nothing,
        };
        if store::insert_rental(self.db.writer(), &rental, self.claim_until(now)).await? {
            return Ok(rental);
        }
        let existing =
            store::rental_by_request(self.db.writer(), &purchase.account_id, &purchase.request_id)
                .await?
                .ok_or_else(|| Failure::corrupt("a taken request id has no rental"))?;
        if existing.fingerprint != fingerprint {
            return Err(Failure::key_reused(&purchase.request_id));
        }
        Ok(existing)
    }

    /// Runs the saga from wherever the rental is; idempotent.
    pub(crate) async fn drive(&self, rental: Rental) -> Result<Rental, Failure> {
        match rental.status {
            Status::Creating => {}
            Status::Failed => return Err(failure_of(&rental)),
            _ => return Ok(rental),
        }
        self.crash_point(Step::AfterInsert)?;
        let mut leased = rental.clone();
        match self.lease(&rental).await {
            Ok(lease) => take_lease(&mut leased, lease)?,
            Err(Failure::Refused(refusal)) => {
                return self.fail(&rental, refusal).await;
            }
            // The catalog refused the request itself (a price limit in
            // another currency): recorded like a refusal, so every retry
            // gets it, and answered as the client's mistake.
            Err(Failure::Invalid(violations)) => {
                return self.fail(&rental, Refusal::invalid(&violations)).await;
            }
            Err(error) => return Err(error),
        }
        self.crash_point(Step::AfterLease)?;
        let charge = match self
            .charge(&leased, leased.price, &saga_key(&leased.id))
            .await
        {
            Ok(charge) => charge,
            Err(Failure::Refused(refusal)) => {
                return self.fail(&leased, refusal).await;
            }
            Err(error) => return Err(error),
        };
        self.crash_point(Step::AfterDebit)?;
        let (rental, _) = self
            .change(&leased.account_id, &leased.id, |r, _| {
                if r.status != Status::Creating {
                    return Ok(false);
                }
                copy_lease(r, &leased);
                r.status = Status::Active;
                r.debit_id = Some(charge.debit_id);
                r.balance_after = charge.balance_after;
                r.total_charged = r.price;
                Ok(true)
            })
            .await?;
        match rental.status {
            Status::Failed => Err(failure_of(&rental)),
            _ => Ok(rental),
        }
    }

    /// Step 2: the catalog's lease for this rental (a replay when it was
    /// already made).
    async fn lease(&self, r: &Rental) -> Result<catalog_pb::Lease, Failure> {
        let request = catalog_pb::LeaseNumberRequest {
            kind: catalog_pb::LeaseKind::Rental as i32,
            account_id: r.account_id.clone(),
            holder_id: r.id.clone(),
            country_code: r.country_code.clone(),
            service_code: r.service_code.clone(),
            operator: String::new(),
            number_type: r.number_type as i32,
            rental_duration: r.duration as i32,
            // The catalog checks the currency, and knows which is its own.
            max_price: r.max_price.map(|units| Money {
                currency_code: r.max_price_currency.clone(),
                minor_units: units,
            }),
            expire_time: Some(r.expires_at.to_proto()),
            request_id: saga_key(&r.id),
            phone_number: String::new(),
        };
        match self.deps.catalog.clone().lease_number(request).await {
            Ok(lease) => Ok(lease.into_inner()),
            // Never leased (a replay would have answered the lease), and the
            // package would be over already: the purchase ends without a
            // number. Only a recovery long after the request meets this.
            Err(status)
                if status.code() == tonic::Code::InvalidArgument
                    && r.expires_at <= self.clock.now() =>
            {
                Err(Refusal::new(
                    rentals_reason::PURCHASE_TIMED_OUT,
                    "the purchase could not finish before the package would have ended",
                )
                .into())
            }
            Err(status) => Err(Failure::from_upstream("catalog", &status, CLIENT_FIELDS)),
        }
    }

    /// Charges `amount` of the rental's currency under the wallet's
    /// idempotency key `key` (a replay when it was already charged).
    pub(crate) async fn charge(
        &self,
        r: &Rental,
        amount: i64,
        key: &str,
    ) -> Result<Charge, Failure> {
        let request = wallet_pb::DebitRequest {
            account_id: r.account_id.clone(),
            amount: Some(Money {
                currency_code: r.currency.clone(),
                minor_units: amount,
            }),
            request_id: key.to_owned(),
            reference: format!("rental:{}", r.id),
        };
        let response = self
            .deps
            .wallet
            .clone()
            .debit(request)
            .await
            .map_err(|status| Failure::from_upstream("wallet", &status, &[]))?;
        let transaction = response
            .into_inner()
            .transaction
            .ok_or_else(|| Failure::corrupt("a debit without its transaction"))?;
        Ok(Charge {
            debit_id: transaction.id,
            balance_after: transaction.balance_after.map(|m| m.minor_units),
        })
    }

    /// Ends a purchase FAILED with `refusal`, releases any number it
    /// leased, and answers the refusal.
    async fn fail(&self, rental: &Rental, refusal: Refusal) -> Result<Rental, Failure> {
        let (r, _) = self
            .change(&rental.account_id, &rental.id, |r, now| {
                if r.status != Status::Creating {
                    return Ok(false);
                }
                copy_lease(r, rental);
                r.status = Status::Failed;
                r.failure_reason = refusal.reason.clone();
                r.failure_message = refusal.message.clone();
                r.ended_at = Some(now);
                r.settle = if r.lease_id.is_some() {
                    Settle::Release
                } else {
                    Settle::Nothing
                };
                Ok(true)
            })
            .await?;
        if r.settle != Settle::Nothing {
            self.settle_logged(&r).await;
        }
        match r.status {
            Status::Failed => Err(failure_of(&r)),
            // Another driver finished it first.
            _ => Ok(r),
        }
    }

    /// Drives a purchase left CREATING (the recovery worker).
    pub(crate) async fn recover(&self, id: &str) -> Result<(), Failure> {
        let Some(rental) = store::rental(self.db.writer(), id).await? else {
            return Ok(());
        };
        match self.drive(rental).await {
            Ok(_) | Err(Failure::Refused(_)) => Ok(()),
            Err(error) => Err(error),
        }
    }
}

/// Puts the catalog's lease on the rental: its number and price.
fn take_lease(r: &mut Rental, lease: catalog_pb::Lease) -> Result<(), Failure> {
    let price = lease
        .price
        .ok_or_else(|| Failure::corrupt("a lease without a price"))?;
    r.lease_id = Some(lease.id);
    r.phone_number = lease.phone_number;
    r.price = price.minor_units;
    r.currency = price.currency_code;
    Ok(())
}

/// Copies the lease a driver holds in memory onto the stored row.
fn copy_lease(r: &mut Rental, from: &Rental) {
    if from.lease_id.is_some() {
        r.lease_id.clone_from(&from.lease_id);
        r.phone_number.clone_from(&from.phone_number);
        r.price = from.price;
        r.currency.clone_from(&from.currency);
    }
}

/// The idempotency key of a rental's lease and purchase debit.
pub fn saga_key(rental_id: &str) -> String {
    format!("rental:{rental_id}")
}

/// The answer a FAILED rental gives every retry of its purchase.
fn failure_of(r: &Rental) -> Failure {
    if let Some(violations) = Refusal::violations(&r.failure_reason, &r.failure_message) {
        return Failure::Invalid(violations);
    }
    let reason = if r.failure_reason.is_empty() {
        reason::INTERNAL_ERROR.to_owned()
    } else {
        r.failure_reason.clone()
    };
    Refusal::new(reason, r.failure_message.clone()).into()
}
