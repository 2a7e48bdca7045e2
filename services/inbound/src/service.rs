//! Inbound in the service skeleton: gRPC, and the carriers' webhook on a
//! port of its own when the settings ask for it.

use numhub_proto::inbound::v1::inbound_admin_service_server::InboundAdminServiceServer;
use numhub_proto::inbound::v1::inbound_internal_service_server::InboundInternalServiceServer;
use numhub_runtime::config::ServiceDefaults;
use numhub_runtime::db::Migrations;
use numhub_skeleton::{Context, GrpcServices, Peer, Service};

use crate::{Dependencies, Inbound, InboundSettings, MIGRATIONS};

impl Service for Inbound {
    const DEFAULTS: ServiceDefaults = ServiceDefaults::new("inbound", 50055, 9055);
    const BINARY: &'static str = "numhub-inbound";
    const ABOUT: &'static str = "numhub's inbound SMS: durable intake and routing to holders";
    const CALLS: &'static [Peer] = &[Peer::Accounts, Peer::Catalog, Peer::Orders, Peer::Rentals];
    const MIGRATIONS: Option<Migrations> = Some(MIGRATIONS);
    type Settings = InboundSettings;

    async fn build(context: &Context, settings: &InboundSettings) -> anyhow::Result<Self> {
        let dependencies = Dependencies::new(
            context.channel(Peer::Catalog)?,
            context.channel(Peer::Orders)?,
            context.channel(Peer::Rentals)?,
            &context.credentials,
        );
        let inbound = Inbound::new(
            context.db()?,
            context.clock.clone(),
            settings.clone(),
            dependencies,
        )
        .await?;
        inbound.start_workers(&context.workers);
        inbound.start_webhook().await?;
        Ok(inbound)
    }

    fn grpc(&self, services: &mut GrpcServices) {
        services
            .add(InboundInternalServiceServer::new(self.clone()))
            .add(InboundAdminServiceServer::new(self.clone()));
    }

    /// The webhook stops taking messages before the gRPC server drains.
    async fn stop(&self) {
        self.stop_webhook().await;
    }
}
