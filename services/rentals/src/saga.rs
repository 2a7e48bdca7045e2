//! Renting a number: the shared purchase saga
//! ([`numhub_holding::purchase`]) over the catalog and the wallet, keyed
//! `rental:<id>`.

use numhub_holding::Store as _;
use numhub_holding::purchase;
use numhub_proto::common::v1::Money;

use crate::Rentals;
use crate::error::Failure;
use crate::model::{Purchase, Rental, Settle, Status};
use crate::store::{self, RentalsTable};

pub use crate::model::Step;

pub use numhub_holding::purchase::Charge;

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
        let now = self.core.clock.now();
        let mut rental = Rental {
            id: uuid::Uuid::now_v7().to_string(),
            numeric_id: 0,
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
        let claim = self.core.claim_until(now);
        let backend = self.core.db.backend();
        if let Some(numeric_id) =
            store::insert_rental(self.core.db.writer(), backend, &rental, claim).await?
        {
            rental.numeric_id = numeric_id;
            return Ok(rental);
        }
        let existing = RentalsTable::by_request(
            self.core.db.writer(),
            &purchase.account_id,
            &purchase.request_id,
        )
        .await?
        .ok_or_else(|| Failure::corrupt("a taken request id has no rental"))?;
        purchase::replay(existing, &fingerprint, &purchase.request_id)
    }

    /// Runs the saga from wherever the rental is; idempotent.
    pub(crate) async fn drive(&self, rental: Rental) -> Result<Rental, Failure> {
        purchase::drive(self, rental).await
    }

    /// Charges `amount` of the rental's currency under the wallet's
    /// idempotency key `key` (a replay when it was already charged).
    pub(crate) async fn charge(
        &self,
        r: &Rental,
        amount: i64,
        key: &str,
    ) -> Result<Charge, Failure> {
        let amount = Money {
            currency_code: r.currency.clone(),
            minor_units: amount,
        };
        purchase::debit(&self.core.upstream.wallet, r, amount, key).await
    }

    /// Drives a purchase left CREATING (the recovery worker).
    pub(crate) async fn recover(&self, id: &str) -> Result<(), Failure> {
        purchase::recover(self, id).await
    }
}
