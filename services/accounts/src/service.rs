//! Accounts in the service skeleton: the owner of API keys, which the
//! process's auth layer resolves in process.

use std::sync::Arc;

use numhub_auth::Authenticator;
use numhub_proto::accounts::v1::accounts_admin_service_server::AccountsAdminServiceServer;
use numhub_proto::accounts::v1::accounts_internal_service_server::AccountsInternalServiceServer;
use numhub_proto::accounts::v1::accounts_service_server::AccountsServiceServer;
use numhub_runtime::config::ServiceDefaults;
use numhub_runtime::db::Migrations;
use numhub_skeleton::{Context, GrpcServices, Peer, Service};

use crate::{Accounts, AccountsSettings, MIGRATIONS};

impl Service for Accounts {
    const DEFAULTS: ServiceDefaults = ServiceDefaults::new("accounts", 50051, 9051);
    const BINARY: &'static str = "numhub-accounts";
    const ABOUT: &'static str = "numhub's accounts and API keys service";
    const CALLS: &'static [Peer] = &[];
    const MIGRATIONS: Option<Migrations> = Some(MIGRATIONS);
    type Settings = AccountsSettings;

    /// Accounts, with the operator's admin key in place: the configured
    /// one, or one generated at first start and printed once.
    async fn build(context: &Context, settings: &AccountsSettings) -> anyhow::Result<Self> {
        let accounts = Accounts::new(
            context.db()?,
            context.clock.clone(),
            settings.clone(),
            context.api_key_environment,
        )
        .await?;
        if let Some(secret) = accounts.bootstrap(settings.admin_key.as_ref()).await? {
            crate::print_admin_key(&secret);
        }
        Ok(accounts)
    }

    fn grpc(&self, services: &mut GrpcServices) {
        services
            .add(AccountsServiceServer::new(self.clone()))
            .add(AccountsAdminServiceServer::new(self.clone()))
            .add(AccountsInternalServiceServer::new(self.clone()));
    }

    fn authenticator(&self) -> Option<Arc<dyn Authenticator>> {
        Some(Arc::new(self.clone()))
    }
}
