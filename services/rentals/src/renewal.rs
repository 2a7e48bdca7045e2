//! Renewals: a charge at the package's current price that adds its
//! duration to the current expiry, asked by the customer or made by
//! auto-renew shortly before the expiry.
//!
//! A renewal is a row first (CHARGING, at most one per rental, inserted
//! under the account's lock with the price, the expiry it extends and the
//! one it makes), then a debit keyed by the rental and the row, then the
//! catalog's Extend of the lease, then the rental's new expiry, in one
//! transaction with the row becoming APPLIED. Each step is idempotent, so
//! the request, its retry or the recovery worker of any replica may drive a
//! row again. A refusal of the debit leaves the row REFUSED, with nothing
//! charged; so does a customer's price limit below the package's price,
//! checked when the row is inserted (the row is REFUSED from the start, so
//! a retry gets the same answer). A lease that can no longer be extended
//! (the rental ended meanwhile) gets the charge refunded, and the row is
//! REFUNDED.
//!
//! Auto-renew keys its rows "auto:<period>:<attempt>": the period a charge
//! buys and the attempt at it. An attempt is made only when the previous
//! one is over, and only while the rental's expiry has not moved, so each
//! period is charged at most once however many replicas race.

use numhub_holding::{HeldId, Holder as _, Store as _};
use numhub_proto::catalog::v1 as catalog_pb;
use numhub_runtime::clock::Timestamp;
use numhub_runtime::error::Violation;
use numhub_runtime::event_log::NewEvent;
use numhub_runtime::rental::RentalDuration;

use crate::Rentals;
use crate::error::{Failure, Refusal, in_progress, rentals_reason};
use crate::model::{self, Renewal, RenewalState, Rental, Status};
use crate::saga::{Charge, Step};
use crate::store::{self, RentalsTable};

/// What one auto-renew attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoRenewal {
    /// Charged and applied.
    Renewed,
    /// Refused (a short balance): recorded on the rental, tried again later.
    Refused,
    /// Not due any more, or another driver is at it.
    Skipped,
}

impl Rentals {
    /// Renews a rental of the account with `duration` (its renewal package
    /// when `None`) for at most `max_price` (units, and the currency it was
    /// named in if it was), or replays the renewal of an earlier request
    /// with the same id. Returns the rental and the renewal.
    pub async fn renew(
        &self,
        account_id: &str,
        id: &HeldId,
        duration: Option<RentalDuration>,
        max_price: Option<(i64, Option<String>)>,
        request_id: &str,
    ) -> Result<(Rental, Renewal), Failure> {
        let rental = self.get(account_id, id).await?;
        // The rental's UUID from here on, whichever id named it.
        let id = rental.id.as_str();
        let max_price = max_price.map(|(units, currency)| (units, currency.unwrap_or_default()));
        // What was asked, not what it resolved to: a retry of "the renewal
        // package" stays the same request after another renewal changed it.
        let fingerprint = model::renewal_fingerprint(duration, max_price.as_ref());
        let duration = duration.unwrap_or(rental.renewal_duration);
        let key = format!("request:{request_id}");
        let renewal = match store::renewal_by_key(self.core.db.writer(), id, &key).await? {
            Some(existing) => existing,
            None => {
                ensure_renewable(&rental, self.core.clock.now())?;
                let limit = limit_in_currency_of(&rental, max_price.as_ref())?;
                let quote = self.quote(&rental, duration).await?;
                let started = self
                    .begin_renewal(&rental, &key, &fingerprint, duration, quote, limit)
                    .await?;
                match started {
                    Some(renewal) => renewal,
                    // A concurrent retry inserted it first.
                    None => store::renewal_by_key(self.core.db.writer(), id, &key)
                        .await?
                        .ok_or_else(|| Failure::corrupt("a taken renewal key vanished"))?,
                }
            }
        };
        if renewal.fingerprint != fingerprint {
            return Err(Failure::key_reused(request_id));
        }
        let renewal = self.drive_renewal(renewal).await?;
        let rental = self.get(account_id, &HeldId::of(&rental)).await?;
        Ok((rental, renewal))
    }

    /// One auto-renew attempt for a rental whose claim this worker holds.
    pub(crate) async fn auto_renew(&self, id: &str) -> Result<AutoRenewal, Failure> {
        let Some(rental) = RentalsTable::load(self.core.db.writer(), id).await? else {
            return Ok(AutoRenewal::Skipped);
        };
        let now = self.core.clock.now();
        if !self.auto_renew_due(&rental, now) {
            return Ok(AutoRenewal::Skipped);
        }
        let duration = rental.renewal_duration;
        let quote = match self.quote(&rental, duration).await {
            Ok(quote) => quote,
            Err(Failure::Refused(refusal)) => {
                self.record_auto_failure(&rental, &refusal).await?;
                return Ok(AutoRenewal::Refused);
            }
            Err(error) => return Err(error),
        };
        let period = rental.renewals + 2;
        let Some(renewal) = self
            .begin_auto_renewal(&rental, period, duration, quote)
            .await?
        else {
            return Ok(AutoRenewal::Skipped);
        };
        match self.drive_renewal(renewal).await {
            Ok(r) if r.state == RenewalState::Applied => Ok(AutoRenewal::Renewed),
            Ok(_) | Err(Failure::Refused(_)) => Ok(AutoRenewal::Refused),
            Err(error) => Err(error),
        }
    }

    /// Whether auto-renew should charge the rental now: on, ACTIVE, within
    /// the lead before its expiry (at most half the renewal package), and
    /// past the pause after a failed attempt.
    fn auto_renew_due(&self, r: &Rental, now: Timestamp) -> bool {
        if !r.auto_renew || !r.is_active_at(now) {
            return false;
        }
        let package =
            r.renewal_duration.end(r.expires_at).unix_micros() - r.expires_at.unix_micros();
        let lead = (self.settings.renew_before.as_micros() as i64).min(package / 2);
        if now.unix_micros() < r.expires_at.unix_micros() - lead {
            return false;
        }
        r.auto_renew_failed_at
            .is_none_or(|failed| now >= failed.plus(self.settings.renew_retry))
    }

    /// The current price of a package for the rental's number.
    async fn quote(&self, r: &Rental, duration: RentalDuration) -> Result<(i64, String), Failure> {
        let request = catalog_pb::QuoteRentalRequest {
            country_code: r.country_code.clone(),
            number_type: r.number_type as i32,
            service_code: r.service_code.clone(),
            duration: duration as i32,
        };
        let plan = self
            .core
            .upstream
            .catalog
            .clone()
            .quote_rental(request)
            .await
            .map_err(|status| Failure::from_upstream("catalog", &status, &[]))?
            .into_inner();
        let price = plan
            .price
            .ok_or_else(|| Failure::corrupt("a rental plan without a price"))?;
        if price.currency_code != r.currency {
            return Err(Failure::corrupt(format!(
                "the catalog prices in {} but the rental was paid in {}",
                price.currency_code, r.currency
            )));
        }
        Ok((price.minor_units, price.currency_code))
    }

    /// Inserts a customer's renewal as CHARGING under the account's lock,
    /// or as REFUSED when its price is above `max_price`; `None` when a
    /// concurrent request with the same key was first.
    async fn begin_renewal(
        &self,
        rental: &Rental,
        key: &str,
        fingerprint: &str,
        duration: RentalDuration,
        (price, currency): (i64, String),
        max_price: Option<i64>,
    ) -> Result<Option<Renewal>, Failure> {
        let now = self.core.clock.now();
        let mut tx = self.core.db.begin_write().await?;
        store::LOG
            .lock_account(&mut tx, &rental.account_id, 0)
            .await?;
        let current = RentalsTable::load(&mut *tx, &rental.id)
            .await?
            .ok_or_else(|| Failure::corrupt("a rental vanished"))?;
        if let Some(existing) = store::renewal_by_key(&mut *tx, &rental.id, key).await? {
            return Ok(Some(existing));
        }
        ensure_renewable(&current, now)?;
        let mut renewal = new_renewal(&current, key, fingerprint, duration, (price, currency), now);
        if let Some(refusal) = above_limit(price, max_price) {
            // Refused before anything is charged: nothing to wait for.
            renewal.state = RenewalState::Refused;
            renewal.failure_reason = refusal.reason;
            renewal.failure_message = refusal.message;
        } else if store::renewal_in_flight(&mut *tx, &rental.id)
            .await?
            .is_some()
        {
            return Err(in_progress());
        }
        let inserted = store::insert_renewal(&mut tx, &renewal, self.core.claim_until(now)).await?;
        tx.commit().await?;
        Ok(inserted.then_some(renewal))
    }

    /// Inserts the next auto-renew attempt for `period` under the
    /// account's lock, if the rental is still due and nothing else is
    /// renewing it; `None` otherwise.
    async fn begin_auto_renewal(
        &self,
        rental: &Rental,
        period: i64,
        duration: RentalDuration,
        quote: (i64, String),
    ) -> Result<Option<Renewal>, Failure> {
        let now = self.core.clock.now();
        let mut tx = self.core.db.begin_write().await?;
        store::LOG
            .lock_account(&mut tx, &rental.account_id, 0)
            .await?;
        let Some(current) = RentalsTable::load(&mut *tx, &rental.id).await? else {
            return Ok(None);
        };
        // Anything that moved since the quote (a renewal, a new package, a
        // failure) is left for the next pass to look at afresh.
        if current.renewals + 2 != period
            || current.renewal_duration != duration
            || current.auto_renew_failed_at != rental.auto_renew_failed_at
            || !self.auto_renew_due(&current, now)
            || store::renewal_in_flight(&mut *tx, &rental.id)
                .await?
                .is_some()
        {
            return Ok(None);
        }
        let attempt = store::attempts(&mut tx, &rental.id, period).await? + 1;
        let key = format!("auto:{period}:{attempt}");
        let fingerprint = (duration as i64).to_string();
        let renewal = new_renewal(&current, &key, &fingerprint, duration, quote, now);
        let inserted = store::insert_renewal(&mut tx, &renewal, self.core.claim_until(now)).await?;
        tx.commit().await?;
        Ok(inserted.then_some(renewal))
    }

    /// Drives a renewal from wherever it is to its end; idempotent.
    pub(crate) async fn drive_renewal(&self, renewal: Renewal) -> Result<Renewal, Failure> {
        match renewal.state {
            RenewalState::Charging => {}
            RenewalState::Applied => return Ok(renewal),
            RenewalState::Refunding => return self.pay_back(&renewal).await,
            RenewalState::Refused | RenewalState::Refunded => {
                return Err(Refusal::new(
                    renewal.failure_reason.clone(),
                    renewal.failure_message.clone(),
                )
                .into());
            }
        }
        let rental = RentalsTable::load(self.core.db.writer(), &renewal.rental_id)
            .await?
            .ok_or_else(|| Failure::corrupt("a renewal of a missing rental"))?;
        // No time check here: a renewal begun in time may already be
        // charged (a crash after the debit), and only the replay of the
        // debit can tell. Charged too late, the Extend below fails and the
        // charge goes back.
        let charge = match self
            .charge(&rental, renewal.price, &renewal.charge_key())
            .await
        {
            Ok(charge) => charge,
            Err(Failure::Refused(refusal)) => {
                self.end_renewal(
                    &renewal,
                    RenewalState::Charging,
                    RenewalState::Refused,
                    &refusal,
                )
                .await?;
                return Err(refusal.into());
            }
            Err(error) => return Err(error),
        };
        self.core.crash_point(Step::RenewalAfterCharge as u8)?;
        let lease_id = rental
            .lease_id
            .clone()
            .ok_or_else(|| Failure::corrupt("an active rental without a lease"))?;
        let extend = catalog_pb::ExtendRequest {
            lease_id,
            expire_time: Some(renewal.to_expiry.to_proto()),
        };
        if let Err(status) = self.core.upstream.catalog.clone().extend(extend).await {
            return match Failure::from_upstream("catalog", &status, &[]) {
                // The lease ended meanwhile: the charge goes back.
                Failure::Refused(_) => self.give_back(&renewal, &charge).await,
                failure => Err(failure),
            };
        }
        self.core.crash_point(Step::RenewalAfterExtend as u8)?;
        self.apply_renewal(&renewal, &charge).await
    }

    /// Moves the rental's expiry and marks the renewal APPLIED, in one
    /// transaction; gives the charge back instead when the rental ended
    /// meanwhile. Another driver may have ended the renewal first (a
    /// request and the recovery worker): its end stands.
    async fn apply_renewal(&self, renewal: &Renewal, charge: &Charge) -> Result<Renewal, Failure> {
        let now = self.core.clock.now();
        let mut tx = self.core.db.begin_write().await?;
        let seq = store::LOG
            .lock_account(&mut tx, &renewal.account_id, 1)
            .await?;
        let still_charging = store::renewal(&mut *tx, &renewal.id)
            .await?
            .is_some_and(|r| r.state == RenewalState::Charging);
        if !still_charging {
            drop(tx);
            return self.stored_renewal(&renewal.id).await;
        }
        let mut rental = RentalsTable::load(&mut *tx, &renewal.rental_id)
            .await?
            .ok_or_else(|| Failure::corrupt("a renewal of a missing rental"))?;
        if rental.status != Status::Active || rental.expires_at != renewal.from_expiry {
            drop(tx);
            return self.give_back(renewal, charge).await;
        }
        let applied = Renewal {
            state: RenewalState::Applied,
            debit_id: Some(charge.debit_id.clone()),
            balance_after: charge.balance_after,
            ..renewal.clone()
        };
        if !store::finish_renewal(
            &mut tx,
            &applied,
            RenewalState::Charging,
            RenewalState::Applied,
        )
        .await?
        {
            // Another driver ended it first.
            drop(tx);
            return self.stored_renewal(&renewal.id).await;
        }
        rental.expires_at = renewal.to_expiry;
        rental.renewal_duration = renewal.duration;
        rental.renewals += 1;
        rental.total_charged += renewal.price;
        rental.auto_renew_failure.clear();
        rental.auto_renew_failed_at = None;
        RentalsTable::update(&mut tx, &rental, None).await?;
        let event = [NewEvent::change(rental.status as i64)];
        store::LOG
            .commit(
                tx,
                self.core.hub(),
                &rental.account_id,
                &rental.id,
                seq,
                &event,
                now,
            )
            .await?;
        Ok(applied)
    }

    /// A charged renewal the rental cannot take (it ended meanwhile): the
    /// renewal becomes REFUNDING with its debit, if it is still CHARGING,
    /// and the charge is paid back. Answers NUMBER_EXPIRED. A crash after
    /// the mark leaves the refund to the recovery worker.
    async fn give_back(&self, renewal: &Renewal, charge: &Charge) -> Result<Renewal, Failure> {
        let refusal = expired_refusal();
        let owed = Renewal {
            debit_id: Some(charge.debit_id.clone()),
            balance_after: charge.balance_after,
            failure_reason: refusal.reason.clone(),
            failure_message: refusal.message.clone(),
            ..renewal.clone()
        };
        let mut tx = self.core.db.begin_write().await?;
        store::LOG
            .lock_account(&mut tx, &renewal.account_id, 0)
            .await?;
        let marked = store::finish_renewal(
            &mut tx,
            &owed,
            RenewalState::Charging,
            RenewalState::Refunding,
        )
        .await?;
        tx.commit().await?;
        if !marked {
            // Another driver ended it first: its end stands.
            return self.stored_renewal(&renewal.id).await;
        }
        self.pay_back(&owed).await
    }

    /// Pays back a REFUNDING renewal's charge (idempotent by its key) and
    /// ends it REFUNDED; answers its refusal.
    async fn pay_back(&self, owed: &Renewal) -> Result<Renewal, Failure> {
        let debit = owed
            .debit_id
            .clone()
            .ok_or_else(|| Failure::corrupt("a refund owed without its debit"))?;
        let key = format!("{}:refund", owed.charge_key());
        let reason = format!("renewal of rental {} could not be applied", owed.rental_id);
        self.refund(&debit, key, reason).await?;
        let refusal = Refusal::new(owed.failure_reason.clone(), owed.failure_message.clone());
        self.end_renewal(
            owed,
            RenewalState::Refunding,
            RenewalState::Refunded,
            &refusal,
        )
        .await?;
        Err(refusal.into())
    }

    /// Ends a renewal (REFUSED from CHARGING, REFUNDED from REFUNDING) with
    /// `refusal`; an auto-renew's failure is also recorded on the rental,
    /// for the customer and the retry pause.
    async fn end_renewal(
        &self,
        renewal: &Renewal,
        from: RenewalState,
        to: RenewalState,
        refusal: &Refusal,
    ) -> Result<(), Failure> {
        let ended = Renewal {
            failure_reason: refusal.reason.clone(),
            failure_message: refusal.message.clone(),
            ..renewal.clone()
        };
        let mut tx = self.core.db.begin_write().await?;
        store::LOG
            .lock_account(&mut tx, &renewal.account_id, 0)
            .await?;
        let finished = store::finish_renewal(&mut tx, &ended, from, to).await?;
        tx.commit().await?;
        if finished && renewal.key.starts_with("auto:") {
            let rental = RentalsTable::load(self.core.db.writer(), &renewal.rental_id)
                .await?
                .ok_or_else(|| Failure::corrupt("a renewal of a missing rental"))?;
            self.record_auto_failure(&rental, refusal).await?;
        }
        Ok(())
    }

    /// Records why auto-renew failed, and when, so the next attempt waits
    /// for the retry pause; the customer sees it on the rental.
    async fn record_auto_failure(&self, rental: &Rental, refusal: &Refusal) -> Result<(), Failure> {
        let failure = refusal.reason.clone();
        self.core
            .change(&rental.account_id, &HeldId::of(rental), |r, now| {
                if r.status != Status::Active {
                    return Ok(false);
                }
                r.auto_renew_failure = failure;
                r.auto_renew_failed_at = Some(now);
                Ok(true)
            })
            .await?;
        tracing::info!(rental = %rental.id, reason = %refusal.reason, "auto-renew failed; will retry until the expiry");
        Ok(())
    }

    async fn stored_renewal(&self, id: &str) -> Result<Renewal, Failure> {
        let renewal = store::renewal(self.core.db.writer(), id)
            .await?
            .ok_or_else(|| Failure::corrupt("a renewal vanished"))?;
        match renewal.state {
            RenewalState::Applied | RenewalState::Charging => Ok(renewal),
            _ => Err(Refusal::new(renewal.failure_reason, renewal.failure_message).into()),
        }
    }

    /// Drives a renewal left CHARGING, or pays back one left REFUNDING (the
    /// recovery worker).
    pub(crate) async fn recover_renewal(&self, id: &str) -> Result<(), Failure> {
        let Some(renewal) = store::renewal(self.core.db.writer(), id).await? else {
            return Ok(());
        };
        match self.drive_renewal(renewal).await {
            Ok(_) | Err(Failure::Refused(_)) => Ok(()),
            Err(error) => Err(error),
        }
    }
}

/// A renewal is possible only while the rental is ACTIVE and unexpired.
fn ensure_renewable(r: &Rental, now: Timestamp) -> Result<(), Failure> {
    match r.status_at(now) {
        Status::Active => Ok(()),
        Status::Creating => Err(in_progress()),
        _ => Err(expired_refusal().into()),
    }
}

/// The customer's limit in the rental's currency (the catalog's, which
/// every renewal is charged in); one named in another is the client's
/// mistake.
fn limit_in_currency_of(
    r: &Rental,
    max_price: Option<&(i64, String)>,
) -> Result<Option<i64>, Failure> {
    match max_price {
        None => Ok(None),
        Some((_, currency)) if !currency.is_empty() && *currency != r.currency => {
            Err(Failure::Invalid(vec![Violation::new(
                "max_price",
                format!(
                    "currency_code must be {}, the rental's currency",
                    r.currency
                ),
            )]))
        }
        Some((units, _)) => Ok(Some(*units)),
    }
}

/// The refusal of a renewal whose price is above the customer's limit.
fn above_limit(price: i64, max_price: Option<i64>) -> Option<Refusal> {
    max_price.filter(|max| price > *max).map(|_| {
        Refusal::new(
            rentals_reason::PRICE_ABOVE_MAX,
            "the package's current price is above max_price",
        )
    })
}

fn expired_refusal() -> Refusal {
    Refusal::new(
        rentals_reason::NUMBER_EXPIRED,
        "the rental has ended and cannot be renewed",
    )
}

fn new_renewal(
    rental: &Rental,
    key: &str,
    fingerprint: &str,
    duration: RentalDuration,
    (price, currency): (i64, String),
    now: Timestamp,
) -> Renewal {
    Renewal {
        id: uuid::Uuid::now_v7().to_string(),
        rental_id: rental.id.clone(),
        account_id: rental.account_id.clone(),
        key: key.to_owned(),
        fingerprint: fingerprint.to_owned(),
        period: rental.renewals + 2,
        duration,
        price,
        currency,
        from_expiry: rental.expires_at,
        to_expiry: duration.end(rental.expires_at),
        state: RenewalState::Charging,
        debit_id: None,
        balance_after: None,
        failure_reason: String::new(),
        failure_message: String::new(),
        created_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_refuses_only_a_dearer_price() {
        assert!(above_limit(500, None).is_none());
        assert!(above_limit(500, Some(500)).is_none());
        let refusal = above_limit(501, Some(500)).unwrap();
        assert_eq!(refusal.reason, "PRICE_ABOVE_MAX");
    }
}
