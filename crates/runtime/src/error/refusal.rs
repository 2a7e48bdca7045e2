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
    /// the purchase: reason INVALID_FIELD, its violations as a JSON list of
    /// `[field, description]`, so they come back as they were, whatever
    /// their text. Only for storage: the client gets the violations.
    pub fn invalid(violations: &[Violation]) -> Self {
        let pairs: Vec<[&str; 2]> = violations
            .iter()
            .map(|v| [v.field.as_str(), v.description.as_str()])
            .collect();
        let stored = serde_json::to_string(&pairs).unwrap_or_default();
        Self::new(reason::INVALID_FIELD, stored)
    }

    /// The field violations of a stored refusal made by
    /// [`Refusal::invalid`]; `None` for a business refusal. Rows stored
    /// before the JSON form hold "field: description" joined by "; ".
    pub fn violations(reason: &str, message: &str) -> Option<Vec<Violation>> {
        if reason != reason::INVALID_FIELD {
            return None;
        }
        if let Ok(pairs) = serde_json::from_str::<Vec<(String, String)>>(message) {
            return Some(
                pairs
                    .into_iter()
                    .map(|(f, d)| Violation::new(f, d))
                    .collect(),
            );
        }
        Some(
            message
                .split("; ")
                .map(|v| {
                    let (field, description) = v.split_once(": ").unwrap_or(("request", v));
                    Violation::new(field, description)
                })
                .collect(),
        )
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

    #[test]
    fn stored_violations_come_back_whatever_their_text() {
        let violations = [
            Violation::new("max_price", "is 1; the price: 2 \"EUR\"\n"),
            Violation::new("max_price.currency_code", ""),
        ];
        let refusal = Refusal::invalid(&violations);
        let read = Refusal::violations(&refusal.reason, &refusal.message).unwrap();
        assert_eq!(read, violations);
    }

    #[test]
    fn rows_stored_before_the_json_form_still_read() {
        let read = Refusal::violations(
            reason::INVALID_FIELD,
            "max_price: currency_code must be USD; request_id: is required",
        )
        .unwrap();
        assert_eq!(
            read,
            [
                Violation::new("max_price", "currency_code must be USD"),
                Violation::new("request_id", "is required"),
            ]
        );
    }
}
