//! A business refusal: what a service answers when the request is valid
//! but its rules say no (a short balance, no numbers left).

use super::{Violation, reason};

/// A business refusal: FAILED_PRECONDITION with a stable reason (or
/// NOT_FOUND for RESOURCE_NOT_FOUND), recorded under a purchase's request
/// id so a retry gets the same answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub reason: String,
    pub message: String,
    pub metadata: Vec<(String, String)>,
}

impl Refusal {
    pub fn new(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            message: message.into(),
            metadata: Vec::new(),
        }
    }

    pub fn with(mut self, key: &str, value: impl ToString) -> Self {
        self.metadata.push((key.to_owned(), value.to_string()));
        self
    }

    /// A request found invalid by another service (a price limit in a
    /// currency only the catalog knows) as a refusal a saga can store with
    /// the purchase: reason INVALID_FIELD, "field: description" joined by
    /// "; ". Only for storage: the answer itself keeps its violations.
    pub fn invalid(violations: &[Violation]) -> Self {
        let described = violations
            .iter()
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect::<Vec<_>>()
            .join("; ");
        Self::new(reason::INVALID_FIELD, described)
    }

    /// The field violations of a stored refusal made by
    /// [`Refusal::invalid`]; `None` for a business refusal.
    pub fn violations(reason: &str, message: &str) -> Option<Vec<Violation>> {
        (reason == reason::INVALID_FIELD).then(|| {
            message
                .split("; ")
                .map(|v| {
                    let (field, description) = v.split_once(": ").unwrap_or(("request", v));
                    Violation::new(field, description)
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_refusals_keep_their_violations() {
        let violations = [
            Violation::new("max_price", "currency_code must be USD"),
            Violation::new("request_id", "is required"),
        ];
        let refusal = Refusal::invalid(&violations);
        assert_eq!(refusal.reason, reason::INVALID_FIELD);
        let read = Refusal::violations(&refusal.reason, &refusal.message).unwrap();
        assert_eq!(read, violations);
        assert_eq!(Refusal::violations("NO_NUMBERS_AVAILABLE", "none"), None);
    }
}
