//! The wallet in the service skeleton.

use numhub_runtime::config::ServiceDefaults;
use numhub_runtime::db::Migrations;
use numhub_skeleton::{Context, Peer, Service};
use tonic::service::RoutesBuilder;

use crate::{MIGRATIONS, SERVICE_NAMES, Wallet, WalletSettings};

impl Service for Wallet {
    const DEFAULTS: ServiceDefaults = ServiceDefaults::new("wallet", 50052, 9052);
    const BINARY: &'static str = "numhub-wallet";
    const ABOUT: &'static str = "numhub's prepaid wallet service";
    const CALLS: &'static [Peer] = &[Peer::Accounts];
    const MIGRATIONS: Migrations = MIGRATIONS;
    const GRPC_NAMES: &'static [&'static str] = &SERVICE_NAMES;
    type Settings = WalletSettings;

    async fn build(context: &Context, settings: &WalletSettings) -> anyhow::Result<Self> {
        let wallet = Wallet::start(context.db.clone(), context.clock.clone(), settings).await?;
        wallet.start_workers(&context.workers);
        Ok(wallet)
    }

    fn add_routes(&self, routes: &mut RoutesBuilder) {
        self.add_services(routes);
    }
}
