//! The catalog in the service skeleton.

use numhub_proto::catalog::v1::catalog_admin_service_server::CatalogAdminServiceServer;
use numhub_proto::catalog::v1::catalog_internal_service_server::CatalogInternalServiceServer;
use numhub_proto::catalog::v1::catalog_service_server::CatalogServiceServer;
use numhub_runtime::clock::SystemClock;
use numhub_runtime::config::ServiceDefaults;
use numhub_runtime::db::{Database, Migrations};
use numhub_skeleton::{Context, GrpcServices, Peer, Service};

use crate::{Catalog, CatalogSettings, MIGRATIONS};

impl Service for Catalog {
    const DEFAULTS: ServiceDefaults = ServiceDefaults::new("catalog", 50053, 9053);
    const BINARY: &'static str = "numhub-catalog";
    const ABOUT: &'static str =
        "numhub's catalog: services, countries, prices and the number inventory";
    const CALLS: &'static [Peer] = &[Peer::Accounts];
    const MIGRATIONS: Option<Migrations> = Some(MIGRATIONS);
    type Settings = CatalogSettings;

    async fn build(context: &Context, settings: &CatalogSettings) -> anyhow::Result<Self> {
        let catalog = Catalog::new(context.db()?, context.clock.clone(), settings.clone()).await?;
        catalog.start_workers(&context.workers);
        Ok(catalog)
    }

    fn grpc(&self, services: &mut GrpcServices) {
        services
            .add(CatalogServiceServer::new(self.clone()))
            .add(CatalogAdminServiceServer::new(self.clone()))
            .add(CatalogInternalServiceServer::new(self.clone()));
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
