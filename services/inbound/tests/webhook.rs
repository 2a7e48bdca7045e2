//! The carriers' webhook over a real TCP socket, with the real catalog and
//! orders behind inbound: what it stores (only signed forms of an SMS
//! inbound can deliver, on SQLite and PostgreSQL), and what a slow or
//! greedy client gets (cut off within the timeouts, queued over the
//! connection cap).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use numhub_inbound::routing::Pass;
use numhub_inbound::webhook::{self, RunningWebhook, TWILIO_PATH, twilio_signature};
use numhub_proto::inbound::v1 as pb;
use numhub_proto::orders::v1 as orders_pb;
use numhub_runtime::http_server::HttpLimits;
use numhub_runtime::sms;
use numhub_testkit::backend_tests;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "twilio-auth-token-for-tests";
const PUBLIC: &str = "https://sms.numhub.example";
const FORM: &str = "application/x-www-form-urlencoded";

/// Inbound's routing stack, one activation, and the webhook in front.
struct Hook {
    r: Routed,
    activation: orders_pb::Activation,
    server: RunningWebhook,
}

async fn hook(backend: Backend, limits: HttpLimits) -> Hook {
    let mut r = start_routed(backend).await;
    r.h.import(0, 1).await;
    let account = r.h.account();
    r.h.fund(&account, 100).await;
    let activation = r.h.buy("wa", "buy-1").await.unwrap();
    let router = webhook::router(r.inbound.clone(), numhub_auth::Secret::new(TOKEN), PUBLIC);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = webhook::serve(listener, router, limits).unwrap();
    Hook {
        r,
        activation,
        server,
    }
}

impl Hook {
    fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Twilio's fields of an SMS to the activation's number.
    fn sms(&self, sid: &str, body: &str) -> Vec<(String, String)> {
        [
            ("MessageSid", sid),
            ("AccountSid", "AC0123"),
            ("From", "+14155550100"),
            ("To", self.activation.phone_number.as_str()),
            ("Body", body),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
    }

    /// POSTs `params` signed, as a form; the status and the answer's text.
    async fn post(&self, params: &[(String, String)]) -> (u16, String) {
        exchange(
            self.addr(),
            &request(Some(FORM), params, Some(&sign(params))),
        )
        .await
    }

    /// Nothing is stored: no message waits for routing, none was kept
    /// unrouted, and the activation has none.
    async fn assert_nothing_stored(&mut self) {
        assert_eq!(
            self.r.inbound.route_due().await.unwrap(),
            Pass::default(),
            "a message was stored"
        );
        let unrouted = self
            .r
            .admin
            .list_unrouted(pb::ListUnroutedRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert!(unrouted.messages.is_empty(), "{:?}", unrouted.messages);
        let id = self.activation.id.clone();
        assert!(self.r.h.get(&id).await.messages.is_empty());
    }
}

fn sign(params: &[(String, String)]) -> String {
    twilio_signature(TOKEN, &format!("{PUBLIC}{TWILIO_PATH}"), params)
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// A whole HTTP/1.1 request that closes its connection after the answer.
fn request(
    content_type: Option<&str>,
    params: &[(String, String)],
    signature: Option<&str>,
) -> Vec<u8> {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let mut head = format!(
        "POST {TWILIO_PATH} HTTP/1.1\r\nHost: sms.numhub.example\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(content_type) = content_type {
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    if let Some(signature) = signature {
        head.push_str(&format!("X-Twilio-Signature: {signature}\r\n"));
    }
    head.push_str("\r\n");
    head.push_str(&body);
    head.into_bytes()
}

/// Sends `request` on a new connection; the status and the answer's text.
async fn exchange(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    parse(&answer)
}

fn parse(answer: &[u8]) -> (u16, String) {
    let answer = String::from_utf8_lossy(answer);
    let status = answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Reads until the server closes the connection (or resets it); what it
/// sent, and how long that took.
async fn until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    let start = Instant::now();
    let mut got = Vec::new();
    let read = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the connection was still open after {limit:?}; got {:?}",
        String::from_utf8_lossy(&got)
    );
    (got, start.elapsed())
}

fn short(header_timeout: Duration, body_timeout: Duration, max_connections: usize) -> HttpLimits {
    HttpLimits {
        header_timeout,
        body_timeout,
        max_connections,
        ..HttpLimits::default()
    }
}

backend_tests! {
    async fn an_sms_inbound_could_not_deliver_is_refused_unstored(backend: Backend) {
        let mut w = hook(backend, HttpLimits::default()).await;
        // The reproduction: a correctly signed 5,030-character Body.
        let (status, text) = w.post(&w.sms("SM-long", &"7".repeat(5030))).await;
        assert_eq!((status, text.as_str()), (400, "Body must be at most 4096 characters\n"));
        let mut long_sender = w.sms("SM-sender", "code 1234");
        long_sender[2].1 = "s".repeat(sms::MAX_SENDER_LEN + 1);
        assert_eq!(w.post(&long_sender).await, (400, "From must be at most 64 characters\n".into()));
        let long_sid = "S".repeat(sms::MAX_MESSAGE_ID_LEN + 1);
        let (status, text) = w.post(&w.sms(&long_sid, "code 1234")).await;
        assert_eq!((status, text.as_str()), (400, "MessageSid must be at most 255 characters\n"));
        let mut bad_to = w.sms("SM-to", "code 1234");
        bad_to[3].1 = "call me".into();
        let (status, text) = w.post(&bad_to).await;
        assert_eq!(status, 400);
        assert!(text.starts_with("To must be E.164"), "{text}");
        // Every field at fault, one a line; a missing field is one at fault.
        let (status, text) = w.post(&pairs(&[("From", "+14155550100")])).await;
        assert_eq!((status, text.as_str()), (400, "MessageSid is required\nTo is required\nBody is required\n"));
        // The signature still comes first: a forged over-long SMS is 403.
        let params = w.sms("SM-forged", &"7".repeat(5030));
        let forged = twilio_signature("not-the-token", &format!("{PUBLIC}{TWILIO_PATH}"), &params);
        assert_eq!(exchange(w.addr(), &request(Some(FORM), &params, Some(&forged))).await.0, 403);
        w.assert_nothing_stored().await;
        w.server.shutdown().await;
    }

    async fn an_sms_at_every_limit_reaches_the_activation(backend: Backend) {
        let mut w = hook(backend, HttpLimits::default()).await;
        // Multi-byte text: the limits count characters, alike everywhere.
        let code = "Your code is 482-913. ";
        let body = format!("{code}{}", "ж".repeat(sms::MAX_BODY_LEN - code.chars().count()));
        let mut params = w.sms(&"S".repeat(sms::MAX_MESSAGE_ID_LEN), &body);
        params[2].1 = "s".repeat(sms::MAX_SENDER_LEN);
        let (status, text) = w.post(&params).await;
        assert_eq!(status, 200, "{text}");
        assert_eq!(w.r.inbound.route_due().await.unwrap(), Pass { routed: 1, unrouted: 0, retried: 0 });
        let id = w.activation.id.clone();
        let got = w.r.h.get(&id).await;
        assert_eq!(got.messages.len(), 1);
        assert_eq!(got.messages[0].body, body);
        assert_eq!(got.messages[0].sender, "s".repeat(sms::MAX_SENDER_LEN));
        assert_eq!(got.messages[0].code, "482913");
        // Through Deliver too: the same limits, the same outcome.
        let mut over = w.r.sms("up-over", &w.activation.phone_number, &format!("{body}ж"));
        over.sender = "s".repeat(sms::MAX_SENDER_LEN + 1);
        let status = assert_status(w.r.intake.deliver(over).await, tonic::Code::InvalidArgument, "INVALID_FIELD");
        assert_eq!(bad_fields(&status), ["sender", "body"]);
        let at = w.r.sms("up-at", &w.activation.phone_number, &body);
        w.r.deliver(at).await;
        assert_eq!(w.r.inbound.route_due().await.unwrap().routed, 1);
        assert_eq!(w.r.h.get(&id).await.messages.len(), 2);
        w.server.shutdown().await;
    }

    async fn only_forms_are_read(backend: Backend) {
        let mut w = hook(backend, HttpLimits::default()).await;
        let params = w.sms("SM-type", "Your code is 246-810");
        let signature = sign(&params);
        for content_type in [Some("text/plain"), None, Some("application/json"), Some("multipart/form-data; boundary=x")] {
            let (status, text) = exchange(w.addr(), &request(content_type, &params, Some(&signature))).await;
            assert_eq!(
                (status, text.as_str()),
                (415, "Content-Type must be application/x-www-form-urlencoded\n"),
                "{content_type:?}"
            );
        }
        // Before the signature: an unsigned call of another type is 415 too.
        assert_eq!(exchange(w.addr(), &request(Some("text/plain"), &params, None)).await.0, 415);
        w.assert_nothing_stored().await;
        // Parameters and any case are fine.
        let form = "Application/X-WWW-Form-URLEncoded; charset=UTF-8";
        assert_eq!(exchange(w.addr(), &request(Some(form), &params, Some(&signature))).await.0, 200);
        assert_eq!(w.r.inbound.route_due().await.unwrap().routed, 1);
        w.server.shutdown().await;
    }
}

/// The reproduction: a client that declares a body it never sends. Over
/// the size limit it is refused at once; under it, cut off when the body
/// timeout runs out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_come_is_cut_off() {
    let body_timeout = Duration::from_millis(600);
    let w = hook(
        Backend::Sqlite,
        short(Duration::from_secs(30), body_timeout, 512),
    )
    .await;
    let head = |length: usize| {
        format!(
            "POST {TWILIO_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\nContent-Length: {length}\r\n\r\nTo"
        )
    };
    let mut declared_huge = TcpStream::connect(w.addr()).await.unwrap();
    declared_huge
        .write_all(head(100_000).as_bytes())
        .await
        .unwrap();
    let (answer, took) = until_closed(&mut declared_huge, Duration::from_secs(5)).await;
    assert_eq!(parse(&answer).0, 413);
    assert!(took < body_timeout, "refused after {took:?}");

    let mut slow = TcpStream::connect(w.addr()).await.unwrap();
    slow.write_all(head(1_000).as_bytes()).await.unwrap();
    let (answer, took) = until_closed(&mut slow, Duration::from_secs(5)).await;
    let (status, body) = parse(&answer);
    assert_eq!(status, 408);
    assert!(body.contains(r#""code":"request_timeout""#), "{body}");
    assert!(
        took >= body_timeout - Duration::from_millis(100),
        "cut off after {took:?}"
    );
    // A body sent in pieces but in time is read.
    let params = w.sms("SM-pieces", "Your code is 135-790");
    let whole = request(Some(FORM), &params, Some(&sign(&params)));
    let mut pieces = TcpStream::connect(w.addr()).await.unwrap();
    let (first, rest) = whole.split_at(whole.len() - 10);
    pieces.write_all(first).await.unwrap();
    tokio::time::sleep(body_timeout / 3).await;
    pieces.write_all(rest).await.unwrap();
    let (answer, _) = until_closed(&mut pieces, Duration::from_secs(5)).await;
    assert_eq!(parse(&answer).0, 200);
    assert_eq!(w.r.inbound.route_due().await.unwrap().routed, 1);
    w.server.shutdown().await;
}

/// Half a header line, never finished, and a connection kept alive and
/// left idle: both closed when the header timeout runs out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_idle_connections_are_closed() {
    let header_timeout = Duration::from_millis(600);
    let w = hook(
        Backend::Sqlite,
        short(header_timeout, Duration::from_secs(30), 512),
    )
    .await;
    let mut half = TcpStream::connect(w.addr()).await.unwrap();
    half.write_all(format!("POST {TWILIO_PATH} HTTP/1.1\r\nHost: sms.num").as_bytes())
        .await
        .unwrap();
    let (_, took) = until_closed(&mut half, Duration::from_secs(5)).await;
    assert!(
        took >= header_timeout - Duration::from_millis(100),
        "closed after {took:?}"
    );

    // A keep-alive connection, answered, then left idle.
    let mut idle = TcpStream::connect(w.addr()).await.unwrap();
    let unsigned = request(Some(FORM), &w.sms("SM-idle", "code 1"), None);
    let keep_alive = String::from_utf8(unsigned)
        .unwrap()
        .replace("Connection: close\r\n", "");
    idle.write_all(keep_alive.as_bytes()).await.unwrap();
    let (answer, took) = until_closed(&mut idle, Duration::from_secs(5)).await;
    assert_eq!(parse(&answer).0, 403);
    assert!(
        took >= header_timeout - Duration::from_millis(100),
        "closed after {took:?}"
    );
    w.server.shutdown().await;
}

/// Over the connection cap, a client waits in the accept queue: two
/// connections that hold the only two slots delay a third until the header
/// timeout frees them, and then it is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_wait_for_a_free_slot() {
    let header_timeout = Duration::from_millis(1_000);
    let w = hook(
        Backend::Sqlite,
        short(header_timeout, Duration::from_secs(30), 2),
    )
    .await;
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut holder = TcpStream::connect(w.addr()).await.unwrap();
        holder.write_all(b"POST / HTTP/1.1\r\nHo").await.unwrap();
        holders.push(holder);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let params = w.sms("SM-queued", "Your code is 864-200");
    let start = Instant::now();
    let (status, text) = tokio::time::timeout(Duration::from_secs(10), w.post(&params))
        .await
        .expect("never served");
    let waited = start.elapsed();
    assert_eq!(status, 200, "{text}");
    assert!(
        waited >= header_timeout - Duration::from_millis(300),
        "served after {waited:?}, with no slot free"
    );
    for mut holder in holders {
        until_closed(&mut holder, Duration::from_secs(5)).await;
    }
    assert_eq!(w.r.inbound.route_due().await.unwrap().routed, 1);
    w.server.shutdown().await;
}

/// Shutdown lets a request in flight finish, and does not wait past its
/// grace period for a client that never finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_requests_in_flight_within_its_grace() {
    let limits = HttpLimits {
        header_timeout: Duration::from_secs(60),
        body_timeout: Duration::from_secs(60),
        shutdown_grace: Duration::from_millis(500),
        ..HttpLimits::default()
    };
    let w = hook(Backend::Sqlite, limits).await;
    let mut stuck = TcpStream::connect(w.addr()).await.unwrap();
    stuck
        .write_all(
            format!("POST {TWILIO_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nTo")
                .as_bytes(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let addr = w.addr();
    let start = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), w.server.shutdown())
        .await
        .expect("shutdown hung");
    assert!(
        start.elapsed() >= Duration::from_millis(400),
        "did not wait for the request in flight"
    );
    until_closed(&mut stuck, Duration::from_secs(2)).await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}

/// A correctly signed SMS is stored and routed, once however often the
/// carrier retries; a forged one is refused with nothing stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_takes_signed_sms_and_refuses_forged_ones() {
    let mut w = hook(Backend::Sqlite, HttpLimits::default()).await;
    let params = w.sms("SM0123456789abcdef", "Your WhatsApp code is 246-810");
    let url = format!("{PUBLIC}{TWILIO_PATH}");
    // Forged: signed with another token, or not signed at all.
    let forged = twilio_signature("not-the-token", &url, &params);
    assert_eq!(
        exchange(w.addr(), &request(Some(FORM), &params, Some(&forged)))
            .await
            .0,
        403
    );
    assert_eq!(
        exchange(w.addr(), &request(Some(FORM), &params, None))
            .await
            .0,
        403
    );
    // A signature for other fields does not cover these.
    let mut tampered = params.clone();
    tampered[4].1 = "Your WhatsApp code is 999-999".into();
    assert_eq!(
        exchange(
            w.addr(),
            &request(Some(FORM), &tampered, Some(&sign(&params)))
        )
        .await
        .0,
        403
    );
    w.assert_nothing_stored().await;

    let (status, body) = w.post(&params).await;
    assert_eq!(status, 200);
    assert!(body.contains("<Response></Response>"), "{body}");
    // Twilio retries, later: still one message, and still 200.
    w.r.h.advance(Duration::from_secs(30));
    assert_eq!(w.post(&params).await.0, 200);
    assert_eq!(w.r.inbound.route_due().await.unwrap().routed, 1);
    let id = w.activation.id.clone();
    let got = w.r.h.get(&id).await;
    assert_eq!(got.messages.len(), 1);
    assert_eq!(got.messages[0].code, "246810");
    assert_eq!(got.messages[0].sender, "+14155550100");
    w.server.shutdown().await;
}
