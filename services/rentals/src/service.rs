//! Rentals in the service skeleton.

use numhub_runtime::config::ServiceDefaults;
use numhub_runtime::db::Migrations;
use numhub_skeleton::{Context, Peer, Service};
use tonic::service::RoutesBuilder;

use crate::{Dependencies, MIGRATIONS, Rentals, RentalsSettings, SERVICE_NAMES};

impl Service for Rentals {
    const DEFAULTS: ServiceDefaults = ServiceDefaults::new("rentals", 50056, 9056);
    const BINARY: &'static str = "numhub-rentals";
    const ABOUT: &'static str =
        "numhub's rentals: numbers kept for days to a year, renewals and their inbox";
    const CALLS: &'static [Peer] = &[Peer::Accounts, Peer::Wallet, Peer::Catalog];
    const MIGRATIONS: Migrations = MIGRATIONS;
    const GRPC_NAMES: &'static [&'static str] = &SERVICE_NAMES;
    type Settings = RentalsSettings;

    async fn build(context: &Context, settings: &RentalsSettings) -> anyhow::Result<Self> {
        let dependencies = Dependencies::new(
            context.channel(Peer::Wallet)?,
            context.channel(Peer::Catalog)?,
            &context.credentials,
        );
        let rentals = Rentals::new(
            context.db.clone(),
            context.clock.clone(),
            settings.clone(),
            dependencies,
        )
        .await?;
        rentals.start_workers(&context.workers, context.listen_url.clone());
        Ok(rentals)
    }

    fn add_routes(&self, routes: &mut RoutesBuilder) {
        self.add_services(routes);
    }

    /// Live streams end, so their clients resume on another replica.
    async fn stop(&self) {
        self.close_streams();
    }
}
