//! How results look: money as a decimal with its currency and times in RFC
//! 3339 for people, in aligned columns; one JSON object per line for
//! scripts, money as integer minor units with its currency.

use std::time::SystemTime;

use numhub_proto::accounts::v1::{ApiKey, ApiKeyState};
use numhub_proto::catalog::v1::{
    ActivationPrice, CountryOffer, NumberType, RentalDuration, Service,
};
use numhub_proto::common::v1::{Money, Scope};
use numhub_proto::decimal::to_decimal;
pub use numhub_proto::decimal::{exponent, parse_decimal};
use numhub_proto::orders::v1::{Activation, ActivationStatus, Message};
use numhub_proto::rentals::v1 as rentals_pb;
use numhub_proto::rentals::v1::{Rental, RentalStatus};
use numhub_proto::wallet::v1::Balance;
use serde_json::{Value, json};

/// "USD 0.45", "USD -1.20", "JPY 120"; "-" for no amount.
pub fn money_text(money: Option<&Money>) -> String {
    let Some(money) = money else {
        return "-".into();
    };
    let amount = to_decimal(money.minor_units, exponent(&money.currency_code));
    let currency = clean(&money.currency_code);
    if currency.is_empty() {
        amount
    } else {
        format!("{currency} {amount}")
    }
}

/// `{"minor_units": 45, "currency": "USD"}`, or null.
pub fn money_json(money: Option<&Money>) -> Value {
    match money {
        Some(money) => json!({
            "minor_units": money.minor_units,
            "currency": money.currency_code,
        }),
        None => Value::Null,
    }
}

fn system_time(time: Option<&prost_types::Timestamp>) -> Option<SystemTime> {
    time.and_then(|t| SystemTime::try_from(*t).ok())
}

/// "2025-06-01T12:00:00Z", or "-" when unset.
pub fn time_text(time: Option<&prost_types::Timestamp>) -> String {
    system_time(time)
        .map(|t| humantime::format_rfc3339_seconds(t).to_string())
        .unwrap_or_else(|| "-".into())
}

/// RFC 3339 with milliseconds, or null when unset.
pub fn time_json(time: Option<&prost_types::Timestamp>) -> Value {
    system_time(time)
        .map(|t| Value::String(humantime::format_rfc3339_millis(t).to_string()))
        .unwrap_or(Value::Null)
}

/// "WAITING", "CANCELLED"...
pub fn status_name(status: i32) -> &'static str {
    let name = ActivationStatus::try_from(status)
        .unwrap_or(ActivationStatus::Unspecified)
        .as_str_name();
    name.strip_prefix("ACTIVATION_STATUS_").unwrap_or(name)
}

/// Whether an activation in this status has ended.
pub fn is_terminal(status: i32) -> bool {
    matches!(
        ActivationStatus::try_from(status),
        Ok(ActivationStatus::Finished
            | ActivationStatus::Cancelled
            | ActivationStatus::Expired
            | ActivationStatus::Skipped
            | ActivationStatus::Failed)
    )
}

/// "read", "write", "admin".
pub fn scope_name(scope: i32) -> String {
    let name = Scope::try_from(scope)
        .unwrap_or(Scope::Unspecified)
        .as_str_name();
    name.strip_prefix("SCOPE_").unwrap_or(name).to_lowercase()
}

fn key_state_name(state: i32) -> &'static str {
    let name = ApiKeyState::try_from(state)
        .unwrap_or(ApiKeyState::Unspecified)
        .as_str_name();
    name.strip_prefix("API_KEY_STATE_").unwrap_or(name)
}

/// Text from the server made safe for one line of a terminal: control
/// characters (line breaks, escape sequences an SMS could carry) become
/// spaces or the replacement character.
pub fn clean(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_control() => '\u{fffd}',
            c => c,
        })
        .collect()
}

fn or_dash(text: &str) -> String {
    if text.is_empty() {
        "-".into()
    } else {
        clean(text)
    }
}

/// Rows in aligned columns, two spaces apart, the header first.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Self {
            rows: vec![header.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|i| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .map(|c| c.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut text = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                let pad = widths[i].saturating_sub(cell.chars().count());
                line.extend(std::iter::repeat_n(' ', pad));
            }
            text.push_str(line.trim_end());
            text.push('\n');
        }
        text
    }
}

/// Label and value pairs, the values aligned.
fn details(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    pairs
        .iter()
        .map(|(label, value)| format!("{label:<width$}  {value}\n"))
        .collect()
}

// ---- balance ----

pub fn balance_text(balance: &Balance) -> String {
    format!("{}\n", money_text(balance.available.as_ref()))
}

pub fn balance_json(balance: &Balance) -> Value {
    json!({
        "account_id": balance.account_id,
        "available": money_json(balance.available.as_ref()),
        "update_time": time_json(balance.update_time.as_ref()),
    })
}

// ---- catalog ----

pub fn services_text(services: &[Service]) -> String {
    let mut table = Table::new(&["CODE", "NAME", "DOMAIN"]);
    for s in services {
        table.row(vec![clean(&s.code), clean(&s.name), or_dash(&s.domain)]);
    }
    table.render()
}

pub fn service_json(service: &Service) -> Value {
    json!({
        "code": service.code,
        "name": service.name,
        "domain": service.domain,
    })
}

fn arrival_seconds(offer: &CountryOffer) -> Option<f64> {
    offer
        .average_arrival_time
        .as_ref()
        .map(|d| d.seconds as f64 + f64::from(d.nanos) / 1e9)
}

pub fn countries_text(offers: &[CountryOffer], for_service: bool) -> String {
    let mut table = if for_service {
        Table::new(&["CODE", "NAME", "DIAL", "PRICE", "STOCK", "ARRIVAL"])
    } else {
        Table::new(&["CODE", "NAME", "DIAL", "STOCK"])
    };
    for offer in offers {
        let country = offer.country.clone().unwrap_or_default();
        let mut row = vec![
            clean(&country.code),
            clean(&country.name),
            clean(&country.dial_prefix),
        ];
        if for_service {
            row.push(money_text(offer.price.as_ref()));
            row.push(offer.stock.to_string());
            row.push(match arrival_seconds(offer) {
                Some(secs) => {
                    humantime::format_duration(std::time::Duration::from_secs(secs.round() as u64))
                        .to_string()
                }
                None => "-".into(),
            });
        } else {
            row.push(offer.stock.to_string());
        }
        table.row(row);
    }
    table.render()
}

pub fn country_json(offer: &CountryOffer) -> Value {
    let country = offer.country.clone().unwrap_or_default();
    json!({
        "code": country.code,
        "name": country.name,
        "dial_prefix": country.dial_prefix,
        "activate_id": country.activate_id,
        "price": money_json(offer.price.as_ref()),
        "stock": offer.stock,
        "average_arrival_seconds": arrival_seconds(offer),
    })
}

pub fn prices_text(prices: &[ActivationPrice]) -> String {
    let mut table = Table::new(&["SERVICE", "COUNTRY", "OPERATOR", "PRICE"]);
    for p in prices {
        let operator = if p.operator.is_empty() {
            "any".to_owned()
        } else {
            clean(&p.operator)
        };
        table.row(vec![
            clean(&p.service_code),
            clean(&p.country_code),
            operator,
            money_text(p.price.as_ref()),
        ]);
    }
    table.render()
}

pub fn price_json(price: &ActivationPrice) -> Value {
    json!({
        "service": price.service_code,
        "country": price.country_code,
        "operator": price.operator,
        "price": money_json(price.price.as_ref()),
        "update_time": time_json(price.update_time.as_ref()),
    })
}

// ---- orders ----

pub fn activation_text(a: &Activation) -> String {
    let mut pairs = vec![
        ("id", clean(&a.id)),
        ("number", or_dash(&a.phone_number)),
        ("service", clean(&a.service_code)),
        ("country", clean(&a.country_code)),
    ];
    if !a.operator.is_empty() {
        pairs.push(("operator", clean(&a.operator)));
    }
    pairs.push(("price", money_text(a.price.as_ref())));
    pairs.push(("status", status_name(a.status).to_owned()));
    if !a.failure_reason.is_empty() {
        pairs.push(("failure", clean(&a.failure_reason)));
    }
    pairs.push(("created", time_text(a.create_time.as_ref())));
    if a.end_time.is_some() {
        pairs.push(("ended", time_text(a.end_time.as_ref())));
    } else {
        pairs.push(("expires", time_text(a.expire_time.as_ref())));
    }
    if a.refunded.as_ref().is_some_and(|m| m.minor_units != 0) {
        pairs.push(("refunded", money_text(a.refunded.as_ref())));
    }
    if !a.code.is_empty() {
        pairs.push(("code", clean(&a.code)));
    }
    if !a.reused_activation_id.is_empty() {
        pairs.push(("reuses", clean(&a.reused_activation_id)));
    }
    let mut text = details(&pairs);
    if !a.messages.is_empty() {
        let mut table = Table::new(&["RECEIVED", "FROM", "CODE", "TEXT"]);
        for m in &a.messages {
            table.row(vec![
                time_text(m.receive_time.as_ref()),
                or_dash(&m.sender),
                or_dash(&m.code),
                clean(&m.body),
            ]);
        }
        text.push('\n');
        text.push_str(&table.render());
    }
    text
}

pub fn activation_json(a: &Activation) -> Value {
    json!({
        "id": a.id,
        "phone_number": a.phone_number,
        "service": a.service_code,
        "country": a.country_code,
        "operator": a.operator,
        "price": money_json(a.price.as_ref()),
        "status": status_name(a.status),
        "create_time": time_json(a.create_time.as_ref()),
        "expire_time": time_json(a.expire_time.as_ref()),
        "end_time": time_json(a.end_time.as_ref()),
        "refunded": money_json(a.refunded.as_ref()),
        "code": a.code,
        "messages": a.messages.iter().map(message_json).collect::<Vec<_>>(),
        "reused_activation_id": a.reused_activation_id,
        "failure_reason": a.failure_reason,
    })
}

pub fn message_json(m: &Message) -> Value {
    json!({
        "id": m.id,
        "activation_id": m.activation_id,
        "phone_number": m.phone_number,
        "sender": m.sender,
        "body": m.body,
        "code": m.code,
        "receive_time": time_json(m.receive_time.as_ref()),
    })
}

pub fn history_text(activations: &[Activation]) -> String {
    let mut table = Table::new(&[
        "ID", "CREATED", "SERVICE", "COUNTRY", "NUMBER", "PRICE", "STATUS", "CODE",
    ]);
    for a in activations {
        table.row(vec![
            clean(&a.id),
            time_text(a.create_time.as_ref()),
            clean(&a.service_code),
            clean(&a.country_code),
            or_dash(&a.phone_number),
            money_text(a.price.as_ref()),
            status_name(a.status).to_owned(),
            or_dash(&a.code),
        ]);
    }
    table.render()
}

/// One line for a status change seen on a stream.
pub fn status_event_text(a: &Activation) -> String {
    let mut line = format!(
        "status   {}  {:<9}  {}",
        clean(&a.id),
        status_name(a.status),
        or_dash(&a.phone_number)
    );
    if a.refunded.as_ref().is_some_and(|m| m.minor_units != 0) {
        line.push_str(&format!("  refunded {}", money_text(a.refunded.as_ref())));
    }
    line.push('\n');
    line
}

/// One line for a message seen on a stream.
pub fn message_event_text(m: &Message) -> String {
    format!(
        "message  {}  {:<9}  {} from {} at {}: {}\n",
        clean(&m.activation_id),
        or_dash(&m.code),
        or_dash(&m.phone_number),
        or_dash(&m.sender),
        time_text(m.receive_time.as_ref()),
        clean(&m.body)
    )
}

pub fn status_event_json(cursor: &str, a: &Activation) -> Value {
    json!({
        "cursor": cursor,
        "type": "status",
        "activation_id": a.id,
        "status": status_name(a.status),
        "activation": activation_json(a),
    })
}

pub fn message_event_json(cursor: &str, m: &Message) -> Value {
    json!({
        "cursor": cursor,
        "type": "message",
        "activation_id": m.activation_id,
        "code": m.code,
        "message": message_json(m),
    })
}

// ---- rentals ----

/// "ACTIVE", "EXPIRED"...
pub fn rental_status_name(status: i32) -> &'static str {
    let name = RentalStatus::try_from(status)
        .unwrap_or(RentalStatus::Unspecified)
        .as_str_name();
    name.strip_prefix("RENTAL_STATUS_").unwrap_or(name)
}

/// Whether a rental in this status has ended.
pub fn rental_is_terminal(status: i32) -> bool {
    matches!(
        RentalStatus::try_from(status),
        Ok(RentalStatus::Expired | RentalStatus::Cancelled | RentalStatus::Failed)
    )
}

/// "VOIP", "NON_VOIP".
fn number_type_name(number_type: i32) -> &'static str {
    let name = NumberType::try_from(number_type)
        .unwrap_or(NumberType::Unspecified)
        .as_str_name();
    name.strip_prefix("NUMBER_TYPE_").unwrap_or(name)
}

/// "ONE_MONTH", "SEVEN_DAYS"...
fn duration_name(duration: i32) -> &'static str {
    let name = RentalDuration::try_from(duration)
        .unwrap_or(RentalDuration::Unspecified)
        .as_str_name();
    name.strip_prefix("RENTAL_DURATION_").unwrap_or(name)
}

/// "1 month", "7 days"...
pub fn duration_text(duration: i32) -> &'static str {
    match RentalDuration::try_from(duration) {
        Ok(RentalDuration::OneDay) => "1 day",
        Ok(RentalDuration::ThreeDays) => "3 days",
        Ok(RentalDuration::SevenDays) => "7 days",
        Ok(RentalDuration::FourteenDays) => "14 days",
        Ok(RentalDuration::ThirtyDays) => "30 days",
        Ok(RentalDuration::OneMonth) => "1 month",
        Ok(RentalDuration::ThreeMonths) => "3 months",
        Ok(RentalDuration::SixMonths) => "6 months",
        Ok(RentalDuration::OneYear) => "1 year",
        Ok(RentalDuration::Unspecified) | Err(_) => "-",
    }
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

fn is_zero(money: Option<&Money>) -> bool {
    money.is_none_or(|m| m.minor_units == 0)
}

/// A rental's details, label and value, without its messages.
fn rental_pairs(r: &Rental) -> Vec<(&'static str, String)> {
    let mut pairs = vec![
        ("id", clean(&r.id)),
        ("number", or_dash(&r.phone_number)),
        ("country", clean(&r.country_code)),
        ("type", number_type_name(r.number_type).to_owned()),
    ];
    if !r.service_code.is_empty() {
        pairs.push(("service", clean(&r.service_code)));
    }
    pairs.push(("package", duration_text(r.duration).to_owned()));
    if r.renewal_duration != r.duration && r.renewal_duration != 0 {
        pairs.push(("renews-with", duration_text(r.renewal_duration).to_owned()));
    }
    pairs.push(("status", rental_status_name(r.status).to_owned()));
    if !r.failure_reason.is_empty() {
        pairs.push(("failure", clean(&r.failure_reason)));
    }
    let mut auto_renew = on_off(r.auto_renew).to_owned();
    if !r.auto_renew_failure.is_empty() {
        auto_renew.push_str(&format!(
            " (the last attempt failed at {}: {})",
            time_text(r.auto_renew_failure_time.as_ref()),
            clean(&r.auto_renew_failure)
        ));
    }
    pairs.push(("auto-renew", auto_renew));
    pairs.push(("created", time_text(r.create_time.as_ref())));
    if r.end_time.is_some() {
        pairs.push(("ended", time_text(r.end_time.as_ref())));
    } else {
        pairs.push(("expires", time_text(r.expire_time.as_ref())));
    }
    pairs.push(("price", money_text(r.price.as_ref())));
    if r.renewals > 0 {
        pairs.push(("renewals", r.renewals.to_string()));
        pairs.push(("total", money_text(r.total_charged.as_ref())));
    }
    if !is_zero(r.refunded.as_ref()) {
        pairs.push(("refunded", money_text(r.refunded.as_ref())));
    }
    pairs.push(("sms", r.sms_count.to_string()));
    pairs
}

/// One rental with its newest messages (newest first), as `rentals show`
/// prints it.
pub fn rental_text(r: &Rental) -> String {
    let mut text = details(&rental_pairs(r));
    if !r.messages.is_empty() {
        let mut table = Table::new(&["RECEIVED", "FROM", "CODE", "TEXT"]);
        for m in &r.messages {
            table.row(vec![
                time_text(m.receive_time.as_ref()),
                or_dash(&m.sender),
                or_dash(&m.code),
                clean(&m.body),
            ]);
        }
        text.push('\n');
        text.push_str(&table.render());
    }
    text
}

pub fn rental_json(r: &Rental) -> Value {
    json!({
        "id": r.id,
        "phone_number": r.phone_number,
        "country": r.country_code,
        "number_type": number_type_name(r.number_type),
        "service": r.service_code,
        "duration": duration_name(r.duration),
        "renewal_duration": duration_name(r.renewal_duration),
        "auto_renew": r.auto_renew,
        "status": rental_status_name(r.status),
        "price": money_json(r.price.as_ref()),
        "total_charged": money_json(r.total_charged.as_ref()),
        "refunded": money_json(r.refunded.as_ref()),
        "create_time": time_json(r.create_time.as_ref()),
        "expire_time": time_json(r.expire_time.as_ref()),
        "end_time": time_json(r.end_time.as_ref()),
        "sms_count": r.sms_count,
        "renewals": r.renewals,
        "auto_renew_failure": r.auto_renew_failure,
        "auto_renew_failure_time": time_json(r.auto_renew_failure_time.as_ref()),
        "failure_reason": r.failure_reason,
        "messages": r.messages.iter().map(rental_message_json).collect::<Vec<_>>(),
    })
}

/// A rental just paid for (rented or renewed): its details, what was
/// charged and the balance after.
pub fn charged_text(r: &Rental, charged: Option<&Money>, balance_after: Option<&Money>) -> String {
    let mut pairs = rental_pairs(r);
    pairs.push(("charged", money_text(charged)));
    pairs.push(("balance", money_text(balance_after)));
    details(&pairs)
}

pub fn charged_json(r: &Rental, charged: Option<&Money>, balance_after: Option<&Money>) -> Value {
    let mut value = rental_json(r);
    value["charged"] = money_json(charged);
    value["balance_after"] = money_json(balance_after);
    value
}

/// A rental just cancelled: its details, what was refunded and, when
/// something was, the balance after.
pub fn cancelled_text(
    r: &Rental,
    refunded: Option<&Money>,
    balance_after: Option<&Money>,
) -> String {
    let mut pairs = rental_pairs(r);
    pairs.retain(|(label, _)| *label != "refunded");
    pairs.push(("refunded", money_text(refunded)));
    if balance_after.is_some() {
        pairs.push(("balance", money_text(balance_after)));
    }
    details(&pairs)
}

pub fn cancelled_json(
    r: &Rental,
    refunded: Option<&Money>,
    balance_after: Option<&Money>,
) -> Value {
    let mut value = rental_json(r);
    value["refunded"] = money_json(refunded);
    value["balance_after"] = money_json(balance_after);
    value
}

/// Whether a cancel gave nothing back.
pub fn refunded_nothing(refunded: Option<&Money>) -> bool {
    is_zero(refunded)
}

pub fn rentals_text(rentals: &[Rental]) -> String {
    let mut table = Table::new(&["ID", "NUMBER", "COUNTRY", "STATUS", "EXPIRES", "AUTO-RENEW"]);
    for r in rentals {
        table.row(vec![
            clean(&r.id),
            or_dash(&r.phone_number),
            clean(&r.country_code),
            rental_status_name(r.status).to_owned(),
            time_text(r.expire_time.as_ref()),
            on_off(r.auto_renew).to_owned(),
        ]);
    }
    table.render()
}

/// One line for an SMS of a rented number: when it came, its code, its
/// sender and its text.
pub fn rental_message_text(m: &rentals_pb::Message) -> String {
    format!(
        "{}  {:<9}  {}: {}\n",
        time_text(m.receive_time.as_ref()),
        or_dash(&m.code),
        or_dash(&m.sender),
        clean(&m.body)
    )
}

pub fn rental_message_json(m: &rentals_pb::Message) -> Value {
    json!({
        "id": m.id,
        "rental_id": m.rental_id,
        "phone_number": m.phone_number,
        "sender": m.sender,
        "body": m.body,
        "code": m.code,
        "service": m.service_code,
        "receive_time": time_json(m.receive_time.as_ref()),
    })
}

// ---- keys ----

fn scopes_text(key: &ApiKey) -> String {
    key.scopes
        .iter()
        .map(|s| scope_name(*s))
        .collect::<Vec<_>>()
        .join(",")
}

pub fn keys_text(keys: &[ApiKey]) -> String {
    let mut table = Table::new(&[
        "ID",
        "NAME",
        "PREFIX",
        "SCOPES",
        "STATE",
        "CREATED",
        "LAST USED",
    ]);
    for k in keys {
        table.row(vec![
            clean(&k.id),
            clean(&k.name),
            clean(&k.prefix),
            scopes_text(k),
            key_state_name(k.state).to_owned(),
            time_text(k.create_time.as_ref()),
            time_text(k.last_use_time.as_ref()),
        ]);
    }
    table.render()
}

pub fn key_text(key: &ApiKey, secret: Option<&str>) -> String {
    let mut pairs = vec![
        ("id", clean(&key.id)),
        ("name", clean(&key.name)),
        ("prefix", clean(&key.prefix)),
        ("scopes", scopes_text(key)),
        ("state", key_state_name(key.state).to_owned()),
        ("created", time_text(key.create_time.as_ref())),
    ];
    if key.revoke_time.is_some() {
        pairs.push(("revoked", time_text(key.revoke_time.as_ref())));
    }
    if let Some(secret) = secret {
        pairs.push(("secret", clean(secret)));
    }
    details(&pairs)
}

pub fn key_json(key: &ApiKey) -> Value {
    json!({
        "id": key.id,
        "account_id": key.account_id,
        "name": key.name,
        "prefix": key.prefix,
        "scopes": key.scopes.iter().map(|s| scope_name(*s)).collect::<Vec<_>>(),
        "state": key_state_name(key.state),
        "create_time": time_json(key.create_time.as_ref()),
        "last_use_time": time_json(key.last_use_time.as_ref()),
        "revoke_time": time_json(key.revoke_time.as_ref()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(currency: &str, minor_units: i64) -> Money {
        Money {
            currency_code: currency.into(),
            minor_units,
        }
    }

    #[test]
    fn money_reads_as_a_decimal_with_its_currency() {
        assert_eq!(money_text(Some(&m("USD", 45))), "USD 0.45");
        assert_eq!(money_text(Some(&m("USD", 1000))), "USD 10.00");
        assert_eq!(money_text(Some(&m("USD", -120))), "USD -1.20");
        assert_eq!(money_text(Some(&m("USD", 5))), "USD 0.05");
        assert_eq!(money_text(Some(&m("JPY", 120))), "JPY 120");
        assert_eq!(money_text(Some(&m("KWD", 1500))), "KWD 1.500");
        assert_eq!(
            money_text(Some(&m("USD", i64::MIN))),
            "USD -92233720368547758.08"
        );
        assert_eq!(money_text(None), "-");
        assert_eq!(
            money_json(Some(&m("USD", 45))),
            json!({"minor_units": 45, "currency": "USD"})
        );
    }

    #[test]
    fn tables_align_their_columns() {
        let mut table = Table::new(&["CODE", "NAME"]);
        table.row(vec!["wa".into(), "WhatsApp".into()]);
        table.row(vec!["tiktok".into(), "TikTok".into()]);
        assert_eq!(
            table.render(),
            "CODE    NAME\nwa      WhatsApp\ntiktok  TikTok\n"
        );
    }

    #[test]
    fn server_text_cannot_move_the_terminal() {
        assert_eq!(clean("code\n123\x1b[2J"), "code 123\u{fffd}[2J");
    }

    #[test]
    fn times_are_rfc3339() {
        let t = prost_types::Timestamp {
            seconds: 1_750_000_000,
            nanos: 5_000_000,
        };
        assert_eq!(time_text(Some(&t)), "2025-06-15T15:06:40Z");
        assert_eq!(time_json(Some(&t)), json!("2025-06-15T15:06:40.005Z"));
        assert_eq!(time_json(None), Value::Null);
    }

    #[test]
    fn statuses_read_without_their_prefix() {
        assert_eq!(status_name(ActivationStatus::Waiting as i32), "WAITING");
        assert!(is_terminal(ActivationStatus::Expired as i32));
        assert!(!is_terminal(ActivationStatus::Received as i32));
        assert_eq!(scope_name(Scope::Write as i32), "write");
    }
}
