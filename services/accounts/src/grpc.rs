//! The accounts gRPC services: thin handlers that parse a request (see
//! [`crate::proto`]), take the caller from the auth layer, call
//! [`Accounts`], and map its answer.

use numhub_auth::Caller;
use numhub_proto::accounts::v1 as pb;
use numhub_runtime::error as errors;
use numhub_runtime::parse;
use numhub_runtime::tokens::TokenScope;
use tonic::{Code, Request, Response, Status};

use crate::model::{NewAccount, NewAccountApiKey, NewApiKey};
use crate::proto::{self, account_to_proto, key_to_proto};
use crate::{Accounts, Visibility};

const LIST_API_KEYS: &str = "numhub.accounts.v1.AccountsService/ListApiKeys";
const LIST_ACCOUNTS: &str = "numhub.accounts.v1.AccountsAdminService/ListAccounts";

#[tonic::async_trait]
impl pb::accounts_service_server::AccountsService for Accounts {
    async fn get_account(
        &self,
        request: Request<pb::GetAccountRequest>,
    ) -> Result<Response<pb::Account>, Status> {
        let caller = Caller::of(&request)?;
        let id = parse::request(proto::own_or_other_account(&request.get_ref().account_id))?
            .unwrap_or_else(|| caller.account_id.to_string());
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
        let new = parse::request(NewApiKey::try_from(request.into_inner()))?;
        let (key, secret) = self
            .create_key(
                &caller.account_id,
                &new.name,
                new.scopes,
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
        let page = parse::request(parse::page(
            &self.tokens,
            &scope,
            (r.page_size, &r.page_token),
            proto::PAGE_SIZES,
        ))?;
        let (keys, next) = self
            .list_keys(
                &caller.account_id,
                r.show_revoked,
                page.cursor.as_deref(),
                page.size,
            )
            .await?;
        Ok(Response::new(pb::ListApiKeysResponse {
            api_keys: keys.into_iter().map(key_to_proto).collect(),
            next_page_token: self.tokens.next_page(&scope, next),
        }))
    }

    async fn revoke_api_key(
        &self,
        request: Request<pb::RevokeApiKeyRequest>,
    ) -> Result<Response<pb::ApiKey>, Status> {
        let caller = Caller::of(&request)?;
        let id = parse::request(proto::key_id(&request.get_ref().api_key_id))?;
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
        let new = parse::request(NewAccount::try_from(request.into_inner()))?;
        let account =
            Accounts::create_account(self, &new.display_name, new.rate_limits, &new.request_id)
                .await?;
        Ok(Response::new(account_to_proto(account)))
    }

    async fn lookup_account(
        &self,
        request: Request<pb::LookupAccountRequest>,
    ) -> Result<Response<pb::Account>, Status> {
        let id = parse::request(proto::account_id(&request.get_ref().account_id))?;
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
        let page = parse::request(parse::page(
            &self.tokens,
            &scope,
            (r.page_size, &r.page_token),
            proto::PAGE_SIZES,
        ))?;
        let (accounts, next) =
            Accounts::list_accounts(self, page.cursor.as_deref(), page.size).await?;
        Ok(Response::new(pb::ListAccountsResponse {
            accounts: accounts.into_iter().map(account_to_proto).collect(),
            next_page_token: self.tokens.next_page(&scope, next),
        }))
    }

    async fn create_account_api_key(
        &self,
        request: Request<pb::CreateAccountApiKeyRequest>,
    ) -> Result<Response<pb::CreateApiKeyResponse>, Status> {
        let new = parse::request(NewAccountApiKey::try_from(request.into_inner()))?;
        let (key, secret) = self
            .create_key(&new.account_id, &new.key.name, new.key.scopes, None)
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
        let id = parse::request(proto::key_id(&request.get_ref().api_key_id))?;
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
                scopes: proto::scopes_to_proto(identity.scopes),
                rate_limits: Some(proto::rate_limits_to_proto(identity.rate_limits)),
            })),
            None => Err(errors::status(
                Code::Unauthenticated,
                numhub_auth::reasons::INVALID_API_KEY,
                "the API key is not valid",
            )),
        }
    }
}
