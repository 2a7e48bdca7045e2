//! Inbound in the service skeleton: gRPC, and the carriers' webhook on a
//! port of its own when the settings ask for it.

use numhub_runtime::config::ServiceDefaults;
use numhub_runtime::db::Migrations;
use numhub_skeleton::{Context, Peer, Service};
use tonic::service::RoutesBuilder;

use crate::{Dependencies, Inbound, InboundSettings, MIGRATIONS, SERVICE_NAMES};

impl Service for Inbound {
    const DEFAULTS: ServiceDefaults = ServiceDefaults::new("inbound", 50055, 9055);
    const BINARY: &'static str = "numhub-inbound";
    const ABOUT: &'static str = "numhub's inbound SMS: durable intake and routing to holders";
    const CALLS: &'static [Peer] = &[Peer::Accounts, Peer::Catalog, Peer::Orders, Peer::Rentals];
    const MIGRATIONS: Migrations = MIGRATIONS;
    const GRPC_NAMES: &'static [&'static str] = &SERVICE_NAMES;
    type Settings = InboundSettings;

    async fn build(context: &Context, settings: &InboundSettings) -> anyhow::Result<Self> {
        let dependencies = Dependencies::new(
            context.channel(Peer::Catalog)?,
            context.channel(Peer::Orders)?,
            context.channel(Peer::Rentals)?,
            &context.credentials,
        );
        let inbound = Inbound::new(
            context.db.clone(),
            context.clock.clone(),
            settings.clone(),
            dependencies,
        )
        .await?;
        inbound.start_workers(&context.workers);
        inbound.start_webhook().await?;
        Ok(inbound)
    }

    fn add_routes(&self, routes: &mut RoutesBuilder) {
        self.add_services(routes);
    }

    /// The webhook stops taking messages before the gRPC server drains.
    async fn stop(&self) {
        self.stop_webhook().await;
    }
}
