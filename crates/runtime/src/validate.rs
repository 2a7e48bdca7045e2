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

    /// The value `parsed` builds from the checked fields when none was at
    /// fault; otherwise every violation. `parsed` gives `None` only when a
    /// check failed, and a failed check recorded its violation.
    pub fn finish_with<T>(self, parsed: impl FnOnce() -> Option<T>) -> Result<T, Vec<Violation>> {
        if !self.violations.is_empty() {
            return Err(self.violations);
        }
        parsed().ok_or(self.violations)
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
    if value
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || is_bidi_control(c))
    {
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
        .any(|c| (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c))
    {
        return Err("must not contain control or bidirectional formatting characters".into());
    }
    Ok(value.to_owned())
}

/// A UUID string naming a resource: the hyphenated form numhub issues, in
/// either case (RFC 9562 reads hex digits case-insensitively), so it reads
/// back lower-case. Braced, URN and unhyphenated forms are refused, so every
/// service takes exactly the same ids.
pub fn uuid(value: &str) -> Result<uuid::Uuid, String> {
    if value.is_empty() {
        return Err("is required".into());
    }
    let hyphenated = value.len() == 36
        && value
            .bytes()
            .enumerate()
            .all(|(i, b)| matches!(i, 8 | 13 | 18 | 23) == (b == b'-'));
    if !hyphenated {
        return Err("must be a UUID in its hyphenated form".into());
    }
    uuid::Uuid::try_parse(value).map_err(|_| "must be a UUID in its hyphenated form".into())
}

/// Characters that reorder the text around them (bidirectional overrides,
/// embeddings, isolates and marks): in a name they can disguise it in a
/// listing (U+202E shows "exe.txt" for "txt.exe"), and no name needs them.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
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
    fn uuids_in_one_form() {
        let id = "0192f0c1-7a2b-7c3d-8e4f-0123456789ab";
        assert_eq!(uuid(id).unwrap().to_string(), id);
        assert_eq!(uuid(&id.to_uppercase()).unwrap().to_string(), id);
        for bad in [
            "",
            "{0192f0c1-7a2b-7c3d-8e4f-0123456789ab}",
            "urn:uuid:0192f0c1-7a2b-7c3d-8e4f-0123456789ab",
            "0192f0c17a2b7c3d8e4f0123456789ab",
            "0192f0c1-7a2b-7c3d-8e4f-0123456789ag",
            "0192f0c1-7a2b7-c3d-8e4f-0123456789ab",
        ] {
            assert!(uuid(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_cannot_hide_behind_bidirectional_controls() {
        assert!(text("build\u{202E}txt.exe", 64).is_err());
        assert!(text("a\u{2067}b", 64).is_err());
        assert!(identifier("a\u{200F}b", 64).is_err());
        assert!(text("ключ для CI 👩‍💻", 64).is_ok());
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
    fn finish_with_builds_only_from_valid_fields() {
        let mut v = Validator::new();
        let a = v.check("a", request_id("k"));
        assert_eq!(v.finish_with(|| a), Ok("k".to_owned()));
        let mut v = Validator::new();
        let a = v.check("a", request_id(""));
        let b = v.check("b", page_size(-1, 50, 100));
        v.violation("c", "is wrong");
        let violations = v.finish_with(|| Some((a?, b?))).unwrap_err();
        assert_eq!(Violation::fields(&violations), ["a", "b", "c"]);
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
