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
