//! Who is calling: what the auth layer puts into each authenticated request.

use std::sync::Arc;

use numhub_proto::common::v1::Scope;
use tonic::Status;

/// A set of scopes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scopes(u8);

impl Scopes {
    pub fn contains(self, scope: Scope) -> bool {
        self.0 & Self::bit(scope) != 0
    }

    pub fn with(self, scope: Scope) -> Self {
        Self(self.0 | Self::bit(scope))
    }

    /// Whether every scope of `other` is in this set.
    pub fn covers(self, other: Scopes) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The scopes, in the contract's order.
    pub fn to_vec(self) -> Vec<Scope> {
        [Scope::Read, Scope::Write, Scope::Admin]
            .into_iter()
            .filter(|s| self.contains(*s))
            .collect()
    }

    /// Parses stored scope names ("read", "write", "admin").
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        names.into_iter().try_fold(Self::default(), |set, name| {
            Some(set.with(match name {
                "read" => Scope::Read,
                "write" => Scope::Write,
                "admin" => Scope::Admin,
                _ => return None,
            }))
        })
    }

    pub fn names(self) -> Vec<&'static str> {
        self.to_vec().into_iter().map(scope_name).collect()
    }

    fn bit(scope: Scope) -> u8 {
        match scope {
            Scope::Unspecified => 0,
            Scope::Read => 1,
            Scope::Write => 2,
            Scope::Admin => 4,
        }
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        iter.into_iter().fold(Self::default(), Self::with)
    }
}

/// The lower-case name of a scope, as stored and shown in messages.
pub fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::Unspecified => "unspecified",
        Scope::Read => "read",
        Scope::Write => "write",
        Scope::Admin => "admin",
    }
}

/// Per-key quotas, per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub requests_per_minute: u32,
    pub money_requests_per_minute: u32,
}

/// What accounts says about a valid API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub account_id: Arc<str>,
    pub api_key_id: Arc<str>,
    pub scopes: Scopes,
    pub rate_limits: RateLimits,
}

/// The caller of an RPC, in the request's extensions. Handlers take the
/// account from here, never from the request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account_id: Arc<str>,
    pub api_key_id: Arc<str>,
    pub scopes: Scopes,
}

impl Caller {
    /// The caller of `request`. INTERNAL if the auth layer did not run, which
    /// is a wiring mistake, never the client's.
    pub fn of<T>(request: &tonic::Request<T>) -> Result<Caller, Status> {
        request
            .extensions()
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| {
                numhub_runtime::error::internal(&*anyhow::anyhow!(
                    "no caller in the request: the service is served without the auth layer"
                ))
            })
    }
}
