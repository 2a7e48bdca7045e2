//! The accounts service's errors and their gRPC statuses.

use numhub_runtime::error::{Failure, Refusal};

/// Reasons of the accounts service's own refusals.
pub mod accounts_reason {
    /// FAILED_PRECONDITION: the account has the most active keys allowed.
    pub const TOO_MANY_API_KEYS: &str = "TOO_MANY_API_KEYS";
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// What the client is told, as it is.
    #[error(transparent)]
    Failed(#[from] Failure),
}

impl Error {
    pub fn account_not_found(id: &str) -> Self {
        Failure::not_found("account", id).into()
    }

    pub fn key_not_found(id: &str) -> Self {
        Failure::not_found("API key", id).into()
    }

    pub fn invalid(field: &str, description: impl Into<String>) -> Self {
        Failure::invalid(field, description).into()
    }

    /// The granting key lacks `scope`, so cannot give it to another.
    pub fn scope_not_held(scope: &'static str) -> Self {
        let refusal = Refusal::new(
            numhub_auth::reasons::MISSING_SCOPE,
            format!("this key cannot grant the {scope:?} scope, which it does not hold"),
        );
        Failure::Denied(refusal.with("scope", scope)).into()
    }

    pub fn too_many_keys(max: u32) -> Self {
        Failure::Refused(Refusal::new(
            accounts_reason::TOO_MANY_API_KEYS,
            format!("the account already has {max} active API keys; revoke one first"),
        ))
        .into()
    }

    pub fn key_reused(request_id: &str) -> Self {
        Failure::key_reused(request_id).into()
    }

    /// What the client is told.
    pub fn kind(self) -> Failure {
        match self {
            Self::Failed(failure) => failure,
        }
    }
}

numhub_runtime::service_error!(Error);
