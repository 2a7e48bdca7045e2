//! The REST API's account and catalog routes through real HTTP, against
//! numhubd's real services on both backends: seed 000's conventions (the
//! envelope, the three key headers, the quota headers, exact money) and
//! their refusals.

mod common;

use common::Stack;
use http::{Method, StatusCode};
use numhub_testkit::backend_tests;

backend_tests! {
    async fn the_account_shows_the_balance_beside_success_and_under_data(backend: Backend) {
        let stack = Stack::start(backend).await;
        let key = stack.customer(12_450).await;
        let client = stack.client();

        let answer = client.get("/v1/account", &key).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        // Exact decimal text with the currency's two digits, as seed 000's
        // example shows it.
        assert_eq!(
            answer.text,
            r#"{"success":true,"balance":124.50,"currency":"USD","data":{"balance":124.50,"currency":"USD"}}"#
        );
        assert_eq!(answer.header("content-type"), Some("application/json"));
        assert_eq!(answer.header("x-ratelimit-limit"), Some("60"));
        assert!(answer.header("x-ratelimit-remaining").is_some());

        // The other two headers the seeds use carry the key too.
        for header in ["x-api-key", "api-key"] {
            let answer = client.send(Method::GET, "/v1/account", &[(header, &key)], "").await;
            assert_eq!(answer.status, StatusCode::OK, "{header}");
            assert_eq!(answer.json()["balance"], 124.5);
        }
        stack.shutdown().await;
    }

    async fn a_missing_or_unknown_key_is_401_in_the_envelope(backend: Backend) {
        let stack = Stack::start(backend).await;
        let client = stack.client();
        let missing = client.send(Method::GET, "/v1/account", &[], "").await;
        assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
        assert_eq!(missing.json()["success"], false);
        assert_eq!(missing.json()["code"], "unauthorized");

        let unknown = client.get("/v1/account", "nh_live_notakeyatall").await;
        assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
        assert_eq!(unknown.json()["code"], "unauthorized");
        assert!(!unknown.text.contains("nh_live_notakeyatall"), "{}", unknown.text);
        stack.shutdown().await;
    }

    async fn the_catalog_pages_with_next_cursor_and_has_more(backend: Backend) {
        let stack = Stack::start(backend).await;
        let key = stack.customer(0).await;
        let client = stack.client();

        let first = client.get("/v1/services/wa/countries?limit=2", &key).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.text);
        let first = first.json();
        assert_eq!(first["meta"]["count"], 2);
        assert_eq!(first["meta"]["hasMore"], true);
        let cursor = first["meta"]["nextCursor"].as_str().unwrap().to_owned();
        let offer = &first["data"][0];
        for field in ["iso", "name", "dialPrefix", "activateId", "price", "currency", "stock"] {
            assert!(!offer[field].is_null(), "{field} in {offer}");
        }

        let second = client
            .get(&format!("/v1/services/wa/countries?limit=2&cursor={cursor}"), &key)
            .await
            .json();
        // The demo sells in three countries: the last page has one, and
        // no cursor.
        assert_eq!(second["meta"]["count"], 1);
        assert_eq!(second["meta"]["hasMore"], false);
        assert!(second["meta"]["nextCursor"].is_null());
        let isos: Vec<_> = first["data"].as_array().unwrap().iter()
            .chain(second["data"].as_array().unwrap())
            .map(|c| c["iso"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(isos, ["DE", "GB", "US"]);

        // Every service, page by page, each once.
        let mut codes = Vec::new();
        let mut path = "/v1/services?limit=100".to_owned();
        loop {
            let page = client.get(&path, &key).await.json();
            codes.extend(page["data"].as_array().unwrap().iter().map(|s| s["code"].as_str().unwrap().to_owned()));
            match page["meta"]["nextCursor"].as_str() {
                Some(cursor) => path = format!("/v1/services?limit=100&cursor={cursor}"),
                None => break,
            }
        }
        assert!(codes.contains(&"wa".to_owned()), "{codes:?}");
        let mut unique = codes.clone();
        unique.dedup();
        assert_eq!(unique, codes);
        let countries = client.get("/v1/countries?limit=100", &key).await.json();
        assert!(countries["data"].as_array().unwrap().iter().any(|c| c["iso"] == "DE" && c["activateId"] == 43));
        stack.shutdown().await;
    }

    async fn bad_parameters_are_400_naming_the_parameter(backend: Backend) {
        let stack = Stack::start(backend).await;
        let key = stack.customer(0).await;
        let client = stack.client();
        for (path, field) in [
            ("/v1/services?limit=0", "limit"),
            ("/v1/services?limit=101", "limit"),
            ("/v1/services?limit=abc", "limit"),
            ("/v1/services?cursor=not-a-cursor", "cursor"),
            ("/v1/services/WA/countries", "service"),
        ] {
            let answer = client.get(path, &key).await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path}: {}", answer.text);
            let body = answer.json();
            assert_eq!(body["success"], false, "{path}");
            assert_eq!(body["code"], "invalid_field", "{path}");
            assert_eq!(body["errors"][0]["field"], field, "{path}: {body}");
        }
        let long = "a".repeat(5_000);
        let answer = client.get(&format!("/v1/services?limit={long}"), &key).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(!answer.text.contains(&long), "the input is echoed whole");

        let unknown = client.get("/v1/nothing-here", &key).await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        assert_eq!(unknown.json()["code"], "not_found");
        let wrong_method = client.post("/v1/account", &key, "{}").await;
        assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(wrong_method.json()["success"], false);
        stack.shutdown().await;
    }

    async fn only_answers_worth_it_are_compressed_for_clients_that_accept_gzip(backend: Backend) {
        let stack = Stack::start(backend).await;
        let key = stack.customer(12_450).await;
        let client = stack.client();
        let gzip = [("accept-encoding", "gzip, deflate"), ("x-api-key", key.as_str())];

        // A small answer goes as it is: gzip would save a few bytes for
        // more CPU than the request.
        let small = client.send(Method::GET, "/v1/account", &gzip, "").await;
        assert_eq!(small.status, StatusCode::OK);
        assert_eq!(small.header("content-encoding"), None);
        assert_eq!(small.json()["balance"], 124.5);

        // A large one is compressed.
        let large = client.send(Method::GET, "/v1/openapi.json", &gzip, "").await;
        assert_eq!(large.status, StatusCode::OK);
        assert_eq!(large.header("content-encoding"), Some("gzip"));
        assert!(serde_json::from_str::<serde_json::Value>(&large.text).is_err());
        stack.shutdown().await;
    }

    async fn the_openapi_document_describes_every_route(backend: Backend) {
        let stack = Stack::start(backend).await;
        let answer = stack.client().send(Method::GET, "/v1/openapi.json", &[], "").await;
        assert_eq!(answer.status, StatusCode::OK);
        let document = answer.json();
        assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
        for path in ["/v1/account", "/v1/services", "/v1/countries", "/v1/services/{service}/countries"] {
            assert!(document["paths"][path].is_object(), "{path} missing");
        }
        stack.shutdown().await;
    }

    async fn oversized_and_unfinished_requests_are_cut_off(backend: Backend) {
        let stack = Stack::start_with(
            backend,
            &["--gateway-client-timeout=1s", "--gateway-max-body-bytes=1024"],
        )
        .await;
        let key = stack.customer(1_000).await;
        let client = stack.client();
        let big = format!(r#"{{"serviceCode":"wa","countryIso":"US","operator":"{}"}}"#, "a".repeat(2_000));
        let answer = client.post("/v1/activations", &key, &big).await;
        assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(answer.json()["code"], "payload_too_large");

        // Headers that promise a body that never comes: 408 after the
        // client timeout, and nothing bought.
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut stalled = tokio::net::TcpStream::connect(stack.http).await.unwrap();
        let head = format!(
            "POST /v1/activations HTTP/1.1\r\nhost: numhub\r\nx-api-key: {key}\r\n\
             content-type: application/json\r\ncontent-length: 100\r\n\r\n{{"
        );
        stalled.write_all(head.as_bytes()).await.unwrap();
        let started = std::time::Instant::now();
        let mut reply = String::new();
        tokio::time::timeout(std::time::Duration::from_secs(10), stalled.read_to_string(&mut reply))
            .await
            .expect("cut off in time")
            .unwrap();
        assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
        assert!(started.elapsed() >= std::time::Duration::from_millis(900));
        let listed = client.get("/v1/activations", &key).await.json();
        assert_eq!(listed["meta"]["count"], 0);
        stack.shutdown().await;
    }
}
