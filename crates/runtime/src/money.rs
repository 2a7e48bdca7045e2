//! `numhub.common.v1.Money` at the edge: reading an amount from a request,
//! writing one into a response.

use numhub_proto::common::v1::Money;

use crate::validate;

/// An amount that must be positive, and its currency if one is named.
pub fn positive(money: Option<&Money>) -> Result<(i64, Option<String>), String> {
    let money = money.ok_or("is required")?;
    if money.minor_units <= 0 {
        return Err("minor_units must be positive".into());
    }
    Ok((money.minor_units, currency(&money.currency_code)?))
}

/// A limit the client may set, such as `max_price`: unset is no limit, and
/// a set one is a limit, so it must be positive. (Zero once meant "no
/// limit", which let a client that asked for a price of nothing be charged.)
pub fn limit(money: Option<&Money>) -> Result<Option<(i64, Option<String>)>, String> {
    let Some(money) = money else {
        return Ok(None);
    };
    let currency = currency(&money.currency_code)?;
    if money.minor_units <= 0 {
        return Err("minor_units must be positive; leave the field unset for no limit".into());
    }
    Ok(Some((money.minor_units, currency)))
}

/// A customer's price limit as a purchase records it: [`limit`]'s units,
/// and the currency it was named in, empty for the seller's own (which the
/// seller checks, as only it knows its currency).
pub fn price_limit(money: Option<&Money>) -> Result<(Option<i64>, String), String> {
    Ok(match limit(money)? {
        Some((units, currency)) => (Some(units), currency.unwrap_or_default()),
        None => (None, String::new()),
    })
}

/// An amount that may be left out (zero or unset): then `None`. For amounts
/// whose absence has a meaning of its own (a refund of what is left), never
/// for a limit: see [`limit`].
pub fn optional(money: Option<&Money>) -> Result<(Option<i64>, Option<String>), String> {
    let Some(money) = money else {
        return Ok((None, None));
    };
    let currency = currency(&money.currency_code)?;
    match money.minor_units {
        0 => Ok((None, currency)),
        units if units < 0 => Err("minor_units must not be negative".into()),
        units => Ok((Some(units), currency)),
    }
}

/// A request's currency code: empty means "the account's" (`None`).
pub fn currency(code: &str) -> Result<Option<String>, String> {
    if code.is_empty() {
        Ok(None)
    } else {
        validate::currency_code(code)
            .map(Some)
            .map_err(|e| format!("currency_code {e}"))
    }
}

/// A response's amount.
pub fn to_proto(currency: &str, minor_units: i64) -> Option<Money> {
    Some(Money {
        currency_code: currency.to_owned(),
        minor_units,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(units: i64, code: &str) -> Money {
        Money {
            currency_code: code.into(),
            minor_units: units,
        }
    }

    #[test]
    fn amounts() {
        assert!(positive(None).is_err());
        assert!(positive(Some(&m(0, ""))).is_err());
        assert!(positive(Some(&m(-5, ""))).is_err());
        assert!(positive(Some(&m(5, "usd"))).is_err());
        assert_eq!(positive(Some(&m(5, "EUR"))), Ok((5, Some("EUR".into()))));
        assert_eq!(optional(None), Ok((None, None)));
        assert_eq!(optional(Some(&m(0, ""))), Ok((None, None)));
        assert!(optional(Some(&m(-1, ""))).is_err());
        assert_eq!(limit(None), Ok(None));
        assert!(limit(Some(&m(0, ""))).is_err());
        assert!(limit(Some(&m(-1, "USD"))).is_err());
        assert!(limit(Some(&m(1, "usd"))).is_err());
        assert_eq!(limit(Some(&m(1, ""))), Ok(Some((1, None))));
    }

    #[test]
    fn price_limits_keep_the_currency_they_were_named_in() {
        assert_eq!(price_limit(None), Ok((None, String::new())));
        assert_eq!(price_limit(Some(&m(7, ""))), Ok((Some(7), String::new())));
        assert_eq!(price_limit(Some(&m(7, "EUR"))), Ok((Some(7), "EUR".into())));
        assert!(price_limit(Some(&m(0, "EUR"))).is_err());
    }
}
