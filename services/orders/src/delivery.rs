//! DeliverMessage: an SMS that reached an activation's number.

use std::time::Duration;

use numhub_holding::Holder as _;
use numhub_proto::catalog::v1 as catalog_pb;

use crate::Orders;
use crate::error::{Failure, Refusal, in_progress, orders_reason};
use crate::model::{Delivery, Message, Status};

/// The longest arrival time the catalog's statistics take.
const MAX_ARRIVAL: Duration = Duration::from_secs(24 * 3600);
/// The pause between attempts to report an arrival time.
const REPORT_RETRY_PAUSE: Duration = Duration::from_millis(200);

impl Orders {
    /// Stores the SMS with its code, makes the activation RECEIVED and wakes
    /// its streams. Idempotent by the inbound id: a redelivery returns the
    /// stored message.
    pub async fn deliver(&self, delivery: Delivery) -> Result<Message, Failure> {
        let (message, activation) = self
            .store_delivery(&delivery, |a, delivery, extraction| {
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
                let was = a.status;
                a.sms_count += 1;
                a.status = Status::Received;
                if let Some(code) = extraction.code.as_ref().filter(|c| !c.is_empty()) {
                    a.code.clone_from(code);
                }
                Ok(was != Status::Received)
            })
            .await?;
        if let Some(a) = activation.filter(|a| a.sms_count == 1) {
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
