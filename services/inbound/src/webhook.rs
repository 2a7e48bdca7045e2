//! The carriers' webhook: an HTTP endpoint in Twilio's inbound format (form
//! fields `From`, `To`, `Body`, `MessageSid`), answering the empty TwiML
//! response once the SMS is stored.
//!
//! Every request must carry `X-Twilio-Signature`: the base64 HMAC-SHA1,
//! keyed with the account's auth token, of the URL the carrier called
//! followed by every form field's name and value, sorted by name. It is
//! checked in constant time before anything is read; a bad or missing
//! signature gets 403 and nothing is stored.

use std::net::SocketAddr;
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
use numhub_runtime::phone;
use sha1::Sha1;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::error::Error;
use crate::{Arrival, Inbound};

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
#[derive(Debug)]
pub struct RunningWebhook {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningWebhook {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, and lets requests in flight finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Serves `router` on `listener` until shut down.
pub fn serve(listener: TcpListener, router: Router) -> std::io::Result<RunningWebhook> {
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "the webhook server failed");
        }
    });
    tracing::info!(%addr, path = TWILIO_PATH, "serving the carriers' webhook");
    Ok(RunningWebhook { addr, stop, task })
}

async fn twilio_sms(
    State(webhook): State<Webhook>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
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
            .map(|(_, v)| v.clone())
    };
    let (Some(sid), Some(to), Some(text)) = (field("MessageSid"), field("To"), field("Body"))
    else {
        return (
            StatusCode::BAD_REQUEST,
            "MessageSid, To and Body are required\n",
        )
            .into_response();
    };
    let Ok(to) = phone::normalize(&to) else {
        return (StatusCode::BAD_REQUEST, "To is not an E.164 number\n").into_response();
    };
    let arrival = Arrival {
        upstream: TWILIO_UPSTREAM.into(),
        upstream_id: sid,
        to,
        sender: field("From").unwrap_or_default(),
        body: text,
        // The carrier's request is the arrival: it sends no time of its own.
        received_at: webhook.inbound.clock.now(),
    };
    match webhook.inbound.accept(arrival).await {
        Ok(_) => ([(header::CONTENT_TYPE, "text/xml")], EMPTY_TWIML).into_response(),
        Err(Error::IdempotencyKeyReused(_)) => (
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
