//! Inbound's errors and their gRPC statuses.

use numhub_runtime::error::{Failure, quote};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// What the client is told, as it is.
    #[error(transparent)]
    Failed(#[from] Failure),
}

impl Error {
    pub fn not_found(resource: &'static str, id: impl Into<String>) -> Self {
        Failure::not_found(resource, id).into()
    }

    /// The upstream's message id came before with other fields.
    pub fn key_reused(upstream_id: &str) -> Self {
        Failure::KeyReused(format!(
            "upstream_message_id {} was already delivered with other fields",
            quote(upstream_id)
        ))
        .into()
    }

    /// What the client is told.
    pub fn kind(self) -> Failure {
        match self {
            Self::Failed(failure) => failure,
        }
    }
}

numhub_runtime::service_error!(Error);
