//! numhub's HTTP gateway under load, against numhubd in process: every
//! service on one gRPC port, the gateway calling them over gRPC through
//! that port (the same contracts, auth layer and channels as between
//! processes), on SQLite (numhubd's default) or PostgreSQL. One run:
//!
//! 1. **Throughput**: REST `GET /v1/account` through the gateway beside
//!    gRPC `WalletService/GetBalance` called directly on numhubd's port:
//!    the same account, the same key, the same number of closed-loop
//!    clients, each on a keep-alive connection of its own, the same phase
//!    length. Warm-ups, then rounds alternating the order.
//! 2. **Live events**: SSE streams open on the gateway (one per activation
//!    on `/v1/activations/{id}/events` by default: each activation is
//!    watched by whoever bought it, as seed 004's clients poll each one;
//!    or `/v1/messages/events`, several per account), then SMS handed to
//!    inbound's internal `Deliver` (service credential) at a steady rate,
//!    each to a watched number. For every SMS and every stream that should
//!    get it, the latency runs from the Deliver call to the SSE client
//!    having read the event. Every SMS must arrive exactly once on each of
//!    its streams, and on no other. A few streams are mirrored by a gRPC
//!    watch on orders, as a reference without the gateway.
//!
//! `cargo bench -p numhub-gateway --bench gateway`. Knobs (environment):
//!
//! - NUMHUB_BENCH_BACKEND: `sqlite` (the default, numhubd's) or `postgres`
//!   (a fresh database at NUMHUB_TEST_POSTGRES_URL);
//! - NUMHUB_BENCH_ONLY: `throughput` or `events` (both when unset);
//! - throughput: NUMHUB_BENCH_CLIENTS (32 connections a side),
//!   NUMHUB_BENCH_SECONDS (3, a phase), NUMHUB_BENCH_ROUNDS (4),
//!   NUMHUB_BENCH_WARMUP (3 s a side), NUMHUB_BENCH_ACCEPT_ENCODING (the
//!   REST clients' `Accept-Encoding`: `gzip`, as most HTTP libraries send
//!   it, or `none`);
//! - live events: NUMHUB_BENCH_STREAMS (1000), NUMHUB_BENCH_ACCOUNTS (50),
//!   NUMHUB_BENCH_EVENTS (`activations` or `messages`), NUMHUB_BENCH_RATE
//!   (100 SMS a second), NUMHUB_BENCH_SMS_SECONDS (10),
//!   NUMHUB_BENCH_REFERENCE_STREAMS (100 gRPC watches);
//! - NUMHUB_BENCH_LOG (`info`) and NUMHUB_BENCH_LOG_FORMAT (`json` or
//!   `text`): the tracing subscriber, as deployed;
//! - NUMHUB_BENCH_BREAKDOWN (0): 1 prints how long numhubd served each
//!   unary RPC and each short HTTP request, by method, from their spans;
//! - numhubd's own settings (`NUMHUB_GATEWAY_MAX_CONNECTIONS`, …), as
//!   they are.
//!
//! The bench raises its own soft limit of open files when it can; every
//! SSE stream holds two sockets.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use clap::Parser as _;
use hdrhistogram::Histogram;
use http::{HeaderValue, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use numhub_auth::{Environment, api_key};
use numhub_proto::accounts::v1 as accounts_pb;
use numhub_proto::accounts::v1::accounts_admin_service_client::AccountsAdminServiceClient;
use numhub_proto::catalog::v1 as catalog_pb;
use numhub_proto::catalog::v1::catalog_admin_service_client::CatalogAdminServiceClient;
use numhub_proto::common::v1::{Money, Scope};
use numhub_proto::inbound::v1 as inbound_pb;
use numhub_proto::inbound::v1::inbound_internal_service_client::InboundInternalServiceClient;
use numhub_proto::orders::v1 as orders_pb;
use numhub_proto::orders::v1::orders_service_client::OrdersServiceClient;
use numhub_proto::wallet::v1 as wallet_pb;
use numhub_proto::wallet::v1::wallet_admin_service_client::WalletAdminServiceClient;
use numhub_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use numhub_testkit::{Backend, BearerKey, TestDb};
use tokio::sync::Barrier;
use tokio::task::JoinSet;
use tokio_stream::StreamExt as _;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The service credential numhubd is started with: inbound's Deliver.
const CREDENTIAL: &str = "numhub-bench-service-credential-0123456789";
/// Each customer's opening balance, in US cents.
const BALANCE: i64 = 1_000_000;
/// The highest quota an account may be given (per key and minute): the
/// throughput phases send well under it, so the limiter counts every call
/// and refuses none; a refusal stops the bench.
const QUOTA: u32 = 1_000_000;
/// The activation price of the bench's service, in US cents.
const PRICE: i64 = 45;
/// How many SSE streams are opened at once.
const OPENING: usize = 50;
/// The longest wait for a stream's first event, and for the last SMS.
const PATIENCE: Duration = Duration::from_secs(30);

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn word(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Which streams the events phase opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Watch {
    /// `/v1/activations/{id}/events`, one per activation.
    Activations,
    /// `/v1/messages/events`, spread over the accounts.
    Messages,
}

#[derive(Debug)]
struct Knobs {
    backend: Backend,
    throughput: bool,
    events: bool,
    clients: usize,
    seconds: u64,
    rounds: u64,
    warmup: Duration,
    streams: usize,
    accounts: usize,
    watch: Watch,
    rate: u64,
    sms_seconds: u64,
    reference_streams: usize,
    log: String,
    log_format: String,
    breakdown: bool,
    accept_encoding: Option<HeaderValue>,
}

impl Knobs {
    fn read() -> anyhow::Result<Self> {
        let backend = match word("NUMHUB_BENCH_BACKEND", "sqlite").as_str() {
            "sqlite" => Backend::Sqlite,
            "postgres" => Backend::Postgres,
            other => anyhow::bail!("NUMHUB_BENCH_BACKEND is sqlite or postgres, not {other:?}"),
        };
        let (throughput, events) = match std::env::var("NUMHUB_BENCH_ONLY").as_deref() {
            Err(_) => (true, true),
            Ok("throughput") => (true, false),
            Ok("events") => (false, true),
            Ok(other) => anyhow::bail!("NUMHUB_BENCH_ONLY is throughput or events, not {other:?}"),
        };
        let watch = match word("NUMHUB_BENCH_EVENTS", "activations").as_str() {
            "activations" => Watch::Activations,
            "messages" => Watch::Messages,
            other => anyhow::bail!("NUMHUB_BENCH_EVENTS is activations or messages, not {other:?}"),
        };
        let streams = knob("NUMHUB_BENCH_STREAMS", 1000).max(1) as usize;
        Ok(Self {
            backend,
            throughput,
            events,
            clients: knob("NUMHUB_BENCH_CLIENTS", 32).max(1) as usize,
            seconds: knob("NUMHUB_BENCH_SECONDS", 3).max(1),
            rounds: knob("NUMHUB_BENCH_ROUNDS", 4).max(1),
            warmup: Duration::from_secs(knob("NUMHUB_BENCH_WARMUP", 3)),
            streams,
            accounts: (knob("NUMHUB_BENCH_ACCOUNTS", 50).max(1) as usize).min(streams),
            watch,
            rate: knob("NUMHUB_BENCH_RATE", 100).max(1),
            sms_seconds: knob("NUMHUB_BENCH_SMS_SECONDS", 10).max(1),
            reference_streams: (knob("NUMHUB_BENCH_REFERENCE_STREAMS", 100) as usize).min(streams),
            log: word("NUMHUB_BENCH_LOG", "info"),
            log_format: word("NUMHUB_BENCH_LOG_FORMAT", "json"),
            breakdown: knob("NUMHUB_BENCH_BREAKDOWN", 0) != 0,
            accept_encoding: match word("NUMHUB_BENCH_ACCEPT_ENCODING", "gzip").as_str() {
                "" | "none" => None,
                value => Some(HeaderValue::try_from(value)?),
            },
        })
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        // `cargo test --benches` lists benches; this one only runs on request.
        return Ok(());
    }
    let knobs = Knobs::read()?;
    // As numhubd deployed has it: INFO and up, as JSON, here into a sink.
    // Nothing is logged per call, but the gateway's `http` span and the
    // gRPC server's `rpc` span are made, recorded into and closed.
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::sink);
    let fmt = match knobs.log_format.as_str() {
        "json" => fmt.json().boxed(),
        "text" => fmt.boxed(),
        other => anyhow::bail!("NUMHUB_BENCH_LOG_FORMAT is json or text, not {other:?}"),
    };
    let times = SpanTimes::default();
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::builder().parse(&knobs.log)?)
        .with(fmt)
        .with(knobs.breakdown.then(|| times.clone()))
        .try_init()?;
    if knobs.events {
        // Each SSE stream holds a socket at both ends, and the gateway's
        // gRPC watch rides on it; plus the clients, the databases, slack.
        raise_open_files(2 * (knobs.streams + knobs.reference_streams) + 512)?;
    }

    let bench = Bench::start(&knobs).await?;
    println!(
        "gateway bench: numhubd in process on {:?}, gateway at http://{}, gRPC at {}",
        knobs.backend, bench.http, bench.grpc_addr
    );
    if knobs.throughput {
        throughput(&bench, &knobs, &times).await?;
        times.print("throughput rounds");
    }
    if knobs.events {
        events(&bench, &knobs, &times).await?;
        times.print("SMS sent and read");
    }
    bench.stop().await
}

/// Raises this process's soft limit of open files to `needed` (within
/// the hard limit), or explains what to raise.
fn raise_open_files(needed: usize) -> anyhow::Result<()> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let needed = needed as u64;
    let limit = getrlimit(Resource::Nofile);
    let soft = limit.current.unwrap_or(u64::MAX);
    if soft >= needed {
        return Ok(());
    }
    let hard = limit.maximum.unwrap_or(u64::MAX);
    anyhow::ensure!(
        hard >= needed,
        "{needed} open files are needed and the hard limit is {hard}: raise it \
         (`ulimit -Hn`), or lower NUMHUB_BENCH_STREAMS"
    );
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(needed),
            maximum: limit.maximum,
        },
    )
    .context("raising the soft limit of open files")?;
    eprintln!("raised the soft limit of open files from {soft} to {needed}");
    Ok(())
}

/// numhubd serving, and what the bench needs of it.
struct Bench {
    numhubd: numhubd::Numhubd,
    http: SocketAddr,
    grpc_addr: SocketAddr,
    grpc: Channel,
    admin: String,
    _data: tempfile::TempDir,
    db: Option<TestDb>,
}

impl Bench {
    /// numhubd with its production settings, but no demo data and no
    /// simulated SIM bank (their SMS would mix with the bench's), on a
    /// fresh SQLite directory or PostgreSQL database.
    async fn start(knobs: &Knobs) -> anyhow::Result<Self> {
        if knobs.backend == Backend::Postgres {
            anyhow::ensure!(
                numhub_testkit::backend_available(Backend::Postgres).await,
                "NUMHUB_BENCH_BACKEND=postgres needs PostgreSQL at NUMHUB_TEST_POSTGRES_URL"
            );
        }
        let data = tempfile::tempdir()?;
        let admin = api_key::generate(Environment::Live).secret;
        let db = match knobs.backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(TestDb::new(Backend::Postgres).await),
        };
        let metrics = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let mut args = vec![
            "numhubd".to_owned(),
            "--listen-addr=127.0.0.1:0".into(),
            // The Prometheus recorder on, as deployed: every RPC counted.
            format!("--metrics-addr={metrics}"),
            "--gateway-http-addr=127.0.0.1:0".into(),
            format!("--data-dir={}", data.path().display()),
            format!("--admin-key={admin}"),
            format!("--service-credential={CREDENTIAL}"),
            "--simulator=false".into(),
            "--demo=false".into(),
            "--shutdown-grace=1s".into(),
        ];
        if let Some(db) = &db {
            args.push(format!("--database-url={}", db.url));
        }
        let config = numhubd::Config::try_parse_from(args)?;
        if knobs.events {
            let needed = knobs.streams + knobs.clients + 16;
            anyhow::ensure!(
                config.gateway.gateway_max_connections >= needed,
                "the gateway serves at most {} connections and the bench opens {needed}: \
                 raise NUMHUB_GATEWAY_MAX_CONNECTIONS",
                config.gateway.gateway_max_connections
            );
            let per_account = knobs.streams.div_ceil(knobs.accounts) as u32;
            anyhow::ensure!(
                config.orders.max_open == 0 || config.orders.max_open >= per_account,
                "each account holds {per_account} open activations, above \
                 NUMHUB_ORDERS_MAX_OPEN ({}): raise it or NUMHUB_BENCH_ACCOUNTS",
                config.orders.max_open
            );
        }
        let numhubd = numhubd::start(config).await?;
        let grpc_addr = numhubd.local_addr();
        let grpc = connect(grpc_addr).await?;
        Ok(Self {
            http: numhubd.http_addr(),
            numhubd,
            grpc_addr,
            grpc,
            admin,
            _data: data,
            db,
        })
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.numhubd.shutdown().await
    }

    /// The CPU spent so far by this process, the machine, and the
    /// PostgreSQL backends connected to this run's database.
    async fn cpu(&self) -> CpuSample<'_> {
        let mut postgres = HashMap::new();
        for pid in self.postgres_backends().await {
            postgres.insert(pid, stat_cpu(&format!("/proc/{pid}/stat")));
        }
        CpuSample {
            bench: self,
            process: stat_cpu("/proc/self/stat"),
            machine: machine_cpu(),
            postgres,
        }
    }

    /// The PostgreSQL backends connected to this run's database.
    async fn postgres_backends(&self) -> Vec<i32> {
        let Some(db) = &self.db else {
            return Vec::new();
        };
        sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            .fetch_all(db.db.reader())
            .await
            .unwrap_or_default()
    }

    /// A new customer with the highest quota, a read-write key and
    /// [`BALANCE`]: its account id and key.
    async fn customer(&self, name: &str) -> anyhow::Result<(String, String)> {
        let admin = BearerKey(self.admin.clone());
        let mut accounts = AccountsAdminServiceClient::with_interceptor(self.grpc.clone(), admin);
        let request_id = uuid::Uuid::now_v7().to_string();
        let account = accounts
            .create_account(accounts_pb::CreateAccountRequest {
                display_name: name.into(),
                rate_limits: Some(accounts_pb::RateLimits {
                    requests_per_minute: QUOTA,
                    money_requests_per_minute: QUOTA,
                }),
                request_id: request_id.clone(),
            })
            .await?
            .into_inner();
        let key = accounts
            .create_account_api_key(accounts_pb::CreateAccountApiKeyRequest {
                account_id: account.id.clone(),
                name: "bench".into(),
                scopes: vec![Scope::Read as i32, Scope::Write as i32],
            })
            .await?
            .into_inner();
        WalletAdminServiceClient::with_interceptor(
            self.grpc.clone(),
            BearerKey(self.admin.clone()),
        )
        .credit(wallet_pb::CreditRequest {
            account_id: account.id.clone(),
            amount: Some(usd(BALANCE)),
            request_id,
            reason: "bench".into(),
        })
        .await?;
        Ok((account.id, key.secret))
    }

    /// `count` US numbers, and a price for `wa` there.
    async fn stock(&self, count: usize) -> anyhow::Result<()> {
        let mut catalog = CatalogAdminServiceClient::with_interceptor(
            self.grpc.clone(),
            BearerKey(self.admin.clone()),
        );
        let numbers: Vec<_> = (0..count as u32)
            .map(|n| catalog_pb::NumberImport {
                phone_number: format!("+1555{n:07}"),
                country_code: "US".into(),
                operator: String::new(),
                number_type: catalog_pb::NumberType::Voip as i32,
                source: "bench".into(),
            })
            .collect();
        for chunk in numbers.chunks(10_000) {
            catalog
                .import_numbers(catalog_pb::ImportNumbersRequest {
                    numbers: chunk.to_vec(),
                })
                .await?;
        }
        catalog
            .set_activation_price(catalog_pb::SetActivationPriceRequest {
                service_code: "wa".into(),
                country_code: "US".into(),
                operator: String::new(),
                price: Some(usd(PRICE)),
            })
            .await?;
        Ok(())
    }
}

fn usd(cents: i64) -> Money {
    Money {
        currency_code: "USD".into(),
        minor_units: cents,
    }
}

async fn connect(addr: SocketAddr) -> anyhow::Result<Channel> {
    Ok(Endpoint::from_shared(format!("http://{addr}"))?
        .tcp_nodelay(true)
        .connect()
        .await?)
}

// ---------------------------------------------------------------------
// Throughput
// ---------------------------------------------------------------------

/// One way of asking for the balance.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Rest,
    Grpc,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Rest => "REST GET /v1/account via the gateway",
            Side::Grpc => "gRPC WalletService/GetBalance direct",
        }
    }
}

/// What the clients send: the same key, each header built once.
#[derive(Clone)]
struct Target {
    http: SocketAddr,
    grpc: SocketAddr,
    host: HeaderValue,
    rest_bearer: HeaderValue,
    accept_encoding: Option<HeaderValue>,
    grpc_bearer: MetadataValue<Ascii>,
}

type GrpcClient = WalletServiceClient<
    tonic::service::interceptor::InterceptedService<
        Channel,
        Box<
            dyn FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status>
                + Send
                + Sync,
        >,
    >,
>;

/// One client's connection, kept alive.
enum Connection {
    Rest {
        sender: http1::SendRequest<Empty<Bytes>>,
        target: Target,
    },
    Grpc(GrpcClient),
}

impl Connection {
    async fn open(side: Side, target: &Target) -> anyhow::Result<Self> {
        Ok(match side {
            Side::Rest => Connection::Rest {
                sender: http_connection(target.http).await?,
                target: target.clone(),
            },
            Side::Grpc => {
                let bearer = target.grpc_bearer.clone();
                Connection::Grpc(WalletServiceClient::with_interceptor(
                    connect(target.grpc).await?,
                    Box::new(move |mut request: tonic::Request<()>| {
                        request
                            .metadata_mut()
                            .insert("authorization", bearer.clone());
                        Ok(request)
                    }),
                ))
            }
        })
    }

    /// One balance, read to its end: the JSON body, or the message.
    async fn call(&mut self) -> anyhow::Result<Bytes> {
        match self {
            Connection::Rest { sender, target } => {
                sender.ready().await?;
                let mut request = Request::get("/v1/account")
                    .header(header::HOST, target.host.clone())
                    .header(header::AUTHORIZATION, target.rest_bearer.clone());
                if let Some(accept) = &target.accept_encoding {
                    request = request.header(header::ACCEPT_ENCODING, accept.clone());
                }
                let request = request.body(Empty::new())?;
                let response = sender.send_request(request).await?;
                let status = response.status();
                let body = response.into_body().collect().await?.to_bytes();
                anyhow::ensure!(
                    status == StatusCode::OK,
                    "GET /v1/account answered {status}: {}",
                    String::from_utf8_lossy(&body)
                );
                Ok(body)
            }
            Connection::Grpc(client) => {
                let balance = client
                    .get_balance(wallet_pb::GetBalanceRequest {})
                    .await?
                    .into_inner();
                let minor = balance.available.map_or(0, |m| m.minor_units);
                Ok(Bytes::from(minor.to_string()))
            }
        }
    }
}

/// An HTTP/1.1 keep-alive connection to `addr`.
async fn http_connection<B>(addr: SocketAddr) -> anyhow::Result<http1::SendRequest<B>>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

#[derive(Debug)]
struct Figures {
    calls: u64,
    elapsed: Duration,
    cpu: Cpu,
    histogram: Histogram<u64>,
}

impl Figures {
    fn empty() -> Self {
        Self {
            calls: 0,
            elapsed: Duration::ZERO,
            cpu: Cpu::default(),
            histogram: Histogram::new(3).expect("histogram"),
        }
    }

    fn add(&mut self, other: &Figures) {
        self.calls += other.calls;
        self.elapsed += other.elapsed;
        self.cpu.add(&other.cpu);
        self.histogram.add(&other.histogram).expect("merge");
    }

    fn per_second(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }

    fn ms(&self, quantile: f64) -> f64 {
        self.histogram.value_at_quantile(quantile) as f64 / 1000.0
    }

    fn cpu_micros_per_call(&self) -> f64 {
        self.cpu.process.as_secs_f64() * 1e6 / self.calls as f64
    }

    fn postgres_micros_per_call(&self) -> f64 {
        self.cpu.postgres.as_secs_f64() * 1e6 / self.calls as f64
    }
}

async fn throughput(bench: &Bench, knobs: &Knobs, times: &SpanTimes) -> anyhow::Result<()> {
    let (_, key) = bench.customer("throughput").await?;
    let target = Target {
        http: bench.http,
        grpc: bench.grpc_addr,
        host: HeaderValue::from_str(&bench.http.to_string())?,
        rest_bearer: HeaderValue::from_str(&format!("Bearer {key}"))?,
        accept_encoding: None,
        grpc_bearer: format!("Bearer {key}").parse()?,
    };
    // Both read the same balance, and the REST answer carries the quota
    // the bench gave: the limiter counts every call and caps none.
    let (headers, body) = probe(&target, None).await?;
    let answer: serde_json::Value = serde_json::from_slice(&body)?;
    anyhow::ensure!(
        answer["balance"].as_f64() == Some(BALANCE as f64 / 100.0) && answer["currency"] == "USD",
        "unexpected answer {answer}"
    );
    anyhow::ensure!(
        headers.get("x-ratelimit-limit") == Some(&HeaderValue::from(QUOTA)),
        "the quota is not the bench's: {headers:?}"
    );
    let mut grpc = Connection::open(Side::Grpc, &target).await?;
    anyhow::ensure!(
        grpc.call().await? == BALANCE.to_string(),
        "unexpected balance"
    );
    let target = Target {
        accept_encoding: knobs.accept_encoding.clone(),
        ..target
    };
    if let Some(accept) = &target.accept_encoding {
        let (headers, body) = probe(&target, Some(accept)).await?;
        eprintln!(
            "REST clients send Accept-Encoding {accept:?}: answered {:?}, {} bytes",
            headers.get(header::CONTENT_ENCODING),
            body.len()
        );
    }

    let clients = knobs.clients;
    let duration = Duration::from_secs(knobs.seconds);
    eprintln!(
        "throughput: {clients} connections a side, warm-up {} s a side, {} rounds of {} s a side",
        knobs.warmup.as_secs(),
        knobs.rounds,
        knobs.seconds
    );
    let sides = [Side::Rest, Side::Grpc];
    for side in sides {
        run(bench, side, &target, clients, knobs.warmup).await?;
    }
    times.reset();
    let mut totals = [Figures::empty(), Figures::empty()];
    let mut ratios = Vec::new();
    for round in 1..=knobs.rounds {
        // Odd rounds REST first, even rounds gRPC first: a drift in the
        // machine's speed favours neither.
        let order = if round % 2 == 1 { [0, 1] } else { [1, 0] };
        let mut per_second = [0.0; 2];
        for i in order {
            let f = run(bench, sides[i], &target, clients, duration).await?;
            eprintln!(
                "  round {round}, {}: {:.0}/s, p50 {:.3} ms, p99 {:.3} ms, CPU µs a call: \
                 {:.1} here, {:.1} PostgreSQL; other programs {:.2} cores",
                sides[i].name(),
                f.per_second(),
                f.ms(0.50),
                f.ms(0.99),
                f.cpu_micros_per_call(),
                f.postgres_micros_per_call(),
                f.cpu.others_cores(f.elapsed),
            );
            per_second[i] = f.per_second();
            totals[i].add(&f);
        }
        ratios.push(per_second[0] / per_second[1]);
    }

    println!(
        "\n| {clients} clients, {} rounds of {} s | requests/s | p50 ms | p99 ms | max ms | \
         CPU µs a call, this process | CPU µs a call, PostgreSQL | other programs, cores |",
        knobs.rounds, knobs.seconds
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (side, f) in sides.iter().zip(&totals) {
        println!(
            "| {} | {:.0} | {:.3} | {:.3} | {:.1} | {:.1} | {:.1} | {:.2} |",
            side.name(),
            f.per_second(),
            f.ms(0.50),
            f.ms(0.99),
            f.histogram.max() as f64 / 1000.0,
            f.cpu_micros_per_call(),
            f.postgres_micros_per_call(),
            f.cpu.others_cores(f.elapsed),
        );
    }
    let per_round: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
    println!(
        "\nREST / gRPC = {:.2} over all rounds, {:.2} the median round ({}); goal >= 0.7",
        totals[0].per_second() / totals[1].per_second(),
        median(&ratios),
        per_round.join(", ")
    );
    Ok(())
}

/// One `GET /v1/account` on a connection of its own: the answer's headers
/// and body as sent.
async fn probe(
    target: &Target,
    accept_encoding: Option<&HeaderValue>,
) -> anyhow::Result<(http::HeaderMap, Bytes)> {
    let mut sender = http_connection::<Empty<Bytes>>(target.http).await?;
    let mut request = Request::get("/v1/account")
        .header(header::HOST, target.host.clone())
        .header(header::AUTHORIZATION, target.rest_bearer.clone());
    if let Some(accept) = accept_encoding {
        request = request.header(header::ACCEPT_ENCODING, accept.clone());
    }
    let response = sender.send_request(request.body(Empty::new())?).await?;
    anyhow::ensure!(response.status() == StatusCode::OK, "{}", response.status());
    let headers = response.headers().clone();
    Ok((headers, response.into_body().collect().await?.to_bytes()))
}

/// `clients` closed loops on `side`, each on a connection of its own, for
/// `duration` (connections opened before the clock starts).
async fn run(
    bench: &Bench,
    side: Side,
    target: &Target,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Figures> {
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(Barrier::new(clients + 1));
    let mut tasks = JoinSet::new();
    for _ in 0..clients {
        let (stop, ready, target) = (stop.clone(), ready.clone(), target.clone());
        tasks.spawn(async move {
            let connection = Connection::open(side, &target).await;
            ready.wait().await;
            let mut connection = connection?;
            let mut histogram = Histogram::<u64>::new(3).expect("histogram");
            let mut calls = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                connection.call().await?;
                histogram.record(started.elapsed().as_micros() as u64)?;
                calls += 1;
            }
            anyhow::Ok((histogram, calls))
        });
    }
    ready.wait().await;
    let cpu = bench.cpu().await;
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut figures = Figures::empty();
    while let Some(result) = tasks.join_next().await {
        let (histogram, calls) = result??;
        figures.histogram.add(histogram)?;
        figures.calls += calls;
    }
    figures.elapsed = started.elapsed();
    figures.cpu = cpu.spent().await;
    Ok(figures)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

// ---------------------------------------------------------------------
// Live events
// ---------------------------------------------------------------------

/// An activation bought for the bench.
struct Bought {
    id: i64,
    uuid: String,
    phone: String,
    account: usize,
}

/// An SMS read on a stream: which SMS, on which stream, when.
#[derive(Clone, Copy)]
struct Arrival {
    sms: usize,
    stream: usize,
    at: Instant,
}

/// What the readers of one kind of stream saw.
#[derive(Default)]
struct Arrivals {
    seen: Mutex<Vec<Arrival>>,
    count: AtomicUsize,
}

impl Arrivals {
    /// SMS `sms` read now on `stream`.
    fn record(&self, stream: usize, sms: usize) {
        let at = Instant::now();
        self.seen.lock().unwrap().push(Arrival { sms, stream, at });
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The SMS whose text is `body` read now on `stream`.
    fn record_text(&self, stream: usize, body: &str) {
        if let Some(sms) = sms_index(body) {
            self.record(stream, sms);
        }
    }
}

/// What the SSE readers saw: each SMS (`message` events), and on an
/// activation's stream the `status` event that says RECEIVED.
#[derive(Default)]
struct SseArrivals {
    messages: Arrivals,
    received: Arrivals,
    /// Streams opened again after a 503 or 504.
    reopened: AtomicUsize,
}

/// The index an SMS body carries (`sms 17: …`).
fn sms_index(body: &str) -> Option<usize> {
    body.strip_prefix("sms ")?.split_once(':')?.0.parse().ok()
}

/// Who watches what: stream s is activation s's own (or account
/// s % accounts's messages), and SMS n goes to activation n % activations.
struct Layout {
    watch: Watch,
    accounts: usize,
    keys: Vec<String>,
    bought: Vec<Bought>,
}

impl Layout {
    fn streams(&self) -> usize {
        self.bought.len()
    }

    fn account_of_stream(&self, s: usize) -> usize {
        match self.watch {
            Watch::Activations => self.bought[s].account,
            Watch::Messages => s % self.accounts,
        }
    }

    fn path(&self, s: usize) -> String {
        match self.watch {
            Watch::Activations => format!("/v1/activations/{}/events", self.bought[s].id),
            Watch::Messages => "/v1/messages/events".to_owned(),
        }
    }

    /// The activation SMS `n` is sent to.
    fn target(&self, n: usize) -> &Bought {
        &self.bought[n % self.bought.len()]
    }

    /// The `count` streams the reference watches again over gRPC, so that
    /// their SMS come throughout the run: every k-th activation's, or the
    /// first streams (each account's in turn).
    fn reference(&self, count: usize) -> Vec<usize> {
        match self.watch {
            Watch::Activations => {
                let stride = (self.streams() / count.max(1)).max(1);
                (0..self.streams()).step_by(stride).take(count).collect()
            }
            Watch::Messages => (0..count.min(self.streams())).collect(),
        }
    }

    /// The streams that must read SMS `n`, each once.
    fn expected(&self, n: usize) -> Vec<usize> {
        match self.watch {
            Watch::Activations => vec![n % self.bought.len()],
            Watch::Messages => (self.target(n).account..self.streams())
                .step_by(self.accounts)
                .collect(),
        }
    }
}

async fn events(bench: &Bench, knobs: &Knobs, times: &SpanTimes) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut keys = Vec::new();
    for a in 0..knobs.accounts {
        keys.push(bench.customer(&format!("events {a}")).await?.1);
    }
    bench.stock(knobs.streams).await?;
    let bought = buy(bench, knobs.streams, &keys).await?;
    eprintln!(
        "events: {} accounts, {} activations bought in {:.1} s",
        knobs.accounts,
        bought.len(),
        started.elapsed().as_secs_f64()
    );
    let layout = Arc::new(Layout {
        watch: knobs.watch,
        accounts: knobs.accounts,
        keys,
        bought,
    });

    let rss_before = rss_kib();
    let opened = Instant::now();
    let mut readers = JoinSet::new();
    let sse = open_sse_streams(bench.http, &layout, &mut readers).await?;
    let open_time = opened.elapsed();
    let reference: HashSet<usize> = layout
        .reference(knobs.reference_streams)
        .into_iter()
        .collect();
    let direct = open_reference(bench, &layout, &reference, &mut readers).await?;
    eprintln!(
        "events: {} SSE streams open in {:.1} s ({} opened again after a 503 or 504), {} gRPC \
         watches beside; resident memory {} KiB more",
        layout.streams(),
        open_time.as_secs_f64(),
        sse.reopened.load(Ordering::Relaxed),
        reference.len(),
        rss_kib().saturating_sub(rss_before)
    );

    times.reset();
    let (cpu, sending) = (bench.cpu().await, Instant::now());
    let (sent, answered) = send_sms(bench, &layout, knobs.rate, knobs.sms_seconds).await?;
    let send_time = sending.elapsed();
    let want_sse: usize = (0..sent.len()).map(|n| layout.expected(n).len()).sum();
    let want_direct: usize = (0..sent.len())
        .map(|n| {
            let expected = layout.expected(n);
            expected.iter().filter(|s| reference.contains(*s)).count()
        })
        .sum();
    let deadline = Instant::now() + PATIENCE;
    while (sse.messages.count.load(Ordering::Relaxed) < want_sse
        || direct.count.load(Ordering::Relaxed) < want_direct)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A moment more, for an SMS that would come twice or astray.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let elapsed = sending.elapsed();
    let cpu = cpu.spent().await;
    readers.abort_all();
    while let Some(result) = readers.join_next().await {
        match result {
            Ok(Err(error)) => anyhow::bail!("a stream failed: {error:#}"),
            Err(error) if error.is_panic() => anyhow::bail!("a reader panicked: {error}"),
            _ => {}
        }
    }

    let sse_seen = sse.messages.seen.lock().unwrap().clone();
    let received_seen = sse.received.seen.lock().unwrap().clone();
    let direct_seen = direct.seen.lock().unwrap().clone();
    let expected = |n| layout.expected(n);
    let sse_check = check(&sse_seen, &sent, expected, |_| true);
    let direct_check = check(&direct_seen, &sent, expected, |s| reference.contains(&s));
    // On an activation's stream, once: RECEIVED after its first SMS.
    let first_sms = |n: usize| match knobs.watch {
        Watch::Activations if n < layout.streams() => vec![n],
        _ => Vec::new(),
    };
    let received_check = check(&received_seen, &sent, first_sms, |_| true);
    // The gateway's share, SMS by SMS: when the SSE client read it, less
    // when the gRPC watch of the same stream did (0 when SSE was first).
    let direct_at: HashMap<(usize, usize), Instant> = direct_seen
        .iter()
        .map(|a| ((a.sms, a.stream), a.at))
        .collect();
    let mut hop = Histogram::<u64>::new(3)?;
    for a in &sse_seen {
        if let Some(at) = direct_at.get(&(a.sms, a.stream)) {
            hop.record(a.at.saturating_duration_since(*at).as_micros() as u64)?;
        }
    }

    let what = match knobs.watch {
        Watch::Activations => "one stream per activation, /v1/activations/{id}/events",
        Watch::Messages => "streams on /v1/messages/events",
    };
    println!(
        "\nlive events: {} SSE streams ({what}) over {} accounts; {} SMS at {}/s for {} s \
         (sent in {:.1} s); {} of the streams watched over gRPC on orders too, as the \
         reference",
        layout.streams(),
        knobs.accounts,
        sent.len(),
        knobs.rate,
        knobs.sms_seconds,
        send_time.as_secs_f64(),
        reference.len(),
    );
    println!("\n| from the Deliver call to | p50 ms | p99 ms | max ms | count |");
    println!("|---|---:|---:|---:|---:|");
    let row = |what: &str, h: &Histogram<u64>, count: String| {
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "| {what} | {:.2} | {:.2} | {:.2} | {count} |",
            ms(0.5),
            ms(0.99),
            h.max() as f64 / 1000.0
        );
    };
    row(
        "the SSE client has read the event, every stream",
        &sse_check.latency,
        format!("{} of {want_sse}", sse_check.latency.len()),
    );
    if knobs.watch == Watch::Activations {
        row(
            "the SSE client has read the RECEIVED status, on the first SMS of each",
            &received_check.latency,
            format!(
                "{} of {}",
                received_check.latency.len(),
                sent.len().min(layout.streams())
            ),
        );
    }
    row(
        "(reference) the gRPC watch on orders has it",
        &direct_check.latency,
        format!("{} of {want_direct}", direct_check.latency.len()),
    );
    row(
        "(part) inbound's answer to Deliver",
        &answered,
        answered.len().to_string(),
    );
    row(
        "(part) the gateway's hop: SSE read less gRPC read, same SMS and stream",
        &hop,
        hop.len().to_string(),
    );
    let seconds = elapsed.as_secs_f64();
    println!(
        "\nwhile sending and reading: this process {:.2} cores, PostgreSQL {:.2} cores, other \
         programs {:.2} cores",
        cpu.process.as_secs_f64() / seconds,
        cpu.postgres.as_secs_f64() / seconds,
        cpu.others_cores(elapsed),
    );
    let p99 = sse_check.latency.value_at_quantile(0.99) as f64 / 1000.0;
    println!(
        "SSE p99 = {p99:.2} ms (goal <= 20 ms): {}",
        if p99 <= 20.0 { "met" } else { "not met" }
    );
    sse_check.ensure("SSE")?;
    received_check.ensure("SSE RECEIVED status")?;
    direct_check.ensure("gRPC reference")?;
    Ok(())
}

type Readers = JoinSet<anyhow::Result<()>>;

/// Opens every SSE stream, [`OPENING`] at a time, each live before the
/// next phase; their readers go to `readers`.
async fn open_sse_streams(
    http: SocketAddr,
    layout: &Layout,
    readers: &mut Readers,
) -> anyhow::Result<Arc<SseArrivals>> {
    let arrivals = Arc::new(SseArrivals::default());
    let mut opening = JoinSet::new();
    for s in 0..layout.streams() {
        if opening.len() >= OPENING {
            readers.spawn(opening.join_next().await.expect("opening")??);
        }
        let key = layout.keys[layout.account_of_stream(s)].clone();
        opening.spawn(open_sse(
            http,
            layout.path(s),
            key,
            s,
            layout.watch,
            arrivals.clone(),
        ));
    }
    while let Some(reader) = opening.join_next().await {
        readers.spawn(reader??);
    }
    Ok(arrivals)
}

/// The reference: the `streams` watched again over gRPC on orders, without
/// the gateway, all on one HTTP/2 connection.
async fn open_reference(
    bench: &Bench,
    layout: &Layout,
    streams: &HashSet<usize>,
    readers: &mut Readers,
) -> anyhow::Result<Arc<Arrivals>> {
    let arrivals = Arc::new(Arrivals::default());
    let channel = connect(bench.grpc_addr).await?;
    let mut ready = Vec::new();
    for &s in streams {
        let mut orders = OrdersServiceClient::with_interceptor(
            channel.clone(),
            BearerKey(layout.keys[layout.account_of_stream(s)].clone()),
        );
        let (arrivals, watch) = (arrivals.clone(), layout.watch);
        let uuid = layout.bought[s].uuid.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        ready.push(rx);
        readers.spawn(async move {
            match watch {
                Watch::Activations => {
                    let request = orders_pb::WatchActivationRequest {
                        id: uuid,
                        after: String::new(),
                    };
                    let mut events = orders.watch_activation(request).await?.into_inner();
                    events.next().await; // WAITING
                    let _ = tx.send(());
                    while let Some(event) = events.next().await {
                        if let Some(orders_pb::activation_event::Event::Message(m)) = event?.event {
                            arrivals.record_text(s, &m.body);
                        }
                    }
                }
                Watch::Messages => {
                    let request = orders_pb::WatchMessagesRequest::default();
                    let mut events = orders.watch_messages(request).await?.into_inner();
                    let _ = tx.send(());
                    while let Some(event) = events.next().await {
                        if let Some(m) = event?.message {
                            arrivals.record_text(s, &m.body);
                        }
                    }
                }
            }
            anyhow::bail!("gRPC watch {s} ended")
        });
    }
    for rx in ready {
        rx.await?;
    }
    Ok(arrivals)
}

/// The SIM bank: `rate` SMS a second for `seconds` through inbound's
/// Deliver, each on a task of its own so that a slow answer never delays
/// the next. When each was sent, and how long inbound took to answer.
async fn send_sms(
    bench: &Bench,
    layout: &Layout,
    rate: u64,
    seconds: u64,
) -> anyhow::Result<(Vec<Instant>, Histogram<u64>)> {
    let credential: MetadataValue<Ascii> = format!("Bearer {CREDENTIAL}").parse()?;
    let inbound = InboundInternalServiceClient::with_interceptor(
        connect(bench.grpc_addr).await?,
        move |mut r: tonic::Request<()>| {
            r.metadata_mut().insert("authorization", credential.clone());
            Ok(r)
        },
    );
    let total = (rate * seconds) as usize;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let mut senders = JoinSet::new();
    for n in 0..total {
        tick.tick().await;
        let request = inbound_pb::DeliverRequest {
            upstream: "bench".into(),
            upstream_message_id: format!("bench-{n}"),
            to: layout.target(n).phone.clone(),
            sender: "WhatsApp".into(),
            body: format!("sms {n}: your WhatsApp code is {:06}", n % 1_000_000),
            receive_time: Some(std::time::SystemTime::now().into()),
        };
        let mut inbound = inbound.clone();
        senders.spawn(async move {
            let at = Instant::now();
            inbound.deliver(request).await?;
            anyhow::Ok((n, at, at.elapsed()))
        });
    }
    let mut sent = vec![None; total];
    let mut answered = Histogram::<u64>::new(3)?;
    while let Some(result) = senders.join_next().await {
        let (n, at, took) = result??;
        sent[n] = Some(at);
        answered.record(took.as_micros() as u64)?;
    }
    Ok((
        sent.into_iter().map(|at| at.expect("sent")).collect(),
        answered,
    ))
}

/// Buys `count` activations through the REST API, activation i for
/// account i % accounts, 16 at a time.
async fn buy(bench: &Bench, count: usize, keys: &[String]) -> anyhow::Result<Vec<Bought>> {
    let mut workers = JoinSet::new();
    for worker in 0..16 {
        let (keys, http) = (keys.to_vec(), bench.http);
        workers.spawn(async move {
            let mut sender = http_connection::<Full<Bytes>>(http).await?;
            let mut bought = Vec::new();
            for i in (worker..count).step_by(16) {
                let account = i % keys.len();
                // As a client does: a retry under the same Idempotency-Key
                // when numhub says so (busy, or the first try still on).
                let mut attempt = 0;
                let body = loop {
                    attempt += 1;
                    sender.ready().await?;
                    let request = Request::post("/v1/activations")
                        .header(header::HOST, http.to_string())
                        .header(header::AUTHORIZATION, format!("Bearer {}", keys[account]))
                        .header(header::CONTENT_TYPE, "application/json")
                        .header("idempotency-key", format!("bench-buy-{i}"))
                        .body(Full::new(Bytes::from_static(
                            br#"{"serviceCode":"wa","countryIso":"US"}"#,
                        )))?;
                    let response = sender.send_request(request).await?;
                    let status = response.status();
                    let body = response.into_body().collect().await?.to_bytes();
                    let retry = matches!(
                        status,
                        StatusCode::CONFLICT
                            | StatusCode::SERVICE_UNAVAILABLE
                            | StatusCode::GATEWAY_TIMEOUT
                    );
                    if status == StatusCode::CREATED {
                        break body;
                    }
                    anyhow::ensure!(
                        retry && attempt < 5,
                        "buying answered {status}: {}",
                        String::from_utf8_lossy(&body)
                    );
                    tokio::time::sleep(Duration::from_millis(500)).await;
                };
                let a: serde_json::Value = serde_json::from_slice(&body)?;
                bought.push((
                    i,
                    Bought {
                        id: a["id"].as_i64().context("id")?,
                        uuid: a["uuid"].as_str().context("uuid")?.to_owned(),
                        phone: a["phoneNumber"].as_str().context("phoneNumber")?.to_owned(),
                        account,
                    },
                ));
            }
            anyhow::Ok(bought)
        });
    }
    let mut all = Vec::new();
    while let Some(bought) = workers.join_next().await {
        all.extend(bought??);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, b)| b).collect())
}

/// Opens one SSE stream and waits until it is live (an activation's first
/// event, or the answer's headers for the account's); then the reader.
async fn open_sse(
    http: SocketAddr,
    path: String,
    key: String,
    stream: usize,
    watch: Watch,
    arrivals: Arc<SseArrivals>,
) -> anyhow::Result<impl Future<Output = anyhow::Result<()>>> {
    // As EventSource does: when numhub is busy (503) or did not answer in
    // time (504), open again, a few times.
    let mut attempt = 0;
    let (sender, response) = loop {
        attempt += 1;
        let mut sender = http_connection::<Empty<Bytes>>(http).await?;
        let request = Request::get(&path)
            .header(header::HOST, http.to_string())
            .header(header::ACCEPT, "text/event-stream")
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .body(Empty::new())?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        if status == StatusCode::OK {
            break (sender, response);
        }
        let busy = matches!(
            status,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
        );
        anyhow::ensure!(busy && attempt < 5, "{path} answered {status}");
        arrivals.reopened.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let mut events = SseReader {
        body: response.into_body(),
        buffer: Vec::new(),
    };
    if watch == Watch::Activations {
        let first = tokio::time::timeout(PATIENCE, events.next())
            .await
            .context("no first event")??
            .context("the stream ended")?;
        anyhow::ensure!(first.0 == "status", "first event {first:?}");
    }
    Ok(async move {
        // The connection lives as long as its sender.
        let _sender = sender;
        while let Some((event, data)) = events.next().await? {
            let data: serde_json::Value = serde_json::from_str(&data)?;
            match event.as_str() {
                "message" => arrivals
                    .messages
                    .record_text(stream, data["text"].as_str().unwrap_or_default()),
                // The activation's first SMS (stream s's is SMS s) made it
                // RECEIVED; a client waiting for the code reads this.
                "status" if data["status"] == "RECEIVED" => {
                    arrivals.received.record(stream, stream)
                }
                _ => {}
            }
        }
        anyhow::bail!("stream {stream} ended")
    })
}

/// A client's reading of an event stream.
struct SseReader {
    body: hyper::body::Incoming,
    buffer: Vec<u8>,
}

impl SseReader {
    /// The next event's name and data (comments skipped), `None` at the
    /// end.
    async fn next(&mut self) -> anyhow::Result<Option<(String, String)>> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                let (mut event, mut data, mut fields) = (String::new(), String::new(), 0);
                for line in std::str::from_utf8(&block)?.lines() {
                    let Some((name, value)) = line.split_once(':') else {
                        continue;
                    };
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match name {
                        "event" => event = value.to_owned(),
                        "data" => data.push_str(value),
                        "id" => {}
                        _ => continue,
                    }
                    fields += 1;
                }
                if fields > 0 {
                    return Ok(Some((event, data)));
                }
                continue;
            }
            let Some(frame) = self.body.frame().await else {
                return Ok(None);
            };
            if let Ok(data) = frame?.into_data() {
                self.buffer.extend_from_slice(&data);
            }
        }
    }
}

/// Every expected delivery once, nothing else, and the latencies.
struct Check {
    latency: Histogram<u64>,
    missing: usize,
    repeated: usize,
    astray: usize,
}

impl Check {
    fn ensure(&self, what: &str) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.missing == 0 && self.repeated == 0 && self.astray == 0,
            "{what}: {} deliveries missing, {} repeated, {} on a stream that should not have them",
            self.missing,
            self.repeated,
            self.astray
        );
        Ok(())
    }
}

fn check(
    seen: &[Arrival],
    sent: &[Instant],
    expected: impl Fn(usize) -> Vec<usize>,
    watched: impl Fn(usize) -> bool,
) -> Check {
    let mut counts: HashMap<(usize, usize), usize> = HashMap::new();
    let mut result = Check {
        latency: Histogram::new(3).expect("histogram"),
        missing: 0,
        repeated: 0,
        astray: 0,
    };
    for a in seen {
        *counts.entry((a.sms, a.stream)).or_default() += 1;
    }
    for n in 0..sent.len() {
        for s in expected(n).into_iter().filter(|s| watched(*s)) {
            match counts.get(&(n, s)) {
                None => result.missing += 1,
                Some(&count) => result.repeated += count - 1,
            }
        }
    }
    for a in seen {
        if a.sms >= sent.len() || !expected(a.sms).contains(&a.stream) || !watched(a.stream) {
            result.astray += 1;
            continue;
        }
        let latency = a.at.saturating_duration_since(sent[a.sms]);
        result
            .latency
            .record(latency.as_micros() as u64)
            .expect("record");
    }
    result
}

// ---------------------------------------------------------------------
// The machine
// ---------------------------------------------------------------------

/// With NUMHUB_BENCH_BREAKDOWN=1, how long numhubd's spans lasted, from
/// creation to close, by name: `rpc` spans by method (a unary call is
/// served, its answer sent), the gateway's `http` spans by route.
#[derive(Clone, Default)]
struct SpanTimes(Arc<Mutex<HashMap<String, Histogram<u64>>>>);

/// A span's name for [`SpanTimes`], and when it was made.
struct Opened(String, Instant);

impl SpanTimes {
    fn reset(&self) {
        self.0.lock().unwrap().clear();
    }

    /// Spans seen at least 100 times (streams, and requests naming one
    /// activation, are left out).
    fn print(&self, phase: &str) {
        let times = self.0.lock().unwrap();
        let mut names: Vec<_> = times
            .iter()
            .filter(|(name, h)| h.len() >= 100 && !name.contains("/Watch"))
            .collect();
        if names.is_empty() {
            return;
        }
        names.sort_by_key(|(name, _)| name.as_str());
        println!("\n| span inside numhubd, {phase} | count | p50 ms | p99 ms | max ms |");
        println!("|---|---:|---:|---:|---:|");
        for (name, h) in names {
            let ms = |v: u64| v as f64 / 1000.0;
            println!(
                "| {name} | {} | {:.3} | {:.3} | {:.3} |",
                h.len(),
                ms(h.value_at_quantile(0.5)),
                ms(h.value_at_quantile(0.99)),
                ms(h.max())
            );
        }
    }
}

/// Reads `otel.name` (an `rpc` span's method) and `method` and `path` (an
/// `http` span's).
#[derive(Default)]
struct SpanName(Vec<String>);

impl tracing::field::Visit for SpanName {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if matches!(field.name(), "otel.name" | "method" | "path") {
            self.0.push(format!("{value:?}"));
        }
    }
}

impl<S> tracing_subscriber::Layer<S> for SpanTimes
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attributes: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        context: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let kind = attributes.metadata().name();
        if !matches!(kind, "rpc" | "http") {
            return;
        }
        let mut name = SpanName::default();
        attributes.record(&mut name);
        if let Some(span) = context.span(id) {
            let name = format!("{kind} {}", name.0.join(" "));
            span.extensions_mut().insert(Opened(name, Instant::now()));
        }
    }

    fn on_close(&self, id: tracing::span::Id, context: tracing_subscriber::layer::Context<'_, S>) {
        let Some(span) = context.span(&id) else {
            return;
        };
        let extensions = span.extensions();
        let Some(Opened(name, at)) = extensions.get::<Opened>() else {
            return;
        };
        let micros = at.elapsed().as_micros() as u64;
        let mut times = self.0.lock().unwrap();
        let histogram = times
            .entry(name.clone())
            .or_insert_with(|| Histogram::new(3).expect("histogram"));
        let _ = histogram.record(micros);
    }
}

/// CPU time spent over a phase: by this process (the clients, the
/// gateway, every service), by this run's PostgreSQL backends, and by
/// the whole machine.
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    process: Duration,
    postgres: Duration,
    machine: Duration,
}

impl Cpu {
    fn add(&mut self, other: &Cpu) {
        self.process += other.process;
        self.postgres += other.postgres;
        self.machine += other.machine;
    }

    /// Cores other programs kept busy, on average over `elapsed`: noise
    /// (kernel threads, and anything else running).
    fn others_cores(&self, elapsed: Duration) -> f64 {
        let ours = self.process + self.postgres;
        self.machine.saturating_sub(ours).as_secs_f64() / elapsed.as_secs_f64()
    }
}

/// Where the CPU counters stood at the start of a phase.
struct CpuSample<'b> {
    bench: &'b Bench,
    process: Duration,
    machine: Duration,
    postgres: HashMap<i32, Duration>,
}

impl CpuSample<'_> {
    /// What was spent since: a backend that connected since counts whole.
    async fn spent(self) -> Cpu {
        let mut postgres = Duration::ZERO;
        for pid in self.bench.postgres_backends().await {
            let now = stat_cpu(&format!("/proc/{pid}/stat"));
            let then = self.postgres.get(&pid).copied().unwrap_or_default();
            postgres += now.saturating_sub(then);
        }
        Cpu {
            process: stat_cpu("/proc/self/stat").saturating_sub(self.process),
            postgres,
            machine: machine_cpu().saturating_sub(self.machine),
        }
    }
}

/// User plus system CPU time of a process so far, from its `stat` file
/// (Linux; zero elsewhere, or when it is gone).
fn stat_cpu(path: &str) -> Duration {
    // Fields 14 and 15, in USER_HZ (100 per second on Linux); the second
    // field may hold spaces, so count after its ')'.
    let Ok(stat) = std::fs::read_to_string(path) else {
        return Duration::ZERO;
    };
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return Duration::ZERO;
    };
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

/// Non-idle CPU time of the whole machine so far (Linux; zero elsewhere):
/// user, nice, system, irq, softirq and steal of /proc/stat's `cpu` line.
fn machine_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return Duration::ZERO;
    };
    let Some(line) = stat.lines().next() else {
        return Duration::ZERO;
    };
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| ticks.get(i))
        .sum();
    Duration::from_millis(busy * 10)
}

/// This process's resident memory, in KiB (Linux; zero elsewhere).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
