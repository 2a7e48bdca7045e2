//! Values as the protocol writes them: amounts, currencies, times, phone
//! numbers and hours of rent.

use std::time::SystemTime;

use numhub_proto::catalog::v1::RentalDuration;
use numhub_proto::common::v1::Money;
use numhub_proto::decimal;
use serde::Serialize;
use serde_json::value::RawValue;

/// An amount as decimal text with at least two decimals (`49.55`,
/// `100.00`, `0.045` for a currency of three), written from integer minor
/// units without floating point. Two at least because one client reads a
/// balance with the pattern `\d+\.\d+` and finds nothing in `100`.
pub fn amount(money: &Money) -> String {
    let places = decimal::exponent(&money.currency_code);
    let mut text = decimal::to_decimal(money.minor_units, places);
    if places == 0 {
        text.push('.');
    }
    for _ in places..2 {
        text.push('0');
    }
    text
}

/// An amount as a JSON number, exactly as [`amount`] writes it.
#[derive(Debug, Clone)]
pub struct Number(String);

impl Number {
    pub fn of(money: &Money) -> Self {
        Self(amount(money))
    }
}

impl Serialize for Number {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Decimal text is a valid JSON number: written as it is.
        RawValue::from_string(self.0.clone())
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }
}

/// A price the client sends (`maxPrice=10.55`) in minor units of
/// `currency`. Decimals past the currency's are cut, never rounded up, so
/// the limit numhub applies is never above the client's: clients write
/// their floats as they print (`0.30000000000000004`). `None` for what is
/// not a positive decimal.
pub fn parse_amount(text: &str, currency: &str) -> Option<i64> {
    let places = decimal::exponent(currency) as usize;
    let cut = match text.split_once('.') {
        Some((whole, fraction)) if fraction.len() > places => {
            let fraction = &fraction[..places];
            if fraction.is_empty() {
                whole.to_owned()
            } else {
                format!("{whole}.{fraction}")
            }
        }
        _ => text.to_owned(),
    };
    decimal::parse_decimal(&cut, places as u32).filter(|units| *units > 0)
}

/// A currency's ISO 4217 numeric code (840 for USD), as getNumberV2 and the
/// rent actions give it; 0 for one this table does not know.
pub fn currency_number(code: &str) -> u16 {
    match code {
        "USD" => 840,
        "EUR" => 978,
        "GBP" => 826,
        "RUB" => 643,
        "UAH" => 980,
        "KZT" => 398,
        "CNY" => 156,
        "INR" => 356,
        "JPY" => 392,
        "KRW" => 410,
        "TRY" => 949,
        "BRL" => 986,
        "CAD" => 124,
        "AUD" => 36,
        "CHF" => 756,
        "PLN" => 985,
        "SEK" => 752,
        "NOK" => 578,
        "DKK" => 208,
        "CZK" => 203,
        "HUF" => 348,
        "ILS" => 376,
        "AED" => 784,
        "SAR" => 682,
        "SGD" => 702,
        "HKD" => 344,
        "IDR" => 360,
        "MYR" => 458,
        "PHP" => 608,
        "THB" => 764,
        "VND" => 704,
        "MXN" => 484,
        "ZAR" => 710,
        "NGN" => 566,
        "EGP" => 818,
        "KWD" => 414,
        "BHD" => 48,
        _ => 0,
    }
}

/// A time as `YYYY-MM-DD HH:MM:SS`, in UTC; empty when unset.
pub fn datetime(timestamp: Option<&prost_types::Timestamp>) -> String {
    rfc3339(timestamp).replace('T', " ")
}

/// A time as `YYYY-MM-DDTHH:MM:SS` (a rental's `endDate`), in UTC; empty
/// when unset.
pub fn end_date(timestamp: Option<&prost_types::Timestamp>) -> String {
    rfc3339(timestamp)
}

fn rfc3339(timestamp: Option<&prost_types::Timestamp>) -> String {
    timestamp
        .and_then(|t| SystemTime::try_from(*t).ok())
        .map(|t| {
            let text = humantime::format_rfc3339_seconds(t).to_string();
            text.trim_end_matches('Z').to_owned()
        })
        .unwrap_or_default()
}

/// An E.164 number as the protocol writes it: its digits, no plus sign.
pub fn digits(e164: &str) -> String {
    e164.trim_start_matches('+').to_owned()
}

/// The fewest hours each rental package is sure to last: a calendar month
/// is 28 days at least, three 89, six 181, a year 365.
pub fn package_hours(duration: RentalDuration) -> u32 {
    use RentalDuration as D;
    let days = match duration {
        D::Unspecified => 0,
        D::OneDay => 1,
        D::ThreeDays => 3,
        D::SevenDays => 7,
        D::FourteenDays => 14,
        D::ThirtyDays => 30,
        D::OneMonth => 28,
        D::ThreeMonths => 89,
        D::SixMonths => 181,
        D::OneYear => 365,
    };
    days * 24
}

/// The package of `packages` a rent of `hours` buys: the shortest that is
/// sure to last that long, the cheapest of those that last alike. `None`
/// when none lasts that long.
pub fn package_for<P>(
    hours: u32,
    packages: impl IntoIterator<Item = P>,
    duration: impl Fn(&P) -> RentalDuration,
    price: impl Fn(&P) -> i64,
) -> Option<P> {
    packages
        .into_iter()
        .filter(|p| package_hours(duration(p)) >= hours)
        .min_by_key(|p| (package_hours(duration(p)), price(p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(units: i64) -> Money {
        Money {
            currency_code: "USD".into(),
            minor_units: units,
        }
    }

    #[test]
    fn amounts_have_two_decimals_at_least() {
        assert_eq!(amount(&usd(4955)), "49.55");
        assert_eq!(amount(&usd(10_000)), "100.00");
        assert_eq!(amount(&usd(5)), "0.05");
        let yen = Money {
            currency_code: "JPY".into(),
            minor_units: 120,
        };
        assert_eq!(amount(&yen), "120.00");
        let dinar = Money {
            currency_code: "KWD".into(),
            minor_units: 45,
        };
        assert_eq!(amount(&dinar), "0.045");
        assert_eq!(
            serde_json::to_string(&Number::of(&usd(45))).unwrap(),
            "0.45"
        );
    }

    #[test]
    fn prices_parse_exactly_and_cut_past_the_currency() {
        assert_eq!(parse_amount("0.45", "USD"), Some(45));
        assert_eq!(parse_amount("10", "USD"), Some(1000));
        assert_eq!(parse_amount("0.30000000000000004", "USD"), Some(30));
        assert_eq!(parse_amount("0.459", "USD"), Some(45));
        assert_eq!(parse_amount("12.9", "JPY"), Some(12));
        for bad in ["0", "0.001", "-1", "abc", "1e2", "", "1,5"] {
            assert_eq!(parse_amount(bad, "USD"), None, "{bad}");
        }
    }

    #[test]
    fn times_and_numbers_as_the_protocol_writes_them() {
        let t = prost_types::Timestamp {
            seconds: 1_654_104_657,
            nanos: 500,
        };
        assert_eq!(datetime(Some(&t)), "2022-06-01 17:30:57");
        assert_eq!(end_date(Some(&t)), "2022-06-01T17:30:57");
        assert_eq!(datetime(None), "");
        assert_eq!(digits("+15550100042"), "15550100042");
        assert_eq!(currency_number("USD"), 840);
        assert_eq!(currency_number("XXX"), 0);
    }

    #[test]
    fn a_rent_buys_the_shortest_package_sure_to_last() {
        use RentalDuration as D;
        let packages = [
            (D::SevenDays, 200),
            (D::OneMonth, 499),
            (D::ThirtyDays, 450),
            (D::OneYear, 3999),
        ];
        let pick = |hours| package_for(hours, packages, |p| p.0, |p| p.1).map(|p| p.0);
        assert_eq!(pick(4), Some(D::SevenDays));
        assert_eq!(pick(168), Some(D::SevenDays));
        assert_eq!(pick(169), Some(D::OneMonth));
        // 30 days is sure to last longer than a calendar month.
        assert_eq!(pick(700), Some(D::ThirtyDays));
        assert_eq!(pick(721), Some(D::OneYear));
        assert_eq!(pick(9000), None);
    }
}
