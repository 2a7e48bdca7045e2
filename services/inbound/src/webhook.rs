//! The carriers' webhook: an HTTP endpoint in Twilio's inbound format (form
//! fields `From`, `To`, `Body`, `MessageSid`), answering the empty TwiML
//! response once the SMS is stored.
//!
//! A request is checked in this order, and nothing is stored unless it
//! passes every step:
//!
//! 1. its body is a form (`application/x-www-form-urlencoded`): 415
//!    otherwise;
//! 2. it carries `X-Twilio-Signature`: the base64 HMAC-SHA1, keyed with the
//!    account's auth token, of the URL the carrier called followed by every
//!    form field's name and value, sorted by name; compared in constant
//!    time: 403 otherwise;
//! 3. its fields make an SMS inbound can deliver ([`Arrival::parse`], the
//!    rules Deliver and the holders' services check): 400 naming the field
//!    otherwise, so the carrier learns of a refusal instead of a message
//!    being acknowledged and then lost.
//!
//! It is served by [`numhub_runtime::http_server`], which bounds how long
//! a client may take and how many may connect.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use numhub_auth::Secret;
use numhub_runtime::error::Failure;
use numhub_runtime::http_server::{self, HttpLimits, RunningHttp};
use sha1::Sha1;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;

use crate::Inbound;
use crate::arrival::{Arrival, Field, Fields};
use crate::error::Error;

/// Where the webhook listens for Twilio's requests.
pub const TWILIO_PATH: &str = "/webhooks/twilio/sms";
/// The upstream name of messages that came through the webhook.
pub const TWILIO_UPSTREAM: &str = "twilio";
const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";

/// The signature Twilio sends for a request to `url` with `params`.
pub fn twilio_signature(token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = Hmac::<Sha1>::new_from_slice(token.as_bytes()).expect("HMAC takes any key");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The webhook's state: inbound, the auth token, and the public address
/// the carrier calls (behind a proxy, not the one this process listens on).
#[derive(Debug, Clone)]
struct Webhook {
    inbound: Inbound,
    token: Arc<Secret>,
    public_base: Arc<str>,
}

/// The webhook's routes.
pub fn router(inbound: Inbound, token: Secret, public_base: &str) -> Router {
    let state = Webhook {
        inbound,
        token: Arc::new(token),
        public_base: public_base.trim_end_matches('/').into(),
    };
    Router::new()
        .route(TWILIO_PATH, post(twilio_sms))
        .with_state(state)
}

/// A webhook server running in the background.
pub type RunningWebhook = RunningHttp;

/// Serves `router` on `listener` with `limits` until shut down.
pub fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
) -> std::io::Result<RunningWebhook> {
    let server = http_server::serve("webhook", listener, router, limits)?;
    tracing::info!(addr = %server.local_addr(), path = TWILIO_PATH, "serving the carriers' webhook");
    Ok(server)
}

/// Whether a `Content-Type` names a form: `application/x-www-form-urlencoded`
/// in any case, with any parameters but a charset other than UTF-8 (the
/// only one a form is decoded as).
pub fn is_form(content_type: &[u8]) -> bool {
    let Ok(content_type) = std::str::from_utf8(content_type) else {
        return false;
    };
    let mut parts = content_type.split(';');
    let media = parts.next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return false;
    }
    parts.all(|parameter| match parameter.split_once('=') {
        Some((name, value)) if name.trim().eq_ignore_ascii_case("charset") => {
            value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        }
        _ => true,
    })
}

/// A field of an arrival as Twilio's form names it.
fn field_name(field: Field) -> &'static str {
    match field {
        Field::Upstream => "upstream",
        Field::UpstreamId => "MessageSid",
        Field::To => "To",
        Field::Sender => "From",
        Field::Body => "Body",
    }
}

async fn twilio_sms(
    State(webhook): State<Webhook>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // The content type before the signature: Twilio signs a form's fields,
    // so a body that is not a form has no signature to check, and reading
    // it as one would act on fields its sender never declared. A 415 tells
    // a client nothing a forger could use: the format is public.
    let mut content_types = headers.get_all(header::CONTENT_TYPE).iter();
    let form = match (content_types.next(), content_types.next()) {
        (Some(content_type), None) => is_form(content_type.as_bytes()),
        _ => false,
    };
    if !form {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/x-www-form-urlencoded\n",
        )
            .into_response();
    }
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let url = format!(
        "{}{}",
        webhook.public_base,
        uri.path_and_query().map_or(TWILIO_PATH, |p| p.as_str())
    );
    let expected = twilio_signature(webhook.token.expose(), &url, &params);
    let presented = headers
        .get("x-twilio-signature")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !bool::from(expected.as_bytes().ct_eq(presented)) {
        tracing::warn!("refused a webhook call with a bad signature");
        return (StatusCode::FORBIDDEN, "invalid X-Twilio-Signature\n").into_response();
    }
    let field = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    };
    let fields = Fields {
        upstream: TWILIO_UPSTREAM,
        upstream_id: field("MessageSid"),
        to: field("To"),
        sender: field("From"),
        body: field("Body"),
    };
    // The carrier's request is the arrival: it sends no time of its own.
    let arrival = match Arrival::parse(fields, webhook.inbound.clock.now()) {
        Ok(arrival) => arrival,
        Err(violations) => {
            // Each line names a field and the rule it broke, never its value.
            let lines: Vec<String> = violations
                .iter()
                .map(|(field, description)| format!("{} {description}", field_name(*field)))
                .collect();
            tracing::warn!(refused = %lines.join("; "), "refused a webhook SMS inbound could not deliver");
            return (StatusCode::BAD_REQUEST, format!("{}\n", lines.join("\n"))).into_response();
        }
    };
    match webhook.inbound.accept(arrival).await {
        Ok(_) => ([(header::CONTENT_TYPE, "text/xml")], EMPTY_TWIML).into_response(),
        Err(Error::Failed(Failure::KeyReused(_))) => (
            StatusCode::CONFLICT,
            "MessageSid was already delivered with other fields\n",
        )
            .into_response(),
        Err(error) => {
            tracing::error!(error = %numhub_runtime::error::error_chain(&error), "cannot store a webhook SMS");
            // 5xx: the carrier retries.
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn only_forms_are_read() {
        for form in [
            "application/x-www-form-urlencoded",
            "Application/X-WWW-Form-URLEncoded",
            "application/x-www-form-urlencoded; charset=utf-8",
            "application/x-www-form-urlencoded;charset=\"UTF-8\"",
            "application/x-www-form-urlencoded ; boundary=x",
        ] {
            assert!(is_form(form.as_bytes()), "{form}");
        }
        for other in [
            "",
            "text/plain",
            "application/json",
            "multipart/form-data; boundary=x",
            "application/x-www-form-urlencoded-not",
            "application/x-www-form-urlencoded; charset=latin1",
        ] {
            assert!(!is_form(other.as_bytes()), "{other}");
        }
        assert!(!is_form(b"application/x-www-form-urlencoded\xff"));
    }

    #[test]
    fn matches_twilios_published_example() {
        // The example of Twilio's request-validation documentation.
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675310"),
            ("Digits", "1234"),
            ("From", "+14158675310"),
            ("To", "+18005551212"),
        ]);
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(
            twilio_signature("12345", url, &params),
            "GvWf1cFY/Q7PnoempGyD5oXAezc="
        );
        // Field order does not matter; any change of value does.
        let mut reversed = params.clone();
        reversed.reverse();
        assert_eq!(
            twilio_signature("12345", url, &reversed),
            "GvWf1cFY/Q7PnoempGyD5oXAezc="
        );
        let mut changed = params;
        changed[2].1 = "1235".into();
        assert_ne!(
            twilio_signature("12345", url, &changed),
            "GvWf1cFY/Q7PnoempGyD5oXAezc="
        );
    }
}
