//! What the layers in front of a handler cost: WalletService/GetBalance
//! through the full stack (auth with a warm cache, the rate limit, the
//! telemetry layer's span and Prometheus metrics, a tracing subscriber)
//! against the same handler served with no layers at all, in one run, on one
//! database, under the same client load.
//!
//! `cargo bench -p numhub-wallet --bench auth_overhead`. Knobs (environment):
//! NUMHUB_BENCH_CLIENTS (32), NUMHUB_BENCH_CHANNELS (4),
//! NUMHUB_BENCH_SECONDS (3, per phase), NUMHUB_BENCH_ROUNDS (6),
//! NUMHUB_BENCH_WARMUP (5 s per server, before the rounds),
//! NUMHUB_BENCH_BREAKDOWN (0; 1 adds servers with the telemetry layer only
//! and with the auth layer only), NUMHUB_BENCH_LOG (the subscriber's filter,
//! `info`), NUMHUB_BENCH_LOG_FORMAT (`json` or `text`, `json`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use numhub_auth::{Caller, RateLimits, Scopes};
use numhub_proto::common::v1::Scope;
use numhub_proto::wallet::v1 as pb;
use numhub_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use numhub_proto::wallet::v1::wallet_service_server::WalletServiceServer;
use numhub_runtime::clock::{ManualClock, SystemClock};
use numhub_runtime::server::{RunningServer, Server, install_metrics};
use numhub_skeleton::Service as _;
use numhub_testkit::stack::Stack;
use numhub_testkit::{Backend, TestDb};
use numhub_wallet::model::{Command, Movement};
use numhub_wallet::{MIGRATIONS, Wallet, WalletSettings};
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint};
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

const BALANCE: i64 = 1_000_000;
/// Far above anything two cores can send: the limiter runs on every call and
/// never refuses one. (The test stack's clock stands still, so the limiter
/// admits 60 million calls per key in all.)
const HUGE_QUOTA: u32 = 60_000_000;

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Debug)]
struct Figures {
    calls: u64,
    elapsed: Duration,
    /// Process CPU time (user + system) spent during the phase.
    cpu: Duration,
    /// CPU time the whole machine spent during the phase, this process
    /// included: what is left over is other programs' noise.
    machine_cpu: Duration,
    histogram: Histogram<u64>,
}

impl Figures {
    fn empty() -> Self {
        Self {
            calls: 0,
            elapsed: Duration::ZERO,
            cpu: Duration::ZERO,
            machine_cpu: Duration::ZERO,
            histogram: Histogram::new(3).expect("histogram"),
        }
    }

    fn add(&mut self, other: &Figures) {
        self.calls += other.calls;
        self.elapsed += other.elapsed;
        self.cpu += other.cpu;
        self.machine_cpu += other.machine_cpu;
        self.histogram.add(&other.histogram).expect("merge");
    }

    fn per_second(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }

    fn ms(&self, quantile: f64) -> f64 {
        self.histogram.value_at_quantile(quantile) as f64 / 1000.0
    }

    fn cpu_micros_per_call(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.calls as f64
    }

    /// Cores busy with other programs during the phase, on average.
    fn other_cores(&self) -> f64 {
        self.machine_cpu.saturating_sub(self.cpu).as_secs_f64() / self.elapsed.as_secs_f64()
    }
}

/// One way of serving the wallet, and the channels to it.
struct Variant {
    name: &'static str,
    channels: Vec<Channel>,
    total: Figures,
    /// Throughput over bare's, per round.
    ratios: Vec<f64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        // `cargo test --benches` lists benches; this one only runs on request.
        return Ok(());
    }
    let clients = knob("NUMHUB_BENCH_CLIENTS", 32) as usize;
    let channel_count = knob("NUMHUB_BENCH_CHANNELS", 4).max(1) as usize;
    let seconds = knob("NUMHUB_BENCH_SECONDS", 3);
    let rounds = knob("NUMHUB_BENCH_ROUNDS", 6).max(1);
    let warmup = Duration::from_secs(knob("NUMHUB_BENCH_WARMUP", 5));
    let breakdown = knob("NUMHUB_BENCH_BREAKDOWN", 0) != 0;
    let log = std::env::var("NUMHUB_BENCH_LOG").unwrap_or_else(|_| "info".into());
    let log_format = std::env::var("NUMHUB_BENCH_LOG_FORMAT").unwrap_or_else(|_| "json".into());
    let duration = Duration::from_secs(seconds);

    // As a deployed service has it: INFO and up, as JSON (the format off a
    // terminal), here written to a sink. Per GetBalance nothing is logged,
    // but the telemetry layer's INFO span is created, its fields formatted,
    // two more recorded, and it is entered and closed.
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::sink);
    let fmt = match log_format.as_str() {
        "json" => fmt.json().boxed(),
        "text" => fmt.boxed(),
        other => anyhow::bail!("NUMHUB_BENCH_LOG_FORMAT is json or text, not {other:?}"),
    };
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::builder().parse(&log)?)
        .with(fmt)
        .try_init()?;
    // The Prometheus recorder; without one, every metrics call is a no-op.
    let metrics_addr = free_local_addr()?;
    install_metrics(metrics_addr)?;

    // Accounts (on its own database) resolves the key; its clock stands
    // still, so the wallet's 15 s auth cache never expires during the run.
    let stack = Stack::start(Backend::Sqlite, Arc::new(ManualClock::starting_now())).await;
    let account = stack
        .accounts
        .create_account(
            "benchmark",
            Some(RateLimits {
                requests_per_minute: HUGE_QUOTA,
                money_requests_per_minute: HUGE_QUOTA,
            }),
            &uuid::Uuid::now_v7().to_string(),
        )
        .await?;
    let (key, secret) = stack
        .accounts
        .create_key(
            &account.id,
            "benchmark key",
            Scopes::from_iter([Scope::Read]),
            None,
        )
        .await?;

    // One wallet, on one SQLite database, behind every server.
    let db = TestDb::new(Backend::Sqlite).await;
    db.db.migrate(&MIGRATIONS).await?;
    let wallet = Wallet::start(
        db.db.clone(),
        Arc::new(SystemClock),
        &WalletSettings::default(),
    )
    .await
    .expect("start the wallet");
    wallet
        .execute(Command {
            request_id: "seed".into(),
            movement: Movement::Credit {
                account_id: account.id.clone(),
                amount: BALANCE,
                currency: None,
                reason: "benchmark".into(),
            },
        })
        .await?;
    let auth = stack.remote_auth_layer();
    // Without the auth layer, the handler still needs its caller in the
    // request's extensions: a server interceptor puts a fixed one there, the
    // cheapest way in.
    let caller = Caller {
        account_id: account.id.clone().into(),
        api_key_id: key.id.clone().into(),
        scopes: Scopes::from_iter([Scope::Read]),
    };
    let with_caller = || {
        let caller = caller.clone();
        WalletServiceServer::with_interceptor(
            wallet.clone(),
            move |mut request: tonic::Request<()>| {
                request.extensions_mut().insert(caller.clone());
                Ok(request)
            },
        )
    };

    let mut servers = Vec::new();
    let mut addrs = Vec::new();
    // Bare: the handler on a plain tonic server, no layer at all.
    let (addr, server) = serve_plain(Routes::new(with_caller())).await?;
    addrs.push(("bare: no layers", addr));
    servers.push(server);
    if breakdown {
        // The telemetry layer (span and metrics) alone, as `Server` serves.
        let server = Server::new(Routes::new(with_caller()), Vec::new())
            .start("127.0.0.1:0".parse()?)
            .await?;
        addrs.push(("telemetry layer only", server.local_addr()));
        servers.push(Serving::Runtime(server));
        // The auth layer alone, on a plain tonic server.
        let (addr, server) = serve_plain(wallet.protected(&auth).0).await?;
        addrs.push(("auth layer only", addr));
        servers.push(server);
    }
    // Full stack: the production `Server` (telemetry layer, health,
    // reflection) serving the wallet's routes behind the auth layer.
    let (routes, names) = wallet.protected(&auth);
    let server = Server::new(routes, names)
        .start("127.0.0.1:0".parse()?)
        .await?;
    addrs.push((
        "full stack: auth, rate limit, tracing, metrics",
        server.local_addr(),
    ));
    servers.push(Serving::Runtime(server));

    // Every client sends the same key, so the client side is the same
    // everywhere; servers without the auth layer ignore it.
    let bearer: MetadataValue<Ascii> = format!("Bearer {secret}").parse()?;
    let mut variants = Vec::new();
    for (name, addr) in addrs {
        let channels = connect(addr, channel_count).await?;
        // The first call through the auth layer resolves the key through
        // accounts and fills the cache; every later one is answered from
        // it. Every answer must be the credited balance.
        let balance = client(&channels[0], &bearer)
            .get_balance(pb::GetBalanceRequest {})
            .await?
            .into_inner();
        let available = balance.available.as_ref().map(|m| m.minor_units);
        anyhow::ensure!(available == Some(BALANCE), "unexpected balance {balance:?}");
        variants.push(Variant {
            name,
            channels,
            total: Figures::empty(),
            ratios: Vec::new(),
        });
    }
    // The first seconds under load are slower (the database pool fills up,
    // allocator arenas grow): not measured.
    eprintln!("warming up, {} s each…", warmup.as_secs());
    for variant in &variants {
        run(&variant.channels, &bearer, clients, warmup).await;
    }

    for round in 1..=rounds {
        // Odd rounds in order, even rounds in reverse, so a drift in the
        // machine's speed favours no one.
        let mut order: Vec<usize> = (0..variants.len()).collect();
        if round % 2 == 0 {
            order.reverse();
        }
        eprintln!("round {round}, {seconds} s each:");
        let mut figures: Vec<Option<Figures>> = variants.iter().map(|_| None).collect();
        for i in order {
            let f = run(&variants[i].channels, &bearer, clients, duration).await;
            eprintln!(
                "  {}: {:.0}/s, p50 {:.3} ms, p99 {:.3} ms, {:.1} CPU µs per call, \
                 other programs {:.2} cores",
                variants[i].name,
                f.per_second(),
                f.ms(0.50),
                f.ms(0.99),
                f.cpu_micros_per_call(),
                f.other_cores()
            );
            figures[i] = Some(f);
        }
        let bare = figures[0].as_ref().expect("ran").per_second();
        for (variant, f) in variants.iter_mut().zip(&figures) {
            let f = f.as_ref().expect("ran");
            variant.ratios.push(f.per_second() / bare);
            variant.total.add(f);
        }
    }

    let recorded = scrape_get_balance_count(metrics_addr).await?;

    println!(
        "\n| server | GetBalance/s | p50 ms | p99 ms | CPU µs per call | × bare | × bare, median round | × bare per round |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---|");
    let bare = variants[0].total.per_second();
    for v in &variants {
        let f = &v.total;
        let ratios: Vec<String> = v.ratios.iter().map(|r| format!("{r:.2}")).collect();
        println!(
            "| {} | {:.0} | {:.3} | {:.3} | {:.1} | {:.2} | {:.2} | {} |",
            v.name,
            f.per_second(),
            f.ms(0.50),
            f.ms(0.99),
            f.cpu_micros_per_call(),
            f.per_second() / bare,
            median(&v.ratios),
            ratios.join(", ")
        );
    }
    let full = variants.last().expect("full stack");
    println!(
        "\nfull / bare = {:.2} over all rounds, {:.2} the median round (goal >= 0.7)",
        full.total.per_second() / bare,
        median(&full.ratios)
    );
    let others = variants
        .iter()
        .map(|v| v.total.other_cores())
        .fold(0.0, f64::max);
    println!(
        "clients = {clients}, channels = {channel_count}, seconds = {seconds} per phase, \
         rounds = {rounds}, log = {log:?} as {log_format}; other programs used at most \
         {others:.2} cores in a phase; the metrics recorder counted {recorded} GetBalance calls"
    );

    for server in servers {
        server.stop().await?;
    }
    stack.shutdown().await;
    Ok(())
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

/// A server this benchmark started.
enum Serving {
    Plain {
        stop: oneshot::Sender<()>,
        task: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
    },
    Runtime(RunningServer),
}

impl Serving {
    async fn stop(self) -> anyhow::Result<()> {
        match self {
            Serving::Plain { stop, task } => {
                let _ = stop.send(());
                task.await??;
            }
            Serving::Runtime(server) => server.shutdown(Duration::from_secs(5)).await?,
        }
        Ok(())
    }
}

/// Serves `routes` alone on a plain tonic server (no layer, no health, no
/// reflection), with TCP_NODELAY as `Server` has it.
async fn serve_plain(routes: Routes) -> anyhow::Result<(SocketAddr, Serving)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let router = tonic::transport::Server::builder().add_routes(routes);
    let (stop, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        router
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stop_rx.await;
            })
            .await
    });
    Ok((addr, Serving::Plain { stop, task }))
}

async fn connect(addr: SocketAddr, count: usize) -> anyhow::Result<Vec<Channel>> {
    let mut channels = Vec::new();
    for _ in 0..count {
        channels.push(
            Endpoint::from_shared(format!("http://{addr}"))?
                .tcp_nodelay(true)
                .connect()
                .await?,
        );
    }
    Ok(channels)
}

type Client = WalletServiceClient<
    tonic::service::interceptor::InterceptedService<
        Channel,
        Box<
            dyn FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status>
                + Send
                + Sync,
        >,
    >,
>;

/// A client sending `authorization: Bearer <key>`, the header built once.
fn client(channel: &Channel, bearer: &MetadataValue<Ascii>) -> Client {
    let bearer = bearer.clone();
    WalletServiceClient::with_interceptor(
        channel.clone(),
        Box::new(move |mut request: tonic::Request<()>| {
            request
                .metadata_mut()
                .insert("authorization", bearer.clone());
            Ok(request)
        }),
    )
}

/// `clients` closed loops of GetBalance over `channels` for `duration`.
async fn run(
    channels: &[Channel],
    bearer: &MetadataValue<Ascii>,
    clients: usize,
    duration: Duration,
) -> Figures {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = JoinSet::new();
    for worker in 0..clients {
        let mut client = client(&channels[worker % channels.len()], bearer);
        let stop = stop.clone();
        tasks.spawn(async move {
            let mut histogram = Histogram::<u64>::new(3).expect("histogram");
            let mut calls = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                client
                    .get_balance(pb::GetBalanceRequest {})
                    .await
                    .expect("GetBalance");
                histogram
                    .record(started.elapsed().as_micros() as u64)
                    .expect("record");
                calls += 1;
            }
            (histogram, calls)
        });
    }
    let cpu_before = process_cpu();
    let machine_before = machine_cpu();
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut figures = Figures::empty();
    while let Some(result) = tasks.join_next().await {
        let (histogram, calls) = result.expect("client");
        figures.histogram.add(histogram).expect("merge");
        figures.calls += calls;
    }
    figures.elapsed = started.elapsed();
    figures.cpu = process_cpu().saturating_sub(cpu_before);
    figures.machine_cpu = machine_cpu().saturating_sub(machine_before);
    figures
}

/// User plus system CPU time of this process so far (Linux; zero elsewhere).
fn process_cpu() -> Duration {
    // Fields 14 and 15 of /proc/self/stat, in USER_HZ (100 per second on
    // Linux); the second field may hold spaces, so count after its ')'.
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
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

/// A port free on 127.0.0.1 a moment ago, so the metrics endpoint can be
/// read back at the end.
fn free_local_addr() -> anyhow::Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// Reads `/metrics` and sums `numhub_rpc_requests_total` of GetBalance: proof
/// that the full stack's metrics were really recorded.
async fn scrape_get_balance_count(addr: SocketAddr) -> anyhow::Result<u64> {
    let body = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        use std::io::{Read as _, Write as _};
        let mut stream = std::net::TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(
            stream,
            "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )?;
        let mut body = String::new();
        stream.read_to_string(&mut body)?;
        Ok(body)
    })
    .await??;
    Ok(body
        .lines()
        .filter(|l| {
            l.starts_with("numhub_rpc_requests_total{") && l.contains("method=\"GetBalance\"")
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum::<f64>() as u64)
}
