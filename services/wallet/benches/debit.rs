//! Debit throughput and latency through the whole gRPC stack on PostgreSQL,
//! beside pgbench running the equivalent single conditional UPDATE against
//! the same server in the same run.
//!
//! `cargo bench -p numhub-wallet --bench debit`. Knobs (environment):
//! NUMHUB_BENCH_CLIENTS (32), NUMHUB_BENCH_SECONDS (10),
//! NUMHUB_BENCH_ACCOUNTS (10000), NUMHUB_TEST_POSTGRES_URL.

use std::process::Command as Process;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use numhub_proto::common::v1::Money;
use numhub_proto::wallet::v1 as pb;
use numhub_proto::wallet::v1::wallet_internal_service_client::WalletInternalServiceClient;
use numhub_runtime::clock::{ManualClock, SystemClock};
use numhub_testkit::stack::Stack;
use numhub_testkit::stack::accounts::credentials;
use numhub_testkit::{Backend, TestDb};
use numhub_wallet::{MIGRATIONS, Wallet, WalletSettings};
use rand::{RngExt, SeedableRng};
use tokio::task::JoinSet;
use tonic::transport::Channel;

const STARTING_BALANCE: i64 = 1_000_000_000;

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Debug)]
struct Figures {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

impl Figures {
    fn from_histogram(histogram: &Histogram<u64>, count: u64, elapsed: Duration) -> Self {
        Self {
            per_second: count as f64 / elapsed.as_secs_f64(),
            p50_ms: histogram.value_at_quantile(0.50) as f64 / 1000.0,
            p99_ms: histogram.value_at_quantile(0.99) as f64 / 1000.0,
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        // `cargo test --benches` lists benches; this one only runs on request.
        return Ok(());
    }
    let clients = knob("NUMHUB_BENCH_CLIENTS", 32) as usize;
    let seconds = knob("NUMHUB_BENCH_SECONDS", 10);
    let accounts = knob("NUMHUB_BENCH_ACCOUNTS", 10_000) as usize;
    let duration = Duration::from_secs(seconds);

    assert!(
        numhub_testkit::backend_available(Backend::Postgres).await,
        "the benchmark needs PostgreSQL"
    );
    let db = TestDb::with_max_connections(Backend::Postgres, 16).await;
    db.db.migrate(&MIGRATIONS).await?;
    let settings = WalletSettings {
        write_lanes: std::env::var("NUMHUB_WALLET_WRITE_LANES")
            .ok()
            .and_then(|v| v.parse().ok()),
        ..WalletSettings::default()
    };
    let wallet = Wallet::start(db.db.clone(), Arc::new(SystemClock), &settings)
        .await
        .expect("start the wallet");
    // Debit is internal: the auth layer checks the service credential on
    // every call, as in production.
    let stack = Stack::start(Backend::Sqlite, Arc::new(ManualClock::starting_now())).await;
    let server = stack.serve(&wallet).await;
    let channels = {
        let mut channels = Vec::new();
        for _ in 0..clients.div_ceil(8) {
            channels.push(server.new_channel().await);
        }
        channels
    };

    eprintln!("seeding {accounts} accounts…");
    seed(&channels, accounts).await;
    // As autovacuum would in production; pgbench's table gets the same.
    sqlx::query("ANALYZE").execute(db.db.writer()).await?;

    eprintln!("wallet Debit, {clients} clients, spread over {accounts} accounts, {seconds}s…");
    let spread = run_debits(&channels, clients, duration, Some(accounts)).await;
    eprintln!("wallet Debit, {clients} clients, one hot account, {seconds}s…");
    let hot = run_debits(&channels, clients, duration, None).await;

    eprintln!("pgbench, same server, same database…");
    prepare_pgbench(&db.url, accounts).await?;
    let pg_spread = pgbench(
        &db.url,
        clients,
        seconds,
        &format!(
            "\\set aid random(1, {accounts})\n\
         UPDATE bench_accounts SET balance = balance - 1 WHERE id = :aid AND balance >= 1;\n"
        ),
    )?;
    let pg_hot = pgbench(
        &db.url,
        clients,
        seconds,
        "UPDATE bench_accounts SET balance = balance - 1 WHERE id = 1 AND balance >= 1;\n",
    )?;

    println!("\n| workload | debits/s | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|");
    for (name, f) in [
        ("wallet Debit via gRPC, spread over accounts", &spread),
        ("wallet Debit via gRPC, one hot account", &hot),
        ("pgbench conditional UPDATE, spread", &pg_spread),
        ("pgbench conditional UPDATE, one hot row", &pg_hot),
    ] {
        println!(
            "| {name} | {:.0} | {:.2} | {:.2} |",
            f.per_second, f.p50_ms, f.p99_ms
        );
    }
    println!(
        "\nspread / pgbench spread = {:.2} (goal >= 0.5); hot / spread = {:.2} (goal >= 0.8)",
        spread.per_second / pg_spread.per_second,
        hot.per_second / spread.per_second
    );
    println!("clients = {clients}, seconds = {seconds}, accounts = {accounts}");

    server.shutdown().await;
    Ok(())
}

fn client(
    channel: &Channel,
) -> WalletInternalServiceClient<
    tonic::codegen::InterceptedService<Channel, numhub_auth::ServiceInterceptor>,
> {
    WalletInternalServiceClient::with_interceptor(channel.clone(), credentials().interceptor())
}

fn account(i: usize) -> String {
    format!("bench-{i:05}")
}

async fn seed(channels: &[Channel], accounts: usize) {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for worker in 0..32 {
        let mut client = client(&channels[worker % channels.len()]);
        let next = next.clone();
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= accounts {
                    return;
                }
                client
                    .credit(pb::CreditRequest {
                        account_id: account(i),
                        amount: Some(Money {
                            currency_code: "USD".into(),
                            minor_units: STARTING_BALANCE,
                        }),
                        request_id: "seed".into(),
                        reason: "benchmark".into(),
                    })
                    .await
                    .expect("seed credit");
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// `accounts: None` sends every debit to one hot account.
async fn run_debits(
    channels: &[Channel],
    clients: usize,
    duration: Duration,
    accounts: Option<usize>,
) -> Figures {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = JoinSet::new();
    for worker in 0..clients {
        let mut client = client(&channels[worker % channels.len()]);
        let stop = stop.clone();
        tasks.spawn(async move {
            let mut histogram = Histogram::<u64>::new(3).expect("histogram");
            let mut rng = rand::rngs::StdRng::from_rng(&mut rand::rng());
            let mut count = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let target = accounts.map_or(0, |n| rng.random_range(0..n));
                let request = pb::DebitRequest {
                    account_id: account(target),
                    amount: Some(Money {
                        currency_code: "USD".into(),
                        minor_units: 1,
                    }),
                    request_id: uuid::Uuid::now_v7().to_string(),
                    reference: "bench".into(),
                };
                let started = Instant::now();
                client.debit(request).await.expect("debit");
                histogram
                    .record(started.elapsed().as_micros() as u64)
                    .expect("record");
                count += 1;
            }
            (histogram, count)
        });
    }
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut histogram = Histogram::<u64>::new(3).expect("histogram");
    let mut count = 0;
    while let Some(result) = tasks.join_next().await {
        let (h, c) = result.expect("worker");
        histogram.add(h).expect("merge");
        count += c;
    }
    Figures::from_histogram(&histogram, count, started.elapsed())
}

async fn prepare_pgbench(url: &str, accounts: usize) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE bench_accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL CHECK (balance >= 0));
         INSERT INTO bench_accounts SELECT g, {STARTING_BALANCE} FROM generate_series(1, {accounts}) g;
         ANALYZE bench_accounts;"
    )))
    .execute(&mut conn)
    .await?;
    Ok(())
}

/// Runs pgbench with per-transaction logging, for percentiles.
fn pgbench(url: &str, clients: usize, seconds: u64, script: &str) -> anyhow::Result<Figures> {
    let dir = tempfile::tempdir()?;
    let script_path = dir.path().join("script.sql");
    std::fs::write(&script_path, script)?;
    let prefix = dir.path().join("log");
    let output = Process::new("pgbench")
        .args(["-n", "-M", "prepared", "-j", "2"])
        .args(["-c", &clients.to_string(), "-T", &seconds.to_string()])
        .arg("-l")
        .arg(format!("--log-prefix={}", prefix.display()))
        .arg("-f")
        .arg(&script_path)
        .arg(url)
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "pgbench failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut histogram = Histogram::<u64>::new(3)?;
    let mut count = 0;
    for entry in std::fs::read_dir(dir.path())? {
        let path = entry?.path();
        if !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("log"))
        {
            continue;
        }
        for line in std::fs::read_to_string(path)?.lines() {
            // client_id transaction_no latency_us script_no epoch epoch_us
            if let Some(latency) = line
                .split_whitespace()
                .nth(2)
                .and_then(|v| v.parse::<u64>().ok())
            {
                histogram.record(latency)?;
                count += 1;
            }
        }
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let tps = stdout
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(count as f64 / seconds as f64);
    let mut figures = Figures::from_histogram(&histogram, count, Duration::from_secs(seconds));
    figures.per_second = tps;
    Ok(figures)
}
