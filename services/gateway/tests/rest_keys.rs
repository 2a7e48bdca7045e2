//! The caller's API keys over HTTP against numhubd's real accounts service,
//! on both backends: a new key's secret shown once and working with its
//! scopes only, listing, revoking, another account's key, bad input.

mod common;

use common::Stack;
use http::{Method, StatusCode};
use numhub_testkit::backend_tests;

backend_tests! {
    async fn a_key_is_created_used_with_its_scopes_listed_and_revoked(backend: Backend) {
        let stack = Stack::start(backend).await;
        let key = stack.customer(1_000).await;
        let client = stack.client();

        let created = client.post("/v1/keys", &key, r#"{"name":"ci reader","scopes":["read"]}"#).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        let created = created.json();
        let secret = created["secret"].as_str().unwrap().to_owned();
        let id = created["id"].as_str().unwrap().to_owned();
        assert_eq!(created["scopes"], serde_json::json!(["read"]));
        assert_eq!(created["state"], "active");
        assert!(secret.starts_with(created["prefix"].as_str().unwrap()));

        // The new key reads, and may not buy.
        assert_eq!(client.get("/v1/account", &secret).await.status, StatusCode::OK);
        let buy = client.post("/v1/activations", &secret, r#"{"serviceCode":"wa","countryIso":"US"}"#).await;
        assert_eq!(buy.status, StatusCode::FORBIDDEN, "{}", buy.text);
        assert_eq!(buy.json()["success"], false);
        assert_eq!(client.get("/v1/account", &key).await.json()["balance"], 10.0);

        // Listed without its secret.
        let listed = client.get("/v1/keys", &key).await;
        assert!(!listed.text.contains(&secret), "a list never shows a secret");
        assert!(listed.json()["data"].as_array().unwrap().iter().any(|k| k["id"] == id.as_str()));

        // Another account can neither see nor revoke it.
        let other = stack.customer(0).await;
        let foreign = client.send(Method::DELETE, &format!("/v1/keys/{id}"), &[("x-api-key", &other)], "").await;
        assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{}", foreign.text);

        let revoked = client.send(Method::DELETE, &format!("/v1/keys/{id}"), &[("x-api-key", &key)], "").await;
        assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text);
        assert_eq!(revoked.json()["state"], "revoked");
        let active = client.get("/v1/keys", &key).await.json();
        assert!(active["data"].as_array().unwrap().iter().all(|k| k["id"] != id.as_str()));
        let all = client.get("/v1/keys?revoked=true", &key).await.json();
        assert!(all["data"].as_array().unwrap().iter().any(|k| k["id"] == id.as_str() && k["state"] == "revoked"));
        stack.shutdown().await;
    }

    async fn bad_key_requests_are_400_naming_the_field(backend: Backend) {
        let stack = Stack::start(backend).await;
        let key = stack.customer(0).await;
        let client = stack.client();
        for (body, field) in [
            (r#"{"scopes":["read"]}"#, "name"),
            (r#"{"name":"x"}"#, "scopes"),
            (r#"{"name":"x","scopes":[]}"#, "scopes"),
            (r#"{"name":"x","scopes":["admin"]}"#, "scopes"),
            (r#"{"name":"x","scopes":"read"}"#, "scopes"),
            (r#"{"name":"","scopes":["read"]}"#, "name"),
        ] {
            let answer = client.post("/v1/keys", &key, body).await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}: {}", answer.text);
            assert_eq!(answer.json()["errors"][0]["field"], field, "{body}: {}", answer.text);
        }
        let bad_id = client.send(Method::DELETE, "/v1/keys/not-a-key", &[("x-api-key", &key)], "").await;
        assert_eq!(bad_id.status, StatusCode::BAD_REQUEST, "{}", bad_id.text);
        assert_eq!(bad_id.json()["errors"][0]["field"], "id");
        stack.shutdown().await;
    }
}
