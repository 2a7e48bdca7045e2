//! numhub as an HTTP client meets it: numhubd in process (every service and
//! the gateway, on a fresh SQLite directory or PostgreSQL database, with
//! its demo catalog), customers made through the operator's gRPC calls,
//! SMS handed to inbound as a SIM bank would, and a plain HTTP/1.1 client.

#![allow(dead_code)]

use std::net::SocketAddr;

use bytes::Bytes;
use clap::Parser as _;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt as _, Full};
use numhub_auth::{Environment, api_key};
use numhub_proto::accounts::v1 as accounts_pb;
use numhub_proto::accounts::v1::accounts_admin_service_client::AccountsAdminServiceClient;
use numhub_proto::common::v1::{Money, Scope};
use numhub_proto::inbound::v1 as inbound_pb;
use numhub_proto::inbound::v1::inbound_internal_service_client::InboundInternalServiceClient;
use numhub_proto::wallet::v1 as wallet_pb;
use numhub_proto::wallet::v1::wallet_admin_service_client::WalletAdminServiceClient;
use numhub_testkit::{Backend, BearerKey, TestDb};
use serde_json::Value;
use tonic::transport::Channel;

/// The service credential numhubd is started with, for the internal calls
/// a carrier or SIM bank makes (inbound's Deliver).
pub const CREDENTIAL: &str = "numhub-gateway-test-credential-0123456789";

const READ_WRITE: &[Scope] = &[Scope::Read, Scope::Write];

/// numhubd serving, and what it was started on.
pub struct Stack {
    numhubd: Option<numhubd::Numhubd>,
    pub http: SocketAddr,
    pub grpc: Channel,
    pub admin_key: String,
    _data: tempfile::TempDir,
    _db: Option<TestDb>,
}

impl Stack {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, &[]).await
    }

    /// numhubd with `flags` besides the tests' own (e.g. a shorter refund
    /// window).
    pub async fn start_with(backend: Backend, flags: &[&str]) -> Self {
        let data = tempfile::tempdir().unwrap();
        let admin_key = api_key::generate(Environment::Live).secret;
        let db = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(TestDb::new(Backend::Postgres).await),
        };
        let mut args = vec![
            "numhubd".to_owned(),
            "--listen-addr=127.0.0.1:0".into(),
            "--metrics-addr=off".into(),
            "--gateway-http-addr=127.0.0.1:0".into(),
            format!("--data-dir={}", data.path().display()),
            format!("--admin-key={admin_key}"),
            format!("--service-credential={CREDENTIAL}"),
            "--db-max-connections=2".into(),
            "--simulator=false".into(),
            "--shutdown-grace=1s".into(),
        ];
        args.extend(flags.iter().map(|f| (*f).to_owned()));
        if let Some(db) = &db {
            args.push(format!("--database-url={}", db.url));
        }
        let config = numhubd::Config::try_parse_from(args).expect("numhubd's flags");
        let numhubd = numhubd::start(config).await.expect("numhubd starts");
        let grpc = Channel::from_shared(format!("http://{}", numhubd.local_addr()))
            .unwrap()
            .connect()
            .await
            .unwrap();
        Stack {
            http: numhubd.http_addr(),
            numhubd: Some(numhubd),
            grpc,
            admin_key,
            _data: data,
            _db: db,
        }
    }

    /// A new customer with `cents` US cents and a read-write key, at the
    /// default rate limits.
    pub async fn customer(&self, cents: i64) -> String {
        self.customer_with(cents, None, READ_WRITE).await
    }

    /// A customer whose limits a test that polls never reaches.
    pub async fn roomy_customer(&self, cents: i64) -> String {
        let limits = accounts_pb::RateLimits {
            requests_per_minute: 100_000,
            money_requests_per_minute: 10_000,
        };
        self.customer_with(cents, Some(limits), READ_WRITE).await
    }

    /// A customer with `cents` whose key may only read.
    pub async fn reader(&self, cents: i64) -> String {
        self.customer_with(cents, None, &[Scope::Read]).await
    }

    async fn customer_with(
        &self,
        cents: i64,
        rate_limits: Option<accounts_pb::RateLimits>,
        scopes: &[Scope],
    ) -> String {
        let admin = BearerKey(self.admin_key.clone());
        let mut accounts =
            AccountsAdminServiceClient::with_interceptor(self.grpc.clone(), admin.clone());
        let request_id = uuid::Uuid::now_v7().to_string();
        let account = accounts
            .create_account(accounts_pb::CreateAccountRequest {
                display_name: "HTTP customer".into(),
                rate_limits,
                request_id: request_id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        let key = accounts
            .create_account_api_key(accounts_pb::CreateAccountApiKeyRequest {
                account_id: account.id.clone(),
                name: "http".into(),
                scopes: scopes.iter().map(|s| *s as i32).collect(),
            })
            .await
            .unwrap()
            .into_inner();
        if cents > 0 {
            WalletAdminServiceClient::with_interceptor(self.grpc.clone(), admin)
                .credit(wallet_pb::CreditRequest {
                    account_id: account.id,
                    amount: Some(Money {
                        currency_code: "USD".into(),
                        minor_units: cents,
                    }),
                    request_id,
                    reason: "test".into(),
                })
                .await
                .unwrap();
        }
        key.secret
    }

    /// An SMS reaching `to` now, handed to inbound as a SIM bank's gateway
    /// does: inbound stores it and routes it to whoever holds the number.
    pub async fn sms(&self, to: &str, sender: &str, body: &str) {
        InboundInternalServiceClient::with_interceptor(
            self.grpc.clone(),
            BearerKey(CREDENTIAL.into()),
        )
        .deliver(inbound_pb::DeliverRequest {
            upstream: "gateway-test".into(),
            upstream_message_id: uuid::Uuid::now_v7().to_string(),
            to: to.into(),
            sender: sender.into(),
            body: body.into(),
            receive_time: Some(std::time::SystemTime::now().into()),
        })
        .await
        .unwrap();
    }

    /// An HTTP client of the gateway.
    pub fn client(&self) -> Client {
        Client { addr: self.http }
    }

    pub async fn shutdown(mut self) {
        if let Some(numhubd) = self.numhubd.take() {
            numhubd.shutdown().await.unwrap();
        }
    }
}

/// A plain HTTP/1.1 client, one connection a request.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    pub addr: SocketAddr,
}

/// An answer: its status, headers and body (JSON when it is).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Client {
    pub async fn get(&self, path: &str, key: &str) -> Answer {
        self.send(
            Method::GET,
            path,
            &[("authorization", &format!("Bearer {key}"))],
            "",
        )
        .await
    }

    /// The SMS-Activate protocol: GET `/stubs/handler_api.php?{query}`.
    pub async fn handler(&self, query: &str) -> Answer {
        let path = format!("/stubs/handler_api.php?{query}");
        self.send(Method::GET, &path, &[], "").await
    }

    /// The SMS-Activate protocol: POST `form` as a form body, with `query`
    /// in the query string.
    pub async fn handler_form(&self, query: &str, form: &str) -> Answer {
        let path = format!("/stubs/handler_api.php?{query}");
        let headers = [("content-type", "application/x-www-form-urlencoded")];
        self.send(Method::POST, &path, &headers, form).await
    }

    pub async fn post(&self, path: &str, key: &str, body: &str) -> Answer {
        self.send(
            Method::POST,
            path,
            &[("x-api-key", key), ("content-type", "application/json")],
            body,
        )
        .await
    }

    /// A state-changing call as seed 000 makes it: bearer key, JSON body,
    /// and an `Idempotency-Key` when given.
    pub async fn call(
        &self,
        path: &str,
        key: &str,
        idempotency_key: Option<&str>,
        body: &str,
    ) -> Answer {
        let bearer = format!("Bearer {key}");
        let mut headers = vec![
            ("authorization", bearer.as_str()),
            ("content-type", "application/json"),
        ];
        if let Some(idempotency_key) = idempotency_key {
            headers.push(("idempotency-key", idempotency_key));
        }
        self.send(Method::POST, path, &headers, body).await
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Answer {
        let stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(connection);
        let mut request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }
}

/// A Server-Sent Event as a client reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub id: String,
    pub event: String,
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap()
    }
}

/// An open event stream.
pub struct Sse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    body: hyper::body::Incoming,
    buffer: String,
}

impl Client {
    /// Opens `path` as an event stream, resuming after `last_event_id`.
    pub async fn sse(&self, path: &str, key: &str, last_event_id: Option<&str>) -> Sse {
        let stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(connection);
        let mut request = http::Request::builder()
            .uri(path)
            .header("host", self.addr.to_string())
            .header("accept", "text/event-stream")
            .header("authorization", format!("Bearer {key}"));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = sender
            .send_request(request.body(Full::new(Bytes::new())).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        Sse {
            status,
            headers,
            body: response.into_body(),
            buffer: String::new(),
        }
    }
}

impl Sse {
    /// The next event (heartbeat comments skipped), or `None` when the
    /// stream ended; panics after `within` with nothing.
    pub async fn next(&mut self, within: std::time::Duration) -> Option<SseEvent> {
        tokio::time::timeout(within, self.next_event())
            .await
            .expect("no event in time")
    }

    async fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent {
                    id: String::new(),
                    event: String::new(),
                    data: String::new(),
                };
                let mut fields = 0;
                for line in block.lines() {
                    if let Some((name, value)) = line.split_once(':') {
                        let value = value.strip_prefix(' ').unwrap_or(value);
                        match name {
                            "id" => event.id = value.into(),
                            "event" => event.event = value.into(),
                            "data" => event.data.push_str(value),
                            _ => continue,
                        }
                        fields += 1;
                    }
                }
                if fields > 0 {
                    return Some(event);
                }
                continue;
            }
            let frame = self.body.frame().await?.ok()?;
            if let Ok(data) = frame.into_data() {
                self.buffer.push_str(&String::from_utf8_lossy(&data));
            }
        }
    }
}
