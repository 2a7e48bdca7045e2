//! numhub's accounts: customer accounts, their API keys, and the resolution
//! of a key to an identity that every service's auth layer relies on.
//!
//! Layers: [`grpc`] (thin handlers for the public, admin and internal
//! services) over [`Accounts`] (the rules) over [`store`] (SQL).

pub mod config;
pub mod error;
pub mod grpc;
pub mod model;
pub mod proto;
pub mod service;
pub mod store;

use numhub_auth::api_key::{self, Environment};
use numhub_auth::{
    AuthLayer, Authenticator, CachedAuthenticator, Identity, RateLimits, Scopes, Secret,
    ServiceCredentials,
};
use numhub_proto::common::v1::Scope;
use numhub_runtime::clock::SharedClock;
use numhub_runtime::db::{Database, Migrations, is_unique_violation};
use numhub_runtime::idempotency::fingerprint;
use numhub_runtime::tokens::PageTokens;
use numhub_runtime::validate::page_token;

pub use crate::config::AccountsSettings;
use crate::error::Error;
use crate::model::{Account, ApiKey};

/// The accounts service's schema, for both backends.
pub const MIGRATIONS: Migrations = numhub_runtime::migrations!();

/// The idempotency key of the operator account's creation.
const OPERATOR_REQUEST_ID: &str = "numhub:operator-account";

/// The accounts service.
#[derive(Debug, Clone)]
pub struct Accounts {
    db: Database,
    clock: SharedClock,
    settings: AccountsSettings,
    environment: Environment,
    tokens: PageTokens,
}

/// What a key holder may see: its own account only, or every account.
#[derive(Debug, Clone, Copy)]
pub enum Visibility<'a> {
    Own(&'a str),
    All,
}

impl Visibility<'_> {
    fn allows(self, account_id: &str) -> bool {
        match self {
            Visibility::Own(own) => own == account_id,
            Visibility::All => true,
        }
    }
}

impl Accounts {
    /// Accounts on a migrated database.
    pub async fn new(
        db: Database,
        clock: SharedClock,
        settings: AccountsSettings,
        environment: Environment,
    ) -> Result<Self, Error> {
        let tokens = PageTokens::load(&db).await?;
        Ok(Self {
            db,
            clock,
            settings,
            environment,
            tokens,
        })
    }

    /// An auth layer that resolves keys here, in process, for a server that
    /// serves accounts itself.
    pub fn auth_layer(
        &self,
        credentials: ServiceCredentials,
        cache_ttl: std::time::Duration,
    ) -> AuthLayer {
        let authenticator = CachedAuthenticator::new(
            std::sync::Arc::new(self.clone()),
            cache_ttl,
            self.clock.clone(),
        );
        AuthLayer::new(
            authenticator,
            credentials,
            self.environment,
            self.clock.clone(),
        )
    }

    /// Creates a customer account, idempotently by `request_id`.
    pub async fn create_account(
        &self,
        display_name: &str,
        rate_limits: Option<RateLimits>,
        request_id: &str,
    ) -> Result<Account, Error> {
        let rate_limits = rate_limits.unwrap_or(self.settings.default_rate_limits());
        let fingerprint = fingerprint(&[
            display_name,
            &rate_limits.requests_per_minute.to_string(),
            &rate_limits.money_requests_per_minute.to_string(),
        ]);
        let account = Account {
            id: uuid::Uuid::now_v7().to_string(),
            display_name: display_name.to_owned(),
            operator: false,
            rate_limits,
            created_at: self.clock.now(),
        };
        self.insert_account(&account, request_id, &fingerprint)
            .await
    }

    async fn insert_account(
        &self,
        account: &Account,
        request_id: &str,
        fingerprint: &str,
    ) -> Result<Account, Error> {
        let new = store::NewAccount {
            account,
            request_id,
            fingerprint,
        };
        match store::insert_account(self.db.writer(), new).await {
            Ok(()) => Ok(account.clone()),
            Err(error) if is_unique_violation(&error) => {
                match store::account_by_request(self.db.reader(), request_id).await? {
                    Some((existing, stored)) if stored == fingerprint => Ok(existing),
                    Some(_) => Err(Error::key_reused(request_id)),
                    // Not the request id: the operator slot was taken.
                    None => Err(error.into()),
                }
            }
            Err(error) => Err(error.into()),
        }
    }

    pub async fn account(&self, id: &str, visibility: Visibility<'_>) -> Result<Account, Error> {
        if !visibility.allows(id) {
            return Err(Error::account_not_found(id));
        }
        store::account(self.db.reader(), id)
            .await?
            .ok_or_else(|| Error::account_not_found(id))
    }

    pub async fn list_accounts(
        &self,
        before: Option<&str>,
        page_size: u32,
    ) -> Result<(Vec<Account>, Option<String>), Error> {
        let accounts = store::list_accounts(self.db.reader(), before, page_size + 1).await?;
        Ok(page_token::split(accounts, page_size, |a| a.id.clone()))
    }

    /// Creates a key for `account_id` with `scopes`, which `granter` must
    /// all hold (`None`: the operator's admin surface, which may grant any
    /// scope). Returns the key and its secret, which is never stored.
    pub async fn create_key(
        &self,
        account_id: &str,
        name: &str,
        scopes: Scopes,
        granter: Option<Scopes>,
    ) -> Result<(ApiKey, String), Error> {
        if let Some(held) = granter
            && let Some(missing) = scopes.to_vec().into_iter().find(|s| !held.contains(*s))
        {
            return Err(Error::scope_not_held(numhub_auth::identity::scope_name(
                missing,
            )));
        }
        let mut tx = self.db.begin_write().await?;
        if !store::lock_account(&mut *tx, account_id).await? {
            return Err(Error::account_not_found(account_id));
        }
        let account = store::account(&mut *tx, account_id)
            .await?
            .ok_or_else(|| Error::account_not_found(account_id))?;
        if scopes.contains(Scope::Admin) && !account.operator {
            return Err(Error::invalid(
                "scopes",
                "the admin scope can only be granted on the operator account",
            ));
        }
        let max = self.settings.max_api_keys;
        if store::count_active_keys(&mut *tx, account_id).await? >= max {
            return Err(Error::too_many_keys(max));
        }
        let (key, secret) = self
            .insert_key(&mut tx, account_id, name, scopes, false)
            .await?;
        tx.commit().await?;
        tracing::info!(account_id, api_key_id = %key.id, prefix = %key.display_prefix, "API key created");
        Ok((key, secret))
    }

    async fn insert_key(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        account_id: &str,
        name: &str,
        scopes: Scopes,
        bootstrap: bool,
    ) -> Result<(ApiKey, String), Error> {
        let new = api_key::generate(self.environment);
        let key = ApiKey {
            id: uuid::Uuid::now_v7().to_string(),
            account_id: account_id.to_owned(),
            name: name.to_owned(),
            scopes,
            display_prefix: new.stored.display_prefix.clone(),
            created_at: self.clock.now(),
            last_used_at: None,
            revoked_at: None,
        };
        let record = store::NewKey {
            key: &key,
            selector: &new.stored.selector,
            verifier: &new.stored.verifier,
            bootstrap,
        };
        store::insert_key(&mut **tx, record).await?;
        Ok((key, new.secret))
    }

    pub async fn list_keys(
        &self,
        account_id: &str,
        show_revoked: bool,
        before: Option<&str>,
        page_size: u32,
    ) -> Result<(Vec<ApiKey>, Option<String>), Error> {
        let keys = store::list_keys(
            self.db.reader(),
            account_id,
            show_revoked,
            before,
            page_size + 1,
        )
        .await?;
        Ok(page_token::split(keys, page_size, |k| k.id.clone()))
    }

    /// Revokes a key; revoking a revoked key changes nothing.
    pub async fn revoke_key(&self, id: &str, visibility: Visibility<'_>) -> Result<ApiKey, Error> {
        let mut tx = self.db.begin_write().await?;
        let key = store::key(&mut *tx, id)
            .await?
            .filter(|k| visibility.allows(&k.account_id))
            .ok_or_else(|| Error::key_not_found(id))?;
        if store::revoke_key(&mut *tx, id, self.clock.now()).await? {
            tracing::info!(account_id = %key.account_id, api_key_id = id, "API key revoked");
        }
        let key = store::key(&mut *tx, id)
            .await?
            .ok_or_else(|| Error::key_not_found(id))?;
        tx.commit().await?;
        Ok(key)
    }

    /// Resolves a key; `None` for malformed, unknown and revoked keys alike.
    pub async fn resolve(&self, secret: &str) -> Result<Option<Identity>, Error> {
        let Some(presented) = api_key::parse(self.environment, secret) else {
            return Ok(None);
        };
        let Some(record) = store::key_by_selector(self.db.reader(), &presented.selector).await?
        else {
            return Ok(None);
        };
        if !api_key::verifiers_match(&record.verifier, &presented.verifier)
            || record.key.revoked_at.is_some()
        {
            return Ok(None);
        }
        if let Err(error) =
            store::touch_key(self.db.writer(), &record.key.id, self.clock.now()).await
        {
            // Losing a last-use time must not refuse a valid key.
            tracing::warn!(error = %numhub_runtime::error::error_chain(&error),
                "cannot record an API key's use");
        }
        Ok(Some(Identity {
            account_id: record.key.account_id.into(),
            api_key_id: record.key.id.into(),
            scopes: record.key.scopes,
            rate_limits: record.rate_limits,
        }))
    }

    /// Makes sure the operator account exists and has an admin key: the
    /// configured one (`NUMHUB_ADMIN_KEY`), which replaces any earlier
    /// bootstrap key, or else, when the operator has no active key at all, a
    /// new one, returned so the caller can print it once.
    pub async fn bootstrap(&self, admin_key: Option<&Secret>) -> anyhow::Result<Option<String>> {
        let operator = self.operator_account().await?;
        let all = Scopes::from_iter([Scope::Read, Scope::Write, Scope::Admin]);
        let Some(configured) = admin_key else {
            if store::count_active_keys(self.db.reader(), &operator.id).await? > 0 {
                return Ok(None);
            }
            let mut tx = self.db.begin_write().await?;
            let (key, secret) = self
                .insert_key(&mut tx, &operator.id, "bootstrap admin key", all, true)
                .await?;
            tx.commit().await?;
            tracing::info!(api_key_id = %key.id, prefix = %key.display_prefix,
                "created the operator's admin key; it is printed once on standard error");
            return Ok(Some(secret));
        };
        let stored = api_key::parse(self.environment, configured.expose()).ok_or_else(|| {
            anyhow::anyhow!(
                "NUMHUB_ADMIN_KEY is not a numhub API key of this deployment (expected {}...); \
                 `numhub-accounts generate-key` makes one",
                self.environment.prefix()
            )
        })?;
        let key_id = match store::key_by_selector(self.db.reader(), &stored.selector).await? {
            Some(record) if api_key::verifiers_match(&record.verifier, &stored.verifier) => {
                if record.key.revoked_at.is_some() {
                    anyhow::bail!("NUMHUB_ADMIN_KEY was revoked; configure a new one");
                }
                record.key.id
            }
            Some(_) => {
                anyhow::bail!("NUMHUB_ADMIN_KEY collides with another key; generate a new one")
            }
            None => {
                let key = ApiKey {
                    id: uuid::Uuid::now_v7().to_string(),
                    account_id: operator.id.clone(),
                    name: "admin key (NUMHUB_ADMIN_KEY)".into(),
                    scopes: all,
                    display_prefix: stored.display_prefix.clone(),
                    created_at: self.clock.now(),
                    last_used_at: None,
                    revoked_at: None,
                };
                let record = store::NewKey {
                    key: &key,
                    selector: &stored.selector,
                    verifier: &stored.verifier,
                    bootstrap: true,
                };
                match store::insert_key(self.db.writer(), record).await {
                    Ok(()) => {}
                    // Another replica registered it first.
                    Err(error) if is_unique_violation(&error) => {}
                    Err(error) => return Err(error.into()),
                }
                key.id
            }
        };
        let revoked = store::revoke_other_bootstrap_keys(
            self.db.writer(),
            &operator.id,
            &key_id,
            self.clock.now(),
        )
        .await?;
        if revoked > 0 {
            tracing::info!(revoked, "revoked earlier bootstrap admin keys");
        }
        Ok(None)
    }

    async fn operator_account(&self) -> Result<Account, Error> {
        if let Some(account) = store::operator_account(self.db.reader()).await? {
            return Ok(account);
        }
        let account = Account {
            id: uuid::Uuid::now_v7().to_string(),
            display_name: "operator".into(),
            operator: true,
            rate_limits: self.settings.operator_rate_limits(),
            created_at: self.clock.now(),
        };
        let created = self
            .insert_account(&account, OPERATOR_REQUEST_ID, "operator")
            .await?;
        tracing::info!(account_id = %created.id, "created the operator account");
        Ok(created)
    }
}

/// Shows a generated admin key once, on standard error and never through
/// the log, so the secret does not end up in a log store.
pub fn print_admin_key(secret: &str) {
    eprintln!(
        "\n  numhub: the operator's admin key (shown once; store it, or set \
         NUMHUB_ADMIN_KEY):\n\n    {secret}\n"
    );
}

#[tonic::async_trait]
impl Authenticator for Accounts {
    async fn authenticate(&self, api_key: &str) -> anyhow::Result<Option<Identity>> {
        Ok(self.resolve(api_key).await?)
    }
}
