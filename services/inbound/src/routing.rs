//! The routing worker: each PENDING message goes to whoever held its number
//! at the instant it arrived (catalog Resolve, the lease history), through
//! that holder's DeliverMessage, which is idempotent by the message's id.
//!
//! A message is claimed (`claimed_until`) before it is routed, so replicas
//! sharing a database never route one message at once; and should a worker
//! die half-way, the claim lapses and the message is routed again, which
//! the holder's idempotency makes harmless. A service that is down leaves
//! the message PENDING, tried again after a pause that doubles up to
//! `NUMHUB_INBOUND_MAX_BACKOFF`: nothing is lost or dropped.

use std::time::Duration;

use numhub_proto::catalog::v1 as catalog_pb;
use numhub_proto::orders::v1 as orders_pb;
use numhub_proto::rentals::v1 as rentals_pb;
use numhub_runtime::workers::{CancellationToken, Workers};
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::Inbound;
use crate::error::Error;
use crate::store::{self, Message, State};

/// Messages routed per pass of the worker.
const PASS: i64 = 100;
/// How long a worker owns a message it routes.
const CLAIM: Duration = Duration::from_secs(30);
/// The first pause after a failed attempt.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// Why a message stays unrouted (its `unrouted_reason`).
pub mod unrouted_reason {
    pub const NO_HOLDER: &str = "NO_HOLDER";
    pub const HOLDER_ENDED: &str = "HOLDER_ENDED";
    pub const HOLDER_UNKNOWN: &str = "HOLDER_UNKNOWN";
    /// A rental for one service, and an SMS not recognisably from it.
    pub const OTHER_SERVICE: &str = "OTHER_SERVICE";
}

/// What routing one message came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Routed(String),
    Unrouted(&'static str),
    /// A service was unreachable or busy: try again later.
    Retry(String),
}

/// What a pass of the worker did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub routed: usize,
    pub unrouted: usize,
    pub retried: usize,
}

impl Inbound {
    /// Starts routing: what this process stores is routed at once, and the
    /// worker (under `workers`) looks every `NUMHUB_INBOUND_ROUTE_INTERVAL`
    /// for the rest (other replicas' messages, retries that fell due,
    /// RouteAgain).
    pub fn start_workers(&self, workers: &Workers) {
        self.route_at_once
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let inbound = self.clone();
        let interval = self.settings.route_interval.max(Duration::from_millis(10));
        workers.spawn("inbound routing", move |stop: CancellationToken| {
            let inbound = inbound.clone();
            async move {
                loop {
                    inbound.route_due().await?;
                    tokio::select! {
                        () = stop.cancelled() => return Ok::<_, Error>(()),
                        _ = tokio::time::timeout(interval, inbound.arrived.notified()) => {}
                    }
                }
            }
        });
    }

    /// Routes every message due now, a pass at a time, until none is left.
    pub async fn route_due(&self) -> Result<Pass, Error> {
        let mut total = Pass::default();
        loop {
            let now = self.clock.now();
            let due = store::due(self.db.reader(), now, PASS).await?;
            if due.is_empty() {
                return Ok(total);
            }
            let claimed = store::claim_each(self.db.writer(), due, now, now.plus(CLAIM)).await?;
            if claimed.is_empty() {
                return Ok(total);
            }
            let routed =
                futures_util::future::join_all(claimed.iter().map(|id| self.route_one(id)));
            for result in routed.await {
                match result? {
                    Some(Outcome::Routed(_)) => total.routed += 1,
                    Some(Outcome::Unrouted(_)) => total.unrouted += 1,
                    Some(Outcome::Retry(_)) => total.retried += 1,
                    None => {}
                }
            }
            if total.retried > 0 {
                // What failed is not due again before its pause.
                return Ok(total);
            }
        }
    }

    async fn route_one(&self, id: &str) -> Result<Option<Outcome>, Error> {
        let Some(message) = store::by_id(self.db.writer(), id).await? else {
            return Ok(None);
        };
        if message.state != State::Pending {
            return Ok(None);
        }
        self.route_claimed(&message).await.map(Some)
    }

    /// Routes a message this process just stored, at once, without waiting
    /// for the worker's next look: the shortest way from a gateway to a
    /// stream. The claim keeps other replicas' workers away; if this fails
    /// half-way, the claim lapses and a worker routes the message later.
    pub(crate) async fn route_fresh(self, message: Message) {
        let now = self.clock.now();
        let routed = async {
            if store::claim(self.db.writer(), &message.id, now, now.plus(CLAIM)).await? {
                self.route_claimed(&message).await?;
            }
            Ok::<_, Error>(())
        };
        if let Err(error) = routed.await {
            tracing::warn!(
                message = %message.id,
                error = %numhub_runtime::error::error_chain(&error),
                "cannot route a fresh SMS at once; the worker will"
            );
        }
    }

    /// Routes a message whose claim this worker holds, and records where it
    /// went (or when to try again).
    async fn route_claimed(&self, message: &Message) -> Result<Outcome, Error> {
        let id = message.id.as_str();
        let outcome = self.route(message).await;
        match &outcome {
            Outcome::Routed(holder) => {
                store::finish(self.db.writer(), id, State::Routed, holder, "").await?;
            }
            Outcome::Unrouted(reason) => {
                tracing::info!(message = id, reason, "kept an SMS as unrouted");
                store::finish(self.db.writer(), id, State::Unrouted, "", reason).await?;
            }
            Outcome::Retry(why) => {
                let pause = self.backoff(message.attempts);
                tracing::warn!(message = id, why, ?pause, "cannot route an SMS yet");
                store::retry_at(self.db.writer(), id, self.clock.now().plus(pause)).await?;
            }
        }
        Ok(outcome)
    }

    /// Where one message goes: the catalog says who held the number then,
    /// and that holder takes it.
    pub async fn route(&self, message: &Message) -> Outcome {
        let resolve = catalog_pb::ResolveRequest {
            phone_number: message.to.clone(),
            time: Some(message.received_at.to_proto()),
        };
        let lease = match self.deps.catalog.clone().resolve(resolve).await {
            Ok(lease) => lease.into_inner(),
            Err(status) if status.code() == Code::NotFound => {
                return Outcome::Unrouted(unrouted_reason::NO_HOLDER);
            }
            Err(status) => return Outcome::Retry(format!("catalog: {:?}", status.code())),
        };
        let holder = lease.holder_id.clone();
        let delivered = if lease.kind == catalog_pb::LeaseKind::Rental as i32 {
            let delivery = rentals_pb::DeliverMessageRequest {
                rental_id: holder.clone(),
                inbound_message_id: message.id.clone(),
                sender: message.sender.clone(),
                body: message.body.clone(),
                receive_time: Some(message.received_at.to_proto()),
            };
            self.deps
                .rentals
                .clone()
                .deliver_message(delivery)
                .await
                .map(drop)
        } else {
            let delivery = orders_pb::DeliverMessageRequest {
                activation_id: holder.clone(),
                inbound_message_id: message.id.clone(),
                sender: message.sender.clone(),
                body: message.body.clone(),
                receive_time: Some(message.received_at.to_proto()),
            };
            self.deps
                .orders
                .clone()
                .deliver_message(delivery)
                .await
                .map(drop)
        };
        let holder_service = if lease.kind == catalog_pb::LeaseKind::Rental as i32 {
            "rentals"
        } else {
            "orders"
        };
        match delivered {
            Ok(()) => Outcome::Routed(holder),
            Err(status) => {
                let reason = status
                    .get_error_details()
                    .error_info()
                    .map(|i| i.reason.clone())
                    .unwrap_or_default();
                match status.code() {
                    Code::FailedPrecondition if reason == unrouted_reason::OTHER_SERVICE => {
                        Outcome::Unrouted(unrouted_reason::OTHER_SERVICE)
                    }
                    Code::FailedPrecondition => Outcome::Unrouted(unrouted_reason::HOLDER_ENDED),
                    Code::NotFound | Code::InvalidArgument => {
                        tracing::warn!(reason, message = %message.id, holder_service, "the holder refused an SMS");
                        Outcome::Unrouted(unrouted_reason::HOLDER_UNKNOWN)
                    }
                    code => Outcome::Retry(format!("{holder_service}: {code:?}")),
                }
            }
        }
    }

    /// The pause after `attempts` failed attempts: doubling from 500 ms up
    /// to the configured maximum, spread by ±20% so retries of a burst do
    /// not come back together.
    fn backoff(&self, attempts: i64) -> Duration {
        let doubled = FIRST_BACKOFF.saturating_mul(1u32 << attempts.clamp(0, 20));
        doubled
            .min(self.settings.max_backoff)
            .mul_f64(rand::random_range(0.8..1.2))
    }
}
