//! `Money` as decimal text, for the edges that speak it (the HTTP gateway,
//! the CLI): exact, in integer arithmetic only, never floating point.

/// The number of decimals of a currency's minor unit (ISO 4217).
pub fn exponent(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        "CLF" | "UYW" => 4,
        _ => 2,
    }
}

/// An amount in minor units as decimal text with exactly `places`
/// decimals: 12450 with 2 places is "124.50", -5 is "-0.05".
pub fn to_decimal(minor_units: i64, places: u32) -> String {
    let sign = if minor_units < 0 { "-" } else { "" };
    let units = minor_units.unsigned_abs();
    if places == 0 {
        return format!("{sign}{units}");
    }
    let scale = 10u64.pow(places);
    format!(
        "{sign}{}.{:0width$}",
        units / scale,
        units % scale,
        width = places as usize
    )
}

/// A non-negative decimal amount ("0.50", "12", "1.5") in minor units of a
/// currency with `places` decimals; `None` when it is not one: a sign, an
/// exponent, more decimals than the currency has, a bare point, or more
/// than an i64 of minor units holds.
pub fn parse_decimal(amount: &str, places: u32) -> Option<i64> {
    let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) {
        return None;
    }
    if fraction.len() > places as usize || (amount.contains('.') && fraction.is_empty()) {
        return None;
    }
    let scale = 10i64.checked_pow(places)?;
    let fraction_units = if fraction.is_empty() {
        0
    } else {
        fraction.parse::<i64>().ok()? * 10i64.pow(places - fraction.len() as u32)
    };
    whole
        .parse::<i64>()
        .ok()?
        .checked_mul(scale)?
        .checked_add(fraction_units)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_parse_to_minor_units_exactly() {
        assert_eq!(parse_decimal("0.45", 2), Some(45));
        assert_eq!(parse_decimal("124.50", 2), Some(12450));
        assert_eq!(parse_decimal("12", 2), Some(1200));
        assert_eq!(parse_decimal("1.5", 2), Some(150));
        assert_eq!(parse_decimal("0.1", 3), Some(100));
        assert_eq!(parse_decimal("120", 0), Some(120));
        for bad in [
            "1.", ".5", "1.234", "-1", "+1", "1e2", "1,5", " 1", "", "0x10",
        ] {
            assert_eq!(parse_decimal(bad, 2), None, "{bad:?}");
        }
        assert_eq!(parse_decimal("1.5", 0), None);
        assert_eq!(parse_decimal("99999999999999999999", 2), None);
        assert_eq!(parse_decimal("92233720368547758.08", 2), None);
        assert_eq!(parse_decimal("92233720368547758.07", 2), Some(i64::MAX));
    }

    #[test]
    fn minor_units_write_with_the_currency_places() {
        assert_eq!(to_decimal(12450, 2), "124.50");
        assert_eq!(to_decimal(5, 2), "0.05");
        assert_eq!(to_decimal(-5, 2), "-0.05");
        assert_eq!(to_decimal(0, 2), "0.00");
        assert_eq!(to_decimal(120, 0), "120");
        assert_eq!(to_decimal(1, 3), "0.001");
        assert_eq!(to_decimal(i64::MIN, 2), "-92233720368547758.08");
        for units in [0, 1, 9, 10, 99, 100, 12345, i64::MAX] {
            for places in [0, 2, 3] {
                assert_eq!(
                    parse_decimal(&to_decimal(units, places), places),
                    Some(units)
                );
            }
        }
        assert_eq!(exponent("USD"), 2);
        assert_eq!(exponent("JPY"), 0);
        assert_eq!(exponent("KWD"), 3);
    }
}
