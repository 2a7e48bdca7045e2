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
pub mod service;
pub mod simulator;
pub mod store;
pub mod webhook;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use numhub_auth::ServiceCredentials;
use numhub_proto::catalog::v1::catalog_internal_service_client::CatalogInternalServiceClient;
use numhub_proto::orders::v1::orders_internal_service_client::OrdersInternalServiceClient;
use numhub_proto::rentals::v1::rentals_internal_service_client::RentalsInternalServiceClient;
use numhub_runtime::channel::Channel;
use numhub_runtime::clock::SharedClock;
use numhub_runtime::db::{Database, Migrations};
use numhub_runtime::tokens::PageTokens;
use tokio::sync::Notify;

pub use crate::arrival::Arrival;
pub use crate::config::InboundSettings;
use crate::error::Error;
use crate::store::Message;

/// Inbound's schema, for both backends.
pub const MIGRATIONS: Migrations = numhub_runtime::migrations!();

pub use numhub_auth::internal::{CatalogClient, OrdersClient, RentalsClient};

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
    /// The carriers' webhook, once started.
    webhook: Arc<std::sync::Mutex<Option<webhook::RunningWebhook>>>,
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
            webhook: Arc::default(),
        })
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
            .ok_or_else(|| Error::corrupt("a taken upstream id has no message"))?;
        // The time is left out: a webhook's retry is stamped when it comes.
        let same = (&stored.to, &stored.sender, &stored.body)
            == (&message.to, &message.sender, &message.body);
        if !same {
            return Err(Error::key_reused(&message.upstream_id));
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
            .ok_or_else(|| Error::not_found("message", id))
    }

    /// Serves the carriers' webhook if the settings ask for it (an auth
    /// token and an address), until [`Inbound::stop_webhook`]; answers
    /// where it listens.
    pub async fn start_webhook(&self) -> anyhow::Result<Option<std::net::SocketAddr>> {
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
        let running = webhook::serve(listener, router, self.settings.webhook_limits())?;
        let local_addr = running.local_addr();
        let replaced = self.webhook.lock().expect("webhook lock").replace(running);
        if let Some(replaced) = replaced {
            replaced.shutdown().await;
        }
        Ok(Some(local_addr))
    }

    /// Stops the webhook, if it runs: it takes no more messages.
    pub async fn stop_webhook(&self) {
        let running = self.webhook.lock().expect("webhook lock").take();
        if let Some(running) = running {
            running.shutdown().await;
        }
    }

    /// A stored message.
    pub async fn get(&self, id: &str) -> Result<Option<Message>, Error> {
        store::by_id(self.db.reader(), id).await
    }
}
