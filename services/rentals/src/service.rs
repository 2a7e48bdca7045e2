//! Rentals in the service skeleton.

use numhub_holding::Holder as _;
use numhub_proto::rentals::v1::rentals_internal_service_server::RentalsInternalServiceServer;
use numhub_proto::rentals::v1::rentals_service_server::RentalsServiceServer;
use numhub_runtime::config::ServiceDefaults;
use numhub_runtime::db::Migrations;
use numhub_skeleton::{Context, GrpcServices, Peer, Service};

use crate::{Dependencies, MIGRATIONS, Rentals, RentalsSettings};

impl Service for Rentals {
    const DEFAULTS: ServiceDefaults = ServiceDefaults::new("rentals", 50056, 9056);
    const BINARY: &'static str = "numhub-rentals";
    const ABOUT: &'static str =
        "numhub's rentals: numbers kept for days to a year, renewals and their inbox";
    const CALLS: &'static [Peer] = &[Peer::Accounts, Peer::Wallet, Peer::Catalog];
    const MIGRATIONS: Option<Migrations> = Some(MIGRATIONS);
    type Settings = RentalsSettings;

    async fn build(context: &Context, settings: &RentalsSettings) -> anyhow::Result<Self> {
        let dependencies = Dependencies::new(
            context.channel(Peer::Wallet)?,
            context.channel(Peer::Catalog)?,
            &context.credentials,
        );
        let rentals = Rentals::new(
            context.db()?,
            context.clock.clone(),
            settings.clone(),
            dependencies,
        )
        .await?;
        rentals.start_workers(&context.workers, context.listen_url.clone());
        Ok(rentals)
    }

    fn grpc(&self, services: &mut GrpcServices) {
        services
            .add(RentalsServiceServer::new(self.clone()))
            .add(RentalsInternalServiceServer::new(self.clone()));
    }

    /// Live streams end, so their clients resume on another replica.
    async fn stop(&self) {
        self.close_streams();
    }
}
