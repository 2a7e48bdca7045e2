//! The accounts service's records.

use numhub_auth::{RateLimits, Scopes};
use numhub_runtime::clock::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub display_name: String,
    pub operator: bool,
    pub rate_limits: RateLimits,
    pub created_at: Timestamp,
}

/// An API key as stored: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub scopes: Scopes,
    pub display_prefix: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

/// A key found by its selector, with what is needed to verify it.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub key: ApiKey,
    pub verifier: String,
    pub rate_limits: RateLimits,
}

/// A key to create, as a request asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    pub name: String,
    pub scopes: Scopes,
}

/// A key an operator creates for an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccountApiKey {
    pub account_id: String,
    pub key: NewApiKey,
}

/// An account to create; `rate_limits` `None` means the server's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub display_name: String,
    pub rate_limits: Option<RateLimits>,
    pub request_id: String,
}
