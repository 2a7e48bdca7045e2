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

/// The seed's number fields, in order of the seed's example.
const NUMBER_FIELDS: [&str; 9] = [
    "auto_renew",
    "country_code",
    "country_name",
    "expire_date",
    "id",
    "number_type",
    "phone_number",
    "purchase_date",
    "status",
];

/// Buys a number of `country` for `duration` as seed 000's example does,
/// and its body.
async fn buy(
    client: &common::Client,
    key: &str,
    idempotency_key: &str,
    country: &str,
    duration: &str,
) -> Value {
    let body =
        format!(r#"{{"country_code":"{country}","duration":"{duration}","number_type":"voip"}}"#);
    ok(&client
        .call("/v1/numbers/buy", key, Some(idempotency_key), &body)
        .await)
}

/// The caller's balance as `/v1/account` writes it, digits and all.
async fn balance(client: &common::Client, key: &str) -> String {
    let answer = client.get("/v1/account", key).await;
    ok(&answer);
    let (_, rest) = answer.text.split_once(r#""balance":"#).unwrap();
    rest.split(',').next().unwrap().to_owned()
}

/// The number `id` with its SMS once it has `count` of them: inbound
/// routes an SMS moments after storing it.
async fn sms_of(client: &common::Client, key: &str, id: i64, count: usize) -> Value {
    for _ in 0..50 {
        let answer = ok(&client.get(&format!("/v1/numbers/{id}/sms"), key).await);
        if answer["data"]["messages"].as_array().unwrap().len() >= count {
            return answer;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("number {id} never had {count} SMS");
}

/// A fresh Idempotency-Key.
fn fresh() -> String {
    uuid::Uuid::now_v7().to_string()
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
    async fn buy_renew_and_cancel_replay_seed_000_and_retries_charge_once(backend: Backend) {
        let stack = Stack::start(backend).await;
        let key = stack.customer(12_450).await;
        let client = stack.client();

        // curl -X POST .../v1/numbers/buy -H "Idempotency-Key: ..." -d
        // '{"country_code":"US","duration":"oneMonth","number_type":"voip"}'
        let buy_key = "5f9b1b3a-c4e9-4f7c-a3b3-1c8b3e8f8f8f";
        let bought = buy(&client, &key, buy_key, "US", "oneMonth").await;
        let number = &bought["data"];
        assert_eq!(keys(number), NUMBER_FIELDS, "{number}");
        let id = number["id"].as_i64().expect("an integer id");
        assert!(id > 0);
        let phone = number["phone_number"].as_str().unwrap().to_owned();
        assert!(phone.starts_with("+1555010"), "{phone}");
        assert_eq!(number["country_code"], "US");
        assert_eq!(number["country_name"], "United States");
        assert_eq!(number["number_type"], "voip");
        assert_eq!(number["status"], "active");
        assert!(is_time(&number["purchase_date"]) && is_time(&number["expire_date"]), "{number}");
        // One month on: the same day of the next month.
        let purchased = number["purchase_date"].as_str().unwrap();
        let expires = number["expire_date"].as_str().unwrap();
        assert_eq!(&purchased[8..], &expires[8..]);
        assert_ne!(&purchased[5..7], &expires[5..7]);
        // The envelope: the number beside `success` too.
        assert_eq!(bought["id"], id);
        assert_eq!(bought["phone_number"], phone.as_str());
        assert_eq!(keys(&bought["meta"]), ["charged", "currency", "wallet_balance_after"]);
        let answer = client.call("/v1/numbers/buy", &key, Some(buy_key),
            r#"{"country_code":"US","duration":"oneMonth","number_type":"voip"}"#).await;
        assert!(answer.text.contains(r#""meta":{"charged":4.99,"currency":"USD","wallet_balance_after":119.51}"#), "{}", answer.text);
        // That was a retry with the same key: the same answer, charged once.
        assert_eq!(answer.json(), bought);
        assert_eq!(balance(&client, &key).await, "119.51");

        // curl -X POST .../v1/numbers/1482/renew -d '{"package":"threeMonths"}'
        let renew_key = "7f3e8c4a-2d1b-4e8f-91a4-3b9c2d8e1f4a";
        let path = format!("/v1/numbers/{id}/renew");
        let answer = client.call(&path, &key, Some(renew_key), r#"{"package":"threeMonths"}"#).await;
        let renewed = ok(&answer);
        assert_eq!(keys(&renewed["data"]), ["expire_date", "id", "phone_number", "status"]);
        assert_eq!(renewed["data"]["id"], id);
        assert_eq!(renewed["data"]["phone_number"], phone.as_str());
        assert_eq!(renewed["data"]["status"], "active");
        // Three months added to the old expiry: four after the purchase.
        let new_expiry = renewed["data"]["expire_date"].as_str().unwrap().to_owned();
        let month = |t: &str| t[0..4].parse::<i32>().unwrap() * 12 + t[5..7].parse::<i32>().unwrap();
        assert_eq!(month(&new_expiry) - month(purchased), 4);
        assert!(answer.text.contains(r#""meta":{"charged":12.99,"currency":"USD","wallet_balance_after":106.52}"#), "{}", answer.text);
        let again = client.call(&path, &key, Some(renew_key), r#"{"package":"threeMonths"}"#).await;
        assert_eq!(ok(&again), renewed);
        assert_eq!(balance(&client, &key).await, "106.52");
        // Without a package: one month, at its price.
        let month_more = ok(&client.call(&path, &key, Some(&fresh()), "").await);
        assert_eq!(month_more["meta"]["charged"], 4.99);
        assert_eq!(month(month_more["data"]["expire_date"].as_str().unwrap()) - month(purchased), 5);

        // curl -X POST .../v1/numbers/1482/cancel: within 120 minutes of
        // the purchase and before any SMS, everything charged comes back.
        let cancel_key = "9a1c7d2e-5f8b-4c3a-9e2d-6b4f1a8c3e7d";
        let path = format!("/v1/numbers/{id}/cancel");
        let answer = client
            .send(http::Method::POST, &path, &[("authorization", &format!("Bearer {key}")), ("idempotency-key", cancel_key)], "")
            .await;
        let cancelled = ok(&answer);
        assert_eq!(cancelled["data"], serde_json::json!({"id": id, "phone_number": phone, "status": "cancelled"}));
        assert!(answer.text.contains(r#""meta":{"refunded":22.97,"currency":"USD","wallet_balance_after":124.50}"#), "{}", answer.text);
        let again = client.call(&path, &key, Some(cancel_key), "").await;
        assert_eq!(ok(&again), cancelled);
        // Another key: the cancel is done, and answers the same.
        let other = ok(&client.call(&path, &key, Some(&fresh()), "").await);
        assert_eq!(other["meta"], cancelled["meta"]);
        assert_eq!(balance(&client, &key).await, "124.50");

        // A cancelled number renews no more: nothing charged.
        let answer = client.call(&format!("/v1/numbers/{id}/renew"), &key, Some(&fresh()), "").await;
        refused(&answer, StatusCode::UNPROCESSABLE_ENTITY, "number_expired");
        assert_eq!(balance(&client, &key).await, "124.50");
        stack.shutdown().await;
    }

    async fn the_refund_window_and_a_received_sms_decide_meta_refunded(backend: Backend) {
        // A window of three seconds stands for seed 000's 120 minutes.
        let stack = Stack::start_with(backend, &["--refund-window=3s"]).await;
        let key = stack.customer(5_000).await;
        let client = stack.client();
        let cancel = |number: &Value| format!("/v1/numbers/{}/cancel", number["data"]["id"]);

        let late = buy(&client, &key, &fresh(), "US", "oneMonth").await;
        let late_bought = std::time::Instant::now();
        let with_sms = buy(&client, &key, &fresh(), "US", "oneMonth").await;
        stack.sms(with_sms["data"]["phone_number"].as_str().unwrap(), "WhatsApp", "Your code is 432901").await;
        sms_of(&client, &key, with_sms["id"].as_i64().unwrap(), 1).await;

        // Inside the window: refunded in full.
        let early = buy(&client, &key, &fresh(), "US", "oneMonth").await;
        assert_eq!(balance(&client, &key).await, "35.03");
        let answer = client.call(&cancel(&early), &key, Some(&fresh()), "").await;
        assert!(answer.text.contains(r#""refunded":4.99,"currency":"USD","wallet_balance_after":40.02"#), "{}", answer.text);
        // Inside the window but after an SMS: released, nothing back, and
        // the balance as it is.
        let answer = client.call(&cancel(&with_sms), &key, Some(&fresh()), "").await;
        assert_eq!(ok(&answer)["data"]["status"], "cancelled");
        assert!(answer.text.contains(r#""refunded":0.00,"currency":"USD","wallet_balance_after":40.02"#), "{}", answer.text);
        // Outside the window: the same.
        let past = std::time::Duration::from_millis(3_500).saturating_sub(late_bought.elapsed());
        tokio::time::sleep(past).await;
        let answer = client.call(&cancel(&late), &key, Some(&fresh()), "").await;
        assert_eq!(ok(&answer)["data"]["status"], "cancelled");
        assert!(answer.text.contains(r#""refunded":0.00,"currency":"USD","wallet_balance_after":40.02"#), "{}", answer.text);
        assert_eq!(balance(&client, &key).await, "40.02");
        stack.shutdown().await;
    }

    async fn numbers_list_newest_first_filtered_by_status(backend: Backend) {
        let stack = Stack::start(backend).await;
        let key = stack.customer(2_000).await;
        let client = stack.client();
        let month = buy(&client, &key, &fresh(), "US", "oneMonth").await;
        let week = buy(&client, &key, &fresh(), "GB", "sevenDay").await;
        let gone = buy(&client, &key, &fresh(), "DE", "oneMonth").await;
        ok(&client.call(&format!("/v1/numbers/{}/cancel", gone["id"]), &key, Some(&fresh()), "").await);
        // A refused purchase charges nothing and is no number.
        refused(
            &client.call("/v1/numbers/buy", &key, Some(&fresh()), r#"{"country_code":"US","duration":"oneYear"}"#).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "insufficient_balance",
        );

        let ids = |body: &Value| -> Vec<i64> {
            body["data"].as_array().unwrap().iter().map(|n| n["id"].as_i64().unwrap()).collect()
        };
        // curl .../v1/numbers?status=expiring_soon: the week's number only.
        let soon = ok(&client.get("/v1/numbers?status=expiring_soon", &key).await);
        assert_eq!(ids(&soon), [week["id"].as_i64().unwrap()]);
        assert_eq!(keys(&soon["meta"]), ["count", "hasMore", "nextCursor", "pageSize", "status"]);
        assert_eq!(soon["meta"]["count"], 1);
        assert_eq!(soon["meta"]["status"], "expiring_soon");
        let listed = &soon["data"][0];
        assert_eq!(keys(listed), NUMBER_FIELDS);
        assert_eq!(listed, &week["data"]);
        assert_eq!(listed["country_name"], "United Kingdom");

        let all = ok(&client.get("/v1/numbers", &key).await);
        assert_eq!(all["meta"]["status"], "all");
        assert_eq!(ids(&all), [gone["id"].as_i64().unwrap(), week["id"].as_i64().unwrap(), month["id"].as_i64().unwrap()]);
        assert_eq!(all["data"][0]["status"], "cancelled");
        assert_eq!(all["data"][0]["country_name"], "Germany");
        let active = ok(&client.get("/v1/numbers?status=active", &key).await);
        assert_eq!(ids(&active), [week["id"].as_i64().unwrap(), month["id"].as_i64().unwrap()]);
        let cancelled = ok(&client.get("/v1/numbers?status=cancelled", &key).await);
        assert_eq!(ids(&cancelled), [gone["id"].as_i64().unwrap()]);
        let expired = ok(&client.get("/v1/numbers?status=expired", &key).await);
        assert_eq!(expired["meta"]["count"], 0);

        // Pages of two purchases: the refused one is left out of the
        // first, which shows one number; then two.
        let first = ok(&client.get("/v1/numbers?limit=2", &key).await);
        assert_eq!(ids(&first), [gone["id"].as_i64().unwrap()]);
        assert_eq!(first["meta"]["pageSize"], 2);
        assert_eq!(first["meta"]["hasMore"], true);
        let cursor = first["meta"]["nextCursor"].as_str().unwrap();
        let second = ok(&client.get(&format!("/v1/numbers?limit=2&cursor={cursor}"), &key).await);
        assert_eq!(ids(&second), [week["id"].as_i64().unwrap(), month["id"].as_i64().unwrap()]);
        assert!(second["meta"]["nextCursor"].is_null());
        // A cursor of another filter is refused.
        invalid(&client.get(&format!("/v1/numbers?status=active&cursor={cursor}"), &key).await, "cursor");
        for (path, field) in [
            ("/v1/numbers?status=expiring", "status"),
            ("/v1/numbers?status=ACTIVE", "status"),
            ("/v1/numbers?limit=0", "limit"),
            ("/v1/numbers?limit=101", "limit"),
            ("/v1/numbers?cursor=forged", "cursor"),
        ] {
            invalid(&client.get(path, &key).await, field);
        }
        stack.shutdown().await;
    }

    async fn sms_by_number_id_and_by_phone_number_with_cursor_pages(backend: Backend) {
        let stack = Stack::start(backend).await;
        let key = stack.customer(5_000).await;
        let client = stack.client();
        let bought = buy(&client, &key, &fresh(), "US", "oneMonth").await;
        let id = bought["id"].as_i64().unwrap();
        let phone = bought["data"]["phone_number"].as_str().unwrap().to_owned();

        // No SMS yet.
        let empty = ok(&client.get(&format!("/v1/numbers/{id}/sms"), &key).await);
        assert_eq!(empty["data"]["messages"], serde_json::json!([]));
        assert_eq!(empty["meta"], serde_json::json!({"count": 0}));

        stack.sms(&phone, "+18005550199", "Your code is 432901").await;
        sms_of(&client, &key, id, 1).await;
        stack.sms(&phone, "WhatsApp", "Your verification code is 483920.").await;

        // curl .../v1/numbers/1482/sms: the number and its SMS, newest first.
        let answer = sms_of(&client, &key, id, 2).await;
        assert_eq!(keys(&answer["data"]), ["messages", "number"]);
        assert_eq!(answer["data"]["number"], bought["data"]);
        assert_eq!(answer["meta"], serde_json::json!({"count": 2}));
        let messages = answer["data"]["messages"].as_array().unwrap();
        assert_eq!(keys(&messages[0]), ["body", "code", "from", "id", "received_at"]);
        assert_eq!(messages[0]["from"], "WhatsApp");
        assert_eq!(messages[0]["body"], "Your verification code is 483920.");
        assert_eq!(messages[0]["code"], "483920");
        assert!(is_time(&messages[0]["received_at"]));
        assert_eq!(messages[1]["from"], "+18005550199");
        assert_eq!(messages[1]["body"], "Your code is 432901");

        // curl .../v1/receive-sms?phoneNumber=%2B14035551234: oldest first.
        let encoded = phone.replace('+', "%2B");
        let inbox = ok(&client.get(&format!("/v1/receive-sms?phoneNumber={encoded}"), &key).await);
        assert_eq!(keys(&inbox["data"]), ["messages", "phoneNumber", "purchaseStatus"]);
        assert_eq!(inbox["data"]["phoneNumber"], phone.as_str());
        assert_eq!(inbox["data"]["purchaseStatus"], "active");
        let first = &inbox["data"]["messages"][0];
        assert_eq!(keys(first), ["code", "from", "id", "message", "receivedAt", "to"]);
        assert_eq!(first["from"], "+18005550199");
        assert_eq!(first["to"], phone.as_str());
        assert_eq!(first["message"], "Your code is 432901");
        assert_eq!(first["id"], messages[1]["id"]);
        let meta = &inbox["meta"];
        assert_eq!(
            keys(meta),
            ["count", "hasMore", "nextCursor", "pageSize", "pollCursor", "prevCursor", "requestedAt"]
        );
        assert_eq!(meta["count"], 2);
        assert_eq!(meta["pageSize"], 50);
        assert_eq!(meta["hasMore"], false);
        assert!(meta["nextCursor"].is_null() && meta["prevCursor"].is_null());
        assert!(is_time(&meta["requestedAt"]));

        // A page of one: a cursor to the next; the digits alone, or an
        // unescaped plus sign (read as a space), name the number too.
        let digits = &phone[1..];
        let page = ok(&client.get(&format!("/v1/receive-sms?phoneNumber={digits}&limit=1"), &key).await);
        assert_eq!(page["meta"]["hasMore"], true);
        assert_eq!(page["data"]["messages"][0]["message"], "Your code is 432901");
        let next = page["meta"]["nextCursor"].as_str().unwrap();
        let page = ok(&client.get(&format!("/v1/receive-sms?phoneNumber={phone}&limit=1&cursor={next}"), &key).await);
        assert_eq!(page["data"]["messages"][0]["from"], "WhatsApp");
        // The poller's place: later, only what arrived since.
        let poll = inbox["meta"]["pollCursor"].as_str().unwrap().to_owned();
        stack.sms(&phone, "Telegram", "Telegram code 55555").await;
        sms_of(&client, &key, id, 3).await;
        let later = ok(&client.get(&format!("/v1/receive-sms?phoneNumber={encoded}&cursor={poll}"), &key).await);
        assert_eq!(later["meta"]["count"], 1);
        assert_eq!(later["data"]["messages"][0]["message"], "Telegram code 55555");

        // Released after an SMS: no refund, and the inbox says so.
        let cancelled = ok(&client.call(&format!("/v1/numbers/{id}/cancel"), &key, Some(&fresh()), "").await);
        assert_eq!(cancelled["meta"]["refunded"], 0.0);
        let inbox = ok(&client.get(&format!("/v1/receive-sms?phoneNumber={encoded}"), &key).await);
        assert_eq!(inbox["data"]["purchaseStatus"], "cancelled");
        assert_eq!(inbox["meta"]["count"], 3);

        for (path, field) in [
            ("/v1/receive-sms".to_owned(), "phoneNumber"),
            ("/v1/receive-sms?phoneNumber=abc".to_owned(), "phoneNumber"),
            ("/v1/receive-sms?phoneNumber=%2B123".to_owned(), "phoneNumber"),
            (format!("/v1/receive-sms?phoneNumber={encoded}&limit=0"), "limit"),
            (format!("/v1/receive-sms?phoneNumber={encoded}&cursor=forged"), "cursor"),
            ("/v1/numbers/abc/sms".to_owned(), "id"),
            ("/v1/numbers/0/sms".to_owned(), "id"),
        ] {
            invalid(&client.get(&path, &key).await, field);
        }
        // A number never rented, an id never issued: 404.
        refused(&client.get("/v1/receive-sms?phoneNumber=%2B15550109999", &key).await, StatusCode::NOT_FOUND, "resource_not_found");
        refused(&client.get("/v1/numbers/999999/sms", &key).await, StatusCode::NOT_FOUND, "resource_not_found");
        stack.shutdown().await;
    }

    async fn another_accounts_numbers_are_404_and_untouched(backend: Backend) {
        let stack = Stack::start(backend).await;
        let owner = stack.customer(5_000).await;
        let other = stack.customer(5_000).await;
        let client = stack.client();
        let bought = buy(&client, &owner, &fresh(), "US", "oneMonth").await;
        let id = bought["id"].as_i64().unwrap();
        let phone = bought["data"]["phone_number"].as_str().unwrap().replace('+', "%2B");

        for answer in [
            client.get(&format!("/v1/numbers/{id}/sms"), &other).await,
            client.call(&format!("/v1/numbers/{id}/renew"), &other, Some(&fresh()), "").await,
            client.call(&format!("/v1/numbers/{id}/cancel"), &other, Some(&fresh()), "").await,
            client.get(&format!("/v1/receive-sms?phoneNumber={phone}"), &other).await,
        ] {
            let body = refused(&answer, StatusCode::NOT_FOUND, "resource_not_found");
            assert!(!body.to_string().contains(&owner), "{body}");
        }
        assert_eq!(ok(&client.get("/v1/numbers", &other).await)["meta"]["count"], 0);
        assert_eq!(balance(&client, &other).await, "50.00");
        // The owner's number is as it was.
        let mine = ok(&client.get(&format!("/v1/numbers/{id}/sms"), &owner).await);
        assert_eq!(mine["data"]["number"], bought["data"]);
        assert_eq!(balance(&client, &owner).await, "45.01");
        stack.shutdown().await;
    }

    async fn every_refusal_names_its_field_and_charges_nothing(backend: Backend) {
        let stack = Stack::start(backend).await;
        let key = stack.customer(1_000).await;
        let client = stack.client();
        let bought = buy(&client, &key, &fresh(), "US", "oneMonth").await;
        let id = bought["id"].as_i64().unwrap();
        let renew = format!("/v1/numbers/{id}/renew");

        for (path, body, field) in [
            ("/v1/numbers/buy", r#"{"duration":"oneMonth"}"#, "country_code"),
            ("/v1/numbers/buy", r#"{"country_code":"US"}"#, "duration"),
            ("/v1/numbers/buy", "{}", "duration"),
            ("/v1/numbers/buy", r#"{"country_code":"US","duration":"twoWeeks"}"#, "duration"),
            ("/v1/numbers/buy", r#"{"country_code":"US","duration":"oneMonth","number_type":"sim"}"#, "number_type"),
            ("/v1/numbers/buy", r#"{"country_code":"usa","duration":"oneMonth"}"#, "country_code"),
            ("/v1/numbers/buy", r#"{"country_code":7,"duration":"oneMonth"}"#, "country_code"),
            ("/v1/numbers/buy", r#"{"country_code":"US","duration":"oneMonth","auto_renew":"yes"}"#, "auto_renew"),
            ("/v1/numbers/buy", r#"{"country_code":"US""#, "body"),
            (renew.as_str(), r#"{"package":"forever"}"#, "package"),
            ("/v1/numbers/abc/renew", "", "id"),
            ("/v1/numbers/-4/renew", "", "id"),
            ("/v1/numbers/0/cancel", "", "id"),
            ("/v1/numbers/1.5/cancel", "", "id"),
        ] {
            invalid(&client.call(path, &key, Some(&fresh()), body).await, field);
        }
        // Both missing fields are named at once.
        let answer = client.call("/v1/numbers/buy", &key, Some(&fresh()), "{}").await;
        invalid(&answer, "country_code");
        invalid(&answer, "duration");
        // The input is never echoed whole.
        let long = "q".repeat(2_000);
        let answer = client.call("/v1/numbers/buy", &key, Some(&fresh()),
            &format!(r#"{{"country_code":"US","duration":"{long}"}}"#)).await;
        invalid(&answer, "duration");
        assert!(!answer.text.contains(&long));

        // A bad Idempotency-Key, named as the header.
        for bad in ["with space", &"k".repeat(300)] {
            for path in ["/v1/numbers/buy", renew.as_str(), &format!("/v1/numbers/{id}/cancel")] {
                let answer = client.call(path, &key, Some(bad),
                    r#"{"country_code":"US","duration":"oneMonth"}"#).await;
                invalid(&answer, "Idempotency-Key");
            }
        }
        // A key reused with another body: 409.
        let reused = fresh();
        buy(&client, &key, &reused, "US", "sevenDay").await;
        refused(
            &client.call("/v1/numbers/buy", &key, Some(&reused), r#"{"country_code":"GB","duration":"sevenDay"}"#).await,
            StatusCode::CONFLICT,
            "idempotency_key_reused",
        );
        // Not sold, not known, not affordable.
        refused(
            &client.call("/v1/numbers/buy", &key, Some(&fresh()), r#"{"country_code":"US","duration":"sixMonths"}"#).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_offered",
        );
        refused(
            &client.call("/v1/numbers/buy", &key, Some(&fresh()), r#"{"country_code":"ZZ","duration":"oneMonth"}"#).await,
            StatusCode::NOT_FOUND,
            "resource_not_found",
        );
        refused(
            &client.call("/v1/numbers/buy", &key, Some(&fresh()), r#"{"country_code":"US","duration":"oneYear"}"#).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "insufficient_balance",
        );
        refused(&client.call(&renew, &key, Some(&fresh()), r#"{"package":"oneYear"}"#).await,
            StatusCode::UNPROCESSABLE_ENTITY, "insufficient_balance");
        // A body that is not JSON.
        let answer = client.send(http::Method::POST, "/v1/numbers/buy",
            &[("authorization", &format!("Bearer {key}")), ("content-type", "text/plain")], "US").await;
        refused(&answer, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
        // Without a key.
        let answer = client.send(http::Method::POST, "/v1/numbers/buy", &[("content-type", "application/json")],
            r#"{"country_code":"US","duration":"oneMonth"}"#).await;
        refused(&answer, StatusCode::UNAUTHORIZED, "unauthorized");

        // Of 10.00: the month (4.99) and the week (2.00); nothing else.
        assert_eq!(balance(&client, &key).await, "3.01");
        let numbers = ok(&client.get("/v1/numbers", &key).await);
        assert_eq!(numbers["meta"]["count"], 2, "{numbers}");
        stack.shutdown().await;
    }

    async fn concurrent_retries_with_one_key_charge_once(backend: Backend) {
        let stack = Stack::start(backend).await;
        let key = stack.customer(5_000).await;
        let client = stack.client();

        let buy_key = fresh();
        let body = r#"{"country_code":"US","duration":"oneMonth","number_type":"voip"}"#;
        let answers = futures_util::future::join_all(
            (0..4).map(|_| client.call("/v1/numbers/buy", &key, Some(&buy_key), body)),
        )
        .await;
        let mut ids = Vec::new();
        for answer in &answers {
            // A retry that comes while the first is still buying is told
            // to retry; every other answers the one number.
            match answer.status {
                StatusCode::OK => ids.push(answer.json()["data"]["id"].as_i64().unwrap()),
                StatusCode::CONFLICT => assert_eq!(answer.json()["code"], "request_in_progress", "{}", answer.text),
                _ => panic!("{}", answer.text),
            }
        }
        assert!(!ids.is_empty());
        ids.dedup();
        assert_eq!(ids.len(), 1, "{ids:?}");
        let id = ids[0];
        // A late retry gets the number too.
        let late = ok(&client.call("/v1/numbers/buy", &key, Some(&buy_key), body).await);
        assert_eq!(late["id"], id);
        assert_eq!(balance(&client, &key).await, "45.01");

        let renew_key = fresh();
        let path = format!("/v1/numbers/{id}/renew");
        let answers = futures_util::future::join_all(
            (0..4).map(|_| client.call(&path, &key, Some(&renew_key), r#"{"package":"oneMonth"}"#)),
        )
        .await;
        let mut expiries = Vec::new();
        for answer in &answers {
            match answer.status {
                StatusCode::OK => expiries.push(answer.json()["data"]["expire_date"].clone()),
                StatusCode::CONFLICT => assert_eq!(answer.json()["code"], "request_in_progress", "{}", answer.text),
                _ => panic!("{}", answer.text),
            }
        }
        assert!(!expiries.is_empty());
        expiries.dedup();
        assert_eq!(expiries.len(), 1, "{expiries:?}");
        assert_eq!(balance(&client, &key).await, "40.02");
        assert_eq!(ok(&client.get("/v1/numbers", &key).await)["meta"]["count"], 1);
        stack.shutdown().await;
    }

    async fn the_openapi_document_describes_the_rental_routes(backend: Backend) {
        let stack = Stack::start(backend).await;
        let answer = stack.client().send(http::Method::GET, "/v1/openapi.json", &[], "").await;
        assert_eq!(answer.status, StatusCode::OK);
        let document = answer.json();
        for (path, method) in [
            ("/v1/pricing", "get"),
            ("/v1/pricing/{countryCode}", "get"),
            ("/v1/inventory", "get"),
            ("/v1/numbers", "get"),
            ("/v1/numbers/buy", "post"),
            ("/v1/numbers/{id}/renew", "post"),
            ("/v1/numbers/{id}/cancel", "post"),
            ("/v1/numbers/{id}/sms", "get"),
            ("/v1/receive-sms", "get"),
        ] {
            assert!(document["paths"][path][method].is_object(), "{method} {path} missing");
        }
        // Every schema the document names is in it.
        let text = document.to_string();
        for name in text.split("#/components/schemas/").skip(1) {
            let name = name.split('"').next().unwrap();
            assert!(document["components"]["schemas"][name].is_object(), "{name} is named but missing");
        }
        stack.shutdown().await;
    }

    async fn a_numbers_events_resume_after_the_last_event_id(backend: Backend) {
        let stack = Stack::start(backend).await;
        let key = stack.customer(10_000).await;
        let other = stack.customer(0).await;
        let client = stack.client();
        let number = buy(&client, &key, &fresh(), "US", "oneMonth").await;
        let id = number["data"]["id"].as_i64().unwrap();
        let phone = number["data"]["phone_number"].as_str().unwrap().to_owned();
        let path = format!("/v1/numbers/{id}/events");
        let wait = std::time::Duration::from_secs(10);

        let mut events = client.sse(&path, &key, None).await;
        assert_eq!(events.status, StatusCode::OK);
        let mut changed = events.next(wait).await.unwrap();
        while changed.json()["status"] != "active" {
            changed = events.next(wait).await.unwrap();
        }
        assert_eq!(changed.event, "changed");
        assert_eq!(changed.json()["id"], id);
        assert_eq!(changed.json()["country_name"], "United States");
        stack.sms(&phone, "Bank", "first 111111").await;
        let first = events.next(wait).await.unwrap();
        assert_eq!(first.event, "message");
        assert_eq!(first.json()["body"], "first 111111");
        drop(events);

        stack.sms(&phone, "Bank", "second 222222").await;
        sms_of(&client, &key, id, 2).await;
        let mut resumed = client.sse(&path, &key, Some(&first.id)).await;
        let next = resumed.next(wait).await.unwrap();
        assert_eq!(next.event, "message");
        assert_eq!(next.json()["body"], "second 222222", "only what came after, once");
        drop(resumed);

        let foreign = client.sse(&path, &other, None).await;
        assert_eq!(foreign.status, StatusCode::NOT_FOUND);
        let bad = client.sse("/v1/numbers/abc/events", &key, None).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        stack.shutdown().await;
    }
}
