//! An SMS from a gateway to the customer's stream, across processes, on
//! PostgreSQL: accounts, wallet, catalog, orders and inbound run as their
//! own release binaries, each on its own database; this process is the
//! customer (1,000 WatchActivation streams) and the gateway (Deliver at a
//! steady rate). The latency is from the Deliver call to the message
//! reaching its stream: store, route (catalog Resolve, orders
//! DeliverMessage), wake-up, stream.
//!
//! `cargo build --release --bins && cargo bench -p numhub-inbound --bench delivery`.
//! Knobs: NUMHUB_BENCH_STREAMS (1000), NUMHUB_BENCH_RATE (100 a second),
//! NUMHUB_BENCH_SECONDS (20), NUMHUB_TEST_POSTGRES_URL.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use numhub_auth::{Environment, api_key};
use numhub_proto::accounts::v1 as accounts_pb;
use numhub_proto::accounts::v1::accounts_admin_service_client::AccountsAdminServiceClient;
use numhub_proto::catalog::v1 as catalog_pb;
use numhub_proto::catalog::v1::catalog_admin_service_client::CatalogAdminServiceClient;
use numhub_proto::common::v1::Scope;
use numhub_proto::inbound::v1 as pb;
use numhub_proto::inbound::v1::inbound_internal_service_client::InboundInternalServiceClient;
use numhub_proto::orders::v1 as orders_pb;
use numhub_proto::orders::v1::orders_service_client::OrdersServiceClient;
use numhub_proto::wallet::v1 as wallet_pb;
use numhub_proto::wallet::v1::wallet_admin_service_client::WalletAdminServiceClient;
use numhub_testkit::stack::usd;
use numhub_testkit::{Backend, BearerKey, TestDb};
use tokio::task::JoinSet;
use tokio_stream::StreamExt as _;
use tonic::transport::Channel;

const CREDENTIAL: &str = "numhub-bench-service-credential-0123456789";
/// Streams per HTTP/2 connection: below the server's default cap of 200.
const STREAMS_PER_CONNECTION: usize = 100;

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The release binaries beside this bench's own build.
fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .ok_or_else(|| anyhow::anyhow!("cannot tell the target directory"))?;
    let path = dir.join(name);
    anyhow::ensure!(
        path.exists(),
        "{} is missing: run `cargo build --release --bins` first",
        path.display()
    );
    Ok(path)
}

/// A service process, killed when dropped.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn spawn(
    name: &str,
    db: &TestDb,
    port: u16,
    env: &[(&str, String)],
) -> anyhow::Result<(Service, Channel)> {
    let mut command = Command::new(binary(name)?);
    command
        .env("NUMHUB_DATABASE_URL", &db.url)
        .env("NUMHUB_LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("NUMHUB_METRICS_ADDR", "off")
        .env("NUMHUB_SERVICE_CREDENTIAL", CREDENTIAL)
        .env("NUMHUB_LOG", "warn")
        .env("NUMHUB_LOG_FORMAT", "json")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    let service = Service(command.spawn()?);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let endpoint = Channel::from_shared(format!("http://127.0.0.1:{port}"))?.tcp_nodelay(true);
        if let Ok(channel) = endpoint.connect().await {
            return Ok((service, channel));
        }
        anyhow::ensure!(Instant::now() < deadline, "{name} did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn connect(port: u16) -> anyhow::Result<Channel> {
    Ok(Channel::from_shared(format!("http://127.0.0.1:{port}"))?
        .tcp_nodelay(true)
        .connect()
        .await?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let streams = knob("NUMHUB_BENCH_STREAMS", 1000) as usize;
    let rate = knob("NUMHUB_BENCH_RATE", 100).max(1);
    let seconds = knob("NUMHUB_BENCH_SECONDS", 20);
    anyhow::ensure!(
        numhub_testkit::backend_available(Backend::Postgres).await,
        "the delivery bench needs PostgreSQL (NUMHUB_TEST_POSTGRES_URL)"
    );
    let admin = api_key::generate(Environment::Live).secret;
    let ports: Vec<u16> = (0..5).map(|_| free_port()).collect();
    let addr = |i: usize| format!("http://127.0.0.1:{}", ports[i]);
    let mut dbs = Vec::new();
    for _ in 0..5 {
        dbs.push(TestDb::new(Backend::Postgres).await);
    }
    let (_accounts, accounts) = spawn(
        "numhub-accounts",
        &dbs[0],
        ports[0],
        &[("NUMHUB_ADMIN_KEY", admin.clone())],
    )
    .await?;
    let to_accounts = ("NUMHUB_ACCOUNTS_ADDR", addr(0));
    let (_wallet, wallet) = spawn(
        "numhub-wallet",
        &dbs[1],
        ports[1],
        std::slice::from_ref(&to_accounts),
    )
    .await?;
    let (_catalog, catalog) = spawn(
        "numhub-catalog",
        &dbs[2],
        ports[2],
        std::slice::from_ref(&to_accounts),
    )
    .await?;
    let (_orders, orders) = spawn(
        "numhub-orders",
        &dbs[3],
        ports[3],
        &[
            to_accounts.clone(),
            ("NUMHUB_WALLET_ADDR", addr(1)),
            ("NUMHUB_CATALOG_ADDR", addr(2)),
            ("NUMHUB_ORDERS_MAX_OPEN", "0".into()),
        ],
    )
    .await?;
    let (_inbound, inbound) = spawn(
        "numhub-inbound",
        &dbs[4],
        ports[4],
        &[
            to_accounts,
            ("NUMHUB_CATALOG_ADDR", addr(2)),
            ("NUMHUB_ORDERS_ADDR", addr(3)),
        ],
    )
    .await?;
    println!(
        "delivery bench: five services as release binaries on PostgreSQL, {streams} streams, {rate} SMS/s for {seconds}s"
    );

    // The operator: a customer no limit stops, money, numbers, a price.
    let mut accounts_admin =
        AccountsAdminServiceClient::with_interceptor(accounts, BearerKey(admin.clone()));
    let account = accounts_admin
        .create_account(accounts_pb::CreateAccountRequest {
            display_name: "bench".into(),
            rate_limits: Some(accounts_pb::RateLimits {
                requests_per_minute: 1_000_000,
                money_requests_per_minute: 1_000_000,
            }),
            request_id: "bench".into(),
        })
        .await?
        .into_inner()
        .id;
    let key = accounts_admin
        .create_account_api_key(accounts_pb::CreateAccountApiKeyRequest {
            account_id: account.clone(),
            name: "bench".into(),
            scopes: vec![Scope::Read as i32, Scope::Write as i32],
        })
        .await?
        .into_inner()
        .secret;
    WalletAdminServiceClient::with_interceptor(wallet, BearerKey(admin.clone()))
        .credit(wallet_pb::CreditRequest {
            account_id: account,
            amount: usd(100_000_000),
            request_id: "bench".into(),
            reason: "bench".into(),
        })
        .await?;
    let mut catalog_admin = CatalogAdminServiceClient::with_interceptor(catalog, BearerKey(admin));
    let numbers = (0..streams as u32)
        .map(|n| catalog_pb::NumberImport {
            phone_number: format!("+1555{n:07}"),
            country_code: "US".into(),
            operator: String::new(),
            number_type: catalog_pb::NumberType::Voip as i32,
            source: "bench".into(),
        })
        .collect();
    catalog_admin
        .import_numbers(catalog_pb::ImportNumbersRequest { numbers })
        .await?;
    catalog_admin
        .set_activation_price(catalog_pb::SetActivationPriceRequest {
            service_code: "wa".into(),
            country_code: "US".into(),
            operator: String::new(),
            price: usd(45),
        })
        .await?;

    // The customer: `streams` activations, each watched.
    let mut channels = Vec::new();
    for _ in 0..streams.div_ceil(STREAMS_PER_CONNECTION) {
        channels.push(connect(ports[3]).await?);
    }
    let mut buyers = JoinSet::new();
    for worker in 0..16 {
        let mut client =
            OrdersServiceClient::with_interceptor(orders.clone(), BearerKey(key.clone()));
        buyers.spawn(async move {
            let mut bought = Vec::new();
            for n in (worker..streams).step_by(16) {
                let request = orders_pb::CreateActivationRequest {
                    service_code: "wa".into(),
                    country_code: "US".into(),
                    request_id: format!("buy-{n}"),
                    ..Default::default()
                };
                let a = client
                    .create_activation(request)
                    .await
                    .expect("buy")
                    .into_inner();
                bought.push((a.id, a.phone_number));
            }
            bought
        });
    }
    let mut activations = Vec::new();
    while let Some(bought) = buyers.join_next().await {
        activations.extend(bought?);
    }
    let received: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let mut ready = Vec::new();
    let mut watchers = JoinSet::new();
    for (i, (id, _)) in activations.iter().enumerate() {
        let mut client = OrdersServiceClient::with_interceptor(
            channels[i / STREAMS_PER_CONNECTION].clone(),
            BearerKey(key.clone()),
        );
        let id = id.clone();
        let received = received.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        ready.push(rx);
        watchers.spawn(async move {
            let mut stream = client
                .watch_activation(orders_pb::WatchActivationRequest {
                    id,
                    after: String::new(),
                })
                .await
                .expect("watch")
                .into_inner();
            stream.next().await; // WAITING
            let _ = tx.send(());
            while let Some(Ok(event)) = stream.next().await {
                if let Some(orders_pb::activation_event::Event::Message(m)) = event.event {
                    received.lock().unwrap().insert(m.body, Instant::now());
                }
            }
        });
    }
    for rx in ready {
        rx.await?;
    }

    // The gateway: Deliver at a steady rate, each SMS to one watched number.
    let credential = tonic::metadata::MetadataValue::try_from(format!("Bearer {CREDENTIAL}"))?;
    let gateway =
        InboundInternalServiceClient::with_interceptor(inbound, move |mut r: tonic::Request<()>| {
            r.metadata_mut().insert("authorization", credential.clone());
            Ok(r)
        });
    let total = (rate * seconds) as usize;
    let sent: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let mut senders = JoinSet::new();
    for n in 0..total {
        tick.tick().await;
        let (_, number) = &activations[n % activations.len()];
        let body = format!("sms {n}: your code is {:06}", n % 1_000_000);
        let request = pb::DeliverRequest {
            upstream: "bench".into(),
            upstream_message_id: format!("bench-{n}"),
            to: number.clone(),
            sender: "WhatsApp".into(),
            body: body.clone(),
            receive_time: Some(prost_types::Timestamp::from(std::time::SystemTime::now())),
        };
        let mut gateway = gateway.clone();
        let sent = sent.clone();
        // Each on its own task, so a slow answer never delays the next SMS.
        senders.spawn(async move {
            let at = Instant::now();
            gateway.deliver(request).await.expect("deliver");
            sent.lock().unwrap().push((body, at));
        });
    }
    while senders.join_next().await.is_some() {}
    tokio::time::sleep(Duration::from_secs(3)).await;
    let received = received.lock().unwrap().clone();
    let mut latency = Histogram::<u64>::new(3)?;
    let mut missing = 0;
    for (body, at) in sent.lock().unwrap().iter() {
        match received.get(body) {
            Some(got) => latency.record(got.duration_since(*at).as_micros() as u64)?,
            None => missing += 1,
        }
    }
    let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "Deliver -> stream, across processes, {rate}/s with {streams} streams open: \
         p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  ({} delivered, {missing} missing; goal p99 <= 20 ms)",
        ms(0.5),
        ms(0.99),
        latency.max() as f64 / 1000.0,
        latency.len(),
    );
    watchers.abort_all();
    Ok(())
}
