//! DeliverMessage: an SMS that reached a rented number.

use numhub_holding::Holder as _;

use crate::Rentals;
use crate::error::{Failure, Refusal, in_progress, rentals_reason};
use crate::model::{Delivery, Message, Status};

impl Rentals {
    /// Stores the SMS with its code and wakes the rental's streams.
    /// Idempotent by the inbound id: a redelivery returns the stored
    /// message. Refused when the rental did not hold the number when the
    /// SMS arrived, or it is for one service and the SMS is from another.
    pub async fn deliver(&self, delivery: Delivery) -> Result<Message, Failure> {
        let (message, _) = self
            .store_delivery(&delivery, |r, delivery, extraction| {
                if r.status == Status::Creating {
                    return Err(in_progress());
                }
                // The SMS belongs to the rental only if it arrived while the
                // rental held the number: never one that came after a cancel
                // or expiry.
                if r.lease_id.is_none()
                    || r.status == Status::Failed
                    || delivery.received_at < r.created_at
                    || delivery.received_at >= r.holds_until()
                {
                    return Err(Refusal::new(
                        rentals_reason::RENTAL_ENDED,
                        format!(
                            "the rental did not hold the number when the SMS arrived ({})",
                            r.status.name()
                        ),
                    )
                    .into());
                }
                let brand = extraction.brand.as_ref().map_or("", |b| b.code);
                if !r.service_code.is_empty() && r.service_code != brand {
                    return Err(Refusal::new(
                        rentals_reason::OTHER_SERVICE,
                        format!(
                            "the rental receives only {} SMS; this one is not recognisably from it",
                            r.service_code
                        ),
                    )
                    .into());
                }
                r.sms_count += 1;
                Ok(false)
            })
            .await?;
        Ok(message)
    }
}
