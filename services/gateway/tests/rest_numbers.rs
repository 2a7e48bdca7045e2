//! Seed 000's rental routes through real HTTP, against numhubd's real
//! services on both backends: each example request of the seed replayed
//! and its answer read field by field, idempotent retries (one after the
//! other and at once), the 120-minute refund rule, another account's ids,
//! and every refusal.

mod common;

use common::{Answer, Stack};
use http::StatusCode;
use numhub_testkit::backend_tests;
use serde_json::Value;

/// `answer` is 200, and its body.
fn ok(answer: &Answer) -> Value {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["success"], true, "{body}");
    body
}

/// `answer` is `status` in the error envelope with `code`, and its body.
fn refused(answer: &Answer, status: StatusCode, code: &str) -> Value {
    assert_eq!(answer.status, status, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(body["message"].is_string(), "{body}");
    body
}

/// `answer` is 400 naming `field`.
fn invalid(answer: &Answer, field: &str) {
    let body = refused(answer, StatusCode::BAD_REQUEST, "invalid_field");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&field), "{field} not in {body}");
}

/// The keys of a JSON object, sorted.
fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

/// A time as seed 000 writes it: ISO 8601 UTC to the second.
fn is_time(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|t| t.len() == 20 && t.ends_with('Z') && humantime::parse_rfc3339(t).is_ok())
}

backend_tests! {
    async fn pricing_lists_every_country_and_one_in_seed_000s_shape(backend: Backend) {
        let stack = Stack::start(backend).await;
        let key = stack.customer(0).await;
        let client = stack.client();

        // curl .../v1/pricing
        let all = ok(&client.get("/v1/pricing", &key).await);
        assert_eq!(keys(&all), ["data", "meta", "success"]);
        let countries = all["data"].as_array().unwrap();
        assert_eq!(all["meta"], serde_json::json!({"count": countries.len()}));
        let codes: Vec<&str> = countries.iter().map(|c| c["country_code"].as_str().unwrap()).collect();
        assert_eq!(codes, ["DE", "GB", "US"]);
        let us = &countries[2];
        assert_eq!(keys(us), ["country_code", "country_name", "packages"]);
        assert_eq!(us["country_name"], "United States");
        let packages = us["packages"].as_array().unwrap();
        for package in packages {
            assert_eq!(
                keys(package),
                ["currency", "duration", "duration_label", "number_type", "original_price", "price", "updated_at"],
                "{package}"
            );
            assert_eq!(package["number_type"], "voip");
            assert_eq!(package["currency"], "USD");
            assert!(package["original_price"].is_null());
            assert!(is_time(&package["updated_at"]), "{package}");
        }
        // The demo's packages: seed 000's keys, and numhub's seven days
        // in seed 002's style.
        let durations: Vec<(&str, &str)> = packages
            .iter()
            .map(|p| (p["duration"].as_str().unwrap(), p["duration_label"].as_str().unwrap()))
            .collect();
        assert_eq!(
            durations,
            [("sevenDay", "7 Days"), ("oneMonth", "1 Month"), ("threeMonths", "3 Months"), ("oneYear", "1 Year")]
        );
        // Exact money: the demo's US month is 4.99, written as such.
        let answer = client.get("/v1/pricing", &key).await;
        assert!(answer.text.contains(r#""duration":"oneMonth","duration_label":"1 Month","price":4.99,"#), "{}", answer.text);

        // curl .../v1/pricing/GB: the resource beside `success` and under
        // `data`.
        let gb = ok(&client.get("/v1/pricing/GB", &key).await);
        assert_eq!(keys(&gb), ["country_code", "country_name", "data", "packages", "success"]);
        assert_eq!(gb["data"]["country_code"], "GB");
        assert_eq!(gb["data"]["country_name"], "United Kingdom");
        assert_eq!(gb["data"]["packages"], gb["packages"]);
        // The demo's other countries cost half as much more again: 4.99
        // and a half, rounded down to the cent.
        let month = gb["data"]["packages"].as_array().unwrap().iter()
            .find(|p| p["duration"] == "oneMonth").unwrap().clone();
        assert_eq!(month["price"], 7.48);

        // A known country without a route right now is 404; a malformed
        // code is 400 naming it.
        refused(&client.get("/v1/pricing/FR", &key).await, StatusCode::NOT_FOUND, "resource_not_found");
        refused(&client.get("/v1/pricing/ZZ", &key).await, StatusCode::NOT_FOUND, "resource_not_found");
        invalid(&client.get("/v1/pricing/usa", &key).await, "countryCode");
        stack.shutdown().await;
    }

    async fn inventory_preflights_a_route_with_its_defaults(backend: Backend) {
        let stack = Stack::start(backend).await;
        let key = stack.customer(0).await;
        let client = stack.client();

        // curl .../v1/inventory?country_code=US&duration=oneMonth
        let answer = ok(&client.get("/v1/inventory?country_code=US&duration=oneMonth", &key).await);
        let expected = serde_json::json!({
            "country_code": "US", "duration": "oneMonth", "number_type": "voip",
            "stock": 100, "available": true, "status": "In Stock"
        });
        assert_eq!(answer["data"], expected);
        assert_eq!(answer["stock"], 100);

        // The route's defaults: one month, VoIP.
        let defaults = ok(&client.get("/v1/inventory?country_code=DE", &key).await);
        assert_eq!(defaults["data"]["duration"], "oneMonth");
        assert_eq!(defaults["data"]["number_type"], "voip");
        let week = ok(&client.get("/v1/inventory?country_code=GB&duration=sevenDay&number_type=voip", &key).await);
        assert_eq!(week["data"]["duration"], "sevenDay");

        // No plan for six months, none for non-VoIP, no route in FR: 404.
        for path in [
            "/v1/inventory?country_code=US&duration=sixMonths",
            "/v1/inventory?country_code=US&number_type=non_voip",
            "/v1/inventory?country_code=FR",
        ] {
            refused(&client.get(path, &key).await, StatusCode::NOT_FOUND, "resource_not_found");
        }
        for (path, field) in [
            ("/v1/inventory", "country_code"),
            ("/v1/inventory?duration=oneMonth", "country_code"),
            ("/v1/inventory?country_code=US&duration=twoWeeks", "duration"),
            ("/v1/inventory?country_code=US&number_type=landline", "number_type"),
            ("/v1/inventory?country_code=us", "country_code"),
        ] {
            invalid(&client.get(path, &key).await, field);
        }
        let long = "x".repeat(3_000);
        let answer = client.get(&format!("/v1/inventory?country_code=US&duration={long}"), &key).await;
        invalid(&answer, "duration");
        assert!(!answer.text.contains(&long), "the input is echoed whole");
        stack.shutdown().await;
    }
}
