//! A stored rejection: a business refusal a service records under the
//! request's idempotency key, by the name of its kind, so a retry gets the
//! same answer.

use std::fmt::Debug;

use super::{Failure, Refusal};

/// The kinds of a service's stored rejections. Each has one name, stored
/// with the outcome and read back by the same table ([`Self::ALL`]).
pub trait RejectionKind: Debug + Copy + Eq + Send + Sync + 'static {
    /// Every kind, so every stored name reads back.
    const ALL: &'static [Self];

    /// The name stored with a recorded outcome.
    fn as_str(self) -> &'static str;

    /// The reason the client reads: the stored name, unless a kind says
    /// otherwise (a missing resource is RESOURCE_NOT_FOUND to the client).
    fn reason(self) -> &'static str {
        self.as_str()
    }

    /// The kind stored as `name`, if any.
    fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|kind| kind.as_str() == name)
    }
}

/// Why a service said no, as it records it: a kind of its own and the
/// message the client reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Rejection<K> {
    pub kind: K,
    pub message: String,
}

impl<K: RejectionKind> Rejection<K> {
    pub fn new(kind: K, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// A rejection read back from storage: its kind's name and its message.
    /// An unknown name is stored data that breaks the rule it was written
    /// under.
    pub fn stored(kind: &str, message: impl Into<String>) -> Result<Self, Failure> {
        let kind = K::parse(kind)
            .ok_or_else(|| Failure::corrupt(format!("unknown rejection {kind:?}")))?;
        Ok(Self::new(kind, message))
    }
}

/// What the client reads: the kind's reason and the message.
impl<K: RejectionKind> From<Rejection<K>> for Refusal {
    fn from(rejection: Rejection<K>) -> Self {
        Refusal::new(rejection.kind.reason(), rejection.message)
    }
}

impl<K: RejectionKind> From<Rejection<K>> for Failure {
    fn from(rejection: Rejection<K>) -> Self {
        Failure::Refused(rejection.into())
    }
}

#[cfg(test)]
mod tests {
    use tonic::{Code, Status};
    use tonic_types::StatusExt as _;

    use super::*;
    use crate::error::reason;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Kind {
        Short,
        Missing,
    }

    impl RejectionKind for Kind {
        const ALL: &'static [Self] = &[Self::Short, Self::Missing];

        fn as_str(self) -> &'static str {
            match self {
                Self::Short => "SHORT",
                Self::Missing => "MISSING",
            }
        }

        fn reason(self) -> &'static str {
            match self {
                Self::Missing => reason::RESOURCE_NOT_FOUND,
                kind => kind.as_str(),
            }
        }
    }

    #[test]
    fn stored_rejections_read_back_as_they_were() {
        for &kind in Kind::ALL {
            let read = Rejection::<Kind>::stored(kind.as_str(), "why").unwrap();
            assert_eq!(read, Rejection::new(kind, "why"));
        }
        assert_eq!(Kind::parse("nope"), None);
        let unknown = Rejection::<Kind>::stored("nope", "why").unwrap_err();
        assert_eq!(unknown.code(), Code::Internal);
    }

    #[test]
    fn clients_read_the_kinds_reason_and_the_message() {
        let status = Status::from(Failure::from(Rejection::new(Kind::Short, "short")));
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(status.message(), "short");
        let info = status.get_error_details().error_info().cloned().unwrap();
        assert_eq!(info.reason, "SHORT");
        let status = Status::from(Failure::from(Rejection::new(Kind::Missing, "gone")));
        assert_eq!(status.code(), Code::NotFound);
    }
}
