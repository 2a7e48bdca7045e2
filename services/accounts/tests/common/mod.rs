//! Shared fixture of the accounts tests: the service served over real gRPC
//! on a fresh database, with the operator's admin key.

#![allow(dead_code)]

use std::sync::Arc;

use numhub_proto::accounts::v1 as pb;
use numhub_proto::accounts::v1::accounts_admin_service_client::AccountsAdminServiceClient;
use numhub_proto::accounts::v1::accounts_internal_service_client::AccountsInternalServiceClient;
use numhub_proto::accounts::v1::accounts_service_client::AccountsServiceClient;
use numhub_proto::common::v1::Scope;
use numhub_runtime::clock::ManualClock;
pub use numhub_testkit::stack::accounts::Stack;
use numhub_testkit::{Backend, BearerKey};
use tonic::codegen::InterceptedService;
use tonic::transport::Channel;

pub type Public = AccountsServiceClient<InterceptedService<Channel, BearerKey>>;
pub type Admin = AccountsAdminServiceClient<InterceptedService<Channel, BearerKey>>;
pub type Internal = AccountsInternalServiceClient<Channel>;

pub struct Harness {
    pub stack: Stack,
    pub clock: Arc<ManualClock>,
    pub admin: Admin,
}

pub async fn start(backend: Backend) -> Harness {
    let clock = Arc::new(ManualClock::starting_now());
    let stack = Stack::start(backend, clock.clone()).await;
    let admin = AccountsAdminServiceClient::with_interceptor(
        stack.channel(),
        BearerKey(stack.admin_key.clone()),
    );
    Harness {
        stack,
        clock,
        admin,
    }
}

impl Harness {
    pub fn public(&self, key: &str) -> Public {
        AccountsServiceClient::with_interceptor(self.stack.channel(), BearerKey(key.to_owned()))
    }

    pub fn internal(&self) -> Internal {
        AccountsInternalServiceClient::new(self.stack.channel())
    }

    /// A new account, through the admin surface.
    pub async fn account(&mut self, name: &str) -> pb::Account {
        self.admin
            .create_account(pb::CreateAccountRequest {
                display_name: name.into(),
                rate_limits: None,
                request_id: uuid::Uuid::now_v7().to_string(),
            })
            .await
            .expect("create account")
            .into_inner()
    }

    /// A key for `account_id`, through the admin surface: (key, secret).
    pub async fn key(&mut self, account_id: &str, scopes: &[Scope]) -> (pb::ApiKey, String) {
        let response = self
            .admin
            .create_account_api_key(pb::CreateAccountApiKeyRequest {
                account_id: account_id.into(),
                name: "key".into(),
                scopes: scopes.iter().map(|s| *s as i32).collect(),
            })
            .await
            .expect("create key")
            .into_inner();
        (response.api_key.expect("key"), response.secret)
    }
}

// Not every test binary uses every helper.
#[allow(unused_imports)]
pub use numhub_testkit::status::{assert_status, bad_fields, reason};

pub const READ_WRITE: &[Scope] = &[Scope::Read, Scope::Write];
