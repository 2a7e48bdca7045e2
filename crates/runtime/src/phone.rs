//! Phone numbers in E.164: a plus sign and up to 15 digits, the first of
//! which (the country code's) is never 0.

/// Why a string is not an E.164 number.
pub type PhoneError = String;

/// The fewest digits accepted: shorter strings are short codes, not lines.
const MIN_DIGITS: usize = 7;
const MAX_DIGITS: usize = 15;

/// The E.164 form of `input`, which may omit the plus sign.
pub fn normalize(input: &str) -> Result<String, PhoneError> {
    if input.is_empty() {
        return Err("is required".into());
    }
    let digits = input.strip_prefix('+').unwrap_or(input);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must be E.164: a plus sign and digits only, e.g. +14035551234".into());
    }
    if !(MIN_DIGITS..=MAX_DIGITS).contains(&digits.len()) {
        return Err(format!(
            "must have {MIN_DIGITS} to {MAX_DIGITS} digits (E.164)"
        ));
    }
    if digits.starts_with('0') {
        return Err("must start with a country code, which is never 0 (E.164)".into());
    }
    Ok(format!("+{digits}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_numbers() {
        assert_eq!(normalize("+14035551234").unwrap(), "+14035551234");
        assert_eq!(normalize("14035551234").unwrap(), "+14035551234");
        assert!(normalize("").is_err());
        assert!(normalize("+1 403 555 1234").is_err());
        assert!(normalize("+0403555123").is_err());
        assert!(normalize("+123456").is_err());
        assert!(normalize("+1234567890123456").is_err());
        assert!(normalize("++14035551234").is_err());
        assert!(normalize("07684563067").is_err());
    }
}
