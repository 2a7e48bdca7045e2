//! numhub's authentication and authorization, in one tower layer that every
//! gRPC service wears ([`AuthLayer`]).
//!
//! Every RPC's rule comes from its contract (the `numhub.common.v1.access`
//! method option, compiled into [`numhub_proto::ACCESS_RULES`]):
//! * public and admin RPCs take an API key (`authorization: Bearer` or
//!   `x-api-key`), resolved by the accounts service behind a short cache,
//!   rate limited per key, and checked for the RPC's scope;
//! * internal RPCs take the service credential and nothing else;
//! * a stream answered to an API key ends once the key is revoked
//!   ([`stream_guard`]).
//!
//! Handlers read the caller with [`Caller::of`].

pub mod api_key;
pub mod authenticator;
pub mod config;
pub mod credential;
pub mod identity;
pub mod internal;
pub mod layer;
pub mod rate_limit;
pub mod reasons;
pub mod stream_guard;

pub use crate::api_key::Environment;
pub use crate::authenticator::{AccountsClient, Authenticator, CachedAuthenticator};
pub use crate::config::AuthConfig;
pub use crate::credential::{Secret, ServiceCredentials, ServiceInterceptor};
pub use crate::identity::{Caller, Identity, RateLimits, Scopes};
pub use crate::layer::AuthLayer;
