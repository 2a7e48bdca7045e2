//! Seed 004's activations through real HTTP against numhubd's real
//! services on both backends: the documented three-call loop as its
//! example code runs it, idempotent and concurrent retries, refunds,
//! another account's ids, every refusal with nothing charged, and live
//! events resumed with Last-Event-ID.

mod common;

use std::time::Duration;

use common::{Client, Stack};
use http::{Method, StatusCode};
use numhub_testkit::backend_tests;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);

/// The balance in cents, read as a client would.
async fn cents(client: &Client, key: &str) -> i64 {
    let account = client.get("/v1/account", key).await.json();
    (account["balance"].as_f64().unwrap() * 100.0).round() as i64
}

/// seed 004's `POST /v1/activations` as its example sends it.
async fn buy(
    client: &Client,
    key: &str,
    body: &str,
    idempotency_key: Option<&str>,
) -> common::Answer {
    let mut headers = vec![("x-api-key", key), ("content-type", "application/json")];
    if let Some(k) = idempotency_key {
        headers.push(("idempotency-key", k));
    }
    client
        .send(Method::POST, "/v1/activations", &headers, body)
        .await
}

/// Polls the activation until `done` holds.
async fn wait_until(client: &Client, key: &str, id: i64, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let activation = client
            .get(&format!("/v1/activations/{id}"), key)
            .await
            .json();
        if done(&activation) {
            return activation;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never: {activation}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

backend_tests! {
    async fn seed_004s_three_call_loop_buys_reads_the_code_and_completes(backend: Backend) {
        let stack = Stack::start(backend).await;
        let key = stack.customer(1_000).await;
        let client = stack.client();

        // 1) Buy a number for Telegram in the United States.
        let bought = buy(&client, &key, r#"{"serviceCode":"tg","countryIso":"US"}"#, None).await;
        assert_eq!(bought.status, StatusCode::CREATED, "{}", bought.text);
        let activation = bought.json();
        let id = activation["id"].as_i64().expect("a numeric id at the top level");
        assert!(id > 0);
        assert_eq!(activation["data"]["id"], id, "the same resource under data");
        let phone = activation["phoneNumber"].as_str().unwrap().to_owned();
        assert!(phone.starts_with("+1"), "{phone}");
        assert_eq!(activation["status"], "WAITING");
        assert!(activation["smsCode"].is_null());
        let price = (activation["price"].as_f64().unwrap() * 100.0).round() as i64;
        assert_eq!(cents(&client, &key).await, 1_000 - price, "charged once");

        // 2) Poll until the code arrives.
        stack.sms(&phone, "WhatsApp", "Telegram code: 48213").await;
        let received = wait_until(&client, &key, id, |a| a["status"] == "RECEIVED").await;
        assert_eq!(received["smsCode"], "48213");
        assert_eq!(received["smsText"], "Telegram code: 48213");
        assert_eq!(received["messages"][0]["code"], "48213");

        // 3) Confirm the code was used: a JSON answer, as the example parses one.
        let completed = client
            .send(Method::POST, &format!("/v1/activations/{id}/complete"),
                &[("x-api-key", &key), ("content-type", "application/json")], "")
            .await;
        assert_eq!(completed.status, StatusCode::OK, "{}", completed.text);
        assert_eq!(completed.json()["status"], "FINISHED");
        assert_eq!(cents(&client, &key).await, 1_000 - price, "the price is kept, once");

        // The list shows it, by its numeric id.
        let listed = client.get("/v1/activations?status=finished", &key).await.json();
        assert_eq!(listed["data"][0]["id"], id);
        assert_eq!(listed["meta"]["count"], 1);
        stack.shutdown().await;
    }

    async fn a_retry_with_the_same_idempotency_key_is_charged_once(backend: Backend) {
        let stack = Stack::start(backend).await;
        let key = stack.customer(1_000).await;
        let client = stack.client();
        let body = r#"{"serviceCode":"wa","countryIso":"US"}"#;

        // Concurrent retries of one purchase: one activation, one charge.
        let tries = (0..5).map(|_| buy(&client, &key, body, Some("buy-once-1")));
        let answers = futures_util::future::join_all(tries).await;
        let mut ids: Vec<i64> = Vec::new();
        for answer in &answers {
            if answer.status == StatusCode::CREATED {
                ids.push(answer.json()["id"].as_i64().unwrap());
            } else {
                // A retry that overtakes the first call is told to retry.
                assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.text);
            }
        }
        let again = buy(&client, &key, body, Some("buy-once-1")).await;
        assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
        let id = again.json()["id"].as_i64().unwrap();
        assert!(ids.iter().all(|i| *i == id), "{ids:?} vs {id}");
        let price = (again.json()["price"].as_f64().unwrap() * 100.0).round() as i64;
        assert_eq!(cents(&client, &key).await, 1_000 - price);

        // The same key with another body is refused, and changes nothing.
        let other = buy(&client, &key, r#"{"serviceCode":"tg","countryIso":"US"}"#, Some("buy-once-1")).await;
        assert_eq!(other.status, StatusCode::CONFLICT, "{}", other.text);
        assert_eq!(other.json()["code"], "idempotency_key_reused");

        // Without the header, each call is a purchase of its own.
        let one = buy(&client, &key, body, None).await.json()["id"].as_i64().unwrap();
        let two = buy(&client, &key, body, None).await.json()["id"].as_i64().unwrap();
        assert_ne!(one, two);
        assert_eq!(cents(&client, &key).await, 1_000 - 3 * price);
        stack.shutdown().await;
    }

    async fn cancel_refunds_once_and_ends_the_activation(backend: Backend) {
        let stack = Stack::start(backend).await;
        let key = stack.customer(1_000).await;
        let client = stack.client();
        let id = buy(&client, &key, r#"{"serviceCode":"wa","countryIso":"US"}"#, None).await.json()["id"]
            .as_i64().unwrap();
        let path = format!("/v1/activations/{id}");
        let cancelled = client.send(Method::DELETE, &path, &[("x-api-key", &key)], "").await;
        assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text);
        let cancelled = cancelled.json();
        assert_eq!(cancelled["status"], "CANCELLED");
        assert!(cancelled["refunded"].as_f64().unwrap() > 0.0);
        assert_eq!(cents(&client, &key).await, 1_000);

        // A second cancel (a client's retry) answers the same and refunds
        // nothing more; completing it now is refused.
        let again = client.send(Method::DELETE, &path, &[("x-api-key", &key)], "").await;
        assert_eq!(again.status, StatusCode::OK, "{}", again.text);
        assert_eq!(again.json()["status"], "CANCELLED");
        assert_eq!(cents(&client, &key).await, 1_000);
        let complete = client.post(&format!("{path}/complete"), &key, "").await;
        assert_eq!(complete.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", complete.text);
        assert_eq!(complete.json()["success"], false);
        assert_eq!(cents(&client, &key).await, 1_000);
        stack.shutdown().await;
    }

    async fn another_accounts_activation_is_404_on_every_route(backend: Backend) {
        let stack = Stack::start(backend).await;
        let owner = stack.customer(1_000).await;
        let other = stack.customer(1_000).await;
        let client = stack.client();
        let bought = buy(&client, &owner, r#"{"serviceCode":"wa","countryIso":"US"}"#, None).await.json();
        let id = bought["id"].as_i64().unwrap();
        let uuid = bought["uuid"].as_str().unwrap().to_owned();
        for path in [format!("/v1/activations/{id}"), format!("/v1/activations/{uuid}")] {
            let answer = client.get(&path, &other).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}: {}", answer.text);
            assert_eq!(answer.json()["code"], "resource_not_found");
        }
        for (method, path) in [
            (Method::DELETE, format!("/v1/activations/{id}")),
            (Method::POST, format!("/v1/activations/{id}/complete")),
            (Method::POST, format!("/v1/activations/{id}/resend")),
            (Method::POST, format!("/v1/activations/{id}/skip")),
        ] {
            let answer = client.send(method, &path, &[("x-api-key", &other)], "").await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}: {}", answer.text);
        }
        let events = client.sse(&format!("/v1/activations/{id}/events"), &other, None).await;
        assert_eq!(events.status, StatusCode::NOT_FOUND);
        // The owner's is untouched.
        assert_eq!(client.get(&format!("/v1/activations/{id}"), &owner).await.json()["status"], "WAITING");
        stack.shutdown().await;
    }

    async fn bad_input_is_400_naming_the_field_and_charges_nothing(backend: Backend) {
        let stack = Stack::start(backend).await;
        let key = stack.customer(1_000).await;
        let client = stack.client();
        let long = "x".repeat(10_000);
        let long_body = format!(r#"{{"serviceCode":"{long}","countryIso":"US"}}"#);
        for (body, field) in [
            (r#"{"countryIso":"US"}"#, "serviceCode"),
            (r#"{"serviceCode":"wa"}"#, "countryIso"),
            (r#"{"serviceCode":"WA!","countryIso":"US"}"#, "serviceCode"),
            (r#"{"serviceCode":"wa","countryIso":"usa"}"#, "countryIso"),
            (r#"{"serviceCode":"wa","countryIso":"US","maxPrice":"abc"}"#, "maxPrice"),
            (r#"{"serviceCode":"wa","countryIso":"US","maxPrice":-1}"#, "maxPrice"),
            (r#"{"serviceCode":"wa","countryIso":"US","maxPrice":0}"#, "maxPrice"),
            (r#"{"serviceCode":"wa","countryIso":"US","maxPrice":0.001}"#, "maxPrice"),
            (r#"{"serviceCode":"wa","countryIso":"US","colour":"red"}"#, "colour"),
            (r#"{"serviceCode":7,"countryIso":"US"}"#, "serviceCode"),
            (r#"{"serviceCode":"wa","#, "body"),
            (r#"[1,2]"#, "body"),
            (long_body.as_str(), "serviceCode"),
        ] {
            let answer = buy(&client, &key, body, None).await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body:.80}: {}", answer.text);
            let error = answer.json();
            assert_eq!(error["success"], false);
            assert_eq!(error["errors"][0]["field"], field, "{body:.80}: {error}");
            assert!(!answer.text.contains(&long), "the input is echoed whole");
        }
        let bad_key = buy(&client, &key, r#"{"serviceCode":"wa","countryIso":"US"}"#, Some("has space")).await;
        assert_eq!(bad_key.status, StatusCode::BAD_REQUEST);
        assert_eq!(bad_key.json()["errors"][0]["field"], "Idempotency-Key");
        let form = client
            .send(Method::POST, "/v1/activations",
                &[("x-api-key", &key), ("content-type", "application/x-www-form-urlencoded")],
                "serviceCode=wa&countryIso=US")
            .await;
        assert_eq!(form.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        for path in ["/v1/activations/0", "/v1/activations/-4", "/v1/activations/abc", "/v1/activations/99999999999999999999"] {
            let answer = client.get(path, &key).await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path}: {}", answer.text);
            assert_eq!(answer.json()["errors"][0]["field"], "id", "{path}");
        }
        let unknown = client.get("/v1/activations/987654", &key).await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        let status = client.get("/v1/activations?status=bogus", &key).await;
        assert_eq!(status.status, StatusCode::BAD_REQUEST);
        assert_eq!(status.json()["errors"][0]["field"], "status");

        // Too little money: 422 with the wallet's reason, nothing charged.
        let poor = stack.customer(1).await;
        let refused = buy(&client, &poor, r#"{"serviceCode":"wa","countryIso":"US"}"#, None).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text);
        assert_eq!(refused.json()["code"], "insufficient_balance");
        assert_eq!(cents(&client, &poor).await, 1);
        // A limit under the price: refused, nothing charged.
        let dear = buy(&client, &key, r#"{"serviceCode":"wa","countryIso":"US","maxPrice":"0.01"}"#, None).await;
        assert_eq!(dear.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", dear.text);
        assert_eq!(cents(&client, &key).await, 1_000);
        stack.shutdown().await;
    }

    async fn events_resume_after_the_last_event_id_without_gap_or_repeat(backend: Backend) {
        let stack = Stack::start(backend).await;
        let key = stack.customer(1_000).await;
        let client = stack.client();
        let bought = buy(&client, &key, r#"{"serviceCode":"wa","countryIso":"US"}"#, None).await.json();
        let id = bought["id"].as_i64().unwrap();
        let phone = bought["phoneNumber"].as_str().unwrap().to_owned();
        let path = format!("/v1/activations/{id}/events");

        let mut events = client.sse(&path, &key, None).await;
        assert_eq!(events.status, StatusCode::OK);
        assert_eq!(events.headers["content-type"], "text/event-stream");
        let waiting = events.next(WAIT).await.unwrap();
        assert_eq!(waiting.event, "status");
        assert_eq!(waiting.json()["status"], "WAITING");
        assert_eq!(waiting.json()["id"], id);

        stack.sms(&phone, "WhatsApp", "Your WhatsApp code 111-222").await;
        let received = events.next(WAIT).await.unwrap();
        let message = events.next(WAIT).await.unwrap();
        let mut seen = [received.clone(), message.clone()];
        seen.sort_by_key(|e| e.event.clone());
        assert_eq!(seen[0].event, "message");
        assert_eq!(seen[0].json()["code"], "111222");
        assert_eq!(seen[1].json()["status"], "RECEIVED");
        let last_seen = message.id.clone();
        drop(events);

        // While disconnected: another SMS, then completion.
        let resend = client.post(&format!("/v1/activations/{id}/resend"), &key, "").await;
        assert_eq!(resend.status, StatusCode::OK, "{}", resend.text);
        stack.sms(&phone, "WhatsApp", "Your WhatsApp code 333-444").await;
        wait_until(&client, &key, id, |a| a["smsCode"] == "333444").await;
        client.post(&format!("/v1/activations/{id}/complete"), &key, "").await;

        // Resumed: only what came after, each once, then the stream ends
        // after the event that ends the activation.
        let mut resumed = client.sse(&path, &key, Some(&last_seen)).await;
        let mut after = Vec::new();
        while let Some(event) = resumed.next(WAIT).await {
            after.push(event);
        }
        assert!(after.iter().all(|e| e.id != last_seen && e.id != received.id && e.id != waiting.id));
        let codes: Vec<_> = after.iter().filter(|e| e.event == "message").map(|e| e.json()["code"].clone()).collect();
        assert_eq!(codes, [Value::from("333444")]);
        assert_eq!(after.last().unwrap().json()["status"], "FINISHED");

        // The account's message stream has both, and resumes after the first.
        let mut all = client.sse("/v1/messages/events", &key, None).await;
        let first = all.next(WAIT).await.unwrap();
        assert_eq!(first.json()["code"], "111222");
        let second = all.next(WAIT).await.unwrap();
        assert_eq!(second.json()["code"], "333444");
        drop(all);
        let mut from_first = client.sse("/v1/messages/events", &key, Some(&first.id)).await;
        assert_eq!(from_first.next(WAIT).await.unwrap().id, second.id);
        drop(from_first);

        // A cursor the gateway never gave is refused before the stream opens.
        let forged = client.sse(&path, &key, Some("forged-cursor")).await;
        assert_eq!(forged.status, StatusCode::BAD_REQUEST);
        stack.shutdown().await;
    }

    async fn a_live_stream_ends_when_the_gateway_stops(backend: Backend) {
        let stack = Stack::start(backend).await;
        let key = stack.customer(1_000).await;
        let client = stack.client();
        let mut events = client.sse("/v1/messages/events", &key, None).await;
        assert_eq!(events.status, StatusCode::OK);
        let stopping = tokio::spawn(stack.shutdown());
        assert!(events.next(WAIT).await.is_none(), "the stream ends");
        stopping.await.unwrap();
    }
}
