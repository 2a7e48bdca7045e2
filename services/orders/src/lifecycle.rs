//! What happens to a bought activation: cancel, skip, complete, another
//! SMS, expiry, and the settlement that follows each end.
//!
//! An end is two parts. First the status changes in one transaction, which
//! also records what the activation still owes (`settle`: a refund, a
//! release, a ban). Then that is settled through the wallet and the catalog,
//! each call idempotent by the activation's id, and the debt is cleared. A
//! crash in between leaves the debt recorded, and the settlement worker pays
//! it: every activation's number is released and its money refunded or
//! kept exactly once.

use numhub_holding::{Core, HeldId, Holder};
use numhub_proto::catalog::v1 as catalog_pb;

use crate::error::{Failure, Refusal, in_progress, orders_reason};
use crate::model::{Activation, Settle, Status};
use crate::{Orders, store};

/// How a customer ends an activation before any SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abandon {
    Cancel,
    Skip,
}

impl Orders {
    /// Cancels (or skips) an activation that received no SMS, with a full
    /// refund; a skip also bans the number for the account.
    pub async fn abandon(
        &self,
        account_id: &str,
        id: &HeldId,
        how: Abandon,
    ) -> Result<Activation, Failure> {
        let min_age = self.settings.min_cancel_age;
        let (target, settle) = match how {
            Abandon::Cancel => (Status::Cancelled, Settle::RefundAndRelease),
            Abandon::Skip => (Status::Skipped, Settle::RefundReleaseAndBan),
        };
        let (activation, changed) = self
            .core
            .change(account_id, id, |a, now| {
                if a.status == target {
                    return Ok(false);
                }
                if a.sms_count > 0 && !a.status.is_terminal() {
                    return Err(Refusal::new(
                        orders_reason::SMS_ALREADY_RECEIVED,
                        "an SMS has arrived: complete the activation instead",
                    )
                    .into());
                }
                match a.status {
                    Status::Waiting => {}
                    Status::Creating => return Err(in_progress()),
                    _ => return Err(ended(a)),
                }
                let age = now.unix_micros() - a.created_at.unix_micros();
                let min_micros = min_age.as_micros() as i64;
                if age < min_micros {
                    let wait_seconds = (min_micros - age + 999_999) / 1_000_000;
                    return Err(Refusal::new(
                        orders_reason::EARLY_CANCEL_DENIED,
                        format!("an activation can be cancelled {min_age:?} after purchase"),
                    )
                    .with("retry_after_seconds", wait_seconds)
                    .into());
                }
                a.status = target;
                a.ended_at = Some(now);
                a.settle = settle;
                // Owed from now on, and shown so: settlement pays it.
                a.refunded = a.price;
                Ok(true)
            })
            .await?;
        self.after_end(activation, changed).await
    }

    /// Completes an activation that received an SMS: FINISHED, the price
    /// kept, the number released.
    pub async fn complete(&self, account_id: &str, id: &HeldId) -> Result<Activation, Failure> {
        let (activation, changed) = self
            .core
            .change(account_id, id, |a, now| {
                match a.status {
                    Status::Finished => return Ok(false),
                    Status::Waiting | Status::Received if a.sms_count > 0 => {}
                    Status::Waiting => {
                        return Err(Refusal::new(
                            orders_reason::NO_SMS_RECEIVED,
                            "no SMS has arrived: cancel the activation instead",
                        )
                        .into());
                    }
                    Status::Creating => return Err(in_progress()),
                    _ => return Err(ended(a)),
                }
                a.status = Status::Finished;
                a.ended_at = Some(now);
                a.settle = Settle::Release;
                Ok(true)
            })
            .await?;
        self.after_end(activation, changed).await
    }

    /// RECEIVED back to WAITING, for the next SMS.
    pub async fn request_another_sms(
        &self,
        account_id: &str,
        id: &HeldId,
    ) -> Result<Activation, Failure> {
        let (activation, _) = self
            .core
            .change(account_id, id, |a, _| match a.status {
                Status::Waiting => Ok(false),
                Status::Received => {
                    a.status = Status::Waiting;
                    Ok(true)
                }
                Status::Creating => Err(in_progress()),
                _ => Err(ended(a)),
            })
            .await?;
        Ok(activation)
    }

    /// Ends an open activation whose time is up: EXPIRED with a refund when
    /// no SMS arrived, FINISHED without one otherwise.
    pub(crate) async fn expire(&self, account_id: &str, id: &str) -> Result<(), Failure> {
        let id = HeldId::Uuid(id.to_owned());
        let (activation, changed) = self
            .core
            .change(account_id, &id, |a, now| {
                if !matches!(a.status, Status::Waiting | Status::Received) || a.expires_at > now {
                    return Ok(false);
                }
                if a.sms_count > 0 {
                    a.status = Status::Finished;
                    a.settle = Settle::Release;
                } else {
                    a.status = Status::Expired;
                    a.settle = Settle::RefundAndRelease;
                    a.refunded = a.price;
                }
                a.ended_at = Some(now);
                Ok(true)
            })
            .await?;
        if changed {
            self.settle(&activation).await?;
        }
        Ok(())
    }
}

impl Holder for Orders {
    type Store = store::Activations;

    fn core(&self) -> &Core<store::Activations> {
        &self.core
    }

    /// Pays what an ended activation owes: the refund, the ban, the
    /// release, each idempotent, then clears the debt.
    async fn settle(&self, a: &Activation) -> Result<(), Failure> {
        if a.settle == Settle::Nothing {
            return Ok(());
        }
        let mut refunded = a.refunded;
        if a.settle.refunds()
            && let Some(debit_id) = &a.debit_id
        {
            let key = format!("activation:{}:refund", a.id);
            let reason = format!("activation {} {}", a.id, a.status.name().to_lowercase());
            let refund = self.refund(debit_id, key, reason).await?;
            refunded = refund.map_or(a.price, |t| t.amount.map_or(a.price, |m| m.minor_units));
        }
        if a.settle == Settle::RefundReleaseAndBan {
            let request = catalog_pb::MarkSkippedRequest {
                account_id: a.account_id.clone(),
                phone_number: a.phone_number.clone(),
            };
            self.core
                .upstream
                .catalog
                .clone()
                .mark_skipped(request)
                .await
                .map_err(|status| Failure::from_upstream("catalog", &status, &[]))?;
        }
        if let Some(lease_id) = &a.lease_id {
            // A failed purchase was never paid for nor shown.
            self.release(lease_id, a.status == Status::Failed).await?;
        }
        store::mark_settled(self.core.db.writer(), &a.id, a.settle, refunded).await?;
        Ok(())
    }

    fn lease_refused(&self, activation: &Activation, failure: Failure) -> Failure {
        crate::saga::lease_refused(activation, failure)
    }
}

/// The refusal for an activation that has already ended.
fn ended(a: &Activation) -> Failure {
    Refusal::new(
        orders_reason::ACTIVATION_ENDED,
        format!("the activation has ended: {}", a.status.name()),
    )
    .into()
}
