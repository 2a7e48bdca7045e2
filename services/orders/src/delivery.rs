//! DeliverMessage: an SMS that reached an activation's number.

use std::time::Duration;

use numhub_proto::catalog::v1 as catalog_pb;
use numhub_runtime::event_log::NewEvent;

use crate::Orders;
use crate::error::{Failure, Refusal, in_progress, orders_reason};
use crate::model::{Delivery, Message, Status};
use numhub_holding::{Holder as _, Store as _};

use crate::store::{self, Activations};

/// The longest arrival time the catalog's statistics take.
const MAX_ARRIVAL: Duration = Duration::from_secs(24 * 3600);
/// The pause between attempts to report an arrival time.
const REPORT_RETRY_PAUSE: Duration = Duration::from_millis(200);

impl Orders {
    /// Stores the SMS with its code, makes the activation RECEIVED and wakes
    /// its streams. Idempotent by the inbound id: a redelivery returns the
    /// stored message.
    pub async fn deliver(&self, delivery: Delivery) -> Result<Message, Failure> {
        if let Some(stored) = self
            .delivered(&delivery.inbound_id, &delivery.holder_id)
            .await?
        {
            return Ok(stored);
        }
        // The account never changes, so it is read before taking its lock.
        let activation = Activations::load(self.core.db.reader(), &delivery.holder_id)
            .await?
            .ok_or_else(|| Failure::not_found("activation", &delivery.holder_id))?;
        let account_id = activation.account_id;
        let extraction = numhub_otp::extract(
            &delivery.body,
            Some(delivery.sender.as_str()).filter(|s| !s.is_empty()),
        );
        let now = self.core.clock.now();

        let mut tx = self.core.db.begin_write().await?;
        // A message and possibly a status change: two sequence numbers.
        let seq = store::LOG.lock_account(&mut tx, &account_id, 2).await?;
        let mut a = Activations::load(&mut *tx, &delivery.holder_id)
            .await?
            .ok_or_else(|| Failure::corrupt("an activation vanished"))?;
        match a.status {
            Status::Waiting | Status::Received if delivery.received_at < a.expires_at => {}
            Status::Creating => return Err(in_progress()),
            _ => {
                return Err(Refusal::new(
                    orders_reason::ACTIVATION_ENDED,
                    format!("the activation has ended: {}", a.status.name()),
                )
                .into());
            }
        }
        let message = Message {
            id: uuid::Uuid::now_v7().to_string(),
            holder_id: a.id.clone(),
            account_id: account_id.clone(),
            inbound_id: delivery.inbound_id.clone(),
            phone_number: a.phone_number.clone(),
            sender: delivery.sender.clone(),
            body: delivery.body.clone(),
            code: extraction.code.unwrap_or_default(),
            service_code: String::new(),
            received_at: delivery.received_at,
        };
        if !Activations::MESSAGES.insert(&mut tx, &message, now).await? {
            // A concurrent redelivery stored it first.
            drop(tx);
            return self
                .delivered(&delivery.inbound_id, &delivery.holder_id)
                .await?
                .ok_or_else(|| Failure::corrupt("a stored inbound id has no message"));
        }
        let first = a.sms_count == 0;
        let was = a.status;
        a.sms_count += 1;
        a.status = Status::Received;
        if !message.code.is_empty() {
            a.code = message.code.clone();
        }
        Activations::update(&mut tx, &a, Some(now)).await?;
        let mut events = vec![NewEvent::message(&message.id)];
        if was != Status::Received {
            events.push(NewEvent::change(Status::Received as i64));
        }
        store::LOG
            .commit(tx, self.core.hub(), &account_id, &a.id, seq, &events, now)
            .await?;

        if first {
            self.report_arrival(
                &a.service_code,
                &a.country_code,
                delivery
                    .received_at
                    .unix_micros()
                    .saturating_sub(a.created_at.unix_micros()),
            );
        }
        Ok(message)
    }

    /// Feeds the catalog's average arrival time, off the delivery's path:
    /// a statistic is not worth a customer's millisecond, and a lost one
    /// changes an average by a hundredth.
    fn report_arrival(&self, service: &str, country: &str, micros: i64) {
        let arrival = Duration::from_micros(micros.max(0) as u64).min(MAX_ARRIVAL);
        let request = catalog_pb::RecordArrivalRequest {
            service_code: service.to_owned(),
            country_code: country.to_owned(),
            arrival_time: prost_types::Duration::try_from(arrival).ok(),
        };
        let mut catalog = self.core.upstream.catalog.clone();
        // A plain task, not a worker: three bounded attempts, touching no
        // database here; a report cut short by shutdown is one lost sample.
        tokio::spawn(async move {
            for attempt in 0..3 {
                match catalog.record_arrival(request.clone()).await {
                    Ok(_) => return,
                    Err(status) if attempt == 2 => {
                        tracing::warn!(code = ?status.code(), "cannot record an arrival time");
                    }
                    Err(_) => tokio::time::sleep(REPORT_RETRY_PAUSE).await,
                }
            }
        });
    }
}
