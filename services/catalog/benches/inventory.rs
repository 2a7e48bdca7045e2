//! LeaseNumber throughput and ListCountries latency on PostgreSQL with
//! 1,000,000 numbers in the inventory, through real gRPC behind the real
//! auth layer (keys and the service credential checked through a running
//! accounts service, as in tests/common).
//!
//! `cargo bench -p numhub-catalog --bench inventory`. Knobs (environment):
//! NUMHUB_BENCH_NUMBERS (1000000), NUMHUB_BENCH_COUNTRIES (30),
//! NUMHUB_BENCH_CLIENTS (32), NUMHUB_BENCH_SECONDS (15, per measured lease
//! phase), NUMHUB_BENCH_WARMUP (3, seconds of load before each lease phase),
//! NUMHUB_BENCH_LISTINGS (2000 sequential calls per idle listing phase),
//! NUMHUB_BENCH_ANALYZE_AFTER_WARMUP (1; 0 leaves the planner with the
//! statistics taken after seeding, when number_usage was empty),
//! NUMHUB_BENCH_KEEP_DB (0; 1 keeps the PostgreSQL database and prints its
//! URL, for EXPLAIN ANALYZE), NUMHUB_TEST_POSTGRES_URL.
//!
//! Phases, in order, on one database:
//! 1. seed: the countries (the first NUMHUB_BENCH_COUNTRIES of the built-in
//!    list with a dial prefix of their own), NUMHUB_BENCH_NUMBERS numbers
//!    spread evenly over them through `Catalog::import_numbers` in batches of
//!    10,000, an activation price for "wa" in each, then `ANALYZE` and
//!    `CHECKPOINT`;
//! 2. ListCountries for "wa", one client, sequential calls, idle server; then
//!    diagnostics: the same listing on the domain (no gRPC, no auth), and
//!    `SELECT 1` through the pool and on one held connection;
//! 3. LeaseNumber (activation, "wa"), every client in one country (US),
//!    after a warm-up followed by `ANALYZE` (see the knob above);
//! 4. LeaseNumber, each client cycling over all the countries;
//! 5. the same lease load with one client calling ListCountries beside it;
//! 6. ListCountries and the diagnostics idle again, after the leases.
//!
//! A number is leased for "wa" at most once, ever: a lease phase may run out
//! of numbers in a country. Refusals (NO_NUMBERS_AVAILABLE) are counted and
//! printed, never timed as leases. Leases last 20 minutes, so none ends
//! during a run. At the end the bench checks that the stock ListCountries
//! shows is the inventory less the leases made.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use numhub_auth::{RateLimits, Scopes, ServiceInterceptor};
use numhub_catalog::model::{NumberImport, NumberType};
use numhub_catalog::{Catalog, CatalogSettings, MIGRATIONS, seed};
use numhub_proto::catalog::v1 as pb;
use numhub_proto::catalog::v1::catalog_internal_service_client::CatalogInternalServiceClient;
use numhub_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use numhub_proto::common::v1::Scope;
use numhub_runtime::clock::{Clock, ManualClock, SystemClock};
use numhub_testkit::stack::Stack;
use numhub_testkit::{Backend, BearerKey, TestDb};
use sqlx::Row;
use tokio::task::JoinSet;
use tonic::codegen::InterceptedService;
use tonic::transport::Channel;

/// The service every lease and listing is for.
const SERVICE: &str = "wa";
/// Rows per ImportNumbers call: the most the API takes.
const IMPORT_BATCH: usize = 10_000;
/// How long each activation lease lasts: longer than any run, so no lease
/// ends and no number comes back during the benchmark.
const LEASE_TIME: Duration = Duration::from_secs(20 * 60);
/// Far above anything two cores can send, so the customer's rate limit
/// never refuses a listing (the test stack's clock stands still).
const HUGE_QUOTA: u32 = 60_000_000;
/// Sequential ListCountries calls before each measured listing phase.
const LIST_WARMUP: u64 = 200;

type Internal = CatalogInternalServiceClient<InterceptedService<Channel, ServiceInterceptor>>;
type Public = CatalogServiceClient<InterceptedService<Channel, BearerKey>>;

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One country of the benchmark and the operators its numbers cycle over.
#[derive(Debug, Clone)]
struct BenchCountry {
    code: String,
    dial_prefix: String,
    /// The country's operators, then "" (unknown operator).
    operators: Vec<String>,
    numbers: u64,
}

/// What a lease phase measured.
#[derive(Debug)]
struct LeaseFigures {
    leases: u64,
    refused: u64,
    elapsed: Duration,
    histogram: Histogram<u64>,
    cpu: Cpu,
}

impl LeaseFigures {
    fn per_second(&self) -> f64 {
        self.leases as f64 / self.elapsed.as_secs_f64()
    }

    /// CPU time the guest spent per lease (this process, PostgreSQL and
    /// the kernel; steal left out), in µs.
    fn cpu_micros_per_lease(&self) -> f64 {
        self.cpu.machine.as_secs_f64() * 1e6 / self.leases.max(1) as f64
    }
}

/// CPU time spent over a phase (Linux; zero elsewhere).
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    /// This process: the clients, the catalog and accounts.
    process: Duration,
    /// The whole machine, busy (user, nice, system, irq, softirq): the rest
    /// is PostgreSQL's, the kernel's, and any other program's.
    machine: Duration,
    /// Time the hypervisor ran something else while this VM wanted a core.
    steal: Duration,
}

impl Cpu {
    /// The counters so far.
    fn now() -> Self {
        let (machine, steal) = machine_cpu();
        Self {
            process: process_cpu(),
            machine,
            steal,
        }
    }

    /// What was spent since `before`.
    fn since(before: Cpu) -> Self {
        let now = Self::now();
        Self {
            process: now.process.saturating_sub(before.process),
            machine: now.machine.saturating_sub(before.machine),
            steal: now.steal.saturating_sub(before.steal),
        }
    }

    /// Cores kept busy on average over `elapsed`: this process, the rest of
    /// the machine, and stolen by the hypervisor.
    fn cores(&self, elapsed: Duration) -> (f64, f64, f64) {
        let per = |d: Duration| d.as_secs_f64() / elapsed.as_secs_f64();
        (
            per(self.process),
            per(self.machine.saturating_sub(self.process)),
            per(self.steal),
        )
    }
}

/// What a listing phase measured.
#[derive(Debug)]
struct ListFigures {
    calls: u64,
    elapsed: Duration,
    histogram: Histogram<u64>,
    cpu: Cpu,
}

/// Times sequential calls: started with [`Timing::start`], each call
/// recorded with [`Timing::record`].
struct Timing {
    histogram: Histogram<u64>,
    calls: u64,
    started: Instant,
    cpu: Cpu,
}

impl Timing {
    fn start() -> Self {
        Self {
            histogram: Histogram::new(3).expect("histogram"),
            calls: 0,
            started: Instant::now(),
            cpu: Cpu::now(),
        }
    }

    fn record(&mut self, call: Instant) {
        self.histogram
            .record(call.elapsed().as_micros() as u64)
            .expect("record");
        self.calls += 1;
    }

    fn finish(self) -> ListFigures {
        ListFigures {
            calls: self.calls,
            elapsed: self.started.elapsed(),
            histogram: self.histogram,
            cpu: Cpu::since(self.cpu),
        }
    }
}

fn ms(histogram: &Histogram<u64>, quantile: f64) -> f64 {
    histogram.value_at_quantile(quantile) as f64 / 1000.0
}

fn max_ms(histogram: &Histogram<u64>) -> f64 {
    histogram.max() as f64 / 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        // `cargo test --benches` lists benches; this one only runs on request.
        return Ok(());
    }
    let numbers = knob("NUMHUB_BENCH_NUMBERS", 1_000_000);
    let country_count = knob("NUMHUB_BENCH_COUNTRIES", 30) as usize;
    let clients = knob("NUMHUB_BENCH_CLIENTS", 32) as usize;
    let seconds = knob("NUMHUB_BENCH_SECONDS", 15);
    let warmup = Duration::from_secs(knob("NUMHUB_BENCH_WARMUP", 3));
    let listings = knob("NUMHUB_BENCH_LISTINGS", 2_000);
    let keep_db = knob("NUMHUB_BENCH_KEEP_DB", 0) == 1;
    let analyze_after_warmup = knob("NUMHUB_BENCH_ANALYZE_AFTER_WARMUP", 1) == 1;
    let duration = Duration::from_secs(seconds);

    assert!(
        numhub_testkit::backend_available(Backend::Postgres).await,
        "the benchmark needs PostgreSQL"
    );
    // The catalog's production pool size (NUMHUB_DB_MAX_CONNECTIONS, 16).
    let db = TestDb::new(Backend::Postgres).await;
    db.db.migrate(&MIGRATIONS).await?;
    // Accounts resolves the customer's key and checks nothing else: on its
    // own SQLite database, off the measured PostgreSQL server.
    let stack = Stack::start(Backend::Sqlite, Arc::new(ManualClock::starting_now())).await;
    // Production settings, the wall clock, and the sweeper running.
    let catalog = Catalog::new(
        db.db.clone(),
        Arc::new(SystemClock),
        CatalogSettings::default(),
    )
    .await?;
    catalog.start_workers(&numhub_runtime::workers::Workers::new());
    let server = stack.serve(&catalog).await;

    // Countries with a dial prefix of their own (the first of each prefix
    // is kept: RU over KZ, US over CA), so every number names its country.
    let mut countries = Vec::new();
    let mut prefixes = HashSet::new();
    for c in seed::COUNTRIES {
        if countries.len() == country_count {
            break;
        }
        if !prefixes.insert(c.dial_prefix) {
            continue;
        }
        let Ok(operators) = catalog.operators(c.code).await else {
            continue; // not loaded: its activate id went to another country
        };
        let mut operators: Vec<String> = operators.into_iter().map(|o| o.code).collect();
        operators.push(String::new());
        countries.push(BenchCountry {
            code: c.code.into(),
            dial_prefix: c.dial_prefix.into(),
            operators,
            numbers: 0,
        });
    }
    anyhow::ensure!(
        countries.len() == country_count,
        "only {} countries with a dial prefix of their own",
        countries.len()
    );
    anyhow::ensure!(
        countries.iter().any(|c| c.code == "US"),
        "the single-country phase leases in the US"
    );

    eprintln!(
        "seeding {numbers} numbers over {country_count} countries, {IMPORT_BATCH} per import…"
    );
    let seeding = Instant::now();
    let mut next = 0u64;
    while next < numbers {
        let end = (next + IMPORT_BATCH as u64).min(numbers);
        let rows: Vec<NumberImport> = (next..end).map(|i| number_row(&countries, i)).collect();
        let batch = rows.len();
        let report = catalog.import_numbers(rows).await?;
        anyhow::ensure!(
            report.imported == batch && report.rejected.is_empty(),
            "import of rows {next}..{end}: {} imported, first refusal {:?}",
            report.imported,
            report.rejected.first()
        );
        next = end;
        if next.is_multiple_of(100_000) || next == numbers {
            eprintln!("  {next} numbers, {:.1} s", seeding.elapsed().as_secs_f64());
        }
    }
    let seeding = seeding.elapsed();
    for (i, country) in countries.iter_mut().enumerate() {
        country.numbers =
            numbers / country_count as u64 + u64::from((i as u64) < numbers % country_count as u64);
    }
    for (i, country) in countries.iter().enumerate() {
        catalog
            .set_activation_price(SERVICE, &country.code, "", 40 + i as i64, None)
            .await?;
    }
    // As autovacuum would on a live system.
    let analyzing = Instant::now();
    sqlx::query("ANALYZE").execute(db.db.writer()).await?;
    let analyzing = analyzing.elapsed();
    // The import's dirty pages written out now, not by a checkpoint spread
    // over the measured phases (needs a superuser or pg_checkpoint).
    if let Err(error) = sqlx::query("CHECKPOINT").execute(db.db.writer()).await {
        eprintln!("no CHECKPOINT after seeding ({error}); the phases share the disk with it");
    }
    let table_size: i64 =
        sqlx::query("SELECT CAST(pg_total_relation_size('numbers') AS BIGINT) AS size")
            .fetch_one(db.db.reader())
            .await?
            .try_get("size")?;
    eprintln!(
        "seeded in {:.1} s ({:.0} numbers/s); ANALYZE {:.1} s; numbers table with \
         indexes {} MiB",
        seeding.as_secs_f64(),
        numbers as f64 / seeding.as_secs_f64(),
        analyzing.as_secs_f64(),
        table_size / (1 << 20)
    );

    // A customer with a read key and a quota that never bites.
    let customer = stack
        .accounts
        .create_account(
            "benchmark customer",
            Some(RateLimits {
                requests_per_minute: HUGE_QUOTA,
                money_requests_per_minute: HUGE_QUOTA,
            }),
            &uuid::Uuid::now_v7().to_string(),
        )
        .await?;
    let (_, secret) = stack
        .accounts
        .create_key(
            &customer.id,
            "benchmark key",
            Scopes::from_iter([Scope::Read]),
            None,
        )
        .await?;
    let mut public =
        CatalogServiceClient::with_interceptor(server.new_channel().await, BearerKey(secret));
    // An account per lease client, each client on a connection of its own.
    let mut lease_clients = Vec::with_capacity(clients);
    for i in 0..clients {
        let account = stack
            .accounts
            .create_account(
                &format!("benchmark {i}"),
                None,
                &uuid::Uuid::now_v7().to_string(),
            )
            .await?;
        let client = CatalogInternalServiceClient::with_interceptor(
            server.new_channel().await,
            stack.credentials.interceptor(),
        );
        lease_clients.push((client, account.id));
    }

    let before = stock(&mut public).await?;
    for country in &countries {
        let shown = before.iter().find(|(c, _)| *c == country.code).map(|s| s.1);
        anyhow::ensure!(
            shown == Some(country.numbers as i64),
            "{} shows stock {shown:?}, not {}",
            country.code,
            country.numbers
        );
    }

    eprintln!("ListCountries for {SERVICE:?}, sequential, idle: {listings} calls…");
    let never = AtomicBool::new(false);
    list_phase(&mut public, LIST_WARMUP, &never, country_count).await;
    let list_idle = list_phase(&mut public, listings, &never, country_count).await;

    // Where a listing's time goes: the same call on the domain (no gRPC, no
    // auth), its reads as one statement, and one trivial query through the
    // pool and on a held connection.
    let domain_before = domain_phase(&catalog, listings, country_count).await?;
    let one_before = one_statement_phase(db.db.reader(), listings, country_count).await?;
    let select_one_before = select_one_phase(db.db.reader(), listings, false).await?;
    let held_before = select_one_phase(db.db.reader(), listings, true).await?;

    let us = vec!["US".to_string()];
    let all: Vec<String> = countries.iter().map(|c| c.code.clone()).collect();

    eprintln!("LeaseNumber, {clients} clients, all in US, {seconds} s…");
    lease_phase(&lease_clients, &us, warmup).await;
    if analyze_after_warmup {
        // Autovacuum analyzes a table after its first 50 changed rows and then
        // every 10% or so; without it (as on the benchmark machine) the
        // planner would keep the statistics of an empty number_usage.
        sqlx::query("ANALYZE").execute(db.db.writer()).await?;
    }
    let lease_us = lease_phase(&lease_clients, &us, duration).await;
    print_lease("  ", &lease_us);

    eprintln!("LeaseNumber, {clients} clients over {country_count} countries, {seconds} s…");
    lease_phase(&lease_clients, &all, warmup).await;
    let lease_all = lease_phase(&lease_clients, &all, duration).await;
    print_lease("  ", &lease_all);

    eprintln!(
        "LeaseNumber, {clients} clients over {country_count} countries, with ListCountries \
         beside them, {seconds} s…"
    );
    lease_phase(&lease_clients, &all, warmup).await;
    let (lease_loaded, list_loaded) = {
        let stop = Arc::new(AtomicBool::new(false));
        let lister = {
            let mut public = public.clone();
            let stop = stop.clone();
            tokio::spawn(
                async move { list_phase(&mut public, u64::MAX, &stop, country_count).await },
            )
        };
        let leases = lease_phase(&lease_clients, &all, duration).await;
        stop.store(true, Ordering::Relaxed);
        (leases, lister.await?)
    };
    print_lease("  ", &lease_loaded);

    eprintln!("ListCountries for {SERVICE:?}, sequential, idle, after the leases…");
    list_phase(&mut public, LIST_WARMUP, &never, country_count).await;
    let list_after = list_phase(&mut public, listings, &never, country_count).await;
    let domain_after = domain_phase(&catalog, listings, country_count).await?;
    let one_after = one_statement_phase(db.db.reader(), listings, country_count).await?;
    let select_one_after = select_one_phase(db.db.reader(), listings, false).await?;
    let held_after = select_one_phase(db.db.reader(), listings, true).await?;

    // The listed stock is each country's numbers less its leases.
    let leases: i64 = sqlx::query("SELECT COUNT(*) AS n FROM leases")
        .fetch_one(db.db.reader())
        .await?
        .try_get("n")?;
    let stock_after = stock(&mut public).await?;
    let listed: i64 = stock_after.iter().map(|(_, s)| s).sum();
    anyhow::ensure!(
        listed == numbers as i64 - leases,
        "ListCountries shows {listed} in stock; {numbers} numbers less {leases} leases is {}",
        numbers as i64 - leases
    );
    let us_left = stock_after
        .iter()
        .find(|(c, _)| c == "US")
        .map_or(0, |s| s.1);
    let us_numbers = countries
        .iter()
        .find(|c| c.code == "US")
        .map_or(0, |c| c.numbers);

    println!(
        "\n| workload | calls/s | p50 ms | p99 ms | max ms | done | refused: no numbers | \
         cores: bench process / rest / stolen | CPU µs per lease |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, f) in [
        (
            format!("LeaseNumber, {clients} clients, all in US"),
            &lease_us,
        ),
        (
            format!("LeaseNumber, {clients} clients over {country_count} countries"),
            &lease_all,
        ),
        (
            format!(
                "LeaseNumber, {clients} clients over {country_count} countries, with ListCountries beside"
            ),
            &lease_loaded,
        ),
    ] {
        let (own, rest, stolen) = f.cpu.cores(f.elapsed);
        println!(
            "| {name} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {} | {own:.2} / {rest:.2} / \
             {stolen:.2} | {:.0} |",
            f.per_second(),
            ms(&f.histogram, 0.50),
            ms(&f.histogram, 0.99),
            max_ms(&f.histogram),
            f.leases,
            f.refused,
            f.cpu_micros_per_lease()
        );
    }
    for (name, f) in [
        ("ListCountries \"wa\", idle, before the leases", &list_idle),
        ("ListCountries \"wa\", beside the lease load", &list_loaded),
        ("ListCountries \"wa\", idle, after the leases", &list_after),
        (
            "(diagnostic) Catalog::list_countries, no gRPC, idle, before the leases",
            &domain_before,
        ),
        (
            "(diagnostic) Catalog::list_countries, no gRPC, idle, after the leases",
            &domain_after,
        ),
        (
            "(diagnostic) the listing's reads as one SQL statement, idle, before the leases",
            &one_before,
        ),
        (
            "(diagnostic) the listing's reads as one SQL statement, idle, after the leases",
            &one_after,
        ),
        (
            "(diagnostic) SELECT 1 through the pool, idle, before the leases",
            &select_one_before,
        ),
        (
            "(diagnostic) SELECT 1 through the pool, idle, after the leases",
            &select_one_after,
        ),
        (
            "(diagnostic) SELECT 1 on one held connection, idle, before the leases",
            &held_before,
        ),
        (
            "(diagnostic) SELECT 1 on one held connection, idle, after the leases",
            &held_after,
        ),
    ] {
        let (own, rest, stolen) = f.cpu.cores(f.elapsed);
        println!(
            "| {name} | {:.0} | {:.2} | {:.2} | {:.2} | {} | | {own:.2} / {rest:.2} / \
             {stolen:.2} | |",
            f.calls as f64 / f.elapsed.as_secs_f64(),
            ms(&f.histogram, 0.50),
            ms(&f.histogram, 0.99),
            max_ms(&f.histogram),
            f.calls
        );
    }
    println!(
        "\nseeding: {numbers} numbers in {:.1} s ({:.0}/s), ANALYZE {:.1} s, numbers table \
         with indexes {} MiB",
        seeding.as_secs_f64(),
        numbers as f64 / seeding.as_secs_f64(),
        analyzing.as_secs_f64(),
        table_size / (1 << 20)
    );
    let verdict = |p99: f64| if p99 <= 5.0 { "met" } else { "NOT met" };
    for (name, f) in [
        ("idle, before the leases", &list_idle),
        ("idle, after the leases", &list_after),
        ("beside the lease load", &list_loaded),
    ] {
        let p99 = ms(&f.histogram, 0.99);
        println!(
            "ListCountries p99 {name}: {p99:.2} ms, goal <= 5 ms {}",
            verdict(p99)
        );
    }
    println!(
        "leases made: {leases}; US stock left {us_left} of {us_numbers}; listed stock matches \
         the inventory"
    );
    println!(
        "numbers = {numbers}, countries = {country_count}, clients = {clients}, seconds = \
         {seconds}, warm-up = {} s, listings = {listings}",
        warmup.as_secs()
    );

    server.shutdown().await;
    stack.shutdown().await;
    if keep_db {
        println!("database kept: {}", db.url);
        std::mem::forget(db);
    }
    Ok(())
}

/// Number `i` of the inventory: countries take turns, each number of a
/// country follows the last, operators and types alternate.
fn number_row(countries: &[BenchCountry], i: u64) -> NumberImport {
    let country = &countries[(i % countries.len() as u64) as usize];
    let nth = i / countries.len() as u64;
    NumberImport {
        phone_number: format!("{}{}", country.dial_prefix, 2_000_000_000 + nth),
        country_code: country.code.clone(),
        operator: country.operators[(nth % country.operators.len() as u64) as usize].clone(),
        number_type: Some(if nth.is_multiple_of(2) {
            NumberType::NonVoip
        } else {
            NumberType::Voip
        }),
        source: "benchmark bank".into(),
    }
}

/// The stock ListCountries shows for the service, per country.
async fn stock(public: &mut Public) -> anyhow::Result<Vec<(String, i64)>> {
    let response = public
        .list_countries(pb::ListCountriesRequest {
            service_code: SERVICE.into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    Ok(response
        .countries
        .into_iter()
        .map(|o| (o.country.map(|c| c.code).unwrap_or_default(), o.stock))
        .collect())
}

/// Sequential ListCountries calls until `calls` are made or `stop` is set.
async fn list_phase(
    public: &mut Public,
    calls: u64,
    stop: &AtomicBool,
    countries: usize,
) -> ListFigures {
    let mut timing = Timing::start();
    while timing.calls < calls && !stop.load(Ordering::Relaxed) {
        let request = pb::ListCountriesRequest {
            service_code: SERVICE.into(),
            ..Default::default()
        };
        let call = Instant::now();
        let response = public
            .list_countries(request)
            .await
            .expect("ListCountries")
            .into_inner();
        timing.record(call);
        assert_eq!(response.countries.len(), countries, "countries listed");
    }
    timing.finish()
}

/// Sequential `Catalog::list_countries` calls, after a warm-up: a listing
/// without gRPC and auth.
async fn domain_phase(
    catalog: &Catalog,
    calls: u64,
    countries: usize,
) -> anyhow::Result<ListFigures> {
    for _ in 0..LIST_WARMUP {
        catalog.list_countries(Some(SERVICE), "", 300).await?;
    }
    let mut timing = Timing::start();
    while timing.calls < calls {
        let call = Instant::now();
        let (offers, _) = catalog.list_countries(Some(SERVICE), "", 300).await?;
        timing.record(call);
        anyhow::ensure!(offers.len() == countries, "countries listed");
    }
    Ok(timing.finish())
}

/// Sequential `SELECT 1` through the catalog's pool, after a warm-up: the
/// cost of one round trip to PostgreSQL.
/// What ListCountries for a service reads, as one statement: the
/// countries offering it with their lowest price, free and used counters
/// and arrival average. Not the catalog's code: a measure of what one round
/// trip instead of five would cost.
const LISTING_AS_ONE_STATEMENT: &str = "\
    SELECT c.code, c.name, c.dial_prefix, c.activate_id, c.disabled, p.price, p.currency, \
    CAST(COALESCE((SELECT SUM(f.free) FROM stock_free f WHERE f.country_code = c.code), 0) \
         AS BIGINT) AS free, \
    CAST(COALESCE((SELECT SUM(u.free) FROM stock_used u \
                   WHERE u.service_code = $1 AND u.country_code = c.code), 0) AS BIGINT) AS used, \
    (SELECT a.average_ms FROM arrival_stats a \
     WHERE a.service_code = $1 AND a.country_code = c.code) AS average_ms \
    FROM countries c JOIN services s ON s.code = $1 AND s.disabled = 0 \
    JOIN (SELECT country_code, MIN(price) AS price, MIN(currency) AS currency \
          FROM activation_prices WHERE service_code = $1 GROUP BY country_code) p \
      ON p.country_code = c.code \
    WHERE c.disabled = 0 AND c.code > '' ORDER BY c.code LIMIT 301";

/// Sequential [`LISTING_AS_ONE_STATEMENT`] through the pool, after a
/// warm-up.
async fn one_statement_phase(
    pool: &sqlx::AnyPool,
    calls: u64,
    countries: usize,
) -> anyhow::Result<ListFigures> {
    let mut timing = Timing::start();
    for i in 0..LIST_WARMUP + calls {
        if i == LIST_WARMUP {
            timing = Timing::start();
        }
        let call = Instant::now();
        let rows = sqlx::query(LISTING_AS_ONE_STATEMENT)
            .bind(SERVICE)
            .fetch_all(pool)
            .await?;
        timing.record(call);
        anyhow::ensure!(rows.len() == countries, "countries listed");
    }
    Ok(timing.finish())
}

/// With `held`, every call on one connection taken from the pool once.
async fn select_one_phase(
    pool: &sqlx::AnyPool,
    calls: u64,
    held: bool,
) -> anyhow::Result<ListFigures> {
    let mut conn = if held {
        Some(pool.acquire().await?)
    } else {
        None
    };
    let mut timing = Timing::start();
    for i in 0..LIST_WARMUP + calls {
        if i == LIST_WARMUP {
            timing = Timing::start();
        }
        let call = Instant::now();
        match &mut conn {
            Some(conn) => sqlx::query("SELECT 1").execute(&mut **conn).await?,
            None => sqlx::query("SELECT 1").execute(pool).await?,
        };
        timing.record(call);
    }
    Ok(timing.finish())
}

/// Every client leasing activations in a closed loop for `duration`, each
/// cycling over `countries` from a different start.
async fn lease_phase(
    clients: &[(Internal, String)],
    countries: &[String],
    duration: Duration,
) -> LeaseFigures {
    let stop = Arc::new(AtomicBool::new(false));
    let countries = Arc::new(countries.to_vec());
    let mut tasks = JoinSet::new();
    for (worker, (client, account)) in clients.iter().enumerate() {
        let mut client = client.clone();
        let account = account.clone();
        let countries = countries.clone();
        let stop = stop.clone();
        tasks.spawn(async move {
            let mut histogram = Histogram::<u64>::new(3).expect("histogram");
            let (mut leases, mut refused) = (0u64, 0u64);
            let mut turn = worker;
            while !stop.load(Ordering::Relaxed) {
                let country = &countries[turn % countries.len()];
                turn += 1;
                let request_id = uuid::Uuid::now_v7().to_string();
                let request = pb::LeaseNumberRequest {
                    kind: pb::LeaseKind::Activation as i32,
                    account_id: account.clone(),
                    holder_id: format!("activation-{request_id}"),
                    country_code: country.clone(),
                    service_code: SERVICE.into(),
                    expire_time: Some(SystemClock.now().plus(LEASE_TIME).to_proto()),
                    request_id,
                    ..Default::default()
                };
                let started = Instant::now();
                match client.lease_number(request).await {
                    Ok(_) => {
                        histogram
                            .record(started.elapsed().as_micros() as u64)
                            .expect("record");
                        leases += 1;
                    }
                    Err(status)
                        if status.code() == tonic::Code::FailedPrecondition
                            && numhub_testkit::status::reason(&status)
                                == "NO_NUMBERS_AVAILABLE" =>
                    {
                        refused += 1;
                    }
                    Err(status) => panic!("LeaseNumber in {country}: {status:?}"),
                }
            }
            (histogram, leases, refused)
        });
    }
    let cpu = Cpu::now();
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut figures = LeaseFigures {
        leases: 0,
        refused: 0,
        elapsed: Duration::ZERO,
        histogram: Histogram::new(3).expect("histogram"),
        cpu: Cpu::default(),
    };
    while let Some(result) = tasks.join_next().await {
        let (histogram, leases, refused) = result.expect("lease client");
        figures.histogram.add(histogram).expect("merge");
        figures.leases += leases;
        figures.refused += refused;
    }
    figures.elapsed = started.elapsed();
    figures.cpu = Cpu::since(cpu);
    figures
}

fn print_lease(indent: &str, f: &LeaseFigures) {
    let (own, rest, stolen) = f.cpu.cores(f.elapsed);
    eprintln!(
        "{indent}{:.0} leases/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} leases, {} refused; \
         cores: this process {own:.2}, the rest {rest:.2}, stolen {stolen:.2}; \
         {:.0} CPU µs per lease",
        f.per_second(),
        ms(&f.histogram, 0.50),
        ms(&f.histogram, 0.99),
        max_ms(&f.histogram),
        f.leases,
        f.refused,
        f.cpu_micros_per_lease()
    );
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

/// Busy CPU time of the whole machine so far (user, nice, system, irq and
/// softirq of /proc/stat's `cpu` line), and steal (Linux; zero elsewhere).
fn machine_cpu() -> (Duration, Duration) {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return (Duration::ZERO, Duration::ZERO);
    };
    let Some(line) = stat.lines().next() else {
        return (Duration::ZERO, Duration::ZERO);
    };
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let sum = |fields: &[usize]| -> Duration {
        Duration::from_millis(fields.iter().filter_map(|&i| ticks.get(i)).sum::<u64>() * 10)
    };
    (sum(&[0, 1, 2, 5, 6]), sum(&[7]))
}
