//! Resolving an API key to an identity: through the accounts service's
//! internal RPC, behind a short cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use numhub_proto::accounts::v1 as accounts;
use numhub_proto::accounts::v1::accounts_internal_service_client::AccountsInternalServiceClient;
use numhub_runtime::channel::Channel;
use numhub_runtime::clock::{SharedClock, Timestamp};
use sha2::{Digest, Sha256};
use tonic::Code;
use tonic_types::StatusExt;

use crate::credential::ServiceCredentials;
use crate::identity::{Identity, RateLimits, Scopes};

/// Resolves API keys. `Ok(None)` means the key is unknown or revoked; an
/// error means the answer could not be had (accounts unreachable, ...).
#[tonic::async_trait]
pub trait Authenticator: Send + Sync + 'static {
    async fn authenticate(&self, api_key: &str) -> anyhow::Result<Option<Identity>>;
}

/// Asks `numhub.accounts.v1.AccountsInternalService/Authenticate`.
#[derive(Debug, Clone)]
pub struct AccountsClient {
    client: crate::internal::AccountsClient,
}

impl AccountsClient {
    pub fn new(channel: Channel, credentials: &ServiceCredentials) -> Self {
        Self {
            client: AccountsInternalServiceClient::with_interceptor(
                channel,
                credentials.interceptor(),
            ),
        }
    }
}

#[tonic::async_trait]
impl Authenticator for AccountsClient {
    async fn authenticate(&self, api_key: &str) -> anyhow::Result<Option<Identity>> {
        let request = accounts::AuthenticateRequest {
            api_key: api_key.to_owned(),
        };
        match self.client.clone().authenticate(request).await {
            Ok(response) => {
                let r = response.into_inner();
                let limits = r.rate_limits.unwrap_or_default();
                let scopes: Scopes = r.scopes().collect();
                Ok(Some(Identity {
                    account_id: r.account_id.into(),
                    api_key_id: r.api_key_id.into(),
                    scopes,
                    rate_limits: RateLimits {
                        requests_per_minute: limits.requests_per_minute,
                        money_requests_per_minute: limits.money_requests_per_minute,
                    },
                }))
            }
            // Only this reason means "no such key". Any other refusal, such
            // as accounts not accepting this service's credential, is a
            // fault to report, not an answer to cache.
            Err(status)
                if status.code() == Code::Unauthenticated
                    && status
                        .get_error_details()
                        .error_info()
                        .map(|i| i.reason.as_str())
                        == Some(crate::reasons::INVALID_API_KEY) =>
            {
                Ok(None)
            }
            Err(status) => Err(anyhow::anyhow!(
                "accounts answered Authenticate with {:?}: {}",
                status.code(),
                status.message()
            )),
        }
    }
}

/// Past this many cached keys, expired entries are dropped; if none are,
/// the cache starts again.
const MAX_ENTRIES: usize = 100_000;

struct Entry {
    fetched: Timestamp,
    identity: Option<Arc<Identity>>,
}

/// Answers remembered for `ttl`, by the SHA-256 of the key (the key itself is
/// not kept). Unknown keys are remembered too, so a flood of made-up keys
/// does not reach accounts; a new key is never among them, as nobody can
/// have tried it before it existed.
#[derive(Clone)]
pub struct CachedAuthenticator {
    inner: Arc<dyn Authenticator>,
    ttl: Duration,
    clock: SharedClock,
    entries: Arc<Mutex<HashMap<[u8; 32], Entry>>>,
}

impl std::fmt::Debug for CachedAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedAuthenticator")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl CachedAuthenticator {
    pub fn new(inner: Arc<dyn Authenticator>, ttl: Duration, clock: SharedClock) -> Self {
        Self {
            inner,
            ttl,
            clock,
            entries: Arc::default(),
        }
    }

    /// How long an answer is remembered: a revoked key works at most this
    /// long after its revocation.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub async fn authenticate(&self, api_key: &str) -> anyhow::Result<Option<Arc<Identity>>> {
        self.authenticate_within(api_key, self.ttl).await
    }

    /// Like [`Self::authenticate`], but takes a remembered answer only if it
    /// is younger than `max_age` (at most the TTL): an open stream re-checks
    /// its key with this, so it ends within the TTL of a revocation however
    /// its checks fall against the cache's.
    pub async fn authenticate_within(
        &self,
        api_key: &str,
        max_age: Duration,
    ) -> anyhow::Result<Option<Arc<Identity>>> {
        let hash: [u8; 32] = Sha256::digest(api_key.as_bytes()).into();
        let now = self.clock.now();
        let max_age = max_age.min(self.ttl);
        if let Some(entry) = self.entries.lock().expect("auth cache lock").get(&hash)
            && entry.fetched.plus(max_age) > now
        {
            return Ok(entry.identity.clone());
        }
        let identity = self.inner.authenticate(api_key).await?.map(Arc::new);
        let mut entries = self.entries.lock().expect("auth cache lock");
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| e.fetched.plus(self.ttl) > now);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            hash,
            Entry {
                fetched: now,
                identity: identity.clone(),
            },
        );
        Ok(identity)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use numhub_runtime::clock::ManualClock;

    use super::*;

    /// Knows one key, counts its calls.
    struct OneKey(AtomicUsize);

    #[tonic::async_trait]
    impl Authenticator for OneKey {
        async fn authenticate(&self, api_key: &str) -> anyhow::Result<Option<Identity>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok((api_key == "good").then(|| Identity {
                account_id: "acct".into(),
                api_key_id: "key".into(),
                scopes: Scopes::default(),
                rate_limits: RateLimits {
                    requests_per_minute: 60,
                    money_requests_per_minute: 10,
                },
            }))
        }
    }

    #[tokio::test]
    async fn answers_are_remembered_for_the_ttl() {
        let inner = Arc::new(OneKey(AtomicUsize::new(0)));
        let clock = Arc::new(ManualClock::starting_now());
        let cache = CachedAuthenticator::new(inner.clone(), Duration::from_secs(15), clock.clone());
        assert!(cache.authenticate("good").await.unwrap().is_some());
        assert!(cache.authenticate("bad").await.unwrap().is_none());
        assert!(cache.authenticate("good").await.unwrap().is_some());
        assert!(cache.authenticate("bad").await.unwrap().is_none());
        assert_eq!(inner.0.load(Ordering::SeqCst), 2);
        clock.advance(Duration::from_secs(15));
        assert!(cache.authenticate("good").await.unwrap().is_some());
        assert_eq!(inner.0.load(Ordering::SeqCst), 3);
    }
}
