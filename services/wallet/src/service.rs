//! The wallet in the service skeleton.

use numhub_proto::wallet::v1::wallet_admin_service_server::WalletAdminServiceServer;
use numhub_proto::wallet::v1::wallet_internal_service_server::WalletInternalServiceServer;
use numhub_proto::wallet::v1::wallet_service_server::WalletServiceServer;
use numhub_runtime::config::ServiceDefaults;
use numhub_runtime::db::Migrations;
use numhub_skeleton::{Context, GrpcServices, Peer, Service};

use crate::{MIGRATIONS, Wallet, WalletSettings};

impl Service for Wallet {
    const DEFAULTS: ServiceDefaults = ServiceDefaults::new("wallet", 50052, 9052);
    const BINARY: &'static str = "numhub-wallet";
    const ABOUT: &'static str = "numhub's prepaid wallet service";
    const CALLS: &'static [Peer] = &[Peer::Accounts];
    const MIGRATIONS: Option<Migrations> = Some(MIGRATIONS);
    type Settings = WalletSettings;

    async fn build(context: &Context, settings: &WalletSettings) -> anyhow::Result<Self> {
        let wallet = Wallet::start(context.db()?, context.clock.clone(), settings).await?;
        wallet.start_workers(&context.workers);
        Ok(wallet)
    }

    fn grpc(&self, services: &mut GrpcServices) {
        services
            .add(WalletServiceServer::new(self.clone()))
            .add(WalletAdminServiceServer::new(self.clone()))
            .add(WalletInternalServiceServer::new(self.clone()));
    }
}
