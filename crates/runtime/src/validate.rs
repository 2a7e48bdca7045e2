//! Request validation shared by every service: it collects every field at
//! fault so a client fixes its request in one round.

use tonic::Status;

use crate::error::{Violation, invalid_argument};

/// The longest `request_id` a client may send.
pub const MAX_REQUEST_ID_LEN: usize = 255;

/// Collects violations; `finish` turns them into one INVALID_ARGUMENT.
#[derive(Debug, Default)]
pub struct Validator {
    violations: Vec<Violation>,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn violation(&mut self, field: &str, description: impl Into<String>) {
        self.violations.push(Violation::new(field, description));
    }

    /// Records the error of a check that failed, if it did.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(description) => {
                self.violation(field, description);
                None
            }
        }
    }

    pub fn finish(self) -> Result<(), Status> {
        if self.violations.is_empty() {
            Ok(())
        } else {
            Err(invalid_argument(&self.violations))
        }
    }
}

/// A caller-chosen idempotency key: 1 to 255 printable ASCII characters.
pub fn request_id(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Err("is required".into());
    }
    if value.len() > MAX_REQUEST_ID_LEN {
        return Err(format!("must be at most {MAX_REQUEST_ID_LEN} characters"));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be printable ASCII without spaces".into());
    }
    Ok(value.to_owned())
}

/// A required identifier of at most `max_len` printable characters.
pub fn identifier(value: &str, max_len: usize) -> Result<String, String> {
    if value.is_empty() {
        return Err("is required".into());
    }
    if value.chars().count() > max_len {
        return Err(format!("must be at most {max_len} characters"));
    }
    if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("must not contain spaces or control characters".into());
    }
    Ok(value.to_owned())
}

/// Free text of at most `max_len` characters.
pub fn text(value: &str, max_len: usize) -> Result<String, String> {
    if value.chars().count() > max_len {
        return Err(format!("must be at most {max_len} characters"));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err("must not contain control characters".into());
    }
    Ok(value.to_owned())
}

/// The longest SMS text numhub takes.
pub const MAX_SMS_BODY_LEN: usize = 4096;

/// An SMS as the network delivered it: any text (line breaks of every kind
/// included) but NUL, up to 4,096 characters; never only blanks.
pub fn sms_body(value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        return Err("is required".into());
    }
    if value.chars().count() > MAX_SMS_BODY_LEN {
        return Err(format!("must be at most {MAX_SMS_BODY_LEN} characters"));
    }
    if value.contains('\0') {
        return Err("must not contain NUL".into());
    }
    Ok(value.to_owned())
}

/// A UUID string naming a resource.
pub fn uuid(value: &str) -> Result<uuid::Uuid, String> {
    if value.is_empty() {
        return Err("is required".into());
    }
    uuid::Uuid::try_parse(value).map_err(|_| "must be a UUID".into())
}

/// An ISO 4217 code: three upper-case ASCII letters.
pub fn currency_code(value: &str) -> Result<String, String> {
    if value.len() == 3 && value.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(value.to_owned())
    } else {
        Err("must be an ISO 4217 code of three upper-case letters, e.g. USD".into())
    }
}

/// AIP-158 page size: 0 means `default`, otherwise 1..=`max`.
pub fn page_size(value: i32, default: u32, max: u32) -> Result<u32, String> {
    match value {
        0 => Ok(default),
        v if v < 0 => Err("must not be negative".into()),
        v if v as u32 > max => Err(format!("must be at most {max}")),
        v => Ok(v as u32),
    }
}

/// Paging; the tokens themselves are [`crate::tokens`].
pub mod page_token {
    /// Splits a page fetched with one row more than `page_size`: that extra
    /// row's presence means a next page, whose cursor is the last row kept.
    pub fn split<T>(
        mut rows: Vec<T>,
        page_size: u32,
        cursor: impl Fn(&T) -> String,
    ) -> (Vec<T>, Option<String>) {
        if rows.len() > page_size as usize {
            rows.truncate(page_size as usize);
            let next = rows.last().map(cursor);
            (rows, next)
        } else {
            (rows, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_id_bounds() {
        assert!(request_id("").is_err());
        assert!(request_id(&"a".repeat(255)).is_ok());
        assert!(request_id(&"a".repeat(256)).is_err());
        assert!(request_id("has space").is_err());
        assert!(request_id("ünïcode").is_err());
        assert_eq!(request_id("k-1").unwrap(), "k-1");
    }

    #[test]
    fn sms_bodies_keep_their_line_breaks() {
        assert_eq!(sms_body("Code:\r\n1234").as_deref(), Ok("Code:\r\n1234"));
        assert!(sms_body(" \n ").is_err());
        assert!(sms_body("a\0b").is_err());
        assert!(sms_body(&"x".repeat(4097)).is_err());
        assert!(sms_body(&"ж".repeat(4096)).is_ok());
    }

    #[test]
    fn page_size_bounds() {
        assert_eq!(page_size(0, 50, 100), Ok(50));
        assert_eq!(page_size(1, 50, 100), Ok(1));
        assert_eq!(page_size(100, 50, 100), Ok(100));
        assert!(page_size(101, 50, 100).is_err());
        assert!(page_size(-1, 50, 100).is_err());
    }

    #[test]
    fn currency_codes() {
        assert!(currency_code("USD").is_ok());
        assert!(currency_code("usd").is_err());
        assert!(currency_code("US").is_err());
        assert!(currency_code("").is_err());
    }

    #[test]
    fn validator_collects_every_violation() {
        let mut v = Validator::new();
        assert_eq!(v.check("a", request_id("")), None);
        assert_eq!(v.check("b", page_size(101, 50, 100)), None);
        let status = v.finish().unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status.message().contains("a: is required"));
        assert!(status.message().contains("b: must be at most 100"));
    }
}
