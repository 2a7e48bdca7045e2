//! numhubd as an operator runs it: the built binary on its SQLite default
//! in a fresh data directory, and the loop a customer walks through, over
//! gRPC: an account and its key, money, a number to sell, a purchase, its
//! SMS handed to inbound and routed to the buyer's live stream, completion,
//! and a restart that keeps it all.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use numhub_auth::{Environment, api_key};
use numhub_proto::accounts::v1 as accounts_pb;
use numhub_proto::accounts::v1::accounts_admin_service_client::AccountsAdminServiceClient;
use numhub_proto::catalog::v1 as catalog_pb;
use numhub_proto::catalog::v1::catalog_admin_service_client::CatalogAdminServiceClient;
use numhub_proto::common::v1::{Money, Scope};
use numhub_proto::inbound::v1 as inbound_pb;
use numhub_proto::inbound::v1::inbound_internal_service_client::InboundInternalServiceClient;
use numhub_proto::orders::v1 as pb;
use numhub_proto::orders::v1::orders_service_client::OrdersServiceClient;
use numhub_proto::rentals::v1 as rentals_pb;
use numhub_proto::rentals::v1::rentals_service_client::RentalsServiceClient;
use numhub_proto::wallet::v1 as wallet_pb;
use numhub_proto::wallet::v1::wallet_admin_service_client::WalletAdminServiceClient;
use numhub_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use numhub_testkit::BearerKey;
use tokio_stream::StreamExt as _;
use tonic::transport::Channel;

const CREDENTIAL: &str = "numhubd-test-service-credential-0123456789";

struct Numhubd(Child);

impl Drop for Numhubd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts numhubd in `data` on `port`, without its demo and simulator,
/// and waits until it answers.
async fn start(data: &std::path::Path, port: u16, admin_key: &str) -> (Numhubd, Channel) {
    let mut command = numhubd(data, port);
    command
        .env("NUMHUB_ADMIN_KEY", admin_key)
        .env("NUMHUB_DEMO", "false")
        .env("NUMHUB_SIMULATOR", "false")
        .stderr(Stdio::null());
    let process = Numhubd(command.spawn().expect("start numhubd"));
    (process, connect(port).await)
}

/// numhubd with a fresh environment, in `data`, on `port`.
fn numhubd(data: &std::path::Path, port: u16) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_numhubd"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NUMHUB_DATA_DIR", data)
        .env("NUMHUB_LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("NUMHUB_METRICS_ADDR", "off")
        .env("NUMHUB_GATEWAY_HTTP_ADDR", "127.0.0.1:0")
        .env("NUMHUB_SERVICE_CREDENTIAL", CREDENTIAL)
        .env("NUMHUB_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    command
}

/// A channel to numhubd on `port`, once it answers.
async fn connect(port: u16) -> Channel {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let endpoint = Channel::from_shared(format!("http://127.0.0.1:{port}")).unwrap();
        if let Ok(channel) = endpoint.connect().await {
            return channel;
        }
        assert!(Instant::now() < deadline, "numhubd did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn usd(minor_units: i64) -> Option<Money> {
    Some(Money {
        currency_code: "USD".into(),
        minor_units,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_buys_a_number_and_watches_its_code_arrive() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let admin = api_key::generate(Environment::Live).secret;
    let (process, channel) = start(data.path(), port, &admin).await;
    let as_admin = || BearerKey(admin.clone());

    let mut accounts = AccountsAdminServiceClient::with_interceptor(channel.clone(), as_admin());
    let account = accounts
        .create_account(accounts_pb::CreateAccountRequest {
            display_name: "Acme".into(),
            rate_limits: None,
            request_id: "acme-1".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .id;
    let key = accounts
        .create_account_api_key(accounts_pb::CreateAccountApiKeyRequest {
            account_id: account.clone(),
            name: "acme server".into(),
            scopes: vec![Scope::Read as i32, Scope::Write as i32],
        })
        .await
        .unwrap()
        .into_inner()
        .secret;
    WalletAdminServiceClient::with_interceptor(channel.clone(), as_admin())
        .credit(wallet_pb::CreditRequest {
            account_id: account.clone(),
            amount: usd(1000),
            request_id: "top-up-1".into(),
            reason: "top-up".into(),
        })
        .await
        .unwrap();
    let mut catalog = CatalogAdminServiceClient::with_interceptor(channel.clone(), as_admin());
    catalog
        .import_numbers(catalog_pb::ImportNumbersRequest {
            numbers: vec![catalog_pb::NumberImport {
                phone_number: "+14035550001".into(),
                country_code: "US".into(),
                operator: String::new(),
                number_type: catalog_pb::NumberType::Voip as i32,
                source: "test".into(),
            }],
        })
        .await
        .unwrap();
    catalog
        .set_activation_price(catalog_pb::SetActivationPriceRequest {
            service_code: "wa".into(),
            country_code: "US".into(),
            operator: String::new(),
            price: usd(45),
        })
        .await
        .unwrap();

    // The customer buys, through orders, which calls the catalog and the
    // wallet over gRPC on numhubd's own port.
    let mut orders = OrdersServiceClient::with_interceptor(channel.clone(), BearerKey(key.clone()));
    let bought = orders
        .create_activation(pb::CreateActivationRequest {
            service_code: "wa".into(),
            country_code: "US".into(),
            request_id: "buy-1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(bought.phone_number, "+14035550001");
    assert_eq!(bought.status, pb::ActivationStatus::Waiting as i32);
    let mut wallet = WalletServiceClient::with_interceptor(channel.clone(), BearerKey(key.clone()));
    let balance = wallet
        .get_balance(wallet_pb::GetBalanceRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(balance.available.unwrap().minor_units, 955);

    let mut stream = orders
        .watch_activation(pb::WatchActivationRequest {
            id: bought.id.clone(),
            after: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let waiting = stream.next().await.unwrap().unwrap();
    assert!(matches!(
        waiting.event,
        Some(pb::activation_event::Event::StatusChanged(_))
    ));
    let credential =
        tonic::metadata::MetadataValue::try_from(format!("Bearer {CREDENTIAL}")).unwrap();
    // A SIM bank hands the SMS to inbound, which routes it to the holder.
    let mut inbound = InboundInternalServiceClient::with_interceptor(
        channel.clone(),
        move |mut r: tonic::Request<()>| {
            r.metadata_mut().insert("authorization", credential.clone());
            Ok(r)
        },
    );
    inbound
        .deliver(inbound_pb::DeliverRequest {
            upstream: "simbank-1".into(),
            upstream_message_id: "sim-1".into(),
            to: bought.phone_number.clone(),
            sender: "WhatsApp".into(),
            body: "Your WhatsApp code is 123-456".into(),
            receive_time: Some(prost_types::Timestamp::from(std::time::SystemTime::now())),
        })
        .await
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("the message arrives on the stream")
        .unwrap()
        .unwrap();
    let Some(pb::activation_event::Event::Message(message)) = event.event else {
        panic!("expected the message, got {event:?}");
    };
    assert_eq!(message.code, "123456");
    orders
        .complete_activation(pb::CompleteActivationRequest {
            id: bought.id.clone(),
        })
        .await
        .unwrap();

    // Then rents the number for a week: its SMS go to the rental, and the
    // account-wide stream of orders carries them too.
    catalog
        .set_rental_plan(catalog_pb::SetRentalPlanRequest {
            country_code: "US".into(),
            number_type: catalog_pb::NumberType::Voip as i32,
            service_code: String::new(),
            duration: catalog_pb::RentalDuration::SevenDays as i32,
            price: usd(300),
            original_price: None,
        })
        .await
        .unwrap();
    let mut rentals =
        RentalsServiceClient::with_interceptor(channel.clone(), BearerKey(key.clone()));
    let rented = rentals
        .create_rental(rentals_pb::CreateRentalRequest {
            country_code: "US".into(),
            duration: catalog_pb::RentalDuration::SevenDays as i32,
            request_id: "rent-1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rented.charged.unwrap().minor_units, 300);
    assert_eq!(rented.balance_after.unwrap().minor_units, 655);
    let rental = rented.rental.unwrap();
    assert_eq!(rental.phone_number, "+14035550001");
    let mut messages = orders
        .watch_messages(pb::WatchMessagesRequest::default())
        .await
        .unwrap()
        .into_inner();
    let first = messages.next().await.unwrap().unwrap();
    assert_eq!(first.message.unwrap().activation_id, bought.id);
    inbound
        .deliver(inbound_pb::DeliverRequest {
            upstream: "simbank-1".into(),
            upstream_message_id: "sim-2".into(),
            to: rental.phone_number.clone(),
            sender: "Telegram".into(),
            body: "Telegram code: 55555".into(),
            receive_time: Some(prost_types::Timestamp::from(std::time::SystemTime::now())),
        })
        .await
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), messages.next())
        .await
        .expect("the rental's message arrives on the stream")
        .unwrap()
        .unwrap();
    let message = event.message.unwrap();
    assert_eq!(
        (message.rental_id.as_str(), message.code.as_str()),
        (rental.id.as_str(), "55555")
    );

    // A restart on the same data directory keeps everything.
    drop(stream);
    drop(process);
    let (_process, channel) = start(data.path(), port, &admin).await;
    let mut orders = OrdersServiceClient::with_interceptor(channel, BearerKey(key));
    let after = orders
        .get_activation(pb::GetActivationRequest { id: bought.id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.status, pb::ActivationStatus::Finished as i32);
    assert_eq!(after.code, "123456");
    assert_eq!(after.messages.len(), 1);
}

/// The newcomer's run: numhubd with no configuration at all prints a demo
/// customer's key; buying a number with it brings a simulated SMS with a
/// code on the stream within seconds, and a second start prints nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_start_is_a_demo_with_a_simulated_sim_bank() {
    demo_run(None).await;
}

/// The same on PostgreSQL: one database, a schema per service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numhubd_runs_on_postgres_too() {
    use numhub_testkit::{Backend, TestDb, backend_available};
    if !backend_available(Backend::Postgres).await {
        return;
    }
    let db = TestDb::new(Backend::Postgres).await;
    demo_run(Some(&db.url)).await;
    let schemas: Vec<String> = sqlx::query_scalar(
        "SELECT schema_name::TEXT FROM information_schema.schemata \
         WHERE schema_name LIKE 'numhub_%' ORDER BY schema_name",
    )
    .fetch_all(db.db.reader())
    .await
    .unwrap();
    assert_eq!(
        schemas,
        [
            "numhub_accounts",
            "numhub_catalog",
            "numhub_inbound",
            "numhub_orders",
            "numhub_rentals",
            "numhub_wallet"
        ]
    );
}

async fn demo_run(database_url: Option<&str>) {
    use std::io::Read as _;
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let with_database = |command: &mut Command| {
        if let Some(url) = database_url {
            command.env("NUMHUB_DATABASE_URL", url);
        }
    };
    let mut command = numhubd(data.path(), port);
    with_database(&mut command);
    command
        .env("NUMHUB_SIMULATOR_MIN_DELAY", "100ms")
        .env("NUMHUB_SIMULATOR_MAX_DELAY", "300ms")
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start numhubd");
    let mut stderr = child.stderr.take().unwrap();
    let process = Numhubd(child);
    let channel = connect(port).await;
    // The keys are printed before the server answers; read what is there.
    let text = tokio::task::spawn_blocking(move || {
        let mut text = String::new();
        let mut buffer = [0u8; 4096];
        while !text.contains("demo customer's API key") || !text.contains("buy --service") {
            let n = stderr.read(&mut buffer).unwrap();
            if n == 0 {
                break;
            }
            text.push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
        text
    })
    .await
    .unwrap();
    let demo_key = text
        .split("demo customer's API key")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().find(|w| w.starts_with("nh_live_")))
        .expect("the demo key is printed")
        .to_owned();

    let mut orders =
        OrdersServiceClient::with_interceptor(channel.clone(), BearerKey(demo_key.clone()));
    let bought = orders
        .create_activation(pb::CreateActivationRequest {
            service_code: "wa".into(),
            country_code: "US".into(),
            request_id: "demo-buy-1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut stream = orders
        .watch_activation(pb::WatchActivationRequest {
            id: bought.id.clone(),
            after: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let code = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(event) = stream.next().await {
            if let Some(pb::activation_event::Event::Message(m)) = event.unwrap().event {
                return m.code;
            }
        }
        String::new()
    })
    .await
    .expect("the simulated SMS arrives");
    assert_eq!(code.len(), 6, "{code}");
    let mut wallet = WalletServiceClient::with_interceptor(channel, BearerKey(demo_key));
    let balance = wallet
        .get_balance(wallet_pb::GetBalanceRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        balance.available.unwrap().minor_units,
        numhubd::demo::OPENING_BALANCE - 45
    );

    // A second start keeps the demo and prints no new key.
    drop(stream);
    drop(process);
    let mut again = numhubd(data.path(), port);
    with_database(&mut again);
    let mut child = again.stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let process = Numhubd(child);
    connect(port).await;
    drop(process);
    let mut text = String::new();
    stderr.read_to_string(&mut text).unwrap();
    assert!(!text.contains("API key"), "{text}");
}
