//! The accounts service served for other services' tests: a real server on
//! 127.0.0.1:0 with an admin key, customers with keys, and auth layers that
//! resolve keys through it over gRPC, as a deployed service does.

use std::sync::Arc;
use std::time::Duration;

use numhub_accounts::{Accounts, AccountsSettings};
use numhub_auth::{
    AccountsClient, AuthLayer, CachedAuthenticator, Environment, RateLimits, Scopes, Secret,
    ServiceCredentials,
};
use numhub_proto::common::v1::Scope;
use numhub_runtime::clock::ManualClock;
use numhub_runtime::config::CallConfig;
use numhub_runtime::server::{RunningServer, Server};
use numhub_skeleton::Service;
use tonic::service::Routes;
use tonic::transport::{Channel, Endpoint};

use crate::{Backend, TestDb, TestServer};

/// The service credential of every test stack.
pub const SERVICE_CREDENTIAL: &str = "numhub-test-service-credential-0123456789";
/// The auth cache window of every test stack.
pub const CACHE_TTL: Duration = Duration::from_secs(15);

/// A running accounts service and what a test needs to use it.
pub struct Stack {
    pub accounts: Accounts,
    pub clock: Arc<ManualClock>,
    pub credentials: ServiceCredentials,
    /// The operator's admin key (read, write, admin).
    pub admin_key: String,
    /// Accounts' own database.
    pub db: TestDb,
    server: Option<RunningServer>,
}

/// A customer account and one of its keys.
#[derive(Debug, Clone)]
pub struct Customer {
    pub account_id: String,
    pub api_key_id: String,
    pub key: String,
}

impl Stack {
    /// Accounts on a fresh database of `backend`, with the operator
    /// bootstrapped, served.
    pub async fn start(backend: Backend, clock: Arc<ManualClock>) -> Self {
        let db = super::database::<Accounts>(backend).await;
        let accounts = Accounts::new(
            db.db.clone(),
            clock.clone(),
            AccountsSettings::default(),
            Environment::Live,
        )
        .await
        .expect("start accounts");
        let admin_key = accounts
            .bootstrap(None)
            .await
            .expect("bootstrap")
            .expect("a fresh database prints an admin key");
        let credentials = credentials();
        let auth = accounts.auth_layer(credentials.clone(), CACHE_TTL);
        let (routes, names) = accounts.protected(&auth);
        let server = Server::new(routes, names)
            .start("127.0.0.1:0".parse().expect("address"))
            .await
            .expect("serve accounts");
        Self {
            accounts,
            clock,
            credentials,
            admin_key,
            db,
            server: Some(server),
        }
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.as_ref().expect("serving").local_addr()
    }

    pub fn channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.addr()))
            .expect("endpoint")
            .connect_lazy()
    }

    /// A channel as another service calls accounts, default timeouts.
    pub fn outbound(&self) -> numhub_runtime::channel::Channel {
        CallConfig::default()
            .channel("accounts", &format!("http://{}", self.addr()), "test")
            .expect("a test URL")
    }

    /// An auth layer for another service, resolving keys through this
    /// server's AccountsInternalService.
    pub fn remote_auth_layer(&self) -> AuthLayer {
        let authenticator = CachedAuthenticator::new(
            Arc::new(AccountsClient::new(self.outbound(), &self.credentials)),
            CACHE_TTL,
            self.clock.clone(),
        );
        AuthLayer::new(
            authenticator,
            self.credentials.clone(),
            Environment::Live,
            self.clock.clone(),
        )
    }

    /// `service`'s routes behind an auth layer resolving keys here.
    pub fn routes<S: Service>(&self, service: &S) -> Routes {
        service.protected(&self.remote_auth_layer()).0
    }

    /// Serves `service` on a server of its own, behind an auth layer
    /// resolving keys here.
    pub async fn serve<S: Service>(&self, service: &S) -> TestServer {
        let (routes, names) = service.protected(&self.remote_auth_layer());
        TestServer::start(routes, names).await
    }

    /// A new customer account with a key holding `scopes`.
    pub async fn customer(&self, name: &str, scopes: &[Scope]) -> Customer {
        self.customer_with_limits(name, scopes, None).await
    }

    /// A new customer account with its own rate limits (the default ones
    /// when `None`), and a key holding `scopes`.
    pub async fn customer_with_limits(
        &self,
        name: &str,
        scopes: &[Scope],
        limits: Option<RateLimits>,
    ) -> Customer {
        let account = self
            .accounts
            .create_account(name, limits, &uuid::Uuid::now_v7().to_string())
            .await
            .expect("create account");
        let (key, secret) = self
            .accounts
            .create_key(
                &account.id,
                "test key",
                scopes.iter().copied().collect::<Scopes>(),
                None,
            )
            .await
            .expect("create key");
        Customer {
            account_id: account.id,
            api_key_id: key.id,
            key: secret,
        }
    }

    pub async fn shutdown(mut self) {
        if let Some(server) = self.server.take() {
            let _ = server.shutdown(Duration::from_secs(5)).await;
        }
    }
}

/// The test stacks' service credentials.
pub fn credentials() -> ServiceCredentials {
    ServiceCredentials::new(vec![Secret::new(SERVICE_CREDENTIAL)]).expect("credential")
}
