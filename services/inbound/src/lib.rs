//! numhub's inbound SMS: every SMS that reaches a number is stored durably
//! before it is acknowledged, deduplicated by its gateway's id, and routed
//! by a worker to whoever held the number at that instant: the catalog's
//! lease history says who ([`routing`]). An SMS that reaches nobody is kept
//! as unrouted for the operator.
//!
//! Layers: [`grpc`] (thin handlers) over [`Inbound`] (intake here, routing
//! in [`routing`]) over [`store`] (SQL for PostgreSQL and SQLite alike).

pub mod arrival;
pub mod config;
pub mod error;
pub mod grpc;
pub mod proto;
pub mod routing;
pub mod simulator;
pub mod store;
pub mod webhook;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use numhub_auth::{AuthLayer, ServiceCredentials, ServiceInterceptor};
use numhub_proto::catalog::v1::catalog_internal_service_client::CatalogInternalServiceClient;
use numhub_proto::inbound::v1::inbound_admin_service_server::InboundAdminServiceServer;
use numhub_proto::inbound::v1::inbound_internal_service_server::InboundInternalServiceServer;
use numhub_proto::orders::v1::orders_internal_service_client::OrdersInternalServiceClient;
use numhub_proto::rentals::v1::rentals_internal_service_client::RentalsInternalServiceClient;
use numhub_runtime::channel::Channel;
use numhub_runtime::clock::SharedClock;
use numhub_runtime::db::{Database, Migrations};
use numhub_runtime::tokens::PageTokens;
use sqlx::migrate::Migrator;
use tokio::sync::Notify;
use tonic::codegen::InterceptedService;
use tonic::server::NamedService;
use tonic::service::{Routes, RoutesBuilder};

pub use crate::arrival::Arrival;
pub use crate::config::{InboundConfig, InboundSettings};
use crate::error::Error;
use crate::store::Message;

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");

/// Inbound's schema, for both backends.
pub const MIGRATIONS: Migrations = Migrations {
    postgres: &POSTGRES_MIGRATIONS,
    sqlite: &SQLITE_MIGRATIONS,
};

/// The gRPC service names, as health and reflection report them.
pub const SERVICE_NAMES: [&str; 2] = [
    <InboundInternalServiceServer<Inbound> as NamedService>::NAME,
    <InboundAdminServiceServer<Inbound> as NamedService>::NAME,
];

pub type CatalogClient =
    CatalogInternalServiceClient<InterceptedService<Channel, ServiceInterceptor>>;
pub type OrdersClient =
    OrdersInternalServiceClient<InterceptedService<Channel, ServiceInterceptor>>;
pub type RentalsClient =
    RentalsInternalServiceClient<InterceptedService<Channel, ServiceInterceptor>>;

/// The services inbound routes through, with the service credential.
#[derive(Debug, Clone)]
pub struct Dependencies {
    pub catalog: CatalogClient,
    pub orders: OrdersClient,
    pub rentals: RentalsClient,
}

impl Dependencies {
    pub fn new(
        catalog: Channel,
        orders: Channel,
        rentals: Channel,
        credentials: &ServiceCredentials,
    ) -> Self {
        Self {
            catalog: CatalogInternalServiceClient::with_interceptor(
                catalog,
                credentials.interceptor(),
            ),
            orders: OrdersInternalServiceClient::with_interceptor(
                orders,
                credentials.interceptor(),
            ),
            rentals: RentalsInternalServiceClient::with_interceptor(
                rentals,
                credentials.interceptor(),
            ),
        }
    }
}

/// The inbound service.
#[derive(Debug, Clone)]
pub struct Inbound {
    db: Database,
    clock: SharedClock,
    settings: Arc<InboundSettings>,
    deps: Dependencies,
    /// Wakes this process's routing worker (RouteAgain).
    arrived: Arc<Notify>,
    /// Whether a stored message is routed at once (once workers run; tests
    /// that route by hand leave it off).
    route_at_once: Arc<AtomicBool>,
    tokens: PageTokens,
}

impl Inbound {
    /// Inbound on a migrated database; the routing worker is not started:
    /// see [`Inbound::start_workers`].
    pub async fn new(
        db: Database,
        clock: SharedClock,
        settings: InboundSettings,
        deps: Dependencies,
    ) -> Result<Self, Error> {
        let tokens = PageTokens::load(&db).await?;
        Ok(Self {
            db,
            clock,
            settings: Arc::new(settings),
            deps,
            arrived: Arc::new(Notify::new()),
            route_at_once: Arc::new(AtomicBool::new(false)),
            tokens,
        })
    }

    /// gRPC routes of the internal and admin services, behind `auth`.
    pub fn routes(&self, auth: &AuthLayer) -> Routes {
        let mut routes = RoutesBuilder::default();
        self.add_services(&mut routes);
        auth.protect(routes.routes())
    }

    /// Adds the two services to `routes`, for a server of several services.
    pub fn add_services(&self, routes: &mut RoutesBuilder) {
        routes
            .add_service(InboundInternalServiceServer::new(self.clone()))
            .add_service(InboundAdminServiceServer::new(self.clone()));
    }

    /// Stores a parsed SMS (committed before this returns) and wakes the router;
    /// `true` with the stored message when its upstream id came before.
    pub async fn accept(&self, arrival: Arrival) -> Result<(Message, bool), Error> {
        let now = self.clock.now();
        let message = arrival.into_message(uuid::Uuid::now_v7().to_string(), now);
        if store::insert(self.db.writer(), &message).await? {
            if self.route_at_once.load(Ordering::Relaxed) {
                // A plain task, not a worker: it routes one message, and
                // should shutdown cut it short, its claim lapses and the
                // routing worker routes the message.
                tokio::spawn(self.clone().route_fresh(message.clone()));
            }
            return Ok((message, false));
        }
        let stored = store::by_upstream(self.db.writer(), &message.upstream, &message.upstream_id)
            .await?
            .ok_or_else(|| Error::Corrupt("a taken upstream id has no message".into()))?;
        // The time is left out: a webhook's retry is stamped when it comes.
        let same = (&stored.to, &stored.sender, &stored.body)
            == (&message.to, &message.sender, &message.body);
        if !same {
            return Err(Error::IdempotencyKeyReused(message.upstream_id));
        }
        Ok((stored, true))
    }

    /// Unrouted messages newest first, before the id `before`; and the
    /// cursor of the next page.
    pub async fn list_unrouted(
        &self,
        before: Option<&str>,
        page_size: u32,
    ) -> Result<(Vec<Message>, Option<String>), Error> {
        let rows = store::unrouted(self.db.reader(), before, page_size + 1).await?;
        Ok(numhub_runtime::validate::page_token::split(
            rows,
            page_size,
            |m| m.id.clone(),
        ))
    }

    /// Puts an unrouted message back in the routing queue.
    pub async fn route_again(&self, id: &str) -> Result<Message, Error> {
        if store::requeue(self.db.writer(), id, self.clock.now()).await? {
            self.arrived.notify_one();
        }
        store::by_id(self.db.writer(), id)
            .await?
            .ok_or_else(|| Error::NotFound {
                resource: "message",
                id: id.to_owned(),
            })
    }

    /// Serves the carriers' webhook if the settings ask for it (an auth
    /// token and an address); `None` otherwise.
    pub async fn start_webhook(&self) -> anyhow::Result<Option<webhook::RunningWebhook>> {
        let (Some(token), numhub_runtime::config::MetricsAddr::At(addr)) = (
            self.settings.twilio_auth_token.clone(),
            self.settings.webhook_addr,
        ) else {
            return Ok(None);
        };
        let listener = numhub_runtime::server::bind(addr).await?;
        let public = match &self.settings.webhook_public_url {
            Some(url) => url.clone(),
            None => format!("http://{}", listener.local_addr()?),
        };
        let router = webhook::router(self.clone(), token, &public);
        Ok(Some(webhook::serve(
            listener,
            router,
            self.settings.webhook_limits(),
        )?))
    }

    /// A stored message.
    pub async fn get(&self, id: &str) -> Result<Option<Message>, Error> {
        store::by_id(self.db.reader(), id).await
    }
}
