//! Rentals' protobuf conversions, in one place: requests into their domain
//! form (every field at fault at once, or checked values only), and rentals
//! and messages into responses.

use numhub_holding::HeldId;
use numhub_proto::catalog::v1::{NumberType, RentalDuration as DurationPb};
use numhub_proto::rentals::v1 as pb;
use numhub_runtime::clock::Timestamp;
use numhub_runtime::error::Violation;
use numhub_runtime::parse;
use numhub_runtime::rental::RentalDuration;
use numhub_runtime::streams;
use numhub_runtime::tokens::{PageTokens, TokenScope};
use numhub_runtime::validate::{self, Validator};
use numhub_runtime::{codes, money, phone};

use crate::model::{
    self, AccountMessages, Cancellation, Delivery, Filter, NumberMessages, Purchase, RenewalOrder,
    Rental, RentalQuery,
};

const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 100;

/// CreateRental, for `account_id`, the caller's account. Unset, a rental is
/// VOIP, for a month, and renews itself.
pub fn purchase(account_id: &str, r: pb::CreateRentalRequest) -> Result<Purchase, Vec<Violation>> {
    let mut v = Validator::new();
    let country = v.check("country_code", codes::country(&r.country_code));
    let number_type = v.check("number_type", number_type(r.number_type));
    let duration = v.check("duration", optional_duration(r.duration));
    let service = v.check("service_code", codes::optional_service(&r.service_code));
    let max_price = v.check("max_price", money::price_limit(r.max_price.as_ref()));
    let request_id = v.check("request_id", validate::request_id(&r.request_id));
    v.finish_with(|| {
        let (max_price, max_price_currency) = max_price?;
        Some(Purchase {
            account_id: account_id.to_owned(),
            request_id: request_id?,
            country_code: country?,
            number_type: number_type?,
            // Empty: any service.
            service_code: service?.unwrap_or_default(),
            duration: duration?.unwrap_or(RentalDuration::OneMonth),
            auto_renew: r.auto_renew.unwrap_or(true),
            max_price,
            max_price_currency,
        })
    })
}

/// ListRentals; its page token is signed for `scope`.
pub fn rental_query(
    tokens: &PageTokens,
    scope: &TokenScope,
    r: &pb::ListRentalsRequest,
) -> Result<RentalQuery, Vec<Violation>> {
    let mut v = Validator::new();
    let filter = v.check("filter", filter(r.filter));
    let page = parse::check_page(
        &mut v,
        tokens,
        scope,
        (r.page_size, &r.page_token),
        (DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE),
    );
    v.finish_with(|| {
        let page = page?;
        Some(RentalQuery {
            filter: filter?,
            before: page.cursor,
            page_size: page.size,
        })
    })
}

/// ListMessages; its page token is signed for `scope`.
pub fn number_messages(
    tokens: &PageTokens,
    scope: &TokenScope,
    r: &pb::ListMessagesRequest,
) -> Result<NumberMessages, Vec<Violation>> {
    let mut v = Validator::new();
    let number = v.check("phone_number", phone::normalize(&r.phone_number));
    let page = parse::check_page(
        &mut v,
        tokens,
        scope,
        (r.page_size, &r.page_token),
        (DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE),
    );
    v.finish_with(|| {
        let page = page?;
        Some(NumberMessages {
            phone_number: number?,
            after: page.cursor,
            page_size: page.size,
        })
    })
}

impl TryFrom<pb::RenewRentalRequest> for RenewalOrder {
    type Error = Vec<Violation>;

    fn try_from(r: pb::RenewRentalRequest) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let id = v.check("id", HeldId::parse(&r.id));
        let duration = v.check("duration", optional_duration(r.duration));
        let max_price = v.check("max_price", money::limit(r.max_price.as_ref()));
        let request_id = v.check("request_id", validate::request_id(&r.request_id));
        v.finish_with(|| {
            Some(RenewalOrder {
                rental_id: id?,
                duration: duration?,
                max_price: max_price?,
                request_id: request_id?,
            })
        })
    }
}

impl TryFrom<pb::CancelRentalRequest> for Cancellation {
    type Error = Vec<Violation>;

    fn try_from(r: pb::CancelRentalRequest) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let id = v.check("id", HeldId::parse(&r.id));
        let request_id = v.check("request_id", validate::request_id(&r.request_id));
        v.finish_with(|| {
            Some(Cancellation {
                rental_id: id?,
                request_id: request_id?,
            })
        })
    }
}

/// The rental a request names in its field `id`: its UUID or its numeric
/// id.
pub fn rental_id(value: &str) -> Result<HeldId, Vec<Violation>> {
    parse::field("id", HeldId::parse(value))
}

/// DeliverMessage: the SMS inbound hands on, with every field checked.
pub fn delivery(r: &pb::DeliverMessageRequest) -> Result<Delivery, Vec<Violation>> {
    parse::handed_on(
        "rental_id",
        &r.rental_id,
        &r.inbound_message_id,
        &r.sender,
        &r.body,
        r.receive_time.as_ref(),
    )
}

/// WatchAccountMessages; its cursor is signed for `scope`.
pub fn account_messages(
    tokens: &PageTokens,
    scope: &TokenScope,
    r: &pb::WatchAccountMessagesRequest,
) -> Result<AccountMessages, Vec<Violation>> {
    let mut v = Validator::new();
    let account = v.check("account_id", parse::id(&r.account_id));
    let after = v.check("after", streams::parse_cursor(tokens, scope, &r.after));
    v.finish_with(|| {
        Some(AccountMessages {
            account_id: account?,
            after: after?,
        })
    })
}

/// A number type, as stored (its proto number): unset means VOIP.
fn number_type(value: i32) -> Result<i64, String> {
    match NumberType::try_from(value) {
        Ok(NumberType::Unspecified) => Ok(NumberType::Voip as i64),
        Ok(t) => Ok(t as i64),
        Err(_) => Err(format!("{value} is not a number type")),
    }
}

/// A package; unset is `None`.
fn optional_duration(value: i32) -> Result<Option<RentalDuration>, String> {
    if value == DurationPb::Unspecified as i32 {
        return Ok(None);
    }
    RentalDuration::from_i64(i64::from(value))
        .map(Some)
        .ok_or_else(|| format!("{value} is not a rental duration"))
}

fn filter(value: i32) -> Result<Filter, String> {
    match pb::RentalFilter::try_from(value) {
        Ok(pb::RentalFilter::Unspecified | pb::RentalFilter::All) => Ok(Filter::All),
        Ok(pb::RentalFilter::Active) => Ok(Filter::Active),
        Ok(pb::RentalFilter::ExpiringSoon) => Ok(Filter::ExpiringSoon),
        Ok(pb::RentalFilter::Expired) => Ok(Filter::Expired),
        Ok(pb::RentalFilter::Cancelled) => Ok(Filter::Cancelled),
        Err(_) => Err(format!("{value} is not a rental filter")),
    }
}

pub fn rental_to_proto(r: &Rental, messages: Vec<model::Message>, now: Timestamp) -> pb::Rental {
    let paid = r.lease_id.is_some() && r.status != model::Status::Creating;
    pb::Rental {
        id: r.id.clone(),
        numeric_id: r.numeric_id,
        // A number is the customer's only once it is paid for.
        phone_number: if paid && r.status != model::Status::Failed {
            r.phone_number.clone()
        } else {
            String::new()
        },
        country_code: r.country_code.clone(),
        number_type: r.number_type as i32,
        service_code: r.service_code.clone(),
        duration: r.duration as i32,
        renewal_duration: r.renewal_duration as i32,
        auto_renew: r.auto_renew,
        status: r.status_at(now) as i32,
        price: money::to_proto(&r.currency, r.price),
        total_charged: money::to_proto(&r.currency, r.total_charged),
        refunded: money::to_proto(&r.currency, r.refunded),
        create_time: Some(r.created_at.to_proto()),
        expire_time: Some(r.expires_at.to_proto()),
        end_time: match r.status_at(now) {
            model::Status::Expired => Some(r.ended_at.unwrap_or(r.expires_at).to_proto()),
            _ => r.ended_at.map(Timestamp::to_proto),
        },
        sms_count: r.sms_count,
        renewals: r.renewals,
        auto_renew_failure: r.auto_renew_failure.clone(),
        auto_renew_failure_time: r.auto_renew_failed_at.map(Timestamp::to_proto),
        failure_reason: r.failure_reason.clone(),
        messages: messages.iter().map(message_to_proto).collect(),
    }
}

pub fn message_to_proto(m: &model::Message) -> pb::Message {
    pb::Message {
        id: m.id.clone(),
        rental_id: m.holder_id.clone(),
        phone_number: m.phone_number.clone(),
        sender: m.sender.clone(),
        body: m.body.clone(),
        code: m.code.clone(),
        service_code: m.service_code.clone(),
        receive_time: Some(m.received_at.to_proto()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(violations: Vec<Violation>) -> Vec<String> {
        violations.into_iter().map(|v| v.field).collect()
    }

    #[test]
    fn requests_are_read_with_their_defaults_and_limits() {
        assert_eq!(number_type(0), Ok(NumberType::Voip as i64));
        assert_eq!(number_type(2), Ok(NumberType::NonVoip as i64));
        assert!(number_type(9).is_err());
        assert_eq!(optional_duration(0), Ok(None));
        assert_eq!(optional_duration(9), Ok(Some(RentalDuration::OneYear)));
        assert!(optional_duration(10).is_err());
        assert_eq!(filter(0), Ok(Filter::All));
        assert_eq!(filter(2), Ok(Filter::ExpiringSoon));
        assert!(filter(6).is_err());
    }

    #[test]
    fn a_purchase_names_every_bad_field_at_once() {
        let bad = pb::CreateRentalRequest {
            country_code: String::new(),
            number_type: 9,
            duration: 10,
            service_code: "?".into(),
            max_price: money::to_proto("USD", -1),
            request_id: String::new(),
            auto_renew: None,
        };
        assert_eq!(
            fields(purchase("a", bad).unwrap_err()),
            [
                "country_code",
                "number_type",
                "duration",
                "service_code",
                "max_price",
                "request_id"
            ]
        );
    }

    #[test]
    fn an_unset_purchase_is_a_voip_month_that_renews() {
        let request = pb::CreateRentalRequest {
            country_code: "US".into(),
            request_id: "r-1".into(),
            ..Default::default()
        };
        let p = purchase("a", request).unwrap();
        assert_eq!(p.number_type, NumberType::Voip as i64);
        assert_eq!(p.duration, RentalDuration::OneMonth);
        assert!(p.auto_renew);
        assert_eq!((p.max_price, p.service_code.as_str()), (None, ""));
    }

    #[test]
    fn a_renewal_names_every_bad_field_at_once() {
        let bad = pb::RenewRentalRequest {
            id: "r".into(),
            duration: 10,
            max_price: money::to_proto("usd", 1),
            request_id: " ".into(),
        };
        assert_eq!(
            fields(RenewalOrder::try_from(bad).unwrap_err()),
            ["id", "duration", "max_price", "request_id"]
        );
    }
}
