//! Orders' protobuf conversions, in one place: requests into their domain
//! form (every field at fault at once, or checked values only), and
//! activations, messages and stream endings into responses.

use numhub_holding::HeldId;
use numhub_proto::orders::v1 as pb;
use numhub_proto::rentals::v1 as rentals_pb;
use numhub_runtime::clock::Timestamp;
use numhub_runtime::error::{self as errors, Violation};
use numhub_runtime::parse;
use numhub_runtime::tokens::{self, PageTokens, TokenScope};
use numhub_runtime::validate::{self, Validator};
use numhub_runtime::{codes, money};
use tonic::Status;

use crate::account_messages::{AccountMessage, Ended};
use crate::model::{self, Activation, ActivationQuery, Delivery, MessagesCursor, Purchase, Reuse};

const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 100;

/// CreateActivation, for `account_id`, the caller's account.
pub fn purchase(
    account_id: &str,
    r: pb::CreateActivationRequest,
) -> Result<Purchase, Vec<Violation>> {
    let mut v = Validator::new();
    let service = v.check("service_code", codes::service(&r.service_code));
    let country = v.check("country_code", codes::country(&r.country_code));
    let operator = v.check("operator", codes::optional_operator(&r.operator));
    let max_price = v.check("max_price", money::price_limit(r.max_price.as_ref()));
    let request_id = v.check("request_id", validate::request_id(&r.request_id));
    v.finish_with(|| {
        let (max_price, max_price_currency) = max_price?;
        Some(Purchase {
            account_id: account_id.to_owned(),
            request_id: request_id?,
            service_code: service?,
            country_code: country?,
            operator: operator?,
            max_price,
            max_price_currency,
            reuse: None,
        })
    })
}

impl TryFrom<pb::ReuseNumberRequest> for Reuse {
    type Error = Vec<Violation>;

    fn try_from(r: pb::ReuseNumberRequest) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let previous = v.check("activation_id", HeldId::parse(&r.activation_id));
        let max_price = v.check("max_price", money::price_limit(r.max_price.as_ref()));
        let request_id = v.check("request_id", validate::request_id(&r.request_id));
        v.finish_with(|| {
            Some(Reuse {
                previous_id: previous?,
                max_price: max_price?,
                request_id: request_id?,
            })
        })
    }
}

/// ListActivations; its page token is signed for `scope`.
pub fn activation_query(
    tokens: &PageTokens,
    scope: &TokenScope,
    r: &pb::ListActivationsRequest,
) -> Result<ActivationQuery, Vec<Violation>> {
    let mut v = Validator::new();
    let mut statuses = Vec::new();
    for (i, status) in r.statuses.iter().enumerate() {
        match model::Status::from_i64(i64::from(*status)) {
            Some(s) => statuses.push(s),
            None => v.violation(&format!("statuses[{i}]"), "is not an activation status"),
        }
    }
    let page = parse::check_page(
        &mut v,
        tokens,
        scope,
        (r.page_size, &r.page_token),
        (DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE),
    );
    v.finish_with(|| {
        let page = page?;
        Some(ActivationQuery {
            statuses,
            before: page.cursor,
            page_size: page.size,
        })
    })
}

/// The activation a request names in its field `id`: its UUID or its
/// numeric id.
pub fn activation_id(value: &str) -> Result<HeldId, Vec<Violation>> {
    parse::field("id", HeldId::parse(value))
}

/// DeliverMessage: the SMS inbound hands on, with every field checked.
pub fn delivery(r: &pb::DeliverMessageRequest) -> Result<Delivery, Vec<Violation>> {
    parse::handed_on(
        "activation_id",
        &r.activation_id,
        &r.inbound_message_id,
        &r.sender,
        &r.body,
        r.receive_time.as_ref(),
    )
}

/// WatchMessages' cursor, issued for `scope`; empty for the start.
pub fn messages_cursor(
    tokens: &PageTokens,
    scope: &TokenScope,
    value: &str,
) -> Result<MessagesCursor, Vec<Violation>> {
    parse::field("after", parse_messages_cursor(tokens, scope, value))
}

fn parse_messages_cursor(
    tokens: &PageTokens,
    scope: &TokenScope,
    value: &str,
) -> Result<MessagesCursor, String> {
    let Some(text) = tokens.decode(scope, value)? else {
        return Ok(MessagesCursor::default());
    };
    let (orders, rentals) = text.split_once('/').ok_or(tokens::INVALID)?;
    let orders = orders
        .parse::<i64>()
        .ok()
        .filter(|seq| *seq >= 0)
        .ok_or(tokens::INVALID)?;
    Ok(MessagesCursor {
        orders,
        rentals: rentals.to_owned(),
    })
}

/// The cursor as the client sees it: signed, so the rentals position
/// inside (rentals' own signed cursor) reaches rentals as rentals issued it.
pub fn encode_messages_cursor(
    tokens: &PageTokens,
    scope: &TokenScope,
    cursor: &MessagesCursor,
) -> String {
    tokens.encode(scope, &format!("{}/{}", cursor.orders, cursor.rentals))
}

pub fn account_message_to_proto(message: AccountMessage) -> pb::Message {
    match message {
        AccountMessage::Activation(m) => message_to_proto(&m),
        AccountMessage::Rental(m) => rental_message_to_proto(m),
    }
}

/// A rental's message as WatchMessages shows it.
fn rental_message_to_proto(m: rentals_pb::Message) -> pb::Message {
    pb::Message {
        id: m.id,
        activation_id: String::new(),
        phone_number: m.phone_number,
        sender: m.sender,
        body: m.body,
        code: m.code,
        receive_time: m.receive_time,
        rental_id: m.rental_id,
    }
}

impl From<Ended> for Status {
    fn from(ended: Ended) -> Self {
        match ended {
            Ended::Orders(error) => error.into(),
            Ended::RentalsFailed => errors::status(
                tonic::Code::Unavailable,
                errors::reason::TEMPORARILY_UNAVAILABLE,
                "rental messages are unavailable; resume with the cursor of the last message",
            ),
        }
    }
}

pub fn activation_to_proto(a: &Activation, messages: Vec<model::Message>) -> pb::Activation {
    pb::Activation {
        id: a.id.clone(),
        numeric_id: a.numeric_id,
        // A number is the customer's only once it is paid for.
        phone_number: if a.lease_id.is_some() && a.status != model::Status::Creating {
            a.phone_number.clone()
        } else {
            String::new()
        },
        service_code: a.service_code.clone(),
        country_code: a.country_code.clone(),
        operator: a.operator.clone(),
        price: money::to_proto(&a.currency, a.price),
        status: a.status as i32,
        create_time: Some(a.created_at.to_proto()),
        expire_time: Some(a.expires_at.to_proto()),
        end_time: a.ended_at.map(Timestamp::to_proto),
        refunded: money::to_proto(&a.currency, a.refunded),
        code: a.code.clone(),
        messages: messages.iter().map(message_to_proto).collect(),
        reused_activation_id: a.reused_activation_id.clone().unwrap_or_default(),
        failure_reason: a.failure_reason.clone(),
    }
}

pub fn message_to_proto(m: &model::Message) -> pb::Message {
    pb::Message {
        id: m.id.clone(),
        activation_id: m.holder_id.clone(),
        phone_number: m.phone_number.clone(),
        sender: m.sender.clone(),
        body: m.body.clone(),
        code: m.code.clone(),
        receive_time: Some(m.received_at.to_proto()),
        rental_id: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(violations: Vec<Violation>) -> Vec<String> {
        violations.into_iter().map(|v| v.field).collect()
    }

    #[test]
    fn a_purchase_names_every_bad_field_at_once() {
        let bad = pb::CreateActivationRequest {
            service_code: String::new(),
            country_code: "usa".into(),
            operator: "has space".into(),
            max_price: money::to_proto("USD", -1),
            request_id: String::new(),
        };
        assert_eq!(
            fields(purchase("a", bad).unwrap_err()),
            [
                "service_code",
                "country_code",
                "operator",
                "max_price",
                "request_id"
            ]
        );
        let good = pb::CreateActivationRequest {
            service_code: "wa".into(),
            country_code: "US".into(),
            request_id: "r-1".into(),
            ..Default::default()
        };
        let p = purchase("a", good).unwrap();
        assert_eq!((p.operator, p.max_price), (None, None));
        assert_eq!(p.account_id, "a");
    }

    #[test]
    fn a_list_names_every_bad_status_and_its_page() {
        let tokens = PageTokens::with_key([3; 32]);
        let scope = TokenScope::new("m", "a");
        let bad = pb::ListActivationsRequest {
            statuses: vec![2, 0, 99],
            page_size: 101,
            page_token: "forged".into(),
        };
        assert_eq!(
            fields(activation_query(&tokens, &scope, &bad).unwrap_err()),
            ["statuses[1]", "statuses[2]", "page_size", "page_token"]
        );
    }

    #[test]
    fn a_reuse_names_every_bad_field_at_once() {
        let bad = pb::ReuseNumberRequest {
            activation_id: "x".into(),
            max_price: money::to_proto("usd", 5),
            request_id: String::new(),
        };
        assert_eq!(
            fields(Reuse::try_from(bad).unwrap_err()),
            ["activation_id", "max_price", "request_id"]
        );
    }

    #[test]
    fn a_failed_rentals_stream_ends_watch_messages_to_be_resumed() {
        let status = Status::from(Ended::RentalsFailed);
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert_eq!(
            status.message(),
            "rental messages are unavailable; resume with the cursor of the last message"
        );
        let orders = Status::from(Ended::Orders(
            numhub_runtime::error::Failure::shutting_down(),
        ));
        assert_eq!(orders.code(), tonic::Code::Unavailable);
        assert!(orders.message().contains("shutting down"));
    }

    #[test]
    fn cursors_hold_both_positions() {
        let tokens = PageTokens::with_key([3; 32]);
        let scope = TokenScope::new("numhub.orders.v1.OrdersService/WatchMessages", "a");
        assert_eq!(
            messages_cursor(&tokens, &scope, ""),
            Ok(MessagesCursor::default())
        );
        let cursor = MessagesCursor {
            orders: 42,
            rentals: "rentals-cursor".into(),
        };
        let encoded = encode_messages_cursor(&tokens, &scope, &cursor);
        assert_eq!(messages_cursor(&tokens, &scope, &encoded), Ok(cursor));
        for inside in ["42", "-1/x", "x/y"] {
            let forged = tokens.encode(&scope, inside);
            assert!(
                messages_cursor(&tokens, &scope, &forged).is_err(),
                "{inside}"
            );
        }
        let other = TokenScope::new("numhub.orders.v1.OrdersService/WatchMessages", "b");
        assert!(messages_cursor(&tokens, &other, &encoded).is_err());
        assert!(messages_cursor(&tokens, &scope, "42").is_err());
    }
}
