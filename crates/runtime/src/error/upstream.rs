//! What a failed call to another numhub service means to the caller's own
//! client: one translation for every service that calls another.

use tonic::{Code, Status};
use tonic_types::StatusExt as _;

use super::{Failure, Refusal, Violation};

/// A dependency answered what it never should (a bug, or versions that do
/// not match): logged, INTERNAL to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{service} answered {code:?}: {message}")]
pub struct UpstreamFault {
    pub service: &'static str,
    pub code: Code,
    pub message: String,
}

impl Failure {
    /// The failure of a call to `service` that answered `status`:
    /// - a refusal (FAILED_PRECONDITION or NOT_FOUND with a reason) passes
    ///   through with its reason and metadata;
    /// - UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED and CANCELLED are
    ///   transient: [`Failure::Unavailable`], to retry with the same key;
    /// - INVALID_ARGUMENT on one of `client_fields` (fields the caller
    ///   passed on from its client unchecked, such as `max_price`, whose
    ///   currency only the catalog can judge) is the client's mistake and
    ///   keeps its violations;
    /// - anything else is the caller's fault: [`Failure::Internal`].
    pub fn from_upstream(service: &'static str, status: &Status, client_fields: &[&str]) -> Self {
        let fault = || {
            Self::internal(UpstreamFault {
                service,
                code: status.code(),
                message: status.message().to_owned(),
            })
        };
        let details = status.get_error_details();
        match (status.code(), details.error_info()) {
            (Code::FailedPrecondition | Code::NotFound, Some(info)) if !info.reason.is_empty() => {
                let mut metadata: Vec<_> = info.metadata.iter().collect();
                metadata.sort();
                let refusal = metadata
                    .into_iter()
                    .fold(Refusal::new(&info.reason, status.message()), |r, (k, v)| {
                        r.with(k, v)
                    });
                Self::Refused(refusal)
            }
            (Code::Unavailable | Code::DeadlineExceeded | Code::Aborted | Code::Cancelled, _) => {
                Self::Unavailable(format!(
                    "{service} is unavailable; retry with the same request_id"
                ))
            }
            (Code::InvalidArgument, _) => {
                let violations = client_violations(status, client_fields);
                if violations.is_empty() {
                    fault()
                } else {
                    Self::Invalid(violations)
                }
            }
            _ => fault(),
        }
    }
}

/// The violations an upstream service found in `fields`, the ones a
/// caller passed on from its client unchecked; empty when it named none
/// of them (then the fault is the caller's own).
pub fn client_violations(status: &Status, fields: &[&str]) -> Vec<Violation> {
    status
        .get_error_details()
        .bad_request()
        .map(|br| {
            br.field_violations
                .iter()
                .filter(|v| fields.contains(&v.field.as_str()))
                .map(|v| Violation::new(v.field.clone(), v.description.clone()))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::{invalid_argument, reason, status_with_metadata};
    use super::*;

    #[test]
    fn refusals_pass_through_with_reason_and_metadata() {
        let short = status_with_metadata(
            Code::FailedPrecondition,
            "INSUFFICIENT_BALANCE",
            "balance 5 is less than 10",
            HashMap::from([("balance".to_owned(), "5".to_owned())]),
        );
        let failure = Failure::from_upstream("wallet", &short, &[]);
        let Failure::Refused(refusal) = &failure else {
            panic!("{failure:?}");
        };
        assert_eq!(refusal.reason, "INSUFFICIENT_BALANCE");
        assert_eq!(refusal.message, "balance 5 is less than 10");
        assert_eq!(refusal.metadata, [("balance".to_owned(), "5".to_owned())]);
        let status = Status::from(failure);
        assert_eq!(status.code(), Code::FailedPrecondition);
        let info = status.get_error_details().error_info().cloned().unwrap();
        assert_eq!(info.reason, "INSUFFICIENT_BALANCE");
        assert_eq!(info.metadata["balance"], "5");
        // NOT_FOUND stays NOT_FOUND.
        let missing = super::super::not_found("service", "zz");
        let status = Status::from(Failure::from_upstream("catalog", &missing, &[]));
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(
            status.get_error_details().error_info().unwrap().reason,
            reason::RESOURCE_NOT_FOUND
        );
    }

    #[test]
    fn transient_failures_are_unavailable() {
        for code in [
            Code::Unavailable,
            Code::DeadlineExceeded,
            Code::Aborted,
            Code::Cancelled,
        ] {
            let failure = Failure::from_upstream("wallet", &Status::new(code, "down"), &[]);
            assert!(
                matches!(&failure, Failure::Unavailable(m) if m.starts_with("wallet is unavailable")),
                "{code:?}: {failure:?}"
            );
        }
    }

    #[test]
    fn a_client_field_stays_the_clients_mistake() {
        let euros = invalid_argument(&[
            Violation::new("max_price", "currency_code must be USD"),
            Violation::new("lease_id", "is required"),
        ]);
        let failure = Failure::from_upstream("catalog", &euros, &["max_price"]);
        assert!(
            matches!(&failure, Failure::Invalid(v) if v == &[Violation::new("max_price", "currency_code must be USD")]),
            "{failure:?}"
        );
        let status = Status::from(failure);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(client_violations(&euros, &["operator"]).is_empty());
    }

    #[test]
    fn anything_else_is_internal_and_hidden() {
        let bug = invalid_argument(&[Violation::new("lease_id", "is required")]);
        let unexpected = [
            bug,
            Status::invalid_argument("amount: must be positive"),
            Status::failed_precondition("no reason given"),
            Status::unknown("what"),
            Status::permission_denied("lease_id: not yours"),
        ];
        for upstream in unexpected {
            let failure = Failure::from_upstream("catalog", &upstream, &["max_price"]);
            assert!(
                matches!(&failure, Failure::Internal(e) if e.to_string().starts_with("catalog answered")),
                "{failure:?}"
            );
            let status = Status::from(failure);
            assert_eq!(status.code(), Code::Internal);
            assert_eq!(status.message(), "internal error");
        }
    }
}
