//! The SMS-Activate protocol at `/stubs/handler_api.php` through real
//! HTTP, against numhubd's real services and demo catalog on both
//! backends: every action's bytes as the protocol's clients read them, and
//! its refusals as the protocol's tokens, always with HTTP 200.

mod common;

use std::time::Duration;

use common::{Answer, Client, Stack};
use http::{Method, StatusCode};
use numhub_testkit::backend_tests;
use serde_json::{Value, json};

const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json; charset=utf-8";

/// The demo's US, as the protocol numbers it.
const US: i32 = 187;

/// A token answer: 200, plain text, exactly `want`.
#[track_caller]
fn assert_token(answer: &Answer, want: &str) {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.header("content-type"), Some(TEXT), "{}", answer.text);
    assert_eq!(answer.text, want);
}

/// A JSON answer: 200, JSON, parsed.
#[track_caller]
fn json_of(answer: &Answer) -> Value {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.header("content-type"), Some(JSON), "{}", answer.text);
    answer.json()
}

/// The protocol as one customer speaks it.
struct Protocol {
    client: Client,
    key: String,
}

impl Protocol {
    fn new(stack: &Stack, key: &str) -> Self {
        Self {
            client: stack.client(),
            key: key.to_owned(),
        }
    }

    /// `action` with `params` (`&service=wa`).
    async fn call(&self, action: &str, params: &str) -> Answer {
        let query = format!("api_key={}&action={action}{params}", self.key);
        self.client.handler(&query).await
    }

    async fn text(&self, action: &str, params: &str) -> String {
        let answer = self.call(action, params).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(
            answer.header("content-type"),
            Some(TEXT),
            "{action}: {}",
            answer.text
        );
        answer.text
    }

    async fn json(&self, action: &str, params: &str) -> Value {
        json_of(&self.call(action, params).await)
    }

    /// The balance in cents, read from `ACCESS_BALANCE:`.
    async fn cents(&self) -> i64 {
        let text = self.text("getBalance", "").await;
        let amount = text
            .strip_prefix("ACCESS_BALANCE:")
            .unwrap_or_else(|| panic!("{text}"));
        let (whole, fraction) = amount.split_once('.').unwrap();
        assert_eq!(fraction.len(), 2, "{text}");
        whole.parse::<i64>().unwrap() * 100 + fraction.parse::<i64>().unwrap()
    }

    /// The balance once it reads `cents` (refunds follow within moments).
    async fn settles_at(&self, cents: i64) {
        eventually(|| async { Some(self.cents().await).filter(|c| *c == cents) }).await;
    }

    /// `getStatus` of `id`, once it is no longer `waiting` (inbound routes
    /// an SMS within moments, and retries one it could not).
    async fn status_after(&self, id: &str, waiting: &str) -> String {
        let query = format!("&id={id}");
        eventually(|| async { Some(self.text("getStatus", &query).await).filter(|t| t != waiting) })
            .await
    }

    /// `getNumber`: the activation's id and its number in E.164.
    async fn buy(&self, params: &str) -> (String, String) {
        let text = self.text("getNumber", params).await;
        let parts: Vec<&str> = text.split(':').collect();
        assert_eq!(parts.len(), 3, "{text}");
        assert_eq!(parts[0], "ACCESS_NUMBER", "{text}");
        assert!(parts[1].parse::<i64>().unwrap() > 0, "{text}");
        assert!(parts[2].chars().all(|c| c.is_ascii_digit()), "{text}");
        (parts[1].to_owned(), format!("+{}", parts[2]))
    }
}

backend_tests! {
    async fn the_balance_is_exact_decimal_text_by_get_post_and_form(backend: Backend) {
        let stack = Stack::start(backend).await;
        let key = stack.customer(12_450).await;
        let client = stack.client();
        let query = format!("api_key={key}&action=getBalance");

        assert_token(&client.handler(&query).await, "ACCESS_BALANCE:124.50");
        assert_token(
            &client.handler(&format!("api_key={key}&action=getBalanceAndCashBack")).await,
            "ACCESS_BALANCE:124.50",
        );
        // One client posts an empty octet-stream body with everything in
        // the query; others may post a form.
        let posted = client
            .send(
                Method::POST,
                &format!("/stubs/handler_api.php?{query}"),
                &[("content-type", "application/octet-stream")],
                "",
            )
            .await;
        assert_token(&posted, "ACCESS_BALANCE:124.50");
        assert_token(&client.handler_form("", &query).await, "ACCESS_BALANCE:124.50");
        // Unknown parameters and names with a trailing space are ignored.
        assert_token(
            &client.handler(&format!("{query}&ref=x&json=1&lang%20=en")).await,
            "ACCESS_BALANCE:124.50",
        );

        let empty = stack.customer(0).await;
        assert_token(
            &client.handler(&format!("api_key={empty}&action=getBalance")).await,
            "ACCESS_BALANCE:0.00",
        );
        stack.shutdown().await;
    }

    async fn keys_and_actions_are_refused_with_200_and_a_token(backend: Backend) {
        let stack = Stack::start(backend).await;
        let key = stack.customer(100).await;
        let client = stack.client();

        for query in [
            "action=getBalance".to_owned(),
            "api_key=&action=getBalance".to_owned(),
            "api_key=nh_live_notakeyatall&action=getBalance".to_owned(),
            "api_key=with%20space&action=getPrices".to_owned(),
        ] {
            assert_token(&client.handler(&query).await, "BAD_KEY");
        }
        for query in [
            format!("api_key={key}"),
            format!("api_key={key}&action=getbalance"),
            format!("api_key={key}&action=getFullSms&id=1"),
        ] {
            assert_token(&client.handler(&query).await, "BAD_ACTION");
        }
        // The rent actions answer their errors as JSON.
        let rent = client
            .handler("api_key=nh_live_notakeyatall&action=getRentServicesAndCountries")
            .await;
        assert_eq!(json_of(&rent), json!({"status": "error", "message": "BAD_KEY"}));

        // Other methods than GET and POST are the gateway's own 405.
        let put = client
            .send(Method::PUT, &format!("/stubs/handler_api.php?api_key={key}&action=getBalance"), &[], "")
            .await;
        assert_eq!(put.status, StatusCode::METHOD_NOT_ALLOWED);
        stack.shutdown().await;
    }

    async fn prices_count_the_stock_of_each_country_by_its_protocol_id(backend: Backend) {
        let stack = Stack::start(backend).await;
        let key = stack.customer(0).await;
        let client = stack.client();

        let one = client
            .handler(&format!("api_key={key}&action=getPrices&service=wa&country={US}"))
            .await;
        assert_eq!(json_of(&one), json!({"187": {"wa": {"cost": 0.45, "count": 100, "physicalCount": 100}}}));
        // Exact decimal text, never a float's.
        assert!(one.text.contains(r#""cost":0.45,"#), "{}", one.text);

        // The demo prices other countries higher: GB (16) by half, DE (43)
        // double.
        let wa = json_of(&client.handler(&format!("api_key={key}&action=getPrices&service=wa")).await);
        assert_eq!(wa["16"]["wa"]["cost"], json!(0.67));
        assert_eq!(wa["43"]["wa"]["cost"], json!(0.9));
        assert_eq!(wa.as_object().unwrap().len(), 3, "{wa}");

        let us = json_of(&client.handler(&format!("api_key={key}&action=getPrices&country={US}")).await);
        let services: Vec<_> = us["187"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(services, ["fb", "go", "ig", "tg", "wa"]);
        assert_eq!(us["187"]["tg"], json!({"cost": 0.30, "count": 100, "physicalCount": 100}));

        // A country numhub does not know has no prices; an id that is not a
        // number, and a service that does not exist, are refused.
        assert_eq!(json_of(&client.handler(&format!("api_key={key}&action=getPrices&country=9999")).await), json!({}));
        assert_token(&client.handler(&format!("api_key={key}&action=getPrices&country=us")).await, "BAD_COUNTRY");
        assert_token(&client.handler(&format!("api_key={key}&action=getPrices&service=zz")).await, "BAD_SERVICE");
        assert_token(&client.handler(&format!("api_key={key}&action=getPrices&service=W-A")).await, "BAD_SERVICE");
        stack.shutdown().await;
    }

    async fn countries_services_operators_and_numbers_status(backend: Backend) {
        let stack = Stack::start(backend).await;
        let key = stack.customer(0).await;
        let client = stack.client();

        let countries = json_of(&client.handler(&format!("api_key={key}&action=getCountries")).await);
        assert_eq!(
            countries["187"],
            json!({"id": 187, "rus": "United States", "eng": "United States", "chn": "United States",
                   "visible": 1, "retry": 1, "rent": 1, "multiService": 0})
        );
        assert_eq!(countries["43"]["eng"], "Germany");
        // Russia is in the catalog, with nothing to rent in the demo.
        assert_eq!(countries["0"]["rent"], 0);

        let all = json_of(&client.handler(&format!("api_key={key}&action=getServicesList")).await);
        assert_eq!(all["status"], "success");
        let services = all["services"].as_array().unwrap();
        assert!(services.contains(&json!({"code": "wa", "name": "WhatsApp"})), "{all}");
        assert!(services.len() > 5, "{all}");
        let us = json_of(&client.handler(&format!("api_key={key}&action=getServicesList&country={US}")).await);
        let codes: Vec<_> = us["services"].as_array().unwrap().iter().map(|s| s["code"].as_str().unwrap()).collect();
        assert_eq!(codes, ["fb", "go", "ig", "tg", "wa"]);

        let operators = client.handler(&format!("api_key={key}&action=getOperators&country={US}")).await;
        assert_eq!(json_of(&operators), json!({"status": "success", "countryOperators": {"187": ["any"]}}));
        let every = json_of(&client.handler(&format!("api_key={key}&action=getOperators")).await);
        assert_eq!(every["countryOperators"].as_object().unwrap().len(), 3, "{every}");
        assert_token(&client.handler(&format!("api_key={key}&action=getOperators&country=0")).await, "OPERATORS_NOT_FOUND");

        let status = client.handler(&format!("api_key={key}&action=getNumbersStatus&country={US}")).await;
        assert_eq!(
            json_of(&status),
            json!({"fb_0": 100, "go_0": 100, "ig_0": 100, "tg_0": 100, "wa_0": 100})
        );
        // Country 0 (the protocol's default) has no prices in the demo.
        assert_eq!(json_of(&client.handler(&format!("api_key={key}&action=getNumbersStatus")).await), json!({}));
        stack.shutdown().await;
    }

    async fn rent_prices_by_the_hour_buy_the_shortest_package(backend: Backend) {
        let stack = Stack::start(backend).await;
        let key = stack.customer(0).await;
        let client = stack.client();
        let ask = |extra: &str| format!("api_key={key}&action=getRentServicesAndCountries&country={US}{extra}");

        // The demo sells a week (2.00), a month (4.99), three months and a
        // year in DE, GB and US; a rent of 4 hours buys the week.
        let week = client.handler(&ask("&rent_time=4")).await;
        assert_eq!(
            json_of(&week),
            json!({"status": "success", "countries": {"0": 43, "1": 16, "2": 187},
                   "operators": {"0": "any"}, "services": {"full": {"cost": 2.00, "quant": 100}},
                   "currency": 840})
        );
        assert!(week.text.contains(r#""cost":2.00"#), "{}", week.text);
        // `time` as one client names it; past a week, the month.
        let month = json_of(&client.handler(&ask("&time=200")).await);
        assert_eq!(month["services"]["full"]["cost"], json!(4.99));
        assert_eq!(json_of(&client.handler(&ask("")).await)["services"]["full"]["cost"], json!(2.0));

        let nothing = client
            .handler(&format!("api_key={key}&action=getRentServicesAndCountries&country=0"))
            .await;
        assert_eq!(json_of(&nothing), json!({"status": "error", "message": "OUT_OF_STOCK"}));
        let too_long = json_of(&client.handler(&ask("&rent_time=100000")).await);
        assert_eq!(too_long, json!({"status": "error", "message": "OUT_OF_STOCK"}));
        let bad = json_of(&client.handler(&ask("&rent_time=soon")).await);
        assert_eq!(bad, json!({"status": "error", "message": "INVALID_TIME"}));
        stack.shutdown().await;
    }

    async fn buy_read_the_code_ask_another_and_complete(backend: Backend) {
        let stack = Stack::start(backend).await;
        let p = Protocol::new(&stack, &stack.roomy_customer(1_000).await);

        let (id, phone) = p.buy(&format!("&service=wa&country={US}")).await;
        assert!(phone.starts_with("+1555010"), "{phone}");
        assert_eq!(p.cents().await, 1_000 - 45);
        assert_eq!(p.text("getStatus", &format!("&id={id}")).await, "STATUS_WAIT_CODE");
        assert_eq!(
            p.json("getStatusV2", &format!("&id={id}")).await,
            json!({"verificationType": 0, "sms": null, "call": null})
        );
        assert_eq!(p.text("setStatus", &format!("&id={id}&status=1")).await, "ACCESS_READY");

        stack.sms(&phone, "WhatsApp", "Your WhatsApp code is 123-456").await;
        assert_eq!(p.status_after(&id, "STATUS_WAIT_CODE").await, "STATUS_OK:123456");
        let v2 = p.json("getStatusV2", &format!("&id={id}")).await;
        assert_eq!(v2["verificationType"], 0);
        assert_eq!(v2["sms"]["code"], "123456");
        assert_eq!(v2["sms"]["text"], "Your WhatsApp code is 123-456");
        let date = v2["sms"]["dateTime"].as_str().unwrap();
        assert!(is_datetime(date), "{date}");
        assert!(v2["call"].is_null());

        let active = p.json("getActiveActivations", "").await;
        assert_eq!(active["status"], "success");
        let listed = &active["activeActivations"][0];
        assert_eq!(listed["activationId"], id.as_str());
        assert_eq!(listed["phoneNumber"], phone.trim_start_matches('+'));
        assert_eq!(listed["smsCode"], json!(["123456"]));
        assert_eq!(listed["countryCode"], "187");
        assert_eq!(listed["activationCost"], json!(0.45));
        assert_eq!(listed["currency"], 840);

        // Another SMS: waiting again, the past code shown; then the new one.
        assert_eq!(p.text("setStatus", &format!("&id={id}&status=3")).await, "ACCESS_RETRY_GET");
        assert_eq!(p.text("getStatus", &format!("&id={id}")).await, "STATUS_WAIT_RETRY:123456");
        assert_eq!(p.json("getStatusV2", &format!("&id={id}")).await["sms"], Value::Null);
        assert_eq!(p.json("getActiveActivations", "").await["activeActivations"][0]["repeated"], "1");
        stack.sms(&phone, "WhatsApp", "WhatsApp code 654321, do not share").await;
        assert_eq!(p.status_after(&id, "STATUS_WAIT_RETRY:123456").await, "STATUS_OK:654321");

        assert_eq!(p.text("setStatus", &format!("&id={id}&status=6")).await, "ACCESS_ACTIVATION");
        // Completed: the code stays readable, the price is kept, and the
        // activation takes no other status.
        assert_eq!(p.text("getStatus", &format!("&id={id}")).await, "STATUS_OK:654321");
        assert_eq!(p.json("getStatusV2", &format!("&id={id}")).await["sms"]["code"], "654321");
        assert_eq!(p.text("setStatus", &format!("&id={id}&status=6")).await, "ACCESS_ACTIVATION");
        assert_eq!(p.text("setStatus", &format!("&id={id}&status=8")).await, "BAD_STATUS");
        assert_eq!(p.text("setStatus", &format!("&id={id}&status=3")).await, "BAD_STATUS");
        assert_eq!(p.text("setStatus", &format!("&id={id}&status=1")).await, "BAD_STATUS");
        assert_eq!(p.text("getActiveActivations", "").await, "NO_ACTIVATIONS");
        assert_eq!(p.cents().await, 1_000 - 45);
        stack.shutdown().await;
    }

    async fn get_number_v2_answers_every_field_clients_parse(backend: Backend) {
        let stack = Stack::start(backend).await;
        let p = Protocol::new(&stack, &stack.roomy_customer(1_000).await);
        // By POST with a form body, the limit exactly the price.
        let answer = p
            .client
            .handler_form("", &format!("api_key={}&action=getNumberV2&service=wa&country={US}&maxPrice=0.45", p.key))
            .await;
        let bought = json_of(&answer);
        let fields: Vec<_> = bought.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            fields,
            ["activationCost", "activationEndTime", "activationId", "activationOperator", "activationTime",
             "canGetAnotherSms", "countryCode", "currency", "phoneNumber"]
        );
        let id = bought["activationId"].as_i64().unwrap();
        assert!(id > 0, "{bought}");
        assert!(bought["phoneNumber"].as_str().unwrap().starts_with("1555010"), "{bought}");
        assert_eq!(bought["activationCost"], json!(0.45));
        assert!(answer.text.contains(r#""activationCost":0.45,"#), "{}", answer.text);
        assert_eq!(bought["currency"], 840);
        assert_eq!(bought["countryCode"], "187");
        assert_eq!(bought["canGetAnotherSms"], "1");
        assert_eq!(bought["activationOperator"], "any");
        assert!(is_datetime(bought["activationTime"].as_str().unwrap()), "{bought}");
        assert!(is_datetime(bought["activationEndTime"].as_str().unwrap()), "{bought}");
        // The same activation by its numeric id.
        assert_eq!(p.text("getStatus", &format!("&id={id}")).await, "STATUS_WAIT_CODE");
        assert_eq!(p.cents().await, 1_000 - 45);
        stack.shutdown().await;
    }

    async fn cancel_refunds_once(backend: Backend) {
        let stack = Stack::start(backend).await;
        let p = Protocol::new(&stack, &stack.roomy_customer(1_000).await);

        let (id, _) = p.buy(&format!("&service=tg&country={US}")).await;
        assert_eq!(p.cents().await, 1_000 - 30);
        assert_eq!(p.text("setStatus", &format!("&id={id}&status=8")).await, "ACCESS_CANCEL");
        p.settles_at(1_000).await;
        // Again, and by the old spelling -1: the same answer, no second
        // refund.
        assert_eq!(p.text("setStatus", &format!("&id={id}&status=8")).await, "ACCESS_CANCEL");
        assert_eq!(p.text("setStatus", &format!("&id={id}&status=-1")).await, "ACCESS_CANCEL");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(p.cents().await, 1_000);
        assert_eq!(p.text("getStatus", &format!("&id={id}")).await, "STATUS_CANCEL");
        assert_eq!(p.text("getStatusV2", &format!("&id={id}")).await, "STATUS_CANCEL");
        assert_eq!(p.text("setStatus", &format!("&id={id}&status=6")).await, "BAD_STATUS");

        // After an SMS, cancel is refused: complete it instead.
        let (id, phone) = p.buy(&format!("&service=wa&country={US}")).await;
        stack.sms(&phone, "WhatsApp", "Your WhatsApp code is 111-222").await;
        assert_eq!(p.status_after(&id, "STATUS_WAIT_CODE").await, "STATUS_OK:111222");
        assert_eq!(p.text("setStatus", &format!("&id={id}&status=8")).await, "BAD_STATUS");
        assert_eq!(p.cents().await, 1_000 - 45);
        stack.shutdown().await;
    }

    async fn purchases_are_refused_with_the_protocols_tokens(backend: Backend) {
        let stack = Stack::start(backend).await;
        let p = Protocol::new(&stack, &stack.roomy_customer(1_000).await);
        for (params, want) in [
            ("".to_owned(), "BAD_SERVICE"),
            (format!("&service=zz&country={US}"), "BAD_SERVICE"),
            (format!("&service=W%20A&country={US}"), "BAD_SERVICE"),
            ("&service=wa&country=us".to_owned(), "BAD_COUNTRY"),
            ("&service=wa&country=9999".to_owned(), "BAD_COUNTRY"),
            // Russia (0, the default) has no prices in the demo; the US's
            // numbers have no operator.
            ("&service=wa".to_owned(), "NO_NUMBERS"),
            (format!("&service=wa&country={US}&operator=tmobile"), "NO_NUMBERS"),
            (format!("&service=wa&country={US}&maxPrice=0.10"), "WRONG_MAX_PRICE:0.45"),
            (format!("&service=wa&country={US}&maxPrice=0.449"), "WRONG_MAX_PRICE:0.45"),
            (format!("&service=wa&country={US}&maxPrice=cheap"), "WRONG_MAX_PRICE:0.45"),
            (format!("&service=wa&country={US}&maxPrice=-1"), "WRONG_MAX_PRICE:0.45"),
        ] {
            assert_eq!(p.text("getNumber", &params).await, want, "{params}");
            assert_eq!(p.text("getNumberV2", &params).await, want, "{params}");
        }
        assert_eq!(p.cents().await, 1_000, "a refused purchase charges nothing");
        // A price cut past the cents is never rounded up.
        p.buy(&format!("&service=wa&country={US}&maxPrice=0.4599")).await;

        let poor = Protocol::new(&stack, &stack.roomy_customer(10).await);
        assert_eq!(poor.text("getNumber", &format!("&service=wa&country={US}")).await, "NO_BALANCE");
        assert_eq!(poor.cents().await, 10);
        stack.shutdown().await;
    }

    async fn another_accounts_ids_and_bad_ids_and_statuses(backend: Backend) {
        let stack = Stack::start(backend).await;
        let owner = Protocol::new(&stack, &stack.roomy_customer(1_000).await);
        let other = Protocol::new(&stack, &stack.roomy_customer(1_000).await);
        let (id, _) = owner.buy(&format!("&service=wa&country={US}")).await;

        for action in ["getStatus", "getStatusV2"] {
            assert_eq!(other.text(action, &format!("&id={id}")).await, "NO_ACTIVATION");
            for bad in ["", "&id=0", "&id=abc", "&id=99999999"] {
                assert_eq!(owner.text(action, bad).await, "NO_ACTIVATION", "{action}{bad}");
            }
        }
        for status in [1, 3, 6, 8] {
            let params = format!("&id={id}&status={status}");
            assert_eq!(other.text("setStatus", &params).await, "NO_ACTIVATION", "{params}");
        }
        assert_eq!(other.text("getActiveActivations", "").await, "NO_ACTIVATIONS");
        for bad in ["&status=8", "&id=x&status=8", "&id=-4&status=8"] {
            assert_eq!(owner.text("setStatus", bad).await, "WRONG_ACTIVATION_ID", "{bad}");
        }
        for bad in ["", "&status=2", "&status=5", "&status=done"] {
            let params = format!("&id={id}{bad}");
            assert_eq!(owner.text("setStatus", &params).await, "BAD_STATUS", "{params}");
        }
        // Completing before any SMS is refused; the other customer's
        // attempts changed nothing.
        assert_eq!(owner.text("setStatus", &format!("&id={id}&status=6")).await, "BAD_STATUS");
        assert_eq!(owner.text("getStatus", &format!("&id={id}")).await, "STATUS_WAIT_CODE");
        assert_eq!(other.cents().await, 1_000);
        stack.shutdown().await;
    }

    async fn operator_limits_read_as_their_tokens(backend: Backend) {
        let stack = Stack::start_with(backend, &["--min-cancel-age=1h", "--max-open=1"]).await;
        let p = Protocol::new(&stack, &stack.roomy_customer(1_000).await);
        let (id, _) = p.buy(&format!("&service=wa&country={US}")).await;
        assert_eq!(p.text("setStatus", &format!("&id={id}&status=8")).await, "EARLY_CANCEL_DENIED");
        assert_eq!(p.text("getNumber", &format!("&service=tg&country={US}")).await, "CHANNELS_LIMIT");
        assert_eq!(p.cents().await, 1_000 - 45);

        // A read-only key reads, and may not buy.
        let reader = Protocol::new(&stack, &stack.reader(1_000).await);
        assert_eq!(reader.text("getBalance", "").await, "ACCESS_BALANCE:10.00");
        assert_eq!(reader.text("getNumber", &format!("&service=tg&country={US}")).await, "BAD_KEY");
        assert_eq!(reader.cents().await, 1_000);
        stack.shutdown().await;
    }

    async fn a_rental_by_the_hour_its_sms_its_renewal_and_its_end(backend: Backend) {
        let stack = Stack::start(backend).await;
        let p = Protocol::new(&stack, &stack.roomy_customer(2_000).await);
        assert_eq!(p.json("getRentList", "").await, json!({"status": "error", "message": "NO_NUMBERS"}));

        let rented = p.json("getRentNumber", &format!("&service=full&country={US}&rent_time=4")).await;
        assert_eq!(rented["status"], "success");
        let id = rented["phone"]["id"].as_i64().unwrap();
        let number = rented["phone"]["number"].as_str().unwrap().to_owned();
        assert!(number.starts_with("1555010"), "{rented}");
        let end = rented["phone"]["endDate"].as_str().unwrap().to_owned();
        assert!(is_end_date(&end), "{rented}");
        // The week, the shortest package that lasts 4 hours.
        assert_eq!(p.cents().await, 2_000 - 200);

        assert_eq!(
            p.json("getRentStatus", &format!("&id={id}")).await,
            json!({"status": "error", "message": "STATUS_WAIT_CODE"})
        );
        stack.sms(&format!("+{number}"), "Telegram", "Telegram code: 55555").await;
        let query = format!("&id={id}");
        let status = eventually(|| async {
            Some(p.json("getRentStatus", &query).await).filter(|s| s["status"] == "success")
        })
        .await;
        assert_eq!(status["quantity"], "1", "{status}");
        assert_eq!(status["values"]["0"]["text"], "Telegram code: 55555");
        assert_eq!(status["values"]["0"]["phoneFrom"], "Telegram");
        assert!(is_datetime(status["values"]["0"]["date"].as_str().unwrap()), "{status}");

        let list = p.json("getRentList", "").await;
        assert_eq!(list, json!({"status": "success", "values": {"0": {"id": id.to_string(), "phone": number}}}));

        // Another week, at today's price, on the same id.
        let renewed = p.json("continueRentNumber", &format!("&id={id}&rent_time=24")).await;
        assert_eq!(renewed["phone"]["id"], id);
        assert_eq!(renewed["phone"]["number"], number.as_str());
        assert!(renewed["phone"]["endDate"].as_str().unwrap() > end.as_str(), "{renewed}");
        assert_eq!(p.cents().await, 2_000 - 400);

        // Another customer sees none of it.
        let other = Protocol::new(&stack, &stack.roomy_customer(1_000).await);
        for action in ["getRentStatus", "continueRentNumber"] {
            let refused = other.json(action, &format!("&id={id}")).await;
            assert_eq!(refused, json!({"status": "error", "message": "NO_ID_RENT"}), "{action}");
        }
        let refused = other.json("setRentStatus", &format!("&id={id}&status=2")).await;
        assert_eq!(refused["message"], "NO_ID_RENT");
        assert_eq!(other.cents().await, 1_000);

        assert_eq!(
            p.json("setRentStatus", &format!("&id={id}&status=3")).await,
            json!({"status": "error", "message": "INCORECT_STATUS"})
        );
        // An SMS arrived: released without a refund.
        assert_eq!(p.json("setRentStatus", &format!("&id={id}&status=2")).await, json!({"status": "success"}));
        assert_eq!(p.json("setRentStatus", &format!("&id={id}&status=1")).await["message"], "ALREADY_CANCEL");
        assert_eq!(p.json("getRentStatus", &format!("&id={id}")).await["message"], "STATUS_CANCEL");
        assert_eq!(p.json("continueRentNumber", &format!("&id={id}")).await["message"], "RENT_DIE");
        assert_eq!(p.cents().await, 2_000 - 400);

        // Finished at once and without an SMS, within the refund window:
        // everything comes back.
        let second = p.json("getRentNumber", &format!("&country={US}&time=4")).await;
        let second = second["phone"]["id"].as_i64().unwrap();
        assert_eq!(p.cents().await, 2_000 - 600);
        assert_eq!(p.json("setRentStatus", &format!("&id={second}&status=1")).await["status"], "success");
        p.settles_at(2_000 - 400).await;

        for (params, want) in [
            ("&country=0".to_owned(), "NO_NUMBERS"),
            (format!("&country={US}&rent_time=100000"), "NO_NUMBERS"),
            ("&country=us".to_owned(), "BAD_COUNTRY"),
            (format!("&country={US}&service=zz"), "BAD_SERVICE"),
        ] {
            let refused = p.json("getRentNumber", &params).await;
            assert_eq!(refused, json!({"status": "error", "message": want}), "{params}");
        }
        let poor = Protocol::new(&stack, &stack.roomy_customer(100).await);
        let refused = poor.json("getRentNumber", &format!("&country={US}")).await;
        assert_eq!(refused, json!({"status": "error", "message": "NO_BALANCE"}));
        assert_eq!(poor.cents().await, 100);
        stack.shutdown().await;
    }

}

/// What `probe` answers once it answers something, within 30 seconds
/// (a loaded machine runs both backends' tests at once).
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(probe: impl Fn() -> F) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within 30 seconds"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `YYYY-MM-DD HH:MM:SS`.
fn is_datetime(text: &str) -> bool {
    let shape = "0000-00-00 00:00:00";
    text.len() == shape.len()
        && text
            .chars()
            .zip(shape.chars())
            .all(|(c, s)| if s == '0' { c.is_ascii_digit() } else { c == s })
}

/// `YYYY-MM-DDTHH:MM:SS`.
fn is_end_date(text: &str) -> bool {
    text.len() == 19 && text.as_bytes()[10] == b'T' && is_datetime(&text.replacen('T', " ", 1))
}
