//! A simulated SIM bank, for demos and tests: it follows the catalog's new
//! leases (ListActiveLeases) and, after a random delay, sends each leased
//! number a realistic verification text for the leased service, through
//! InboundInternalService.Deliver as a real gateway would, with the lease's
//! id as its message id (so a restart never sends one twice).
//!
//! It never stores or routes anything itself: what it sends takes the path
//! of every SMS.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use numhub_auth::ServiceCredentials;
use numhub_proto::catalog::v1 as catalog_pb;
use numhub_proto::inbound::v1 as pb;
use numhub_proto::inbound::v1::inbound_internal_service_client::InboundInternalServiceClient;
use numhub_runtime::channel::Channel;
use numhub_runtime::clock::SharedClock;
use numhub_runtime::workers::{CancellationToken, Workers};
use rand::RngExt as _;

use crate::CatalogClient;

/// The upstream name of the simulator's messages.
pub const UPSTREAM: &str = "simulator";

type Intake = numhub_auth::internal::InboundClient;

/// Settings of the simulated SIM bank.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulatorSettings {
    /// Whether the simulated SIM bank sends SMS to leased numbers.
    #[arg(long = "simulator", env = "NUMHUB_SIMULATOR", default_value_t = true,
          action = clap::ArgAction::Set)]
    pub enabled: bool,

    /// The shortest wait between a lease and its SMS.
    #[arg(long, env = "NUMHUB_SIMULATOR_MIN_DELAY", default_value = "2s",
          value_parser = humantime::parse_duration)]
    pub simulator_min_delay: Duration,

    /// The longest wait between a lease and its SMS.
    #[arg(long, env = "NUMHUB_SIMULATOR_MAX_DELAY", default_value = "6s",
          value_parser = humantime::parse_duration)]
    pub simulator_max_delay: Duration,
}

/// The simulated SIM bank.
#[derive(Debug, Clone)]
pub struct Simulator {
    catalog: CatalogClient,
    intake: Intake,
    clock: SharedClock,
    settings: SimulatorSettings,
}

impl Simulator {
    /// A simulator that watches the catalog at `catalog` and delivers to
    /// inbound at `inbound`, with the service credential.
    pub fn new(
        catalog: Channel,
        inbound: Channel,
        credentials: &ServiceCredentials,
        clock: SharedClock,
        settings: SimulatorSettings,
    ) -> Self {
        Self {
            catalog: catalog_pb::catalog_internal_service_client::CatalogInternalServiceClient::with_interceptor(
                catalog,
                credentials.interceptor(),
            ),
            intake: InboundInternalServiceClient::with_interceptor(
                inbound,
                credentials.interceptor(),
            ),
            clock,
            settings,
        }
    }

    /// Follows new leases from now on and answers each with an SMS, as a
    /// worker under `workers`.
    pub fn start(self, workers: &Workers) {
        // The last lease seen, kept across restarts; none before the first
        // look, as leases made before the simulator started are not its
        // business.
        let seen: Arc<Mutex<Option<String>>> = Arc::default();
        workers.spawn("simulator", move |stop: CancellationToken| {
            let (simulator, seen) = (self.clone(), seen.clone());
            async move {
                loop {
                    let after = seen.lock().expect("simulator lock").clone();
                    match simulator.new_leases(after.as_deref().unwrap_or("")).await {
                        Ok(leases) => {
                            let last = leases.last().map(|lease| lease.id.clone());
                            if after.is_some() {
                                for lease in leases {
                                    simulator.answer_later(lease);
                                }
                            }
                            *seen.lock().expect("simulator lock") =
                                Some(last.or(after).unwrap_or_default());
                        }
                        Err(status) => {
                            tracing::debug!(code = ?status.code(), "the simulator cannot see the leases yet");
                        }
                    }
                    tokio::select! {
                        () = stop.cancelled() => return Ok::<_, Infallible>(()),
                        () = tokio::time::sleep(Duration::from_millis(300)) => {}
                    }
                }
            }
        });
    }

    /// Every active lease after `after`.
    async fn new_leases(&self, after: &str) -> Result<Vec<catalog_pb::Lease>, tonic::Status> {
        let mut all = Vec::new();
        let mut after = after.to_owned();
        loop {
            let request = catalog_pb::ListActiveLeasesRequest {
                after_lease_id: after.clone(),
                page_size: 1000,
            };
            let page = self
                .catalog
                .clone()
                .list_active_leases(request)
                .await?
                .into_inner()
                .leases;
            let done = page.len() < 1000;
            if let Some(last) = page.last() {
                after.clone_from(&last.id);
            }
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }

    fn answer_later(&self, lease: catalog_pb::Lease) {
        let simulator = self.clone();
        let (min, max) = (
            self.settings.simulator_min_delay,
            self.settings
                .simulator_max_delay
                .max(self.settings.simulator_min_delay),
        );
        let delay = if max > min {
            min + (max - min).mul_f64(rand::random_range(0.0..1.0))
        } else {
            min
        };
        // A plain task, not a worker: one delay and one call, touching no
        // database; an SMS cut short by shutdown is one a demo does not send.
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let (sender, body, _) = verification_text(&lease.service_code);
            let request = pb::DeliverRequest {
                upstream: UPSTREAM.into(),
                upstream_message_id: lease.id.clone(),
                to: lease.phone_number.clone(),
                sender,
                body,
                receive_time: Some(simulator.clock.now().to_proto()),
            };
            if let Err(status) = simulator.intake.clone().deliver(request).await {
                tracing::warn!(code = ?status.code(), lease = %lease.id, "the simulator could not deliver");
            }
        });
    }
}

/// A realistic verification SMS for `service` (a catalog service code):
/// its sender, its text, and the fresh random code in it.
pub fn verification_text(service: &str) -> (String, String, String) {
    let brand = brand(service);
    let mut rng = rand::rng();
    let code: u32 = rng.random_range(100_000..1_000_000);
    let split = format!("{}-{:03}", code / 1000, code % 1000);
    let templates = [
        format!("Your {brand} code is {split}. Don't share this code with anyone."),
        format!("{code} is your {brand} verification code."),
        format!("[{brand}] Verification code: {code}. Valid for 10 minutes."),
        format!("<#> {brand}: your code is {code}. Do not give it to anyone."),
        format!("Código de verificación de {brand}: {code}"),
        format!("Ваш код подтверждения {brand}: {code}"),
    ];
    let body = templates[rng.random_range(0..templates.len())].clone();
    (brand.to_owned(), body, code.to_string())
}

/// The brand people know a service by.
fn brand(service: &str) -> &str {
    match service {
        "wa" => "WhatsApp",
        "tg" => "Telegram",
        "go" => "Google",
        "fb" => "Facebook",
        "ig" => "Instagram",
        "tw" => "Twitter",
        "ds" => "Discord",
        "am" => "Amazon",
        "ub" => "Uber",
        "vi" => "Viber",
        "lf" => "TikTok",
        "mm" => "Microsoft",
        "wx" => "Apple",
        "ts" => "PayPal",
        "nf" => "Netflix",
        "" => "numhub",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_carry_a_code_the_extractor_reads() {
        for service in ["wa", "tg", "go", "zz", ""] {
            for _ in 0..50 {
                let (sender, body, code) = verification_text(service);
                assert!(!sender.is_empty());
                let read = numhub_otp::extract(&body, Some(&sender));
                assert_eq!(read.code.as_deref(), Some(code.as_str()), "{body}");
            }
        }
    }
}
