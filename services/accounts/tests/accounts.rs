//! Accounts, API keys and the auth layer, through real gRPC, on SQLite and
//! PostgreSQL.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use numhub_accounts::{Accounts, AccountsSettings};
use numhub_auth::{Environment, Secret};
use numhub_proto::ACCESS_RULES;
use numhub_proto::accounts::v1 as pb;
use numhub_proto::common::v1::{Credential, Scope};
use numhub_testkit::BearerKey;
use numhub_testkit::backend_tests;
use numhub_testkit::raw::call_empty;
use numhub_testkit::stack::accounts::{CACHE_TTL, SERVICE_CREDENTIAL};
use tokio::task::JoinSet;
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic_types::StatusExt;

fn accounts_rules() -> impl Iterator<Item = &'static numhub_proto::MethodAccess> {
    ACCESS_RULES
        .iter()
        .filter(|r| r.path.starts_with("/numhub.accounts."))
}

backend_tests! {
    async fn every_rpc_refuses_a_caller_without_its_credential(backend: Backend) {
        let mut h = start(backend).await;
        let account = h.account("acme").await;
        let (_, customer) = h.key(&account.id, READ_WRITE).await;
        let admin = h.stack.admin_key.clone();
        for rule in accounts_rules() {
            let channel = h.stack.channel();
            let anonymous = call_empty(channel.clone(), rule.path, None).await;
            assert_eq!(anonymous.code(), Code::Unauthenticated, "{}: {anonymous:?}", rule.path);
            assert_eq!(reason(&anonymous), "MISSING_CREDENTIAL", "{}", rule.path);
            let garbage = call_empty(channel.clone(), rule.path, Some("Bearer nh_live_nope")).await;
            assert_eq!(garbage.code(), Code::Unauthenticated, "{}: {garbage:?}", rule.path);
            match rule.credential {
                Credential::Service => {
                    // Never a customer's key, not even the operator's.
                    for key in [&customer, &admin] {
                        let status = call_empty(channel.clone(), rule.path, Some(&format!("Bearer {key}"))).await;
                        assert_eq!(status.code(), Code::PermissionDenied, "{}: {status:?}", rule.path);
                        assert_eq!(reason(&status), "SERVICE_CREDENTIAL_REQUIRED");
                    }
                }
                Credential::ApiKey if rule.scope == Scope::Admin => {
                    let status = call_empty(channel.clone(), rule.path, Some(&format!("Bearer {customer}"))).await;
                    assert_eq!(status.code(), Code::PermissionDenied, "{}: {status:?}", rule.path);
                    assert_eq!(reason(&status), "MISSING_SCOPE");
                }
                _ => {}
            }
        }
    }

    async fn malformed_unknown_and_revoked_keys_get_one_answer(backend: Backend) {
        let mut h = start(backend).await;
        let account = h.account("acme").await;
        let (key, secret) = h.key(&account.id, READ_WRITE).await;
        let get = |secret: &str| {
            let mut client = h.public(secret);
            async move { client.get_account(pb::GetAccountRequest::default()).await }
        };
        get(&secret).await.expect("a fresh key works");

        let unknown = numhub_auth::api_key::generate(Environment::Live).secret;
        let unknown_answer = assert_status(get(&unknown).await, Code::Unauthenticated, "INVALID_API_KEY");
        for malformed in ["nh_live_short", "Bearer", "not a key at all", &secret[..secret.len() - 1]] {
            let status = assert_status(get(malformed).await, Code::Unauthenticated, "INVALID_API_KEY");
            assert_eq!(status.message(), unknown_answer.message());
        }
        // Another deployment's key is no key here.
        let test_key = numhub_auth::api_key::generate(Environment::Test).secret;
        assert_status(get(&test_key).await, Code::Unauthenticated, "INVALID_API_KEY");

        let revoked = h.public(&secret)
            .revoke_api_key(pb::RevokeApiKeyRequest { api_key_id: key.id.clone() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(revoked.state, pb::ApiKeyState::Revoked as i32);
        assert!(revoked.revoke_time.is_some());
        // Within the cache window the key still works here...
        get(&secret).await.expect("cached until the window ends");
        // ...and not a moment after it.
        h.clock.advance(CACHE_TTL);
        let revoked_answer = assert_status(get(&secret).await, Code::Unauthenticated, "INVALID_API_KEY");
        assert_eq!(revoked_answer.message(), unknown_answer.message());
        // The service itself refuses it at once, cache or not.
        let direct = h.stack.accounts.resolve(&secret).await.unwrap();
        assert!(direct.is_none());
        // Revoking again changes nothing.
        let again = h.admin
            .revoke_account_api_key(pb::RevokeAccountApiKeyRequest { api_key_id: key.id.clone() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(again.revoke_time, revoked.revoke_time);
    }

    async fn keys_are_shown_once_and_listed_without_secrets(backend: Backend) {
        let mut h = start(backend).await;
        let account = h.account("acme").await;
        let (_, secret) = h.key(&account.id, READ_WRITE).await;
        let mut client = h.public(&secret);
        let created = client
            .create_api_key(pb::CreateApiKeyRequest {
                name: "ci".into(),
                scopes: vec![Scope::Read as i32],
            })
            .await
            .unwrap()
            .into_inner();
        let new_secret = created.secret.clone();
        let new_key = created.api_key.unwrap();
        assert!(new_secret.starts_with("nh_live_"));
        assert!(new_secret.len() >= 8 + 43, "at least 256 bits after the prefix");
        assert!(new_secret.starts_with(&new_key.prefix));
        assert_eq!(new_key.account_id, account.id);
        assert_eq!(new_key.scopes, [Scope::Read as i32]);
        assert_eq!(new_key.last_use_time, None);

        // x-api-key works as well as authorization: Bearer.
        let mut request = tonic::Request::new(pb::GetAccountRequest::default());
        request.metadata_mut().insert("x-api-key", MetadataValue::try_from(new_secret.as_str()).unwrap());
        let mut plain = numhub_proto::accounts::v1::accounts_service_client::AccountsServiceClient::new(h.stack.channel());
        assert_eq!(plain.get_account(request).await.unwrap().into_inner().id, account.id);

        let listed = client
            .list_api_keys(pb::ListApiKeysRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.api_keys.len(), 2);
        let shown = format!("{listed:?}");
        assert!(!shown.contains(&new_secret) && !shown.contains(&secret), "a secret was listed");
        let listed_new = listed.api_keys.iter().find(|k| k.id == new_key.id).unwrap();
        assert_eq!(listed_new.prefix, new_key.prefix);
        assert!(listed_new.last_use_time.is_some(), "its use was recorded");
        // Newest first.
        assert_eq!(listed.api_keys[0].id, new_key.id);
        // The store holds no secret either.
        let stored: Vec<String> = sqlx::query_scalar("SELECT verifier FROM api_keys")
            .fetch_all(h.stack.db.db.reader())
            .await
            .unwrap();
        assert!(stored.iter().all(|v| !v.contains(&new_secret[8..]) && v.len() == 64));
    }

    async fn scopes_are_checked_per_rpc_and_never_escalate(backend: Backend) {
        let mut h = start(backend).await;
        let account = h.account("acme").await;
        let (_, read_only) = h.key(&account.id, &[Scope::Read]).await;
        let (_, read_write) = h.key(&account.id, READ_WRITE).await;

        let status = assert_status(
            h.public(&read_only).create_api_key(pb::CreateApiKeyRequest {
                name: "x".into(),
                scopes: vec![Scope::Read as i32],
            }).await,
            Code::PermissionDenied,
            "MISSING_SCOPE",
        );
        assert_eq!(status.get_error_details().error_info().unwrap().metadata["scope"], "write");
        h.public(&read_only).get_account(pb::GetAccountRequest::default()).await.expect("read works");

        // A customer key reaches no admin RPC.
        let mut customer_admin = numhub_proto::accounts::v1::accounts_admin_service_client::AccountsAdminServiceClient::with_interceptor(
            h.stack.channel(), BearerKey(read_write.clone()));
        assert_status(
            customer_admin.create_account(pb::CreateAccountRequest {
                display_name: "evil".into(),
                rate_limits: None,
                request_id: "r1".into(),
            }).await,
            Code::PermissionDenied,
            "MISSING_SCOPE",
        );
        // A key cannot grant what it does not hold.
        assert_status(
            h.public(&read_write).create_api_key(pb::CreateApiKeyRequest {
                name: "x".into(),
                scopes: vec![Scope::Read as i32, Scope::Admin as i32],
            }).await,
            Code::PermissionDenied,
            "MISSING_SCOPE",
        );
        // The admin scope lives on the operator account only.
        let status = assert_status(
            h.admin.create_account_api_key(pb::CreateAccountApiKeyRequest {
                account_id: account.id.clone(),
                name: "x".into(),
                scopes: vec![Scope::Admin as i32],
            }).await,
            Code::InvalidArgument,
            "INVALID_FIELD",
        );
        assert!(status.message().contains("scopes"), "{status:?}");
        for (scopes, what) in [(vec![], "none"), (vec![Scope::Read as i32, Scope::Read as i32], "twice"), (vec![0], "unspecified"), (vec![42], "unknown")] {
            let status = assert_status(
                h.public(&read_write).create_api_key(pb::CreateApiKeyRequest { name: "x".into(), scopes }).await,
                Code::InvalidArgument,
                "INVALID_FIELD",
            );
            let fields = bad_fields(&status);
            assert_eq!(fields, ["scopes"], "{what}");
        }
    }

    async fn sixty_calls_a_minute_then_retry_info_and_headers(backend: Backend) {
        let mut h = start(backend).await;
        let account = h.account("acme").await;
        let (_, secret) = h.key(&account.id, READ_WRITE).await;
        let (_, other) = h.key(&account.id, READ_WRITE).await;
        let mut client = h.public(&secret);
        for i in 0..60u32 {
            let response = client.get_account(pb::GetAccountRequest::default()).await.unwrap();
            let header = |name| response.metadata().get(name).unwrap().to_str().unwrap().to_owned();
            assert_eq!(header("x-ratelimit-limit"), "60");
            assert_eq!(header("x-ratelimit-remaining"), (59 - i).to_string());
        }
        let limited = assert_status(
            client.get_account(pb::GetAccountRequest::default()).await,
            Code::ResourceExhausted,
            "RATE_LIMITED",
        );
        let details = limited.get_error_details();
        assert_eq!(details.retry_info().unwrap().retry_delay, Some(Duration::from_secs(60)));
        let header = |name| limited.metadata().get(name).unwrap().to_str().unwrap().to_owned();
        assert_eq!(header("retry-after"), "60");
        assert_eq!(header("x-ratelimit-limit"), "60");
        assert_eq!(header("x-ratelimit-remaining"), "0");
        // Another key of the same account has its own quota.
        h.public(&other).get_account(pb::GetAccountRequest::default()).await.expect("own quota");
        // Late in the minute the 61st call is still refused, and told how
        // long is left.
        h.clock.advance(Duration::from_secs(45));
        let limited = assert_status(
            client.get_account(pb::GetAccountRequest { account_id: uuid::Uuid::now_v7().to_string() }).await,
            Code::ResourceExhausted,
            "RATE_LIMITED",
        );
        assert_eq!(limited.get_error_details().retry_info().unwrap().retry_delay, Some(Duration::from_secs(15)));
        assert_eq!(limited.metadata().get("retry-after").unwrap(), "15");
        // When the minute is over, a new one starts.
        h.clock.advance(Duration::from_secs(15));
        let response = client.get_account(pb::GetAccountRequest::default()).await.unwrap();
        assert_eq!(response.metadata().get("x-ratelimit-remaining").unwrap(), "59");
        // Errors for other reasons carry the headers too.
        let not_found = assert_status(
            client.get_account(pb::GetAccountRequest { account_id: uuid::Uuid::now_v7().to_string() }).await,
            Code::NotFound,
            "RESOURCE_NOT_FOUND",
        );
        assert_eq!(not_found.metadata().get("x-ratelimit-limit").unwrap(), "60");
        assert_eq!(not_found.metadata().get("x-ratelimit-remaining").unwrap(), "58");
    }

    async fn internal_rpcs_take_the_service_credential_only(backend: Backend) {
        let mut h = start(backend).await;
        let account = h.account("acme").await;
        let (key, secret) = h.key(&account.id, READ_WRITE).await;
        let authenticate = |authorization: Option<String>, api_key: &str| {
            let mut client = h.internal();
            let mut request = tonic::Request::new(pb::AuthenticateRequest { api_key: api_key.into() });
            if let Some(value) = authorization {
                request.metadata_mut().insert("authorization", MetadataValue::try_from(value).unwrap());
            }
            async move { client.authenticate(request).await }
        };
        let credential = Some(format!("Bearer {SERVICE_CREDENTIAL}"));
        let identity = authenticate(credential.clone(), &secret).await.unwrap().into_inner();
        assert_eq!(identity.account_id, account.id);
        assert_eq!(identity.api_key_id, key.id);
        assert_eq!(identity.scopes, [Scope::Read as i32, Scope::Write as i32]);
        let limits = identity.rate_limits.unwrap();
        assert_eq!((limits.requests_per_minute, limits.money_requests_per_minute), (60, 10));

        assert_status(authenticate(None, &secret).await, Code::Unauthenticated, "MISSING_CREDENTIAL");
        assert_status(authenticate(Some(format!("Bearer {secret}")), &secret).await, Code::PermissionDenied, "SERVICE_CREDENTIAL_REQUIRED");
        let admin = h.stack.admin_key.clone();
        assert_status(authenticate(Some(format!("Bearer {admin}")), &secret).await, Code::PermissionDenied, "SERVICE_CREDENTIAL_REQUIRED");
        assert_status(authenticate(Some(format!("Bearer {}x", SERVICE_CREDENTIAL)), &secret).await, Code::Unauthenticated, "INVALID_SERVICE_CREDENTIAL");
        // A key in x-api-key gets the same answer as in authorization.
        let mut request = tonic::Request::new(pb::AuthenticateRequest { api_key: secret.clone() });
        request.metadata_mut().insert("x-api-key", MetadataValue::try_from(secret.as_str()).unwrap());
        assert_status(h.internal().authenticate(request).await, Code::PermissionDenied, "SERVICE_CREDENTIAL_REQUIRED");
        // An unknown key resolves to nothing, with the layer's one answer.
        let unknown = numhub_auth::api_key::generate(Environment::Live).secret;
        assert_status(authenticate(credential, &unknown).await, Code::Unauthenticated, "INVALID_API_KEY");
    }

    async fn bad_ids_and_names_are_refused_without_echoing_them(backend: Backend) {
        let mut h = start(backend).await;
        let a = h.account("a").await;
        let (_, secret) = h.key(&a.id, READ_WRITE).await;
        let mut client = h.public(&secret);
        for (what, id) in [
            ("1 MiB", "A".repeat(1 << 20)),
            ("10 KiB", "A".repeat(10 << 10)),
            ("braced", format!("{{{}}}", a.id)),
            ("unhyphenated", a.id.replace('-', "")),
        ] {
            let refused = assert_status(client.get_account(pb::GetAccountRequest { account_id: id }).await, Code::InvalidArgument, "INVALID_FIELD");
            assert_eq!(bad_fields(&refused), ["account_id"], "{what}");
            assert!(refused.message().len() < 200, "{what}: {} bytes of message", refused.message().len());
        }
        // The hyphenated form reads in either case.
        let upper = client.get_account(pb::GetAccountRequest { account_id: a.id.to_uppercase() }).await.unwrap();
        assert_eq!(upper.into_inner().id, a.id);
        // A name that reorders itself in a listing is refused.
        let disguised = client.create_api_key(pb::CreateApiKeyRequest { name: "ci\u{202E}txt.exe".into(), scopes: vec![Scope::Read as i32] }).await;
        assert_eq!(bad_fields(&assert_status(disguised, Code::InvalidArgument, "INVALID_FIELD")), ["name"]);
    }

    async fn another_account_learns_nothing(backend: Backend) {
        let mut h = start(backend).await;
        let a = h.account("a").await;
        let b = h.account("b").await;
        let (a_key, a_secret) = h.key(&a.id, READ_WRITE).await;
        let (_, b_secret) = h.key(&b.id, READ_WRITE).await;
        let mut as_b = h.public(&b_secret);
        let mut covered = HashSet::new();
        let mut cover = |method: &str| covered.insert(format!("/numhub.accounts.v1.AccountsService/{method}"));

        cover("GetAccount");
        assert_eq!(as_b.get_account(pb::GetAccountRequest::default()).await.unwrap().into_inner().id, b.id);
        let hidden = assert_status(as_b.get_account(pb::GetAccountRequest { account_id: a.id.clone() }).await, Code::NotFound, "RESOURCE_NOT_FOUND");
        let absent = assert_status(as_b.get_account(pb::GetAccountRequest { account_id: uuid::Uuid::now_v7().to_string() }).await, Code::NotFound, "RESOURCE_NOT_FOUND");
        assert_eq!(hidden.message().replace(&a.id, "ID"), absent.message().replace(absent.message().split('"').nth(1).unwrap(), "ID"));

        cover("RevokeApiKey");
        assert_status(as_b.revoke_api_key(pb::RevokeApiKeyRequest { api_key_id: a_key.id.clone() }).await, Code::NotFound, "RESOURCE_NOT_FOUND");
        h.public(&a_secret).get_account(pb::GetAccountRequest::default()).await.expect("A's key still works");

        cover("ListApiKeys");
        let listed = as_b.list_api_keys(pb::ListApiKeysRequest { show_revoked: true, ..Default::default() }).await.unwrap().into_inner();
        assert!(listed.api_keys.iter().all(|k| k.account_id == b.id));
        // A page token made of A's key id (in the format of earlier
        // versions) is refused, as is A's own page token.
        h.key(&a.id, READ_WRITE).await;
        let a_page = h.public(&a_secret).list_api_keys(pb::ListApiKeysRequest { page_size: 1, ..Default::default() }).await.unwrap().into_inner();
        assert!(!a_page.next_page_token.is_empty());
        for token in [numhub_testkit::tokens::v1(&a_key.id), a_page.next_page_token] {
            let request = pb::ListApiKeysRequest { page_token: token.clone(), ..Default::default() };
            numhub_testkit::tokens::assert_refused(as_b.list_api_keys(request).await, "page_token", &token);
        }

        cover("CreateApiKey");
        let created = as_b.create_api_key(pb::CreateApiKeyRequest { name: "b2".into(), scopes: vec![Scope::Read as i32] }).await.unwrap().into_inner();
        assert_eq!(created.api_key.unwrap().account_id, b.id);
        let a_keys = h.public(&a_secret).list_api_keys(pb::ListApiKeysRequest::default()).await.unwrap().into_inner();
        assert_eq!(a_keys.api_keys.len(), 2);

        let public: HashSet<String> = accounts_rules()
            .filter(|r| r.credential == Credential::ApiKey && r.scope != Scope::Admin)
            .map(|r| r.path.to_owned())
            .collect();
        assert_eq!(covered, public, "every public RPC is swept");
    }

    async fn accounts_are_created_once_per_request_id(backend: Backend) {
        let h = start(backend).await;
        let request = pb::CreateAccountRequest {
            display_name: "acme".into(),
            rate_limits: Some(pb::RateLimits { requests_per_minute: 120, money_requests_per_minute: 5 }),
            request_id: "create-acme".into(),
        };
        let mut tasks = JoinSet::new();
        for _ in 0..8 {
            let mut admin = h.admin.clone();
            let request = request.clone();
            tasks.spawn(async move { admin.create_account(request).await.map(|r| r.into_inner()) });
        }
        let mut ids = HashSet::new();
        while let Some(result) = tasks.join_next().await {
            let account = result.unwrap().expect("every retry gets the account");
            assert_eq!(account.rate_limits.unwrap().requests_per_minute, 120);
            assert!(!account.operator);
            ids.insert(account.id);
        }
        assert_eq!(ids.len(), 1, "one account for one request id");
        let mut admin = h.admin.clone();
        assert_status(
            admin.create_account(pb::CreateAccountRequest { display_name: "other".into(), ..request.clone() }).await,
            Code::FailedPrecondition,
            "IDEMPOTENCY_KEY_REUSED",
        );
        let status = assert_status(
            admin.create_account(pb::CreateAccountRequest {
                display_name: " ".into(),
                rate_limits: Some(pb::RateLimits { requests_per_minute: 0, money_requests_per_minute: 5 }),
                request_id: String::new(),
            }).await,
            Code::InvalidArgument,
            "INVALID_FIELD",
        );
        let fields = bad_fields(&status);
        assert_eq!(fields, ["display_name", "rate_limits", "request_id"]);
        let listed = admin.list_accounts(pb::ListAccountsRequest::default()).await.unwrap().into_inner();
        // The operator account and acme.
        assert_eq!(listed.accounts.len(), 2);
        assert!(listed.accounts.iter().any(|a| a.operator));
        let looked_up = admin.lookup_account(pb::LookupAccountRequest { account_id: ids.into_iter().next().unwrap() }).await.unwrap().into_inner();
        assert_eq!(looked_up.display_name, "acme");
    }

    async fn concurrent_key_creations_respect_the_limit(backend: Backend) {
        let mut h = start(backend).await;
        let account = h.account("acme").await;
        let (_, secret) = h.key(&account.id, READ_WRITE).await;
        let max = AccountsSettings::default().max_api_keys as usize;
        let mut tasks = JoinSet::new();
        for i in 0..max + 10 {
            let mut client = h.public(&secret);
            // Each task its own key would hit the rate limit; one key, 30 calls.
            tasks.spawn(async move {
                client.create_api_key(pb::CreateApiKeyRequest { name: format!("k{i}"), scopes: vec![Scope::Read as i32] }).await
            });
        }
        let (mut created, mut refused) = (0, 0);
        while let Some(result) = tasks.join_next().await {
            match result.unwrap() {
                Ok(_) => created += 1,
                Err(status) => {
                    assert_eq!(reason(&status), "TOO_MANY_API_KEYS", "{status:?}");
                    refused += 1;
                }
            }
        }
        assert_eq!(created, max - 1, "the first key counts too");
        assert_eq!(refused, 11);
    }

    async fn the_configured_admin_key_replaces_the_generated_one(backend: Backend) {
        let h = start(backend).await;
        let generated = h.stack.admin_key.clone();
        let accounts: &Accounts = &h.stack.accounts;
        // A second start without configuration prints nothing new.
        assert_eq!(accounts.bootstrap(None).await.unwrap(), None);

        let configured = numhub_auth::api_key::generate(Environment::Live).secret;
        assert_eq!(accounts.bootstrap(Some(&Secret::new(configured.clone()))).await.unwrap(), None);
        // Idempotent on restart.
        assert_eq!(accounts.bootstrap(Some(&Secret::new(configured.clone()))).await.unwrap(), None);
        let identity = accounts.resolve(&configured).await.unwrap().expect("the configured key works");
        assert!(identity.scopes.contains(Scope::Admin));
        assert!(accounts.resolve(&generated).await.unwrap().is_none(), "the generated key was replaced");

        let error = accounts.bootstrap(Some(&Secret::new("nh_live_typo"))).await.unwrap_err();
        assert!(error.to_string().contains("NUMHUB_ADMIN_KEY"), "{error}");
        assert!(!error.to_string().contains("nh_live_typo"), "the error shows the secret");
    }
}
