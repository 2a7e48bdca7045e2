//! A process's gRPC services: their routes, and their names, which the
//! server reports health for.

use std::convert::Infallible;

use numhub_auth::AuthLayer;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::service::{Routes, RoutesBuilder};

/// The gRPC services a process serves, each added once with its name.
#[derive(Debug, Default)]
pub struct GrpcServices {
    routes: RoutesBuilder,
    names: Vec<&'static str>,
}

impl GrpcServices {
    /// Adds a generated server (`WalletServiceServer::new(wallet)`).
    pub fn add<S>(&mut self, service: S) -> &mut Self
    where
        S: tower_service::Service<http::Request<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.names.push(S::NAME);
        self.routes.add_service(service);
        self
    }

    /// The names of the services added, for health.
    pub fn names(&self) -> &[&'static str] {
        &self.names
    }

    /// The routes behind `auth`, and the services' names.
    pub fn protect(self, auth: &AuthLayer) -> (Routes, Vec<&'static str>) {
        (auth.protect(self.routes.routes()), self.names)
    }
}
