//! The catalog in the service skeleton.

use numhub_runtime::clock::SystemClock;
use numhub_runtime::config::ServiceDefaults;
use numhub_runtime::db::{Database, Migrations};
use numhub_skeleton::{Context, Peer, Service};
use tonic::service::RoutesBuilder;

use crate::{Catalog, CatalogSettings, MIGRATIONS, SERVICE_NAMES};

impl Service for Catalog {
    const DEFAULTS: ServiceDefaults = ServiceDefaults::new("catalog", 50053, 9053);
    const BINARY: &'static str = "numhub-catalog";
    const ABOUT: &'static str =
        "numhub's catalog: services, countries, prices and the number inventory";
    const CALLS: &'static [Peer] = &[Peer::Accounts];
    const MIGRATIONS: Migrations = MIGRATIONS;
    const GRPC_NAMES: &'static [&'static str] = &SERVICE_NAMES;
    type Settings = CatalogSettings;

    async fn build(context: &Context, settings: &CatalogSettings) -> anyhow::Result<Self> {
        let catalog =
            Catalog::new(context.db.clone(), context.clock.clone(), settings.clone()).await?;
        catalog.start_workers(&context.workers);
        Ok(catalog)
    }

    fn add_routes(&self, routes: &mut RoutesBuilder) {
        self.add_services(routes);
    }

    /// The schema, and the reference data (services and countries) unless
    /// the settings turn the seed off.
    async fn migrate(db: &Database, settings: &CatalogSettings) -> anyhow::Result<()> {
        db.migrate(&MIGRATIONS).await?;
        Catalog::new(
            db.clone(),
            std::sync::Arc::new(SystemClock),
            settings.clone(),
        )
        .await?;
        Ok(())
    }
}
