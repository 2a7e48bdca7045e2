//! numhub's HTTP gateway: a stateless edge over the public gRPC services
//! that speaks the REST API of the seeds' providers ([`rest`]), with its
//! OpenAPI document ([`openapi`]), and the SMS-Activate protocol
//! ([`sms_activate`]).
//!
//! Every request is made on the caller's behalf with the caller's own API
//! key ([`caller`]), so auth, scopes, isolation and rate limits are decided
//! where they are for gRPC clients; the gateway keeps nothing and any
//! number of its replicas can serve. [`reply`] writes every answer in one
//! envelope, [`input`] reads every request.

pub mod caller;
pub mod config;
pub mod idempotency;
pub mod input;
pub mod openapi;
pub mod reply;
pub mod rest;
mod server;
mod service;
pub mod sms_activate;
pub mod upstream;

use std::sync::Arc;

use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

pub use crate::config::GatewaySettings;
use crate::upstream::Upstream;
use numhub_runtime::http_server::RunningHttp;

/// The gateway: its clients of the public services, its settings, and its
/// HTTP server once started. Clones share all three.
#[derive(Clone)]
pub struct Gateway {
    upstream: Upstream,
    settings: Arc<GatewaySettings>,
    http: Arc<Mutex<Option<RunningHttp>>>,
    /// Cancelled when the gateway stops: every live event stream ends.
    closing: CancellationToken,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    pub fn new(upstream: Upstream, settings: GatewaySettings) -> Self {
        Self {
            upstream,
            settings: Arc::new(settings),
            http: Arc::default(),
            closing: CancellationToken::new(),
        }
    }

    /// The clients of the public services.
    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// Where the HTTP API is served, once started.
    pub async fn http_addr(&self) -> Option<std::net::SocketAddr> {
        self.http.lock().await.as_ref().map(RunningHttp::local_addr)
    }
}
