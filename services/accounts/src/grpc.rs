//! The accounts gRPC services: thin handlers that validate a request, take
//! the caller from the auth layer, call [`Accounts`], and map its answer.

use numhub_auth::{Caller, RateLimits, Scopes};
use numhub_proto::accounts::v1 as pb;
use numhub_proto::common::v1::Scope;
use numhub_runtime::error as errors;
use numhub_runtime::tokens::TokenScope;
use numhub_runtime::validate::{self, Validator};
use tonic::{Code, Request, Response, Status};

use crate::model::{Account, ApiKey};
use crate::{Accounts, Visibility};

const MAX_NAME_LEN: usize = 200;
const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 100;
const LIST_API_KEYS: &str = "numhub.accounts.v1.AccountsService/ListApiKeys";
const LIST_ACCOUNTS: &str = "numhub.accounts.v1.AccountsAdminService/ListAccounts";

#[tonic::async_trait]
impl pb::accounts_service_server::AccountsService for Accounts {
    async fn get_account(
        &self,
        request: Request<pb::GetAccountRequest>,
    ) -> Result<Response<pb::Account>, Status> {
        let caller = Caller::of(&request)?;
        let r = request.into_inner();
        let id = if r.account_id.is_empty() {
            caller.account_id.to_string()
        } else {
            account_id(&r.account_id)?
        };
        let account = self
            .account(&id, Visibility::Own(&caller.account_id))
            .await?;
        Ok(Response::new(account_to_proto(account)))
    }

    async fn create_api_key(
        &self,
        request: Request<pb::CreateApiKeyRequest>,
    ) -> Result<Response<pb::CreateApiKeyResponse>, Status> {
        let caller = Caller::of(&request)?;
        let r = request.into_inner();
        let mut v = Validator::new();
        let name = v.check("name", name(&r.name));
        let scopes = v.check("scopes", scopes(&r.scopes));
        v.finish()?;
        let (key, secret) = self
            .create_key(
                &caller.account_id,
                &name.unwrap_or_default(),
                scopes.unwrap_or_default(),
                Some(caller.scopes),
            )
            .await?;
        Ok(Response::new(pb::CreateApiKeyResponse {
            api_key: Some(key_to_proto(key)),
            secret,
        }))
    }

    async fn list_api_keys(
        &self,
        request: Request<pb::ListApiKeysRequest>,
    ) -> Result<Response<pb::ListApiKeysResponse>, Status> {
        let caller = Caller::of(&request)?;
        let r = request.into_inner();
        let scope = TokenScope::new(LIST_API_KEYS, &caller.account_id)
            .filter("show_revoked", r.show_revoked.to_string());
        let (page_size, cursor) = self.paging(&scope, r.page_size, &r.page_token)?;
        let (keys, next) = self
            .list_keys(
                &caller.account_id,
                r.show_revoked,
                cursor.as_deref(),
                page_size,
            )
            .await?;
        Ok(Response::new(pb::ListApiKeysResponse {
            api_keys: keys.into_iter().map(key_to_proto).collect(),
            next_page_token: next
                .map(|c| self.tokens.encode(&scope, &c))
                .unwrap_or_default(),
        }))
    }

    async fn revoke_api_key(
        &self,
        request: Request<pb::RevokeApiKeyRequest>,
    ) -> Result<Response<pb::ApiKey>, Status> {
        let caller = Caller::of(&request)?;
        let id = key_id(&request.get_ref().api_key_id)?;
        let key = self
            .revoke_key(&id, Visibility::Own(&caller.account_id))
            .await?;
        Ok(Response::new(key_to_proto(key)))
    }
}

#[tonic::async_trait]
impl pb::accounts_admin_service_server::AccountsAdminService for Accounts {
    async fn create_account(
        &self,
        request: Request<pb::CreateAccountRequest>,
    ) -> Result<Response<pb::Account>, Status> {
        let r = request.into_inner();
        let mut v = Validator::new();
        let display_name = v.check("display_name", name(&r.display_name));
        let limits = v.check("rate_limits", rate_limits(r.rate_limits.as_ref()));
        let request_id = v.check("request_id", validate::request_id(&r.request_id));
        v.finish()?;
        let account = Accounts::create_account(
            self,
            &display_name.unwrap_or_default(),
            limits.flatten(),
            &request_id.unwrap_or_default(),
        )
        .await?;
        Ok(Response::new(account_to_proto(account)))
    }

    async fn lookup_account(
        &self,
        request: Request<pb::LookupAccountRequest>,
    ) -> Result<Response<pb::Account>, Status> {
        let id = account_id(&request.get_ref().account_id)?;
        let account = self.account(&id, Visibility::All).await?;
        Ok(Response::new(account_to_proto(account)))
    }

    async fn list_accounts(
        &self,
        request: Request<pb::ListAccountsRequest>,
    ) -> Result<Response<pb::ListAccountsResponse>, Status> {
        let r = request.into_inner();
        // Every account, not the caller's: bound to the method alone.
        let scope = TokenScope::new(LIST_ACCOUNTS, "");
        let (page_size, cursor) = self.paging(&scope, r.page_size, &r.page_token)?;
        let (accounts, next) = Accounts::list_accounts(self, cursor.as_deref(), page_size).await?;
        Ok(Response::new(pb::ListAccountsResponse {
            accounts: accounts.into_iter().map(account_to_proto).collect(),
            next_page_token: next
                .map(|c| self.tokens.encode(&scope, &c))
                .unwrap_or_default(),
        }))
    }

    async fn create_account_api_key(
        &self,
        request: Request<pb::CreateAccountApiKeyRequest>,
    ) -> Result<Response<pb::CreateApiKeyResponse>, Status> {
        let r = request.into_inner();
        let mut v = Validator::new();
        let account = v.check(
            "account_id",
            validate::uuid(&r.account_id).map(|id| id.to_string()),
        );
        let name = v.check("name", name(&r.name));
        let scopes = v.check("scopes", scopes(&r.scopes));
        v.finish()?;
        let (key, secret) = self
            .create_key(
                &account.unwrap_or_default(),
                &name.unwrap_or_default(),
                scopes.unwrap_or_default(),
                None,
            )
            .await?;
        Ok(Response::new(pb::CreateApiKeyResponse {
            api_key: Some(key_to_proto(key)),
            secret,
        }))
    }

    async fn revoke_account_api_key(
        &self,
        request: Request<pb::RevokeAccountApiKeyRequest>,
    ) -> Result<Response<pb::ApiKey>, Status> {
        let id = key_id(&request.get_ref().api_key_id)?;
        let key = self.revoke_key(&id, Visibility::All).await?;
        Ok(Response::new(key_to_proto(key)))
    }
}

#[tonic::async_trait]
impl pb::accounts_internal_service_server::AccountsInternalService for Accounts {
    async fn authenticate(
        &self,
        request: Request<pb::AuthenticateRequest>,
    ) -> Result<Response<pb::AuthenticateResponse>, Status> {
        match self.resolve(&request.get_ref().api_key).await? {
            Some(identity) => Ok(Response::new(pb::AuthenticateResponse {
                account_id: identity.account_id.to_string(),
                api_key_id: identity.api_key_id.to_string(),
                scopes: identity
                    .scopes
                    .to_vec()
                    .into_iter()
                    .map(i32::from)
                    .collect(),
                rate_limits: Some(pb::RateLimits {
                    requests_per_minute: identity.rate_limits.requests_per_minute,
                    money_requests_per_minute: identity.rate_limits.money_requests_per_minute,
                }),
            })),
            None => Err(errors::status(
                Code::Unauthenticated,
                numhub_auth::reasons::INVALID_API_KEY,
                "the API key is not valid",
            )),
        }
    }
}

fn name(value: &str) -> Result<String, String> {
    let value = validate::text(value, MAX_NAME_LEN)?;
    if value.trim().is_empty() {
        return Err("is required".into());
    }
    Ok(value)
}

fn account_id(value: &str) -> Result<String, Status> {
    uuid_field("account_id", value)
}

fn key_id(value: &str) -> Result<String, Status> {
    uuid_field("api_key_id", value)
}

/// Ids are UUIDs; anything else names nothing, so it is a bad field.
fn uuid_field(field: &str, value: &str) -> Result<String, Status> {
    let mut v = Validator::new();
    let id = v.check(field, validate::uuid(value).map(|id| id.to_string()));
    v.finish()?;
    Ok(id.unwrap_or_default())
}

fn scopes(values: &[i32]) -> Result<Scopes, String> {
    if values.is_empty() {
        return Err("at least one scope is required".into());
    }
    let mut set = Scopes::default();
    for &value in values {
        let scope = Scope::try_from(value)
            .ok()
            .filter(|s| *s != Scope::Unspecified)
            .ok_or_else(|| format!("{value} is not a scope"))?;
        if set.contains(scope) {
            return Err(format!("{} is listed twice", scope.as_str_name()));
        }
        set = set.with(scope);
    }
    Ok(set)
}

/// Unset or zero quotas mean the server's defaults.
fn rate_limits(limits: Option<&pb::RateLimits>) -> Result<Option<RateLimits>, String> {
    let Some(l) = limits else { return Ok(None) };
    match (l.requests_per_minute, l.money_requests_per_minute) {
        (0, 0) => Ok(None),
        (0, _) | (_, 0) => Err("set both quotas, or neither".into()),
        (all, money) if all > 1_000_000 || money > 1_000_000 => {
            Err("quotas are at most 1000000 per minute".into())
        }
        (all, money) => Ok(Some(RateLimits {
            requests_per_minute: all,
            money_requests_per_minute: money,
        })),
    }
}

impl Accounts {
    fn paging(
        &self,
        scope: &TokenScope,
        page_size: i32,
        token: &str,
    ) -> Result<(u32, Option<String>), Status> {
        let mut v = Validator::new();
        let size = v.check(
            "page_size",
            validate::page_size(page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE),
        );
        let cursor = v.check("page_token", self.tokens.decode_uuid(scope, token));
        v.finish()?;
        Ok((size.unwrap_or(DEFAULT_PAGE_SIZE), cursor.flatten()))
    }
}

fn account_to_proto(account: Account) -> pb::Account {
    pb::Account {
        id: account.id,
        display_name: account.display_name,
        operator: account.operator,
        rate_limits: Some(pb::RateLimits {
            requests_per_minute: account.rate_limits.requests_per_minute,
            money_requests_per_minute: account.rate_limits.money_requests_per_minute,
        }),
        create_time: Some(account.created_at.to_proto()),
    }
}

fn key_to_proto(key: ApiKey) -> pb::ApiKey {
    let state = if key.revoked_at.is_some() {
        pb::ApiKeyState::Revoked
    } else {
        pb::ApiKeyState::Active
    };
    pb::ApiKey {
        id: key.id,
        account_id: key.account_id,
        name: key.name,
        scopes: key.scopes.to_vec().into_iter().map(i32::from).collect(),
        prefix: key.display_prefix,
        state: state as i32,
        create_time: Some(key.created_at.to_proto()),
        last_use_time: key.last_used_at.map(|t| t.to_proto()),
        revoke_time: key.revoked_at.map(|t| t.to_proto()),
    }
}
