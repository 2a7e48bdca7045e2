//! Orders on PostgreSQL, through real gRPC behind the real auth layer, with
//! a real accounts service, wallet and catalog, each on its own database
//! and its own server in this process.
//!
//! `cargo bench -p numhub-orders --bench orders`. Knobs (environment):
//! NUMHUB_BENCH_CLIENTS (16 concurrent callers), NUMHUB_BENCH_SECONDS (10
//! per throughput phase), NUMHUB_BENCH_STREAMS (1000 watching streams),
//! NUMHUB_BENCH_DELIVERIES (2000), NUMHUB_BENCH_DELIVERY_RATE (200 a
//! second), NUMHUB_BENCH_IDLE_STREAMS (10000), NUMHUB_TEST_POSTGRES_URL.
//!
//! Phases:
//! 1. Debit: every client debits its own account through
//!    WalletInternalService/Debit (the wallet's "spread" case);
//! 2. for comparison, catalog LeaseNumber alone (the saga's second step)
//!    from every client, for another service;
//! 3. buys: every client buys activations for its own account through
//!    OrdersService/CreateActivation: the whole saga (insert, catalog
//!    lease, wallet debit, WAITING) per call;
//! 4. delivery: NUMHUB_BENCH_STREAMS WatchActivation streams open on as
//!    many activations, then DeliverMessage at a steady rate to one of
//!    them at a time; the latency is from the call to the message reaching
//!    the watching client;
//! 5. idle streams: the process's resident memory before and after opening
//!    NUMHUB_BENCH_IDLE_STREAMS WatchMessages streams that wait; both ends of
//!    every stream live in this process, so the figure per stream is an
//!    upper bound of the server's share.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use numhub_auth::RateLimits;
use numhub_catalog::{Catalog, CatalogSettings};
use numhub_orders::Holder as _;
use numhub_orders::{Dependencies, Orders, OrdersSettings};
use numhub_proto::catalog::v1 as catalog_pb;
use numhub_proto::catalog::v1::catalog_admin_service_client::CatalogAdminServiceClient;
use numhub_proto::common::v1::Scope;
use numhub_proto::orders::v1 as pb;
use numhub_proto::orders::v1::orders_internal_service_client::OrdersInternalServiceClient;
use numhub_proto::orders::v1::orders_service_client::OrdersServiceClient;
use numhub_proto::wallet::v1 as wallet_pb;
use numhub_proto::wallet::v1::wallet_internal_service_client::WalletInternalServiceClient;
use numhub_runtime::clock::{Clock, ManualClock, SharedClock, SystemClock};
use numhub_testkit::stack::{Stack, usd};
use numhub_testkit::{Backend, BearerKey, TestDb, TestServer};
use numhub_wallet::{Wallet, WalletSettings};
use tokio::task::JoinSet;
use tokio_stream::StreamExt as _;
use tonic::transport::Channel;

const HUGE: RateLimits = RateLimits {
    requests_per_minute: 60_000_000,
    money_requests_per_minute: 60_000_000,
};
/// Streams per HTTP/2 connection: below the server's default cap of 200.
const STREAMS_PER_CONNECTION: usize = 100;

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(histogram: &Histogram<u64>, quantile: f64) -> f64 {
    histogram.value_at_quantile(quantile) as f64 / 1000.0
}

/// Resident memory of this process, in KiB (Linux; 0 elsewhere).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

struct Bench {
    stack: Stack,
    wallet_server: TestServer,
    catalog_server: TestServer,
    orders_server: TestServer,
    orders: Orders,
    _dbs: Vec<TestDb>,
}

async fn start(clients: usize) -> anyhow::Result<Bench> {
    let backend = Backend::Postgres;
    anyhow::ensure!(
        numhub_testkit::backend_available(backend).await,
        "the orders bench needs PostgreSQL (NUMHUB_TEST_POSTGRES_URL)"
    );
    // The manual clock only serves the auth cache and rate limits; it is
    // moved with the wall clock by a task below.
    let clock = Arc::new(ManualClock::starting_now());
    let shared: SharedClock = clock.clone();
    let stack = Stack::start(backend, clock.clone()).await;
    let connections = (clients as u32 * 2).max(16);
    let wallet_db = TestDb::with_max_connections(backend, connections).await;
    wallet_db.db.migrate(&numhub_wallet::MIGRATIONS).await?;
    let wallet = Wallet::start(
        wallet_db.db.clone(),
        shared.clone(),
        &WalletSettings::default(),
    )
    .await
    .expect("start the wallet");
    let wallet_server = stack.serve(&wallet).await;
    let catalog_db = TestDb::with_max_connections(backend, connections).await;
    catalog_db.db.migrate(&numhub_catalog::MIGRATIONS).await?;
    let catalog = Catalog::new(
        catalog_db.db.clone(),
        shared.clone(),
        CatalogSettings::default(),
    )
    .await?;
    let catalog_server = stack.serve(&catalog).await;
    let orders_db = TestDb::with_max_connections(backend, connections).await;
    orders_db.db.migrate(&numhub_orders::MIGRATIONS).await?;
    let settings = OrdersSettings {
        max_open: 0,
        ..OrdersSettings::default()
    };
    let orders = Orders::new(
        orders_db.db.clone(),
        shared,
        settings,
        Dependencies::new(
            wallet_server.outbound("wallet"),
            catalog_server.outbound("catalog"),
            &stack.credentials,
        ),
    )
    .await
    .expect("start orders");
    orders.start_workers(
        &numhub_runtime::workers::Workers::new(),
        Some(orders_db.url.clone()),
    );
    let orders_server = stack.serve(&orders).await;
    let ticking = clock.clone();
    tokio::spawn(async move {
        let mut last = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = Instant::now();
            ticking.advance(now - last);
            last = now;
        }
    });
    Ok(Bench {
        stack,
        wallet_server,
        catalog_server,
        orders_server,
        orders,
        _dbs: vec![wallet_db, catalog_db, orders_db],
    })
}

/// A customer with a key that no limit stops, funded with `funds`.
async fn customer(bench: &Bench, name: &str, funds: i64) -> anyhow::Result<(String, String)> {
    let customer = bench
        .stack
        .customer_with_limits(name, &[Scope::Read, Scope::Write], Some(HUGE))
        .await;
    let mut wallet = WalletInternalServiceClient::with_interceptor(
        bench.wallet_server.channel(),
        bench.stack.credentials.interceptor(),
    );
    wallet
        .credit(wallet_pb::CreditRequest {
            account_id: customer.account_id.clone(),
            amount: usd(funds),
            request_id: format!("fund-{name}"),
            reason: "bench".into(),
        })
        .await?;
    Ok((customer.account_id, customer.key))
}

fn orders_client(
    channel: Channel,
    key: &str,
) -> OrdersServiceClient<tonic::codegen::InterceptedService<Channel, BearerKey>> {
    OrdersServiceClient::with_interceptor(channel, BearerKey(key.to_owned()))
}

/// CPU time of this process and busy time of the whole machine so far, from
/// /proc (Linux; zero elsewhere): the difference is PostgreSQL's (and the
/// kernel's) share.
fn cpu() -> (Duration, Duration) {
    let ticks = |text: &str, skip: usize, fields: &[usize]| -> Duration {
        let values: Vec<Option<u64>> = text
            .split_whitespace()
            .skip(skip)
            .map(|v| v.parse().ok())
            .collect();
        let sum: u64 = fields
            .iter()
            .filter_map(|&i| values.get(i).copied().flatten())
            .sum();
        Duration::from_millis(sum * 10)
    };
    let process = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .map(|(_, rest)| ticks(rest, 0, &[11, 12]))
        })
        .unwrap_or_default();
    let machine = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|stat| {
            stat.lines()
                .next()
                .map(|line| ticks(line, 1, &[0, 1, 2, 5, 6]))
        })
        .unwrap_or_default();
    (process, machine)
}

/// "X µs of CPU per call here, Y elsewhere (PostgreSQL)".
fn cpu_per_call(before: (Duration, Duration), calls: u64) -> String {
    let (process, machine) = cpu();
    let here = (process - before.0).as_secs_f64() * 1e6 / calls.max(1) as f64;
    let all = (machine - before.1).as_secs_f64() * 1e6 / calls.max(1) as f64;
    format!(
        "CPU a call: {here:.0} µs in this process, {:.0} µs elsewhere",
        all - here
    )
}

/// Runs `call` from every client for `seconds`; counts and times successes.
async fn throughput<F, Fut>(
    clients: usize,
    seconds: u64,
    call: F,
) -> (u64, Duration, Histogram<u64>)
where
    F: Fn(usize, u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for client in 0..clients {
        let call = call.clone();
        tasks.spawn(async move {
            let mut histogram = Histogram::<u64>::new(3).unwrap();
            let mut n = 0u64;
            while Instant::now() < deadline {
                let at = Instant::now();
                if call(client, n).await {
                    histogram.record(at.elapsed().as_micros() as u64).unwrap();
                }
                n += 1;
            }
            histogram
        });
    }
    let mut total = Histogram::<u64>::new(3).unwrap();
    while let Some(histogram) = tasks.join_next().await {
        total.add(histogram.unwrap()).unwrap();
    }
    (total.len(), started.elapsed(), total)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let clients = knob("NUMHUB_BENCH_CLIENTS", 16) as usize;
    let seconds = knob("NUMHUB_BENCH_SECONDS", 10);
    let streams = knob("NUMHUB_BENCH_STREAMS", 1000) as usize;
    let deliveries = knob("NUMHUB_BENCH_DELIVERIES", 2000) as usize;
    let rate = knob("NUMHUB_BENCH_DELIVERY_RATE", 200).max(1);
    let idle_streams = knob("NUMHUB_BENCH_IDLE_STREAMS", 10_000) as usize;
    let bench = start(clients).await?;
    println!("orders bench: {clients} clients, {seconds}s per throughput phase, PostgreSQL");

    // Stock: a number is used for "wa" once, ever, so there are enough for
    // every buy of the run.
    let mut admin = CatalogAdminServiceClient::with_interceptor(
        bench.catalog_server.channel(),
        BearerKey(bench.stack.admin_key.clone()),
    );
    for service in ["wa", "tg"] {
        admin
            .set_activation_price(catalog_pb::SetActivationPriceRequest {
                service_code: service.into(),
                country_code: "US".into(),
                operator: String::new(),
                price: usd(45),
            })
            .await?;
    }
    let stock = knob("NUMHUB_BENCH_NUMBERS", 60_000) as u32;
    for first in (0..stock).step_by(10_000) {
        let numbers = (first..(first + 10_000).min(stock))
            .map(|n| catalog_pb::NumberImport {
                phone_number: format!("+1555{n:07}"),
                country_code: "US".into(),
                operator: String::new(),
                number_type: catalog_pb::NumberType::Voip as i32,
                source: "bench".into(),
            })
            .collect();
        admin
            .import_numbers(catalog_pb::ImportNumbersRequest { numbers })
            .await?;
    }
    let mut customers = Vec::new();
    for i in 0..clients {
        customers.push(customer(&bench, &format!("c{i}"), 1_000_000_000).await?);
    }
    let customers = Arc::new(customers);

    // 1. Debit/s beside 2. buys/s, in the same run.
    let mut channels = Vec::new();
    for _ in 0..clients.div_ceil(4) {
        channels.push(bench.wallet_server.new_channel().await);
    }
    let credentials = bench.stack.credentials.clone();
    let debit_customers = customers.clone();
    let started = cpu();
    let (debits, elapsed, histogram) = throughput(clients, seconds, move |client, n| {
        let mut wallet = WalletInternalServiceClient::with_interceptor(
            channels[client % channels.len()].clone(),
            credentials.interceptor(),
        );
        let account = debit_customers[client].0.clone();
        async move {
            wallet
                .debit(wallet_pb::DebitRequest {
                    account_id: account,
                    amount: usd(1),
                    request_id: format!("bench-{client}-{n}"),
                    reference: "bench".into(),
                })
                .await
                .is_ok()
        }
    })
    .await;
    let debit_rate = debits as f64 / elapsed.as_secs_f64();
    println!(
        "Debit:  {debit_rate:>8.0}/s  p50 {:.2} ms  p99 {:.2} ms  ({debits} in {elapsed:.1?}); {}",
        ms(&histogram, 0.5),
        ms(&histogram, 0.99),
        cpu_per_call(started, debits),
    );

    // For the record of where a buy's time goes: the catalog's part alone,
    // on a service of its own so the buys below find their numbers fresh.
    let mut channels = Vec::new();
    for _ in 0..clients.div_ceil(4) {
        channels.push(bench.catalog_server.new_channel().await);
    }
    let credentials = bench.stack.credentials.clone();
    let lease_customers = customers.clone();
    let started = cpu();
    let (leases, elapsed, histogram) = throughput(clients, seconds, move |client, n| {
        let mut catalog = numhub_proto::catalog::v1::catalog_internal_service_client::CatalogInternalServiceClient::with_interceptor(
            channels[client % channels.len()].clone(),
            credentials.interceptor(),
        );
        let account = lease_customers[client].0.clone();
        async move {
            let request = catalog_pb::LeaseNumberRequest {
                kind: catalog_pb::LeaseKind::Activation as i32,
                account_id: account,
                holder_id: format!("lease-{client}-{n}"),
                country_code: "US".into(),
                service_code: "tg".into(),
                expire_time: Some(SystemClock.now().plus(Duration::from_secs(600)).to_proto()),
                request_id: format!("lease-{client}-{n}"),
                ..Default::default()
            };
            catalog.lease_number(request).await.is_ok()
        }
    })
    .await;
    println!(
        "Lease:  {:>8.0}/s  p50 {:.2} ms  p99 {:.2} ms  (catalog LeaseNumber alone); {}",
        leases as f64 / elapsed.as_secs_f64(),
        ms(&histogram, 0.5),
        ms(&histogram, 0.99),
        cpu_per_call(started, leases),
    );

    let mut channels = Vec::new();
    for _ in 0..clients.div_ceil(4) {
        channels.push(bench.orders_server.new_channel().await);
    }
    let buy_customers = customers.clone();
    let bought: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
    let sink = bought.clone();
    let started = cpu();
    let (buys, elapsed, histogram) = throughput(clients, seconds, move |client, n| {
        let mut orders = orders_client(
            channels[client % channels.len()].clone(),
            &buy_customers[client].1,
        );
        let sink = sink.clone();
        async move {
            let request = pb::CreateActivationRequest {
                service_code: "wa".into(),
                country_code: "US".into(),
                request_id: format!("buy-{client}-{n}"),
                ..Default::default()
            };
            match orders.create_activation(request).await {
                Ok(a) => {
                    sink.lock().unwrap().push((client, a.into_inner().id));
                    true
                }
                Err(status) => {
                    eprintln!("buy refused: {status:?}");
                    false
                }
            }
        }
    })
    .await;
    let buy_rate = buys as f64 / elapsed.as_secs_f64();
    println!(
        "Buys:   {buy_rate:>8.0}/s  p50 {:.2} ms  p99 {:.2} ms  ({buys} in {elapsed:.1?}); {}",
        ms(&histogram, 0.5),
        ms(&histogram, 0.99),
        cpu_per_call(started, buys),
    );
    println!(
        "Buys/s over Debit/s: {:.2} (goal 0.3)",
        buy_rate / debit_rate
    );

    // 3. DeliverMessage to a watching client, with `streams` streams open.
    let bought = bought.lock().unwrap().clone();
    anyhow::ensure!(
        bought.len() >= streams,
        "fewer buys ({}) than streams",
        bought.len()
    );
    let watched = &bought[..streams];
    let received: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let mut stream_channels = Vec::new();
    for _ in 0..streams.div_ceil(STREAMS_PER_CONNECTION) {
        stream_channels.push(bench.orders_server.new_channel().await);
    }
    let mut ready = Vec::new();
    let mut watchers = JoinSet::new();
    for (i, (client, id)) in watched.iter().enumerate() {
        let mut orders = orders_client(
            stream_channels[i / STREAMS_PER_CONNECTION].clone(),
            &customers[*client].1,
        );
        let id = id.clone();
        let received = received.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        ready.push(rx);
        watchers.spawn(async move {
            let mut stream = orders
                .watch_activation(pb::WatchActivationRequest {
                    id,
                    after: String::new(),
                })
                .await
                .expect("watch")
                .into_inner();
            stream.next().await; // WAITING
            let _ = tx.send(());
            while let Some(Ok(event)) = stream.next().await {
                if let Some(pb::activation_event::Event::Message(m)) = event.event {
                    received.lock().unwrap().insert(m.body, Instant::now());
                }
            }
        });
    }
    for rx in ready {
        rx.await?;
    }
    let mut internal = OrdersInternalServiceClient::with_interceptor(
        bench.orders_server.new_channel().await,
        bench.stack.credentials.interceptor(),
    );
    let mut sent = Vec::with_capacity(deliveries);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let clock = SystemClock;
    for n in 0..deliveries {
        tick.tick().await;
        let (_, id) = &watched[n % watched.len()];
        let body = format!("msg {n}: your code is {:06}", n % 1_000_000);
        let at = Instant::now();
        internal
            .deliver_message(pb::DeliverMessageRequest {
                activation_id: id.clone(),
                inbound_message_id: format!("bench-in-{n}"),
                sender: "WhatsApp".into(),
                body: body.clone(),
                receive_time: Some(clock.now().to_proto()),
            })
            .await?;
        sent.push((body, at));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let received = received.lock().unwrap().clone();
    let mut latency = Histogram::<u64>::new(3).unwrap();
    let mut missing = 0;
    for (body, at) in &sent {
        match received.get(body) {
            Some(got) => latency.record(got.duration_since(*at).as_micros() as u64)?,
            None => missing += 1,
        }
    }
    println!(
        "Deliver -> stream with {streams} streams open, {rate}/s: p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  ({} delivered, {missing} missing; goal p99 <= 10 ms)",
        ms(&latency, 0.5),
        ms(&latency, 0.99),
        latency.max() as f64 / 1000.0,
        latency.len(),
    );
    watchers.abort_all();
    drop(stream_channels);
    tokio::time::sleep(Duration::from_secs(1)).await;
    bench.orders.hub().prune();

    // 4. Memory per idle stream.
    let (_, key) = customer(&bench, "idle", 1).await?;
    let mut idle_channels = Vec::new();
    for _ in 0..idle_streams.div_ceil(STREAMS_PER_CONNECTION) {
        idle_channels.push(bench.orders_server.new_channel().await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib();
    let mut idle = Vec::with_capacity(idle_streams);
    for i in 0..idle_streams {
        let mut orders = orders_client(idle_channels[i / STREAMS_PER_CONNECTION].clone(), &key);
        idle.push(
            orders
                .watch_messages(pb::WatchMessagesRequest::default())
                .await?
                .into_inner(),
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib();
    let per_stream = (after.saturating_sub(before)) as f64 / idle_streams as f64;
    println!(
        "Idle streams: {idle_streams} open; resident memory {before} KiB -> {after} KiB: {per_stream:.1} KiB a stream, client and server (goal <= 20 KiB)",
    );
    drop(idle);
    Ok(())
}
