//! Reading a request into its domain form in one step ("parse, don't
//! validate"): a service's conversion either gives the domain checked
//! values only, or every field at fault at once, which a handler answers
//! with one INVALID_ARGUMENT.

use tonic::Status;

use crate::clock::Timestamp;
use crate::error::{Violation, invalid_argument};
use crate::sms;
use crate::tokens::{PageTokens, TokenScope};
use crate::validate::{self, Validator};

/// A request parsed into its domain form, or INVALID_ARGUMENT naming every
/// field at fault.
pub fn request<T>(parsed: Result<T, Vec<Violation>>) -> Result<T, Status> {
    parsed.map_err(|violations| invalid_argument(&violations))
}

/// A request of a single field: its value, or its one violation.
pub fn field<T>(name: &str, result: Result<T, String>) -> Result<T, Vec<Violation>> {
    result.map_err(|description| vec![Violation::new(name, description)])
}

/// A resource id: a UUID, read back lower-case.
pub fn id(value: &str) -> Result<String, String> {
    validate::uuid(value).map(|id| id.to_string())
}

/// A timestamp the request must carry.
pub fn time(value: Option<&prost_types::Timestamp>) -> Result<Timestamp, String> {
    Timestamp::from_proto(value.ok_or("is required")?)
}

/// An SMS inbound hands on to the service holding the number it reached
/// (orders' and rentals' DeliverMessage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandedOn {
    /// The activation or the rental the number is leased to.
    pub holder_id: String,
    pub inbound_id: String,
    pub sender: String,
    pub body: String,
    pub received_at: Timestamp,
}

/// DeliverMessage's fields; `holder_field` names the holder's id.
pub fn handed_on(
    holder_field: &str,
    holder_id: &str,
    inbound_id: &str,
    sender: &str,
    body: &str,
    receive_time: Option<&prost_types::Timestamp>,
) -> Result<HandedOn, Vec<Violation>> {
    let mut v = Validator::new();
    let holder_id = v.check(holder_field, id(holder_id));
    // The rules inbound checked the message by: what it accepts, this
    // accepts too.
    let inbound_id = v.check("inbound_message_id", sms::message_id(inbound_id));
    let sender = v.check("sender", sms::sender(sender));
    let body = v.check("body", sms::body(body));
    let received_at = v.check("receive_time", time(receive_time));
    v.finish_with(|| {
        Some(HandedOn {
            holder_id: holder_id?,
            inbound_id: inbound_id?,
            sender: sender?,
            body: body?,
            received_at: received_at?,
        })
    })
}

/// One page of a list: at most `size` items after `cursor` (`None`: the
/// first page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub size: u32,
    pub cursor: Option<String>,
}

/// A list's `page_size` (`bounds`: its default and its most) and
/// `page_token` (a UUID cursor issued for `scope`), the request's only
/// fields.
pub fn page(
    tokens: &PageTokens,
    scope: &TokenScope,
    fields: (i32, &str),
    bounds: (u32, u32),
) -> Result<Page, Vec<Violation>> {
    let mut v = Validator::new();
    let page = check_page(&mut v, tokens, scope, fields, bounds);
    v.finish_with(|| page)
}

/// [`page`] into `v`, so its fields are reported with the request's others.
pub fn check_page(
    v: &mut Validator,
    tokens: &PageTokens,
    scope: &TokenScope,
    (page_size, page_token): (i32, &str),
    (default, max): (u32, u32),
) -> Option<Page> {
    let size = v.check("page_size", validate::page_size(page_size, default, max));
    let cursor = v.check("page_token", tokens.decode_uuid(scope, page_token));
    Some(Page {
        size: size?,
        cursor: cursor?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handed_on_message_names_every_field_at_fault() {
        let error = handed_on("rental_id", "x", "", "\u{0}", " ", None).unwrap_err();
        assert_eq!(
            Violation::fields(&error),
            [
                "rental_id",
                "inbound_message_id",
                "sender",
                "body",
                "receive_time"
            ]
        );
        let id = "0192F0C1-7A2B-7C3D-8E4F-0123456789AB";
        let at = Timestamp::from_unix_micros(1_000_000);
        let ok = handed_on(
            "activation_id",
            id,
            "m-1",
            "Bank",
            "code 42",
            Some(&at.to_proto()),
        )
        .unwrap();
        assert_eq!(ok.holder_id, id.to_lowercase());
        assert_eq!(ok.received_at, at);
    }

    #[test]
    fn pages_report_their_fields_together() {
        let tokens = PageTokens::with_key([1; 32]);
        let scope = TokenScope::new("m", "a");
        assert_eq!(
            Violation::fields(&page(&tokens, &scope, (-1, "forged"), (50, 100)).unwrap_err()),
            ["page_size", "page_token"]
        );
        let first = page(&tokens, &scope, (0, ""), (50, 100));
        assert_eq!(
            first,
            Ok(Page {
                size: 50,
                cursor: None
            })
        );
        let mut v = Validator::new();
        v.violation("statuses[0]", "is not an activation status");
        assert!(check_page(&mut v, &tokens, &scope, (101, ""), (50, 100)).is_none());
        assert_eq!(
            Violation::fields(&v.finish_with(|| Some(())).unwrap_err()),
            ["statuses[0]", "page_size"]
        );
    }

    #[test]
    fn a_request_becomes_invalid_argument() {
        struct Bad;
        struct Parsed;
        impl TryFrom<Bad> for Parsed {
            type Error = Vec<Violation>;
            fn try_from(_: Bad) -> Result<Self, Self::Error> {
                Err(vec![Violation::new("a", "x"), Violation::new("b", "y")])
            }
        }
        let status = request(Parsed::try_from(Bad)).err().unwrap();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(status.message(), "invalid request: a: x; b: y");
    }
}
