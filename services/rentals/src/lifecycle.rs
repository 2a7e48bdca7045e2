//! What happens to a rental after its purchase: auto-renew on or off,
//! cancel, expiry, and the settlement that follows each end.
//!
//! An end is two parts. First the status changes in one transaction, which
//! also records what the rental still owes (`settle`: a refund of
//! everything charged, the release of its number). Then that is settled
//! through the wallet and the catalog, each call idempotent by the rental's
//! id, and the debt is cleared. A crash in between leaves the debt recorded,
//! and the settlement worker pays it.

use numhub_holding::{Core, HeldId, Holder, Store as _};
use numhub_runtime::event_log::NewEvent;

use crate::Rentals;
use crate::error::{Failure, Refusal, in_progress, rentals_reason};
use crate::model::{Rental, Settle, Status};
use crate::store::{self, RentalsTable};

impl Rentals {
    /// Turns auto-renew on or off. Turning it on clears the last failure,
    /// so a due renewal is tried at the next pass.
    pub async fn set_auto_renew(
        &self,
        account_id: &str,
        id: &HeldId,
        on: bool,
    ) -> Result<Rental, Failure> {
        let (rental, _) = self
            .core
            .change(account_id, id, |r, now| {
                match r.status_at(now) {
                    Status::Active => {}
                    Status::Creating => return Err(in_progress()),
                    _ => return Err(ended(r, now)),
                }
                if r.auto_renew == on && (!on || r.auto_renew_failed_at.is_none()) {
                    return Ok(false);
                }
                r.auto_renew = on;
                if on {
                    r.auto_renew_failure.clear();
                    r.auto_renew_failed_at = None;
                }
                Ok(true)
            })
            .await?;
        Ok(rental)
    }

    /// Cancels an ACTIVE rental: CANCELLED, its number released, and
    /// everything charged refunded when the cancel is within the refund
    /// window after purchase and no SMS has arrived. A cancelled rental is
    /// returned as it is.
    pub async fn cancel(&self, account_id: &str, id: &HeldId) -> Result<Rental, Failure> {
        let window = self.settings.refund_window;
        let now = self.core.clock.now();
        let mut tx = self.core.db.begin_write().await?;
        let seq = store::LOG.lock_account(&mut tx, account_id, 1).await?;
        let mut rental = RentalsTable::find(&mut *tx, id)
            .await?
            .filter(|r| r.account_id == account_id)
            .ok_or_else(|| Failure::not_found("rental", id.to_string()))?;
        // The rental's UUID from here on, whichever id named it.
        let id = rental.id.clone();
        match rental.status_at(now) {
            Status::Cancelled => {
                drop(tx);
                return self.after_end(rental, false).await;
            }
            Status::Active => {}
            Status::Creating => return Err(in_progress()),
            _ => return Err(ended(&rental, now)),
        }
        // A renewal being charged would add to what a refund gives back.
        if store::renewal_in_flight(&mut *tx, &id).await?.is_some() {
            return Err(in_progress());
        }
        let age = now.unix_micros() - rental.created_at.unix_micros();
        let refund = age <= window.as_micros() as i64 && rental.sms_count == 0;
        rental.status = Status::Cancelled;
        rental.ended_at = Some(now);
        if refund {
            rental.settle = Settle::RefundAndRelease;
            // Owed from now on, and shown so: settlement pays it.
            rental.refunded = rental.total_charged;
        } else {
            rental.settle = Settle::Release;
        }
        RentalsTable::update(&mut tx, &rental, Some(self.core.claim_until(now))).await?;
        let event = [NewEvent::change(Status::Cancelled as i64)];
        store::LOG
            .commit(tx, self.core.hub(), account_id, &id, seq, &event, now)
            .await?;
        self.after_end(rental, true).await
    }

    /// Ends an ACTIVE rental whose time is up: EXPIRED, its number
    /// released into quarantine. A renewal being charged is finished first
    /// (by the renewal recovery), as it may still move the expiry.
    pub(crate) async fn expire(&self, id: &str) -> Result<bool, Failure> {
        let Some(stored) = RentalsTable::load(self.core.db.reader(), id).await? else {
            return Ok(false);
        };
        let now = self.core.clock.now();
        let mut tx = self.core.db.begin_write().await?;
        let seq = store::LOG
            .lock_account(&mut tx, &stored.account_id, 1)
            .await?;
        let Some(mut rental) = RentalsTable::load(&mut *tx, id).await? else {
            return Ok(false);
        };
        if rental.status != Status::Active
            || rental.expires_at > now
            || store::renewal_in_flight(&mut *tx, id).await?.is_some()
        {
            return Ok(false);
        }
        rental.status = Status::Expired;
        rental.ended_at = Some(rental.expires_at);
        rental.settle = Settle::Release;
        RentalsTable::update(&mut tx, &rental, Some(self.core.claim_until(now))).await?;
        let event = [NewEvent::change(Status::Expired as i64)];
        store::LOG
            .commit(
                tx,
                self.core.hub(),
                &rental.account_id,
                id,
                seq,
                &event,
                now,
            )
            .await?;
        self.settle(&rental).await?;
        Ok(true)
    }
}

impl Holder for Rentals {
    type Store = store::RentalsTable;

    fn core(&self) -> &Core<store::RentalsTable> {
        &self.core
    }

    /// Pays what an ended rental owes: the refunds of its purchase and of
    /// every renewal, then the release of its number, each idempotent; then
    /// clears the debt.
    async fn settle(&self, r: &Rental) -> Result<(), Failure> {
        if r.settle == Settle::Nothing {
            return Ok(());
        }
        let mut balance_after = r.refund_balance_after;
        if r.settle == Settle::RefundAndRelease {
            let mut debits = Vec::new();
            if let Some(debit) = &r.debit_id {
                debits.push((debit.clone(), format!("rental:{}:refund", r.id)));
            }
            for renewal in store::applied_renewals(self.core.db.writer(), &r.id).await? {
                if let Some(debit) = &renewal.debit_id {
                    debits.push((debit.clone(), format!("{}:refund", renewal.charge_key())));
                }
            }
            for (debit, key) in debits {
                let reason = format!("rental {} cancelled within the refund window", r.id);
                let refund = self.refund(&debit, key, reason).await?;
                balance_after = refund
                    .and_then(|t| t.balance_after)
                    .map(|m| m.minor_units)
                    .or(balance_after);
            }
        }
        if let Some(lease_id) = &r.lease_id {
            // A failed purchase never received an SMS: no quarantine.
            self.release(lease_id, r.status == Status::Failed).await?;
        }
        store::mark_settled(self.core.db.writer(), &r.id, r.settle, balance_after).await?;
        Ok(())
    }
}

/// The refusal for a rental that has ended.
fn ended(r: &Rental, now: numhub_runtime::clock::Timestamp) -> Failure {
    Refusal::new(
        rentals_reason::RENTAL_ENDED,
        format!("the rental has ended: {}", r.status_at(now).name()),
    )
    .into()
}
