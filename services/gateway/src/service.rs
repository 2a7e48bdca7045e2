//! The gateway in the service skeleton: no database, no gRPC services of
//! its own (its gRPC port serves health), and its HTTP API on a port of
//! its own.

use numhub_runtime::config::ServiceDefaults;
use numhub_runtime::db::Migrations;
use numhub_skeleton::{Context, GrpcServices, Peer, Service};

use crate::upstream::Upstream;
use crate::{Gateway, GatewaySettings};

impl Service for Gateway {
    const DEFAULTS: ServiceDefaults = ServiceDefaults::new("gateway", 50057, 9057);
    const BINARY: &'static str = "numhub-gateway";
    const ABOUT: &'static str =
        "numhub's HTTP gateway: the REST API and the SMS-Activate protocol over the services";
    const CALLS: &'static [Peer] = Upstream::PEERS;
    const MIGRATIONS: Option<Migrations> = None;
    type Settings = GatewaySettings;

    async fn build(context: &Context, settings: &GatewaySettings) -> anyhow::Result<Self> {
        let gateway = Gateway::new(Upstream::new(context)?, settings.clone());
        gateway.start_http().await?;
        Ok(gateway)
    }

    fn grpc(&self, _: &mut GrpcServices) {}

    /// The HTTP API stops taking requests, and lets those in flight end,
    /// before the process's gRPC server drains.
    async fn stop(&self) {
        self.stop_http().await;
    }
}
