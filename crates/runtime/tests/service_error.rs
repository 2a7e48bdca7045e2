//! The glue `service_error!` writes for every service's error type.

use numhub_runtime::error::Failure;
use tonic::Code;

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error(transparent)]
    Failed(#[from] Failure),
    #[error("shutting down")]
    ShuttingDown,
}

impl Error {
    fn kind(self) -> Failure {
        match self {
            Self::Failed(failure) => failure,
            Self::ShuttingDown => Failure::shutting_down(),
        }
    }
}

numhub_runtime::service_error!(Error);

fn database_call() -> Result<(), Error> {
    Err(sqlx::Error::Protocol(
        "relation inbound_messages does not exist".into(),
    ))?;
    Ok(())
}

#[test]
fn database_errors_never_reach_the_client() {
    let error = database_call().unwrap_err();
    let Error::Failed(failure) = &error else {
        panic!("{error:?}");
    };
    assert!(
        matches!(failure.database_error(), Some(sqlx::Error::Protocol(_))),
        "the database error stays inside, for retries: {failure:?}"
    );
    let status = tonic::Status::from(error);
    assert_eq!(status.code(), Code::Internal);
    assert_eq!(status.message(), "internal error");
}

#[test]
fn corrupt_data_is_internal_and_its_text_stays_inside() {
    let status = tonic::Status::from(Error::corrupt("a balance below zero"));
    assert_eq!(status.code(), Code::Internal);
    assert!(
        !status.message().contains("balance"),
        "{}",
        status.message()
    );
}

#[test]
fn the_service_says_what_its_own_variants_are() {
    let status = tonic::Status::from(Error::ShuttingDown);
    assert_eq!(status.code(), Code::Unavailable);
}
