//! The formats of the catalog's codes (services, countries, operators),
//! checked at the edge of every service that takes them, so the domain only
//! sees well-formed ones.

/// Longest service code: SMS-Activate's are 2 or 3 characters.
const MAX_SERVICE_CODE: usize = 16;
const MAX_OPERATOR_CODE: usize = 32;

/// A service code: 1 to 16 lower-case ASCII letters and digits.
pub fn service(value: &str) -> Result<String, String> {
    slug(value, MAX_SERVICE_CODE, "a service code")
}

/// An operator code: 1 to 32 lower-case ASCII letters and digits.
pub fn operator(value: &str) -> Result<String, String> {
    slug(value, MAX_OPERATOR_CODE, "an operator code")
}

/// A service code, or empty for none.
pub fn optional_service(value: &str) -> Result<Option<String>, String> {
    if value.is_empty() {
        Ok(None)
    } else {
        service(value).map(Some)
    }
}

/// An operator code, or empty for none.
pub fn optional_operator(value: &str) -> Result<Option<String>, String> {
    if value.is_empty() {
        Ok(None)
    } else {
        operator(value).map(Some)
    }
}

fn slug(value: &str, max: usize, what: &str) -> Result<String, String> {
    if value.is_empty() {
        return Err("is required".into());
    }
    let valid = value.len() <= max
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if valid {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "must be {what}: 1 to {max} lower-case ASCII letters and digits"
        ))
    }
}

/// An ISO 3166-1 alpha-2 country code in upper case.
pub fn country(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Err("is required".into());
    }
    if value.len() == 2 && value.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(value.to_owned())
    } else {
        Err("must be an ISO 3166-1 alpha-2 code of two upper-case letters, e.g. US".into())
    }
}

/// A country code, or empty for none.
pub fn optional_country(value: &str) -> Result<Option<String>, String> {
    if value.is_empty() {
        Ok(None)
    } else {
        country(value).map(Some)
    }
}

/// A dial prefix: a plus sign and 1 to 4 digits, the first not 0.
pub fn dial_prefix(value: &str) -> Result<String, String> {
    let digits = value.strip_prefix('+').unwrap_or_default();
    let valid = (1..=4).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if valid {
        Ok(value.to_owned())
    } else {
        Err("must be a plus sign and 1 to 4 digits, e.g. +44".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert!(service("wa").is_ok());
        assert!(service("WA").is_err());
        assert!(service("").is_err());
        assert!(service(&"a".repeat(17)).is_err());
        assert_eq!(optional_service(""), Ok(None));
        assert!(country("US").is_ok());
        assert!(country("us").is_err());
        assert!(country("USA").is_err());
        assert!(operator("tmobile").is_ok());
        assert!(operator("t-mobile").is_err());
        assert!(dial_prefix("+1").is_ok());
        assert!(dial_prefix("+1234").is_ok());
        assert!(dial_prefix("1").is_err());
        assert!(dial_prefix("+01").is_err());
        assert!(dial_prefix("+12345").is_err());
    }
}
