//! The rules of an SMS, in one place: every service that takes a message
//! (inbound's Deliver and webhook, orders' and rentals' DeliverMessage)
//! checks it with these functions, so a message inbound accepts is one its
//! holder's service accepts too. The contract states the same limits
//! (`numhub.inbound.v1.DeliverRequest`).

use crate::{phone, validate};

/// The longest text, in characters (Unicode scalar values).
pub const MAX_BODY_LEN: usize = 4096;
/// The longest sender, in characters: a number or an alphanumeric name.
pub const MAX_SENDER_LEN: usize = 64;
/// The longest name of the gateway a message came from.
pub const MAX_UPSTREAM_LEN: usize = 64;
/// The longest id of a message: the gateway's own id, and the id inbound
/// hands on to the holder's service.
pub const MAX_MESSAGE_ID_LEN: usize = 255;

/// The text as the network delivered it: any text (line breaks of every
/// kind included) but NUL, up to [`MAX_BODY_LEN`] characters; never only
/// blanks.
pub fn body(value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        return Err("is required".into());
    }
    if value.chars().count() > MAX_BODY_LEN {
        return Err(format!("must be at most {MAX_BODY_LEN} characters"));
    }
    if value.contains('\0') {
        return Err("must not contain NUL".into());
    }
    Ok(value.to_owned())
}

/// The sender as the network gave it: optional, up to [`MAX_SENDER_LEN`]
/// characters, no control characters but line breaks and tabs.
pub fn sender(value: &str) -> Result<String, String> {
    validate::text(value, MAX_SENDER_LEN)
}

/// The number a message reached, in E.164 (the plus sign may be omitted).
pub fn number(value: &str) -> Result<String, String> {
    phone::normalize(value)
}

/// The name of the gateway a message came from.
pub fn upstream(value: &str) -> Result<String, String> {
    validate::identifier(value, MAX_UPSTREAM_LEN)
}

/// A message's id: the gateway's, or inbound's as its holder's service
/// receives it.
pub fn message_id(value: &str) -> Result<String, String> {
    validate::identifier(value, MAX_MESSAGE_ID_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_keep_their_line_breaks_up_to_the_limit() {
        assert_eq!(body("Code:\r\n1234").as_deref(), Ok("Code:\r\n1234"));
        assert!(body("").is_err());
        assert!(body(" \n ").is_err());
        assert!(body("a\0b").is_err());
        // Characters, not bytes: the limit of multi-byte text is the same.
        assert!(body(&"x".repeat(MAX_BODY_LEN)).is_ok());
        assert!(body(&"ж".repeat(MAX_BODY_LEN)).is_ok());
        assert_eq!(
            body(&"x".repeat(MAX_BODY_LEN + 1)),
            Err("must be at most 4096 characters".into())
        );
        assert!(body(&"ж".repeat(MAX_BODY_LEN + 1)).is_err());
        assert!(body(&"x".repeat(5030)).is_err());
    }

    #[test]
    fn senders_are_optional_and_short() {
        assert_eq!(sender("").as_deref(), Ok(""));
        assert_eq!(sender("+14155550100").as_deref(), Ok("+14155550100"));
        assert_eq!(sender("Wells Fargo").as_deref(), Ok("Wells Fargo"));
        assert!(sender(&"s".repeat(MAX_SENDER_LEN)).is_ok());
        assert_eq!(
            sender(&"s".repeat(MAX_SENDER_LEN + 1)),
            Err("must be at most 64 characters".into())
        );
        assert!(sender("a\0b").is_err());
        assert!(sender("a\u{7f}b").is_err());
    }

    #[test]
    fn numbers_are_e164() {
        assert_eq!(number("14035551234").as_deref(), Ok("+14035551234"));
        assert!(number("").is_err());
        assert!(number("+1 403 555 1234").is_err());
    }

    #[test]
    fn ids_and_upstreams_are_bounded_identifiers() {
        assert!(message_id(&"i".repeat(MAX_MESSAGE_ID_LEN)).is_ok());
        assert!(message_id(&"i".repeat(MAX_MESSAGE_ID_LEN + 1)).is_err());
        assert!(message_id("").is_err());
        assert!(message_id("SM 1").is_err());
        assert!(upstream(&"u".repeat(MAX_UPSTREAM_LEN)).is_ok());
        assert!(upstream(&"u".repeat(MAX_UPSTREAM_LEN + 1)).is_err());
        assert!(upstream("").is_err());
    }
}
