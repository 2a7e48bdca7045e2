//! What a service writes to fill in the skeleton: [`Service`], built from
//! a [`Context`] the skeleton makes.

use std::future::Future;
use std::sync::Arc;

use numhub_auth::{AuthLayer, Authenticator, Environment, ServiceCredentials};
use numhub_runtime::channel::Channel;
use numhub_runtime::clock::SharedClock;
use numhub_runtime::config::ServiceDefaults;
use numhub_runtime::db::{Database, Migrations};
use numhub_runtime::workers::Workers;
use tonic::service::Routes;

use crate::grpc::GrpcServices;
use crate::peers::{Peer, PeerChannels};

/// A numhub service, as the skeleton runs it: in a binary of its own
/// ([`crate::main`]) or beside others in one process ([`crate::Host`]).
pub trait Service: Clone + Send + Sync + Sized + 'static {
    /// Its name (the SQLite file and schema name) and default ports.
    const DEFAULTS: ServiceDefaults;
    /// Its binary's name, e.g. `numhub-orders`.
    const BINARY: &'static str;
    /// Its binary's one-line description.
    const ABOUT: &'static str;
    /// The services it calls; the binary offers their address settings.
    const CALLS: &'static [Peer];
    /// Its schema, for both backends; `None` for a service that keeps no
    /// data (the HTTP gateway): no database is opened for it.
    const MIGRATIONS: Option<Migrations>;

    /// Its own settings, from flags and `NUMHUB_*` variables.
    type Settings: clap::Args + clap::FromArgMatches + Clone + Send + Sync + 'static;

    /// Builds the service on its migrated database, starting its
    /// background work under [`Context::workers`].
    fn build(
        context: &Context,
        settings: &Self::Settings,
    ) -> impl Future<Output = anyhow::Result<Self>> + Send;

    /// Adds its gRPC services (unprotected: the skeleton puts the auth
    /// layer around every route of the process, and reports each one's
    /// health).
    fn grpc(&self, services: &mut GrpcServices);

    /// Its gRPC services behind `auth`, and their names: for a server of
    /// its own (tests, benchmarks).
    fn protected(&self, auth: &AuthLayer) -> (Routes, Vec<&'static str>) {
        let mut services = GrpcServices::default();
        self.grpc(&mut services);
        services.protect(auth)
    }

    /// What it does first when the process stops, before in-flight RPCs
    /// drain: end its live streams (clients resume elsewhere), close other
    /// listeners.
    fn stop(&self) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// The API key resolver, for the one service that owns the keys: the
    /// others resolve keys by calling it.
    fn authenticator(&self) -> Option<Arc<dyn Authenticator>> {
        None
    }

    /// What `migrate` does: the schema, and whatever else a fresh database
    /// needs before the service serves. Called only when the service has
    /// [`Service::MIGRATIONS`].
    fn migrate(
        db: &Database,
        _settings: &Self::Settings,
    ) -> impl Future<Output = anyhow::Result<()>> + Send {
        async move {
            match &Self::MIGRATIONS {
                Some(migrations) => Ok(db.migrate(migrations).await?),
                None => Ok(()),
            }
        }
    }
}

/// What the skeleton gives a service to build it with.
#[derive(Debug, Clone)]
pub struct Context {
    /// Its own database, migrated: see [`Context::db`].
    pub(crate) db: Option<Database>,
    /// The URL of its database when it is PostgreSQL, for a LISTEN
    /// connection that hears what other replicas write.
    pub listen_url: Option<String>,
    pub clock: SharedClock,
    /// The credential it presents to other services' internal RPCs.
    pub credentials: ServiceCredentials,
    /// Which API keys the deployment issues and accepts.
    pub api_key_environment: Environment,
    /// The process's background work, stopped after the server drains and
    /// before the database closes.
    pub workers: Workers,
    pub(crate) peers: PeerChannels,
}

impl Context {
    /// Its own database, migrated; an error for a service that keeps no
    /// data ([`Service::MIGRATIONS`] is `None`).
    pub fn db(&self) -> anyhow::Result<Database> {
        self.db
            .clone()
            .ok_or_else(|| anyhow::anyhow!("this service keeps no data: it has no database"))
    }

    /// A channel to `peer`, with the process's connect timeout, deadline
    /// and keepalive.
    pub fn channel(&self, peer: Peer) -> anyhow::Result<Channel> {
        self.peers.channel(peer)
    }
}
