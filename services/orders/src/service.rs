//! Orders in the service skeleton.

use numhub_holding::Holder as _;
use numhub_proto::orders::v1::orders_internal_service_server::OrdersInternalServiceServer;
use numhub_proto::orders::v1::orders_service_server::OrdersServiceServer;
use numhub_runtime::config::ServiceDefaults;
use numhub_runtime::db::Migrations;
use numhub_skeleton::{Context, GrpcServices, Peer, Service};

use crate::{Dependencies, MIGRATIONS, Orders, OrdersSettings};

impl Service for Orders {
    const DEFAULTS: ServiceDefaults = ServiceDefaults::new("orders", 50054, 9054);
    const BINARY: &'static str = "numhub-orders";
    const ABOUT: &'static str = "numhub's orders: activations, the buy saga and live SMS streams";
    const CALLS: &'static [Peer] = &[Peer::Accounts, Peer::Wallet, Peer::Catalog, Peer::Rentals];
    const MIGRATIONS: Option<Migrations> = Some(MIGRATIONS);
    type Settings = OrdersSettings;

    async fn build(context: &Context, settings: &OrdersSettings) -> anyhow::Result<Self> {
        let credentials = &context.credentials;
        let dependencies = Dependencies::new(
            context.channel(Peer::Wallet)?,
            context.channel(Peer::Catalog)?,
            credentials,
        )
        .with_rentals(context.channel(Peer::Rentals)?, credentials);
        let orders = Orders::new(
            context.db()?,
            context.clock.clone(),
            settings.clone(),
            dependencies,
        )
        .await?;
        orders.start_workers(&context.workers, context.listen_url.clone());
        Ok(orders)
    }

    fn grpc(&self, services: &mut GrpcServices) {
        services
            .add(OrdersServiceServer::new(self.clone()))
            .add(OrdersInternalServiceServer::new(self.clone()));
    }

    /// Live streams end, so their clients resume on another replica.
    async fn stop(&self) {
        self.close_streams();
    }
}
