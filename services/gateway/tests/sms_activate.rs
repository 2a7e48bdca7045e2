//! The SMS-Activate protocol at `/stubs/handler_api.php` through real
//! HTTP, against numhubd's real services and demo catalog on both
//! backends: every action's bytes as the protocol's clients read them, and
//! its refusals as the protocol's tokens, always with HTTP 200.

mod common;

use common::{Answer, Stack};
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
}
