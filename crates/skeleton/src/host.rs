//! A process serving one service or several: the one place where a
//! service is opened, built, protected, served and stopped.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use numhub_auth::{
    AccountsClient, AuthLayer, Authenticator, CachedAuthenticator, ServiceCredentials,
};
use numhub_runtime::channel::Channel;
use numhub_runtime::clock::{SharedClock, SystemClock};
use numhub_runtime::config::ServiceDefaults;
use numhub_runtime::db::{Backend, Database};
use numhub_runtime::server::{RunningServer, Server, bind, install_metrics};
use numhub_runtime::workers::Workers;
use tokio::net::TcpListener;

use crate::config::Common;
use crate::grpc::GrpcServices;
use crate::peers::{Peer, PeerAddrs, PeerChannels};
use crate::service::{Context, Service};
use crate::storage::{self, Storage};

type Stop = Pin<Box<dyn Future<Output = ()> + Send>>;

/// How the services of a process reach each other.
#[derive(Debug, Clone)]
pub enum Layout {
    /// One service in its own process; the others at their addresses.
    Alone(PeerAddrs),
    /// Every service in one process, each with its own storage, calling
    /// the others through the process's own port.
    Together,
}

/// A process being assembled: bound, with services added one by one.
pub struct Host {
    common: Common,
    defaults: ServiceDefaults,
    storage: Storage,
    listener: TcpListener,
    peers: PeerChannels,
    clock: SharedClock,
    credentials: ServiceCredentials,
    workers: Workers,
    grpc: GrpcServices,
    stops: Vec<Stop>,
    databases: Vec<Database>,
    authenticator: Option<Arc<dyn Authenticator>>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("defaults", &self.defaults)
            .field("grpc", &self.grpc.names())
            .finish_non_exhaustive()
    }
}

impl Host {
    /// Binds the listen address (port 0 picks a free port) of a process
    /// whose name and default ports are `defaults`, and serves its metrics
    /// unless they are `off`.
    pub async fn bind(
        common: &Common,
        defaults: ServiceDefaults,
        layout: Layout,
    ) -> anyhow::Result<Self> {
        let listener = bind(common.server.listen_addr(&defaults)).await?;
        // Before any service is built: its workers may count from their
        // first pass.
        if let Some(addr) = common.server.metrics_addr(&defaults) {
            install_metrics(addr)?;
        }
        let (peers, storage, credentials) = match layout {
            Layout::Alone(addrs) => (
                PeerChannels::At(addrs, common.calls.clone()),
                Storage::Own,
                common.auth.service_credentials()?,
            ),
            Layout::Together => {
                let own = common.calls.channel(
                    defaults.name,
                    &format!("http://{}", listener.local_addr()?),
                    "NUMHUB_LISTEN_ADDR",
                )?;
                // One process calls only itself: without a configured
                // credential, a random one keeps the internal RPCs closed
                // to everyone else.
                let credentials = if common.auth.service_credential.is_empty() {
                    ServiceCredentials::random()
                } else {
                    common.auth.service_credentials()?
                };
                (PeerChannels::Itself(own), Storage::Shared, credentials)
            }
        };
        Ok(Self {
            common: common.clone(),
            defaults,
            storage,
            listener,
            peers,
            clock: Arc::new(SystemClock),
            credentials,
            workers: Workers::new(),
            grpc: GrpcServices::default(),
            stops: Vec::new(),
            databases: Vec::new(),
            authenticator: None,
        })
    }

    /// Opens and migrates `S`'s database (unless it keeps no data), builds
    /// `S` (its workers start), and adds its routes to the process. Answers
    /// the service, for what the process does with it besides serving
    /// (numhubd's demo data).
    pub async fn add<S: Service>(&mut self, settings: &S::Settings) -> anyhow::Result<S> {
        let (db, listen_url) = match S::MIGRATIONS {
            Some(_) => {
                let (db, url) =
                    storage::open(&self.common.database, self.storage, &S::DEFAULTS).await?;
                self.databases.push(db.clone());
                S::migrate(&db, settings).await?;
                let listen_url = (db.backend() == Backend::Postgres).then_some(url);
                (Some(db), listen_url)
            }
            None => (None, None),
        };
        let context = Context {
            listen_url,
            db,
            clock: self.clock.clone(),
            credentials: self.credentials.clone(),
            api_key_environment: self.common.auth.api_key_environment,
            workers: self.workers.clone(),
            peers: self.peers.clone(),
        };
        let service = S::build(&context, settings).await?;
        service.grpc(&mut self.grpc);
        let stopping = service.clone();
        self.stops
            .push(Box::pin(async move { stopping.stop().await }));
        if let Some(authenticator) = service.authenticator() {
            self.authenticator = Some(authenticator);
        }
        Ok(service)
    }

    /// A channel to `peer`, for work of the process's own (numhubd's
    /// simulated SIM bank).
    pub fn channel(&self, peer: Peer) -> anyhow::Result<Channel> {
        self.peers.channel(peer)
    }

    pub fn credentials(&self) -> &ServiceCredentials {
        &self.credentials
    }

    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    pub fn workers(&self) -> &Workers {
        &self.workers
    }

    /// Serves every service added, behind one auth layer, with health and
    /// reflection. API keys are resolved in process when the accounts
    /// service is here, or by calling it.
    pub async fn serve(self) -> anyhow::Result<Running> {
        let auth_config = &self.common.auth;
        let resolver = match self.authenticator {
            Some(authenticator) => authenticator,
            None => Arc::new(AccountsClient::new(
                self.peers.channel(Peer::Accounts)?,
                &self.credentials,
            )),
        };
        let auth = AuthLayer::new(
            CachedAuthenticator::new(resolver, auth_config.auth_cache_ttl, self.clock.clone()),
            self.credentials,
            auth_config.api_key_environment,
            self.clock,
        );
        let (routes, names) = self.grpc.protect(&auth);
        let server = Server::new(routes, names).start_on(self.listener).await?;
        Ok(Running {
            server,
            stops: self.stops,
            workers: self.workers,
            databases: self.databases,
            grace: self.common.server.shutdown_grace,
        })
    }
}

/// A process serving.
pub struct Running {
    server: RunningServer,
    stops: Vec<Stop>,
    workers: Workers,
    databases: Vec<Database>,
    grace: std::time::Duration,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl Running {
    /// The address the gRPC server is bound to (the real port when the
    /// config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Stops in the one safe order: each service's own stop (live streams
    /// end, other listeners close), then NOT_SERVING and in-flight RPCs
    /// drain within the grace, then the workers stop within it too, and
    /// only then the databases close.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        for stop in self.stops {
            stop.await;
        }
        let served = self.server.shutdown(self.grace).await;
        self.workers.shutdown(self.grace).await;
        for db in self.databases {
            db.close().await;
        }
        served
    }
}
