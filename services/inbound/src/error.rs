//! Inbound's errors and their gRPC statuses.

use numhub_runtime::error::{Failure, quote};
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// What the client is told, as it is.
    #[error(transparent)]
    Failed(#[from] Failure),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
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
            Self::Database(_) | Self::Corrupt(_) => Failure::internal(self),
        }
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        error.kind().into()
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    #[test]
    fn database_errors_never_reach_the_client() {
        let status = Status::from(Error::Database(sqlx::Error::Protocol(
            "relation inbound_messages does not exist".into(),
        )));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("inbound_messages"));
    }
}
