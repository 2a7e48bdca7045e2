//! The `numhub` commands against a real numhub: each test starts numhubd in
//! process on 127.0.0.1:0 in a fresh data directory, sets up a customer
//! (account, key, money) and a number to sell through the admin RPCs, and
//! runs the CLI through its library entry point, capturing what it writes
//! to standard output and standard error.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use clap::Parser as _;
use numhub_auth::{Environment, api_key};
use numhub_proto::accounts::v1 as accounts_pb;
use numhub_proto::accounts::v1::accounts_admin_service_client::AccountsAdminServiceClient;
use numhub_proto::catalog::v1 as catalog_pb;
use numhub_proto::catalog::v1::catalog_admin_service_client::CatalogAdminServiceClient;
use numhub_proto::common::v1::{Money, Scope};
use numhub_proto::inbound::v1 as inbound_pb;
use numhub_proto::inbound::v1::inbound_internal_service_client::InboundInternalServiceClient;
use numhub_proto::orders::v1 as orders_pb;
use numhub_proto::orders::v1::orders_internal_service_client::OrdersInternalServiceClient;
use numhub_proto::orders::v1::orders_service_client::OrdersServiceClient;
use numhub_proto::wallet::v1 as wallet_pb;
use numhub_proto::wallet::v1::wallet_admin_service_client::WalletAdminServiceClient;
use serde_json::Value;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::transport::Channel;

const CREDENTIAL: &str = "numhub-cli-test-service-credential-0123456789";
const PRICE: i64 = 45;

/// `authorization: Bearer <secret>` on every call.
#[derive(Clone)]
struct Bearer(String);

impl Interceptor for Bearer {
    fn call(&mut self, mut r: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let value = MetadataValue::try_from(format!("Bearer {}", self.0)).unwrap();
        r.metadata_mut().insert("authorization", value);
        Ok(r)
    }
}

/// What one run of the CLI did.
#[derive(Debug)]
struct Output {
    code: u8,
    stdout: String,
    stderr: String,
}

impl Output {
    /// Each line of standard output as a JSON object.
    fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?} in {self:?}"))
            })
            .collect()
    }

    fn json(&self) -> Value {
        let mut lines = self.json_lines();
        assert_eq!(lines.len(), 1, "{self:?}");
        lines.remove(0)
    }

    #[track_caller]
    fn ok(self) -> Self {
        assert_eq!(self.code, 0, "{self:?}");
        self
    }

    /// Asserts a failure: exit code `code`, nothing on standard output, and
    /// exactly one line on standard error, which it returns.
    #[track_caller]
    fn failed(&self, code: u8) -> &str {
        assert_eq!(self.code, code, "{self:?}");
        assert_eq!(self.stdout, "", "{self:?}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one error line: {self:?}");
        assert!(lines[0].starts_with("numhub: "), "{self:?}");
        lines[0]
    }
}

/// Runs `numhub <args>` in process.
async fn run_cli(args: Vec<String>) -> Output {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut console = numhub_cli::Console {
        out: &mut out,
        err: &mut err,
        err_is_terminal: false,
    };
    let code = numhub_cli::run(
        std::iter::once("numhub".to_owned()).chain(args),
        &mut console,
    )
    .await;
    Output {
        code,
        stdout: String::from_utf8(out).unwrap(),
        stderr: String::from_utf8(err).unwrap(),
    }
}

/// What a command still running has written so far, shared with it.
#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedBuf {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// A command running in the background (one that follows a stream), whose
/// output can be read while it runs.
struct Running {
    out: SharedBuf,
    err: SharedBuf,
    task: tokio::task::JoinHandle<u8>,
}

impl Running {
    /// Waits until standard output has `count` lines matching `wanted`,
    /// while the command is still running; returns standard output.
    async fn wait_for_lines(&self, wanted: &str, count: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = self.out.text();
            if out.lines().filter(|l| l.contains(wanted)).count() >= count {
                assert!(!self.task.is_finished(), "the command ended: {out}");
                return out;
            }
            assert!(
                !self.task.is_finished(),
                "the command ended without {wanted:?}: {out} {}",
                self.err.text()
            );
            assert!(
                Instant::now() < deadline,
                "no {wanted:?} within 20s: {out} {}",
                self.err.text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the command to end by itself.
    async fn finished(self) -> Output {
        let code = tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("the command ends")
            .unwrap();
        Output {
            code,
            stdout: self.out.text(),
            stderr: self.err.text(),
        }
    }

    /// Stops the command, as Ctrl-C would; returns its standard output.
    fn interrupt(self) -> String {
        self.task.abort();
        self.out.text()
    }
}

/// The value of a `label  value` line of a command's human output.
fn field<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (first, rest) = line.split_once(' ')?;
        (first == label).then(|| rest.trim())
    })
}

fn usd(minor_units: i64) -> Option<Money> {
    Some(Money {
        currency_code: "USD".into(),
        minor_units,
    })
}

/// numhubd in process, with its operator's admin key.
struct Numhub {
    server: Option<numhubd::Numhubd>,
    addr: String,
    channel: Channel,
    admin: String,
    numbers: u32,
    _data: tempfile::TempDir,
}

/// A customer: its account and an API key with read and write scopes.
#[derive(Clone)]
struct Customer {
    key: String,
    addr: String,
}

impl Numhub {
    /// numhubd on a free port, with a price for `wa` in the US and `numbers`
    /// numbers to sell.
    async fn start(numbers: u32) -> Self {
        let data = tempfile::tempdir().unwrap();
        let admin = api_key::generate(Environment::Live).secret;
        let mut config = numhubd::Config::try_parse_from([
            "numhubd",
            "--listen-addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "off",
            "--gateway-http-addr",
            "127.0.0.1:0",
            "--data-dir",
            data.path().to_str().unwrap(),
            "--admin-key",
            &admin,
            "--service-credential",
            CREDENTIAL,
            "--demo",
            "false",
            "--simulator",
            "false",
        ])
        .unwrap();
        config.common.database.database_url = None;
        let server = numhubd::start(config).await.unwrap();
        let addr = format!("http://{}", server.local_addr());
        let channel = Channel::from_shared(addr.clone())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut numhub = Self {
            server: Some(server),
            addr,
            channel,
            admin,
            numbers: 0,
            _data: data,
        };
        numhub.add_numbers(numbers).await;
        CatalogAdminServiceClient::with_interceptor(numhub.channel.clone(), numhub.as_admin())
            .set_activation_price(catalog_pb::SetActivationPriceRequest {
                service_code: "wa".into(),
                country_code: "US".into(),
                operator: String::new(),
                price: usd(PRICE),
            })
            .await
            .unwrap();
        numhub
    }

    fn as_admin(&self) -> Bearer {
        Bearer(self.admin.clone())
    }

    async fn add_numbers(&mut self, count: u32) {
        let numbers = (0..count)
            .map(|i| catalog_pb::NumberImport {
                phone_number: format!("+1403555{:04}", self.numbers + i),
                country_code: "US".into(),
                operator: String::new(),
                number_type: catalog_pb::NumberType::Voip as i32,
                source: "test".into(),
            })
            .collect();
        self.numbers += count;
        let imported =
            CatalogAdminServiceClient::with_interceptor(self.channel.clone(), self.as_admin())
                .import_numbers(catalog_pb::ImportNumbersRequest { numbers })
                .await
                .unwrap()
                .into_inner();
        assert!(imported.rejected.is_empty(), "{imported:?}");
    }

    /// A new customer with `balance` minor units of USD.
    async fn customer(&self, name: &str, balance: i64) -> Customer {
        let mut accounts =
            AccountsAdminServiceClient::with_interceptor(self.channel.clone(), self.as_admin());
        let account = accounts
            .create_account(accounts_pb::CreateAccountRequest {
                display_name: name.into(),
                // Tests make more calls a minute than the default quota.
                rate_limits: Some(accounts_pb::RateLimits {
                    requests_per_minute: 100_000,
                    money_requests_per_minute: 100_000,
                }),
                request_id: format!("account-{name}"),
            })
            .await
            .unwrap()
            .into_inner()
            .id;
        let key = accounts
            .create_account_api_key(accounts_pb::CreateAccountApiKeyRequest {
                account_id: account.clone(),
                name: format!("{name} key"),
                scopes: vec![Scope::Read as i32, Scope::Write as i32],
            })
            .await
            .unwrap()
            .into_inner()
            .secret;
        if balance > 0 {
            WalletAdminServiceClient::with_interceptor(self.channel.clone(), self.as_admin())
                .credit(wallet_pb::CreditRequest {
                    account_id: account,
                    amount: usd(balance),
                    request_id: format!("top-up-{name}"),
                    reason: "top-up".into(),
                })
                .await
                .unwrap();
        }
        Customer {
            key,
            addr: self.addr.clone(),
        }
    }

    /// Sells rental plans of a US VoIP number for every service: (package,
    /// price in cents).
    async fn rental_plans(&self, plans: &[(catalog_pb::RentalDuration, i64)]) {
        let mut catalog =
            CatalogAdminServiceClient::with_interceptor(self.channel.clone(), self.as_admin());
        for (duration, price) in plans {
            catalog
                .set_rental_plan(catalog_pb::SetRentalPlanRequest {
                    country_code: "US".into(),
                    number_type: catalog_pb::NumberType::Voip as i32,
                    service_code: String::new(),
                    duration: *duration as i32,
                    price: usd(*price),
                    original_price: None,
                })
                .await
                .unwrap();
        }
    }

    /// An SMS reaching `to` through numhub's front door, as a gateway hands
    /// it over: inbound stores it and routes it to whoever holds the number.
    async fn sms(&self, to: &str, upstream_id: &str, body: &str) {
        InboundInternalServiceClient::with_interceptor(
            self.channel.clone(),
            Bearer(CREDENTIAL.into()),
        )
        .deliver(inbound_pb::DeliverRequest {
            upstream: "cli-test".into(),
            upstream_message_id: upstream_id.into(),
            to: to.into(),
            sender: "WhatsApp".into(),
            body: body.into(),
            receive_time: Some(SystemTime::now().into()),
        })
        .await
        .unwrap();
    }

    /// Delivers an SMS to an activation, as inbound will.
    async fn deliver(&self, activation_id: &str, inbound_id: &str, body: &str) {
        OrdersInternalServiceClient::with_interceptor(
            self.channel.clone(),
            Bearer(CREDENTIAL.into()),
        )
        .deliver_message(orders_pb::DeliverMessageRequest {
            activation_id: activation_id.into(),
            inbound_message_id: inbound_id.into(),
            sender: "WhatsApp".into(),
            body: body.into(),
            receive_time: Some(SystemTime::now().into()),
        })
        .await
        .unwrap();
    }

    async fn stop(mut self) {
        self.server.take().unwrap().shutdown().await.unwrap();
    }
}

impl Customer {
    /// Runs `numhub --addr <numhubd> --key <key> <args>`.
    async fn run(&self, args: &[&str]) -> Output {
        let mut all = vec![
            "--addr".to_owned(),
            self.addr.clone(),
            "--key".to_owned(),
            self.key.clone(),
        ];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        run_cli(all).await
    }

    fn orders(
        &self,
        channel: &Channel,
    ) -> OrdersServiceClient<tonic::service::interceptor::InterceptedService<Channel, Bearer>> {
        OrdersServiceClient::with_interceptor(channel.clone(), Bearer(self.key.clone()))
    }

    /// The customer's newest activation, once there is one.
    async fn newest_activation(&self, channel: &Channel) -> orders_pb::Activation {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let list = self
                .orders(channel)
                .list_activations(orders_pb::ListActivationsRequest::default())
                .await
                .unwrap()
                .into_inner();
            if let Some(a) = list.activations.into_iter().next()
                && a.status == orders_pb::ActivationStatus::Waiting as i32
            {
                return a;
            }
            assert!(Instant::now() < deadline, "no activation appeared");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Runs `numhub <args>` in the background.
    fn spawn(&self, args: &[&str]) -> Running {
        let mut all = vec![
            "numhub".to_owned(),
            "--addr".to_owned(),
            self.addr.clone(),
            "--key".to_owned(),
            self.key.clone(),
        ];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        let (out, err) = (SharedBuf::default(), SharedBuf::default());
        let task = tokio::spawn({
            let (mut out, mut err) = (out.clone(), err.clone());
            async move {
                let mut console = numhub_cli::Console {
                    out: &mut out,
                    err: &mut err,
                    err_is_terminal: false,
                };
                numhub_cli::run(all, &mut console).await
            }
        });
        Running { out, err, task }
    }

    /// The messages `numhub inbox <target> --json` shows, once there are
    /// `count` (routing an SMS takes a moment).
    async fn inbox(&self, target: &str, count: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let messages = self
                .run(&["inbox", target, "--json"])
                .await
                .ok()
                .json_lines();
            if messages.len() >= count {
                return messages;
            }
            assert!(Instant::now() < deadline, "{messages:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The customer's rentals, newest first.
    async fn rentals(&self, args: &[&str]) -> Vec<Value> {
        let mut all = vec!["rentals", "--json"];
        all.extend_from_slice(args);
        self.run(&all).await.ok().json_lines()
    }

    async fn balance(&self) -> i64 {
        let balance = self.run(&["balance", "--json"]).await.ok().json();
        assert_eq!(balance["available"]["currency"], "USD");
        balance["available"]["minor_units"].as_i64().unwrap()
    }

    async fn buy(&self) -> Value {
        self.run(&["buy", "--service", "wa", "--country", "US", "--json"])
            .await
            .ok()
            .json()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buy_wait_prints_the_code_alone_when_the_sms_arrives() {
    let numhub = Numhub::start(2).await;
    let customer = numhub.customer("wait", 1000).await;

    let waiting = tokio::spawn({
        let customer = customer.clone();
        async move {
            customer
                .run(&[
                    "buy",
                    "--service",
                    "wa",
                    "--country",
                    "us",
                    "--wait",
                    "--timeout",
                    "60s",
                ])
                .await
        }
    });
    let activation = customer.newest_activation(&numhub.channel).await;
    // The SMS arrives while the CLI waits on its stream.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "the CLI stopped waiting too soon");
    numhub
        .deliver(&activation.id, "sim-1", "Your WhatsApp code is 123-456")
        .await;
    let output = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("the CLI prints the code")
        .unwrap()
        .ok();
    assert_eq!(output.stdout, "123456\n");
    // The number goes to standard error for the person; no spinner when it
    // is not a terminal.
    assert!(
        output.stderr.contains(&activation.phone_number),
        "{output:?}"
    );
    assert!(output.stderr.contains("USD 0.45"), "{output:?}");
    assert!(!output.stderr.contains('\r'), "{output:?}");
    assert_eq!(customer.balance().await, 1000 - PRICE);

    // --json: the activation first (a script needs its number), then the
    // message with its code.
    let waiting = tokio::spawn({
        let customer = customer.clone();
        async move {
            customer
                .run(&[
                    "buy",
                    "--service",
                    "wa",
                    "--country",
                    "US",
                    "--wait",
                    "--json",
                ])
                .await
        }
    });
    let second = loop {
        let a = customer.newest_activation(&numhub.channel).await;
        if a.id != activation.id {
            break a;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    numhub
        .deliver(&second.id, "sim-2", "<#> 654321 is your WhatsApp code")
        .await;
    let output = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .unwrap()
        .unwrap()
        .ok();
    let lines = output.json_lines();
    assert_eq!(lines.len(), 2, "{output:?}");
    assert_eq!(lines[0]["id"], second.id.as_str());
    assert_eq!(lines[0]["phone_number"], second.phone_number.as_str());
    assert_eq!(lines[1]["type"], "message");
    assert_eq!(lines[1]["code"], "654321");
    assert_eq!(lines[1]["message"]["activation_id"], second.id.as_str());
    assert!(!lines[1]["cursor"].as_str().unwrap().is_empty());
    numhub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buy_wait_fails_in_one_line_when_no_code_comes() {
    let numhub = Numhub::start(2).await;
    let customer = numhub.customer("nocode", 1000).await;

    // The activation ends (here: cancelled from elsewhere) without a code.
    let waiting = tokio::spawn({
        let customer = customer.clone();
        async move {
            customer
                .run(&["buy", "--service", "wa", "--country", "US", "--wait"])
                .await
        }
    });
    let activation = customer.newest_activation(&numhub.channel).await;
    customer.run(&["cancel", &activation.id]).await.ok();
    let output = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(output.code, 1, "{output:?}");
    assert_eq!(output.stdout, "");
    let error = output.stderr.lines().last().unwrap();
    assert_eq!(
        error,
        format!(
            "numhub: activation {} ended CANCELLED without a code; USD 0.45 refunded",
            activation.id
        )
    );

    // The time runs out.
    let output = customer
        .run(&[
            "buy",
            "--service",
            "wa",
            "--country",
            "US",
            "--wait",
            "--timeout",
            "1s",
        ])
        .await;
    assert_eq!(output.code, 1, "{output:?}");
    assert_eq!(output.stdout, "");
    let error = output.stderr.lines().last().unwrap();
    assert!(
        error.starts_with("numhub: no code within 1s for activation "),
        "{output:?}"
    );
    assert!(error.contains("(still WAITING)"), "{output:?}");
    numhub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_parses_and_has_its_fields() {
    let numhub = Numhub::start(2).await;
    let customer = numhub.customer("json", 1000).await;

    let balance = customer.run(&["balance", "--json"]).await.ok().json();
    assert_eq!(
        balance["available"],
        serde_json::json!({"minor_units": 1000, "currency": "USD"})
    );
    assert!(
        balance["account_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );

    let services = customer
        .run(&["services", "--json"])
        .await
        .ok()
        .json_lines();
    let wa = services.iter().find(|s| s["code"] == "wa").expect("wa");
    assert_eq!(wa["name"], "WhatsApp");

    let countries = customer
        .run(&["countries", "--service", "wa", "--json"])
        .await
        .ok()
        .json_lines();
    assert_eq!(countries.len(), 1, "{countries:?}");
    assert_eq!(countries[0]["code"], "US");
    assert_eq!(countries[0]["dial_prefix"], "+1");
    assert_eq!(countries[0]["price"]["minor_units"], PRICE);
    assert_eq!(countries[0]["price"]["currency"], "USD");
    assert!(countries[0]["stock"].is_i64());

    let prices = customer
        .run(&["prices", "--country", "US", "--json"])
        .await
        .ok()
        .json_lines();
    assert_eq!(prices.len(), 1, "{prices:?}");
    assert_eq!(prices[0]["service"], "wa");
    assert_eq!(prices[0]["price"]["minor_units"], PRICE);

    let bought = customer
        .run(&[
            "buy",
            "--service",
            "wa",
            "--country",
            "US",
            "--max-price",
            "50",
            "--request-id",
            "json-buy-1",
            "--json",
        ])
        .await
        .ok()
        .json();
    assert!(bought["id"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(
        bought["phone_number"]
            .as_str()
            .unwrap()
            .starts_with("+1403555")
    );
    assert_eq!(
        bought["price"],
        serde_json::json!({"minor_units": PRICE, "currency": "USD"})
    );
    assert_eq!(bought["status"], "WAITING");
    assert_eq!(bought["service"], "wa");
    assert_eq!(bought["country"], "US");
    let expires = humantime::parse_rfc3339(bought["expire_time"].as_str().unwrap()).unwrap();
    assert!(expires > SystemTime::now());
    humantime::parse_rfc3339(bought["create_time"].as_str().unwrap()).unwrap();
    assert!(bought["end_time"].is_null());

    // The same request id again is the same purchase, charged once.
    let again = customer
        .run(&[
            "buy",
            "--service",
            "wa",
            "--country",
            "US",
            "--max-price",
            "50",
            "--request-id",
            "json-buy-1",
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(again["id"], bought["id"]);
    assert_eq!(customer.balance().await, 1000 - PRICE);

    // A message, then `get` with it.
    let id = bought["id"].as_str().unwrap();
    numhub
        .deliver(id, "sim-json", "Your WhatsApp code is 777-888")
        .await;
    let got = customer.run(&["get", id, "--json"]).await.ok().json();
    assert_eq!(got["status"], "RECEIVED");
    assert_eq!(got["code"], "777888");
    assert_eq!(got["messages"][0]["code"], "777888");
    assert_eq!(got["messages"][0]["sender"], "WhatsApp");
    humantime::parse_rfc3339(got["messages"][0]["receive_time"].as_str().unwrap()).unwrap();

    // Human output of the same: aligned, money as a decimal.
    let text = customer.run(&["get", id]).await.ok().stdout;
    assert_eq!(field(&text, "price"), Some("USD 0.45"), "{text}");
    assert_eq!(field(&text, "code"), Some("777888"), "{text}");
    assert!(text.contains("Your WhatsApp code is 777-888"), "{text}");
    assert_eq!(customer.run(&["balance"]).await.ok().stdout, "USD 9.55\n");
    let countries = customer
        .run(&["countries", "--service", "wa"])
        .await
        .ok()
        .stdout;
    let mut lines = countries.lines();
    assert!(
        lines.next().unwrap().starts_with("CODE  NAME"),
        "{countries}"
    );
    let us = lines.next().unwrap();
    assert!(us.starts_with("US    United States"), "{countries}");
    assert!(us.contains("USD 0.45"), "{countries}");
    numhub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_one_line_with_an_exit_code() {
    let numhub = Numhub::start(1).await;
    let customer = numhub.customer("errors", 1000).await;

    // A bad key.
    let bad = Customer {
        key: "nh_live_notakeyatall".into(),
        addr: numhub.addr.clone(),
    };
    let output = bad.run(&["balance"]).await;
    let line = output.failed(1);
    assert!(line.starts_with("numhub: INVALID_API_KEY: "), "{line}");
    assert!(line.contains("NUMHUB_API_KEY"), "{line}");
    assert!(!output.stderr.contains("notakeyatall"), "{output:?}");

    // No key at all: a usage error, and no call made.
    let output = run_cli(vec![
        "--addr".into(),
        numhub.addr.clone(),
        "--key=".into(),
        "balance".into(),
    ])
    .await;
    let line = output.failed(2);
    assert!(line.contains("no API key"), "{line}");

    // Nobody at the address.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nobody = Customer {
        key: customer.key.clone(),
        addr: format!("127.0.0.1:{port}"),
    };
    let output = nobody.run(&["balance"]).await;
    let line = output.failed(1);
    assert!(
        line.starts_with(&format!(
            "numhub: cannot reach numhub at http://127.0.0.1:{port}: "
        )),
        "{line}"
    );

    // Usage errors are clap's, with its exit code.
    let output = customer.run(&["frobnicate"]).await;
    assert_eq!(output.code, 2, "{output:?}");
    assert_eq!(output.stdout, "");
    assert!(output.stderr.contains("frobnicate"), "{output:?}");
    let output = customer.run(&["buy", "--service", "wa"]).await;
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains("--country"), "{output:?}");
    let output = customer
        .run(&[
            "buy",
            "--service",
            "wa",
            "--country",
            "US",
            "--max-price",
            "0.5",
        ])
        .await;
    assert_eq!(output.code, 2, "{output:?}");

    // Fields the server refuses are named, with their flags.
    let output = customer
        .run(&["buy", "--service", "wa", "--country", "USA"])
        .await;
    let line = output.failed(1);
    assert!(
        line.starts_with("numhub: INVALID_FIELD: country_code (--country): "),
        "{line}"
    );

    // Unknown ids.
    let output = customer
        .run(&["get", "01900000-0000-7000-8000-000000000000"])
        .await;
    let line = output.failed(1);
    assert!(line.starts_with("numhub: RESOURCE_NOT_FOUND: "), "{line}");

    // A key without the write scope cannot buy.
    let reader = customer
        .run(&[
            "keys", "create", "--name", "reader", "--scope", "read", "--json",
        ])
        .await
        .ok()
        .json();
    let reader = Customer {
        key: reader["secret"].as_str().unwrap().to_owned(),
        addr: numhub.addr.clone(),
    };
    let output = reader
        .run(&["buy", "--service", "wa", "--country", "US"])
        .await;
    let line = output.failed(1);
    assert!(line.starts_with("numhub: MISSING_SCOPE: "), "{line}");
    numhub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insufficient_balance_is_reported_with_its_reason() {
    let numhub = Numhub::start(1).await;
    let poor = numhub.customer("poor", 10).await;
    let output = poor
        .run(&["buy", "--service", "wa", "--country", "US"])
        .await;
    let line = output.failed(1);
    assert_eq!(
        line,
        "numhub: INSUFFICIENT_BALANCE: the balance of 10 minor units is less than 45"
    );
    // Nothing was charged.
    assert_eq!(poor.balance().await, 10);
    numhub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_refunds_the_price() {
    let numhub = Numhub::start(1).await;
    let customer = numhub.customer("cancel", 1000).await;
    let bought = customer.buy().await;
    assert_eq!(customer.balance().await, 1000 - PRICE);

    let id = bought["id"].as_str().unwrap();
    let output = customer.run(&["cancel", id]).await.ok();
    assert_eq!(
        field(&output.stdout, "status"),
        Some("CANCELLED"),
        "{output:?}"
    );
    assert_eq!(
        field(&output.stdout, "refunded"),
        Some("USD 0.45"),
        "{output:?}"
    );
    // The refund follows the cancel within moments.
    let deadline = Instant::now() + Duration::from_secs(20);
    while customer.balance().await != 1000 {
        assert!(Instant::now() < deadline, "the price was not refunded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Cancelling again changes nothing.
    let again = customer.run(&["cancel", id, "--json"]).await.ok().json();
    assert_eq!(again["status"], "CANCELLED");
    assert_eq!(again["refunded"]["minor_units"], PRICE);
    assert_eq!(customer.balance().await, 1000);
    numhub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_lists_newest_first() {
    let numhub = Numhub::start(3).await;
    let customer = numhub.customer("history", 1000).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(customer.buy().await["id"].as_str().unwrap().to_owned());
    }
    customer.run(&["cancel", &ids[1]]).await.ok();

    let listed: Vec<String> = customer
        .run(&["history", "--json"])
        .await
        .ok()
        .json_lines()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(listed, newest_first);

    // A limit below the page size, then one that follows the pages.
    let two = customer
        .run(&["history", "--limit", "2", "--json"])
        .await
        .ok()
        .json_lines();
    assert_eq!(two.len(), 2);
    assert_eq!(two[0]["id"], ids[2].as_str());

    let cancelled = customer
        .run(&["history", "--status", "cancelled", "--json"])
        .await
        .ok()
        .json_lines();
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0]["id"], ids[1].as_str());
    let open = customer
        .run(&["history", "--status", "waiting,received", "--json"])
        .await
        .ok()
        .json_lines();
    assert_eq!(open.len(), 2);

    // The table: a header, then the newest first.
    let text = customer.run(&["history"]).await.ok().stdout;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("ID "), "{text}");
    assert!(lines[1].starts_with(&ids[2]), "{text}");
    assert!(lines[2].contains("CANCELLED"), "{text}");
    assert!(lines[3].starts_with(&ids[0]), "{text}");
    numhub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_created_listed_and_revoked() {
    let numhub = Numhub::start(1).await;
    let customer = numhub.customer("keys", 1000).await;

    let created = customer
        .run(&["keys", "create", "--name", "ci", "--json"])
        .await
        .ok()
        .json();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("nh_live_"), "{created}");
    assert_eq!(created["name"], "ci");
    assert_eq!(created["scopes"], serde_json::json!(["read", "write"]));
    assert_eq!(created["state"], "ACTIVE");
    let key_id = created["id"].as_str().unwrap().to_owned();

    // The new key works.
    let ci = Customer {
        key: secret.clone(),
        addr: numhub.addr.clone(),
    };
    assert_eq!(ci.balance().await, 1000);

    let listed = customer
        .run(&["keys", "list", "--json"])
        .await
        .ok()
        .json_lines();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0]["id"], key_id.as_str(), "newest first");
    assert!(listed.iter().all(|k| k.get("secret").is_none()));
    let text = customer.run(&["keys", "list"]).await.ok().stdout;
    assert!(!text.contains(&secret), "{text}");
    assert!(text.contains("read,write"), "{text}");

    // Human output shows the secret once and says so on standard error.
    let output = customer
        .run(&["keys", "create", "--name", "laptop", "--scope", "read"])
        .await
        .ok();
    assert!(
        field(&output.stdout, "secret").is_some_and(|s| s.starts_with("nh_live_")),
        "{output:?}"
    );
    assert_eq!(field(&output.stdout, "scopes"), Some("read"), "{output:?}");
    assert!(output.stderr.contains("only this once"), "{output:?}");

    let revoked = customer
        .run(&["keys", "revoke", &key_id, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(revoked["state"], "REVOKED");
    assert!(revoked["revoke_time"].is_string());
    let active = customer
        .run(&["keys", "list", "--json"])
        .await
        .ok()
        .json_lines();
    assert!(active.iter().all(|k| k["id"] != key_id.as_str()));
    let all = customer
        .run(&["keys", "list", "--all", "--json"])
        .await
        .ok()
        .json_lines();
    let revoked = all.iter().find(|k| k["id"] == key_id.as_str()).unwrap();
    assert_eq!(revoked["state"], "REVOKED");
    numhub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_prints_each_event_and_resumes_after_a_cursor() {
    let numhub = Numhub::start(1).await;
    let customer = numhub.customer("watch", 1000).await;
    let bought = customer.buy().await;
    let id = bought["id"].as_str().unwrap();
    numhub
        .deliver(id, "sim-watch", "Your WhatsApp code is 123-456")
        .await;
    customer.run(&["complete", id]).await.ok();

    // The whole history of an ended activation, then the stream ends.
    let events = customer
        .run(&["watch", id, "--json"])
        .await
        .ok()
        .json_lines();
    assert!(events.len() >= 3, "{events:?}");
    assert!(
        events
            .iter()
            .all(|e| e["cursor"].as_str().is_some_and(|c| !c.is_empty()))
    );
    assert_eq!(events[0]["type"], "status");
    assert_eq!(events[0]["status"], "WAITING");
    let messages: Vec<&Value> = events.iter().filter(|e| e["type"] == "message").collect();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["code"], "123456");
    assert_eq!(
        messages[0]["message"]["body"],
        "Your WhatsApp code is 123-456"
    );
    let last = events.last().unwrap();
    assert_eq!(last["status"], "FINISHED");

    // Resuming after the first event gives the rest, exactly once.
    let cursor = events[0]["cursor"].as_str().unwrap();
    let rest = customer
        .run(&["watch", id, "--after", cursor, "--json"])
        .await
        .ok()
        .json_lines();
    assert_eq!(rest, events[1..]);

    // People get one line per event.
    let text = customer.run(&["watch", id]).await.ok().stdout;
    assert_eq!(text.lines().count(), events.len(), "{text}");
    assert!(text.contains("message  "), "{text}");
    assert!(text.lines().last().unwrap().contains("FINISHED"), "{text}");

    // Every message of the account; --limit stops the endless stream.
    let all = customer
        .run(&["watch", "--limit", "1", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(all["code"], "123456");
    assert_eq!(all["message"]["activation_id"], id);

    // A cursor numhub did not issue is refused, naming --after.
    let output = customer.run(&["watch", id, "--after", "garbage"]).await;
    let line = output.failed(1);
    assert!(line.contains("after (--after)"), "{line}");
    numhub.stop().await;
}

/// The prices of the rental tests, in cents.
const WEEK: i64 = 200;
const MONTH: i64 = 499;
const QUARTER: i64 = 1_299;

async fn with_rental_plans(numbers: u32) -> Numhub {
    use catalog_pb::RentalDuration as D;
    let numhub = Numhub::start(numbers).await;
    numhub
        .rental_plans(&[
            (D::SevenDays, WEEK),
            (D::OneMonth, MONTH),
            (D::ThreeMonths, QUARTER),
        ])
        .await;
    numhub
}

fn time(value: &Value) -> SystemTime {
    humantime::parse_rfc3339(value.as_str().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rental_is_rented_listed_shown_read_renewed_and_cancelled() {
    let numhub = with_rental_plans(2).await;
    let customer = numhub.customer("renter", 5_000).await;

    // A month, renewed automatically: the defaults.
    let rented = customer
        .run(&["rent", "--country", "us", "--json"])
        .await
        .ok()
        .json();
    let id = rented["id"].as_str().unwrap().to_owned();
    let number = rented["phone_number"].as_str().unwrap().to_owned();
    assert!(number.starts_with("+1403555"), "{rented}");
    assert_eq!(rented["status"], "ACTIVE");
    assert_eq!(rented["country"], "US");
    assert_eq!(rented["number_type"], "VOIP");
    assert_eq!(rented["duration"], "ONE_MONTH");
    assert_eq!(rented["auto_renew"], true);
    assert_eq!(
        rented["charged"],
        serde_json::json!({"minor_units": MONTH, "currency": "USD"})
    );
    assert_eq!(rented["balance_after"]["minor_units"], 5_000 - MONTH);
    let expires = time(&rented["expire_time"]);
    let month = Duration::from_secs(28 * 24 * 3600);
    assert!(expires > SystemTime::now() + month, "{rented}");

    // A week without auto-renew, for people: the number, the expiry, what
    // was charged and the balance after.
    let output = customer
        .run(&[
            "rent",
            "--country",
            "US",
            "--duration",
            "7d",
            "--no-auto-renew",
        ])
        .await
        .ok();
    let text = &output.stdout;
    let week_id = field(text, "id").unwrap().to_owned();
    let week_number = field(text, "number").unwrap();
    assert!(week_number.starts_with("+1403555"), "{text}");
    assert_ne!(week_number, number);
    assert_eq!(field(text, "package"), Some("7 days"), "{text}");
    assert_eq!(field(text, "auto-renew"), Some("off"), "{text}");
    assert_eq!(field(text, "charged"), Some("USD 2.00"), "{text}");
    assert_eq!(field(text, "balance"), Some("USD 43.01"), "{text}");
    let week_expires = humantime::parse_rfc3339(field(text, "expires").unwrap()).unwrap();
    assert!(week_expires > SystemTime::now() + Duration::from_secs(6 * 24 * 3600));
    assert!(week_expires < SystemTime::now() + Duration::from_secs(8 * 24 * 3600));
    assert_eq!(customer.balance().await, 5_000 - MONTH - WEEK);

    // Listed newest first, in a table or as JSON.
    let listed: Vec<Value> = customer.rentals(&[]).await;
    let ids: Vec<&str> = listed.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [week_id.as_str(), id.as_str()]);
    assert_eq!(listed[1]["phone_number"], number.as_str());
    assert!(listed[1]["messages"].as_array().unwrap().is_empty());
    let table = customer.run(&["rentals"]).await.ok().stdout;
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("ID "), "{table}");
    for column in ["NUMBER", "COUNTRY", "STATUS", "EXPIRES", "AUTO-RENEW"] {
        assert!(lines[0].contains(column), "{table}");
    }
    assert!(lines[1].starts_with(&week_id), "{table}");
    assert!(lines[1].contains(week_number), "{table}");
    assert!(lines[1].contains("ACTIVE"), "{table}");
    assert!(lines[1].ends_with("off"), "{table}");
    assert!(lines[2].starts_with(&id), "{table}");
    assert!(lines[2].ends_with("on"), "{table}");
    let one = customer
        .rentals(&["--filter", "active", "--limit", "1"])
        .await;
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["id"], week_id.as_str());
    assert!(
        customer
            .rentals(&["--filter", "cancelled"])
            .await
            .is_empty()
    );
    assert_eq!(
        customer.rentals(&["--filter", "expiring-soon"]).await.len(),
        1
    );

    // One rental in full.
    let text = customer.run(&["rentals", "show", &id]).await.ok().stdout;
    assert_eq!(field(&text, "number"), Some(number.as_str()), "{text}");
    assert_eq!(field(&text, "status"), Some("ACTIVE"), "{text}");
    assert_eq!(field(&text, "package"), Some("1 month"), "{text}");
    assert_eq!(field(&text, "price"), Some("USD 4.99"), "{text}");
    assert_eq!(field(&text, "sms"), Some("0"), "{text}");

    // An SMS reaches the number through inbound, and shows in its inbox.
    assert_eq!(
        customer.run(&["inbox", &number]).await.ok().stderr,
        format!("no SMS on {number} yet\n")
    );
    numhub
        .sms(&number, "rent-sms-1", "Your WhatsApp code is 123-456")
        .await;
    let inbox = customer.inbox(&number, 1).await;
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0]["rental_id"], id.as_str());
    assert_eq!(inbox[0]["phone_number"], number.as_str());
    assert_eq!(inbox[0]["sender"], "WhatsApp");
    assert_eq!(inbox[0]["code"], "123456");
    assert_eq!(inbox[0]["body"], "Your WhatsApp code is 123-456");
    time(&inbox[0]["receive_time"]);
    let text = customer.run(&["inbox", &number]).await.ok().stdout;
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("  123456     WhatsApp: Your WhatsApp code is 123-456"),
        "{text}"
    );
    // The same by the rental's id, and in its details.
    assert_eq!(customer.inbox(&id, 1).await, inbox);
    let shown = customer
        .run(&["rentals", "show", &id, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(shown["sms_count"], 1);
    assert_eq!(shown["messages"][0]["code"], "123456");
    let text = customer.run(&["rentals", "show", &id]).await.ok().stdout;
    assert!(text.contains("Your WhatsApp code is 123-456"), "{text}");
    // Nothing for the other number.
    assert!(customer.inbox(week_number, 0).await.is_empty());

    // A renewal adds its package to the expiry and charges its price.
    let renewed = customer
        .run(&["rentals", "renew", &id, "--duration", "3m", "--json"])
        .await
        .ok()
        .json();
    let renewed_expiry = time(&renewed["expire_time"]);
    assert!(
        renewed_expiry > expires + Duration::from_secs(88 * 24 * 3600),
        "{renewed}"
    );
    assert_eq!(renewed["charged"]["minor_units"], QUARTER);
    assert_eq!(
        renewed["balance_after"]["minor_units"],
        5_000 - MONTH - WEEK - QUARTER
    );
    assert_eq!(renewed["renewals"], 1);
    assert_eq!(renewed["renewal_duration"], "THREE_MONTHS");
    assert_eq!(renewed["total_charged"]["minor_units"], MONTH + QUARTER);
    // For people, the expiry the renewal moved to (to the second).
    let text = customer.run(&["rentals", "show", &id]).await.ok().stdout;
    let shown_expiry = humantime::parse_rfc3339(field(&text, "expires").unwrap()).unwrap();
    let gap = renewed_expiry.duration_since(shown_expiry).unwrap();
    assert!(gap < Duration::from_secs(1), "{text}");
    assert_eq!(field(&text, "renews-with"), Some("3 months"), "{text}");
    assert_eq!(field(&text, "total"), Some("USD 17.98"), "{text}");

    // Auto-renew off.
    let text = customer
        .run(&["rentals", "auto-renew", &id, "off"])
        .await
        .ok()
        .stdout;
    assert_eq!(field(&text, "auto-renew"), Some("off"), "{text}");
    let shown = customer
        .run(&["rentals", "show", &id, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(shown["auto_renew"], false);

    // Cancelled after an SMS: released, nothing refunded, and it says so.
    let output = customer.run(&["rentals", "cancel", &id]).await.ok();
    let text = &output.stdout;
    assert_eq!(field(text, "status"), Some("CANCELLED"), "{output:?}");
    assert_eq!(field(text, "refunded"), Some("USD 0.00"), "{output:?}");
    assert_eq!(field(text, "balance"), None, "{output:?}");
    assert!(output.stderr.contains("nothing was refunded"), "{output:?}");
    // Cancelled within the refund window and before any SMS: everything
    // charged comes back, with the balance after.
    let output = customer.run(&["rentals", "cancel", &week_id]).await.ok();
    let text = &output.stdout;
    assert_eq!(field(text, "status"), Some("CANCELLED"), "{output:?}");
    assert_eq!(field(text, "refunded"), Some("USD 2.00"), "{output:?}");
    assert_eq!(field(text, "balance"), Some("USD 32.02"), "{output:?}");
    assert_eq!(output.stderr, "", "{output:?}");
    assert_eq!(customer.balance().await, 5_000 - MONTH - QUARTER);
    // Cancelling again answers the same, as JSON too.
    let again = customer
        .run(&["rentals", "cancel", &week_id, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(again["refunded"]["minor_units"], WEEK);
    assert_eq!(customer.balance().await, 5_000 - MONTH - QUARTER);

    // Ended rentals: listed as such, and their inbox stays readable.
    assert_eq!(customer.rentals(&["--filter", "cancelled"]).await.len(), 2);
    assert!(customer.rentals(&["--filter", "active"]).await.is_empty());
    assert_eq!(customer.inbox(&number, 1).await, inbox);
    let line = customer
        .run(&["rentals", "auto-renew", &id, "on"])
        .await
        .failed(1)
        .to_owned();
    assert!(line.starts_with("numhub: RENTAL_ENDED: "), "{line}");
    let line = customer
        .run(&["rentals", "renew", &id])
        .await
        .failed(1)
        .to_owned();
    assert!(line.starts_with("numhub: NUMBER_EXPIRED: "), "{line}");
    assert_eq!(customer.balance().await, 5_000 - MONTH - QUARTER);
    numhub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rent_wait_prints_each_sms_as_it_arrives_until_the_rental_ends() {
    let numhub = with_rental_plans(2).await;
    let customer = numhub.customer("rent-wait", 5_000).await;

    let waiting = customer.spawn(&["rent", "--country", "US", "--wait", "--json"]);
    let rented = waiting.wait_for_lines("\"charged\"", 1).await;
    let rented: Value = serde_json::from_str(rented.lines().next().unwrap()).unwrap();
    let (id, number) = (
        rented["id"].as_str().unwrap(),
        rented["phone_number"].as_str().unwrap(),
    );
    assert_eq!(rented["status"], "ACTIVE");

    numhub
        .sms(number, "wait-1", "Your WhatsApp code is 111-222")
        .await;
    waiting.wait_for_lines("111-222", 1).await;
    numhub
        .sms(number, "wait-2", "<#> 333444 is your WhatsApp code")
        .await;
    waiting.wait_for_lines("333444", 1).await;

    // Cancelled elsewhere: the command says so and ends.
    customer.run(&["rentals", "cancel", id]).await.ok();
    let output = waiting.finished().await.ok();
    let lines = output.json_lines();
    assert_eq!(lines.len(), 3, "{output:?}");
    assert_eq!(lines[1]["code"], "111222");
    assert_eq!(lines[1]["sender"], "WhatsApp");
    assert_eq!(lines[1]["rental_id"], id);
    assert_eq!(lines[2]["code"], "333444");
    assert_eq!(lines[2]["body"], "<#> 333444 is your WhatsApp code");
    assert_eq!(
        output.stderr,
        format!("rental {id} ended CANCELLED: its number receives no more SMS\n")
    );

    // For people: the rental, then a line per SMS.
    let waiting = customer.spawn(&["rent", "--country", "US", "--duration", "1w", "--wait"]);
    let text = waiting.wait_for_lines("charged", 1).await;
    let (id, number) = (
        field(&text, "id").unwrap().to_owned(),
        field(&text, "number").unwrap().to_owned(),
    );
    numhub
        .sms(&number, "wait-3", "Your WhatsApp code is 555-666")
        .await;
    let text = waiting.wait_for_lines("555666", 1).await;
    assert!(
        text.ends_with("  555666     WhatsApp: Your WhatsApp code is 555-666\n"),
        "{text}"
    );
    assert!(
        waiting
            .err
            .text()
            .starts_with(&format!("waiting for SMS on {number}; Ctrl-C stops")),
        "{}",
        waiting.err.text()
    );
    customer.run(&["rentals", "cancel", &id]).await.ok();
    let output = waiting.finished().await.ok();
    assert_eq!(output.stdout.matches("555666").count(), 1, "{output:?}");
    numhub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_follow_prints_only_new_sms_by_number_and_by_rental() {
    let numhub = with_rental_plans(1).await;
    let customer = numhub.customer("follow", 5_000).await;
    let rented = customer
        .run(&["rent", "--country", "US", "--json"])
        .await
        .ok()
        .json();
    let (id, number) = (
        rented["id"].as_str().unwrap(),
        rented["phone_number"].as_str().unwrap(),
    );
    numhub
        .sms(number, "follow-1", "Your WhatsApp code is 100-001")
        .await;
    customer.inbox(number, 1).await;

    let by_number = customer.spawn(&["inbox", number, "--follow", "--json"]);
    let by_rental = customer.spawn(&["inbox", id, "--follow"]);
    by_number.wait_for_lines("100001", 1).await;
    by_rental.wait_for_lines("100001", 1).await;

    numhub
        .sms(number, "follow-2", "Your WhatsApp code is 200-002")
        .await;
    let text = by_rental.wait_for_lines("200002", 1).await;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "each SMS once: {text}");
    assert!(lines[0].contains("100001"), "{text}");
    assert!(
        lines[1].contains("WhatsApp: Your WhatsApp code is 200-002"),
        "{text}"
    );
    let json = by_number.wait_for_lines("200002", 1).await;
    let codes: Vec<String> = json
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["code"].to_string())
        .collect();
    assert_eq!(codes, ["\"100001\"", "\"200002\""], "each SMS once");

    // --limit: the newest N only, oldest first.
    let newest = customer
        .run(&["inbox", number, "--limit", "1", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(newest["code"], "200002");
    for target in [id, number] {
        let output = customer.run(&["inbox", target, "--limit", "1"]).await.ok();
        assert_eq!(output.stdout.lines().count(), 1, "{output:?}");
        assert!(output.stdout.contains("200002"), "{output:?}");
        assert_eq!(
            output.stderr, "showing the newest 1 of 2 messages; --limit shows more\n",
            "{output:?}"
        );
    }

    // The rental ends: following it ends; following the number goes on
    // until interrupted.
    customer.run(&["rentals", "cancel", id]).await.ok();
    let output = by_rental.finished().await.ok();
    assert!(
        output.stderr.ends_with(&format!(
            "rental {id} ended CANCELLED: its number receives no more SMS\n"
        )),
        "{output:?}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!by_number.task.is_finished());
    assert_eq!(by_number.interrupt().lines().count(), 2);

    // Following an ended rental says so at once.
    let output = customer.run(&["inbox", id, "--follow"]).await.ok();
    assert_eq!(output.stdout.lines().count(), 2, "{output:?}");
    assert!(output.stderr.contains("has ended CANCELLED"), "{output:?}");
    numhub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rental_errors_are_one_clear_line() {
    let numhub = with_rental_plans(1).await;
    let customer = numhub.customer("rental-errors", 5_000).await;
    let unknown = "01900000-0000-7000-8000-000000000000";

    // Unknown rental ids.
    for args in [
        vec!["rentals", "show", unknown],
        vec!["rentals", "renew", unknown],
        vec!["rentals", "cancel", unknown],
        vec!["rentals", "auto-renew", unknown, "off"],
        vec!["inbox", unknown],
    ] {
        let output = customer.run(&args).await;
        assert_eq!(
            output.failed(1),
            format!("numhub: RESOURCE_NOT_FOUND: rental {unknown:?} not found"),
            "{args:?}"
        );
    }
    let output = customer.run(&["rentals", "show", "not-an-id"]).await;
    let line = output.failed(1);
    assert!(line.starts_with("numhub: INVALID_FIELD: id: "), "{line}");

    // A number never rented.
    let output = customer.run(&["inbox", "+1 403 555 9999"]).await;
    assert_eq!(
        output.failed(1),
        "numhub: RESOURCE_NOT_FOUND: rented number \"+14035559999\" not found"
    );
    let output = customer.run(&["inbox", "nobody"]).await;
    assert_eq!(output.code, 2, "{output:?}");
    assert!(
        output.stderr.contains("neither a phone number"),
        "{output:?}"
    );

    // Packages: not a package at all, and one not sold.
    let output = customer
        .run(&["rent", "--country", "US", "--duration", "2y"])
        .await;
    assert_eq!(output.code, 2, "{output:?}");
    assert_eq!(output.stdout, "");
    assert!(
        output.stderr.contains("invalid value '2y' for '--duration"),
        "{output:?}"
    );
    assert!(
        output
            .stderr
            .contains("1d, 3d, 7d, 14d, 30d, 1m, 3m, 6m, 1y"),
        "{output:?}"
    );
    let output = customer
        .run(&["rentals", "renew", unknown, "--duration", "month"])
        .await;
    assert_eq!(output.code, 2, "{output:?}");
    let output = customer
        .run(&["rent", "--country", "US", "--duration", "1d"])
        .await;
    let line = output.failed(1);
    assert!(line.starts_with("numhub: NOT_OFFERED: "), "{line}");
    let output = customer.run(&["rent", "--country", "USA"]).await;
    let line = output.failed(1);
    assert!(
        line.starts_with("numhub: INVALID_FIELD: country_code (--country): "),
        "{line}"
    );
    assert_eq!(customer.balance().await, 5_000);

    // Not enough money: nothing is charged, and the number stays free.
    let poor = numhub.customer("poor-renter", 100).await;
    let output = poor.run(&["rent", "--country", "US"]).await;
    assert_eq!(
        output.failed(1),
        format!(
            "numhub: INSUFFICIENT_BALANCE: the balance of 100 minor units is less than {MONTH}"
        )
    );
    assert_eq!(poor.balance().await, 100);
    assert!(poor.rentals(&["--filter", "active"]).await.is_empty());

    // A limit below the price: refused, nothing charged, the number free;
    // a limit of nothing is a usage error.
    let below = (MONTH - 1).to_string();
    let output = customer
        .run(&["rent", "--country", "US", "--max-price", &below])
        .await;
    let line = output.failed(1);
    assert!(line.starts_with("numhub: PRICE_ABOVE_MAX: "), "{line}");
    let output = customer
        .run(&["rent", "--country", "US", "--max-price", "0"])
        .await;
    assert_eq!(output.code, 2, "{output:?}");
    assert_eq!(customer.balance().await, 5_000);
    let rented = customer
        .run(&[
            "rent",
            "--country",
            "US",
            "--max-price",
            "USD 4.99",
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(rented["status"], "ACTIVE");
    let id = rented["id"].as_str().unwrap();
    let output = customer
        .run(&["rentals", "renew", id, "--max-price", &below])
        .await;
    let line = output.failed(1);
    assert!(line.starts_with("numhub: PRICE_ABOVE_MAX: "), "{line}");
    assert_eq!(customer.balance().await, 5_000 - MONTH);
    let renewed = customer
        .run(&[
            "rentals",
            "renew",
            id,
            "--max-price",
            &MONTH.to_string(),
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(renewed["charged"]["minor_units"], MONTH);
    numhub.stop().await;
}
