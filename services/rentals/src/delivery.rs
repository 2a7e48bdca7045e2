//! DeliverMessage: an SMS that reached a rented number.

use numhub_runtime::event_log::NewEvent;

use crate::Rentals;
use crate::error::{Failure, Refusal, in_progress, rentals_reason};
use crate::model::{Delivery, Message, Status};
use numhub_holding::{Holder as _, Store as _};

use crate::store::{self, RentalsTable};

impl Rentals {
    /// Stores the SMS with its code and wakes the rental's streams.
    /// Idempotent by the inbound id: a redelivery returns the stored
    /// message. Refused when the rental did not hold the number when the
    /// SMS arrived, or it is for one service and the SMS is from another.
    pub async fn deliver(&self, delivery: Delivery) -> Result<Message, Failure> {
        if let Some(stored) = self
            .delivered(&delivery.inbound_id, &delivery.holder_id)
            .await?
        {
            return Ok(stored);
        }
        // The account never changes, so it is read before taking its lock.
        let rental = RentalsTable::load(self.core.db.reader(), &delivery.holder_id)
            .await?
            .ok_or_else(|| Failure::not_found("rental", &delivery.holder_id))?;
        let account_id = rental.account_id;
        let extraction = numhub_otp::extract(
            &delivery.body,
            Some(delivery.sender.as_str()).filter(|s| !s.is_empty()),
        );
        let brand = extraction.brand.map(|b| b.code).unwrap_or_default();
        let now = self.core.clock.now();

        let mut tx = self.core.db.begin_write().await?;
        let seq = store::LOG.lock_account(&mut tx, &account_id, 1).await?;
        let mut r = RentalsTable::load(&mut *tx, &delivery.holder_id)
            .await?
            .ok_or_else(|| Failure::corrupt("a rental vanished"))?;
        if r.status == Status::Creating {
            return Err(in_progress());
        }
        // The SMS belongs to the rental only if it arrived while the rental
        // held the number: never one that came after a cancel or expiry.
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
        let message = Message {
            id: uuid::Uuid::now_v7().to_string(),
            holder_id: r.id.clone(),
            account_id: account_id.clone(),
            inbound_id: delivery.inbound_id.clone(),
            phone_number: r.phone_number.clone(),
            sender: delivery.sender.clone(),
            body: delivery.body.clone(),
            code: extraction.code.unwrap_or_default(),
            service_code: brand.to_owned(),
            received_at: delivery.received_at,
        };
        if !RentalsTable::MESSAGES
            .insert(&mut tx, &message, now)
            .await?
        {
            // A concurrent redelivery stored it first.
            drop(tx);
            return self
                .delivered(&delivery.inbound_id, &delivery.holder_id)
                .await?
                .ok_or_else(|| Failure::corrupt("a stored inbound id has no message"));
        }
        r.sms_count += 1;
        RentalsTable::update(&mut tx, &r, None).await?;
        let events = [NewEvent::message(&message.id)];
        store::LOG
            .commit(tx, self.core.hub(), &account_id, &r.id, seq, &events, now)
            .await?;
        Ok(message)
    }
}
