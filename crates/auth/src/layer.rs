//! The tower layer every numhub gRPC service wears: it finds the RPC's
//! access rule (from the contract), checks the credential, the rate limit and
//! the scope, and puts the [`Caller`] into the request before any handler
//! runs. Health and reflection are served outside it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderMap, HeaderValue, Request, Response};
use numhub_proto::common::v1::Credential;
use numhub_proto::{ACCESS_RULES, MethodAccess};
use numhub_runtime::clock::SharedClock;
use numhub_runtime::error::{ERROR_DOMAIN, error_chain, quote, reason, status};
use tonic::service::Routes;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use tower_layer::Layer;
use tower_service::Service;

use crate::api_key::{self, Environment};
use crate::authenticator::CachedAuthenticator;
use crate::credential::ServiceCredentials;
use crate::identity::{Caller, Identity, scope_name};
use crate::rate_limit::{Decision, RateLimiter};
use crate::reasons;
use crate::stream_guard::Guarded;

pub const RATELIMIT_LIMIT: &str = "x-ratelimit-limit";
pub const RATELIMIT_REMAINING: &str = "x-ratelimit-remaining";
pub const RETRY_AFTER: &str = "retry-after";

/// Everything the layer needs, shared by every request.
struct Shared {
    rules: HashMap<&'static str, MethodAccess>,
    authenticator: CachedAuthenticator,
    credentials: ServiceCredentials,
    environment: Environment,
    limiter: RateLimiter,
    clock: SharedClock,
}

/// The auth layer. Cheap to clone; clones share the cache and the limits.
#[derive(Clone)]
pub struct AuthLayer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthLayer")
            .field("environment", &self.shared.environment)
            .finish_non_exhaustive()
    }
}

impl AuthLayer {
    /// A layer enforcing the contracts' rules ([`ACCESS_RULES`]).
    pub fn new(
        authenticator: CachedAuthenticator,
        credentials: ServiceCredentials,
        environment: Environment,
        clock: SharedClock,
    ) -> Self {
        Self::with_rules(ACCESS_RULES, authenticator, credentials, environment, clock)
    }

    /// A layer enforcing `rules` instead: for tests of the layer itself.
    pub fn with_rules(
        rules: &[MethodAccess],
        authenticator: CachedAuthenticator,
        credentials: ServiceCredentials,
        environment: Environment,
        clock: SharedClock,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                rules: rules.iter().map(|r| (r.path, *r)).collect(),
                authenticator,
                credentials,
                environment,
                limiter: RateLimiter::default(),
                clock,
            }),
        }
    }

    /// `routes`, each behind this layer.
    pub fn protect(&self, routes: Routes) -> Routes {
        Routes::from(routes.into_axum_router().layer(self.clone()))
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Auth {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The auth layer around one service.
#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    shared: Arc<Shared>,
}

/// What a request may go on with.
struct Admitted {
    caller: Option<Caller>,
    /// `x-ratelimit-limit` and `x-ratelimit-remaining`, for API keys.
    quota: Option<(u32, u32)>,
    /// The key of a streaming RPC, to re-check while its stream is open.
    stream_key: Option<String>,
}

/// A refusal, with the rate-limit headers it carries if any.
struct Refused {
    status: Status,
    headers: HeaderMap,
}

impl From<Status> for Refused {
    fn from(status: Status) -> Self {
        Self {
            status,
            headers: HeaderMap::new(),
        }
    }
}

impl<S, B, R> Service<Request<B>> for Auth<S>
where
    S: Service<Request<B>, Response = Response<R>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = Response<Guarded<R>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The ready service goes with this request; the clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        Box::pin(async move {
            match shared.admit(request.uri().path(), request.headers()).await {
                Ok(admitted) => {
                    let mut watch = None;
                    if let Some(caller) = admitted.caller {
                        tracing::Span::current().record("account_id", &*caller.account_id);
                        watch = admitted
                            .stream_key
                            .map(|key| (key, caller.api_key_id.clone()));
                        request.extensions_mut().insert(caller);
                    }
                    let mut response = inner.call(request).await?;
                    if let Some((limit, remaining)) = admitted.quota {
                        set_quota_headers(response.headers_mut(), limit, remaining);
                    }
                    Ok(response.map(|body| match watch {
                        Some((key, api_key_id)) => {
                            Guarded::watched(body, shared.authenticator.clone(), key, api_key_id)
                        }
                        None => Guarded::open(body),
                    }))
                }
                Err(refused) => {
                    let mut response = refused.status.into_http::<R>();
                    response.headers_mut().extend(refused.headers);
                    Ok(response.map(Guarded::open))
                }
            }
        })
    }
}

impl Shared {
    async fn admit(&self, path: &str, headers: &HeaderMap) -> Result<Admitted, Refused> {
        let Some(rule) = self.rules.get(path) else {
            return Err(Status::unimplemented(format!("no method {}", quote(path))).into());
        };
        match rule.credential {
            Credential::Service => {
                self.check_service_credential(headers)?;
                Ok(Admitted {
                    caller: None,
                    quota: None,
                    stream_key: None,
                })
            }
            Credential::ApiKey => self.check_api_key(rule, headers).await,
            // The build refuses contracts with an unspecified credential.
            Credential::Unspecified => {
                Err(Status::unimplemented(format!("no method {}", quote(path))).into())
            }
        }
    }

    fn check_service_credential(&self, headers: &HeaderMap) -> Result<(), Status> {
        let Some(presented) = bearer(headers).or_else(|| header(headers, "x-api-key")) else {
            return Err(status(
                Code::Unauthenticated,
                reasons::MISSING_CREDENTIAL,
                "this internal RPC requires the service credential in `authorization: Bearer`",
            ));
        };
        if self.credentials.accepts(presented) {
            Ok(())
        } else if api_key::looks_like_api_key(presented) {
            Err(status(
                Code::PermissionDenied,
                reasons::SERVICE_CREDENTIAL_REQUIRED,
                "this is an internal RPC: it accepts the service credential, never an API key",
            ))
        } else {
            Err(status(
                Code::Unauthenticated,
                reasons::INVALID_SERVICE_CREDENTIAL,
                "the service credential is not valid",
            ))
        }
    }

    async fn check_api_key(
        &self,
        rule: &MethodAccess,
        headers: &HeaderMap,
    ) -> Result<Admitted, Refused> {
        let Some(key) = bearer(headers).or_else(|| header(headers, "x-api-key")) else {
            return Err(status(
                Code::Unauthenticated,
                reasons::MISSING_CREDENTIAL,
                "send an API key as `authorization: Bearer <key>` or `x-api-key: <key>`",
            )
            .into());
        };
        let identity = self.identify(key).await?;
        let decision = self.limiter.check(
            &identity.api_key_id,
            identity.rate_limits,
            rule.moves_money,
            self.clock.now(),
        );
        let (limit, remaining) = match decision {
            Decision::Allowed { limit, remaining } => (limit, remaining),
            Decision::Limited { limit, retry_after } => {
                return Err(rate_limited(limit, retry_after));
            }
        };
        if !identity.scopes.contains(rule.scope) {
            let mut headers = HeaderMap::new();
            set_quota_headers(&mut headers, limit, remaining);
            let missing = scope_name(rule.scope);
            return Err(Refused {
                status: numhub_runtime::error::status_with_metadata(
                    Code::PermissionDenied,
                    reasons::MISSING_SCOPE,
                    format!("this RPC needs an API key with the {missing:?} scope"),
                    HashMap::from([("scope".to_owned(), missing.to_owned())]),
                ),
                headers,
            });
        }
        Ok(Admitted {
            caller: Some(Caller {
                account_id: identity.account_id.clone(),
                api_key_id: identity.api_key_id.clone(),
                scopes: identity.scopes,
            }),
            quota: Some((limit, remaining)),
            stream_key: rule.streams.then(|| key.to_owned()),
        })
    }

    async fn identify(&self, key: &str) -> Result<Arc<Identity>, Status> {
        let invalid = || {
            status(
                Code::Unauthenticated,
                reasons::INVALID_API_KEY,
                "the API key is not valid",
            )
        };
        // A key of the wrong shape costs no lookup, and gets the answer an
        // unknown one gets. The checksum is checked by accounts on a cache
        // miss, not here on every call.
        if !api_key::has_shape(self.environment, key) {
            return Err(invalid());
        }
        match self.authenticator.authenticate(key).await {
            Ok(Some(identity)) => Ok(identity),
            Ok(None) => Err(invalid()),
            Err(error) => {
                tracing::warn!(error = %error_chain(&*error), "cannot resolve an API key");
                Err(status(
                    Code::Unavailable,
                    reason::TEMPORARILY_UNAVAILABLE,
                    "cannot check the API key right now; retry",
                ))
            }
        }
    }
}

/// RESOURCE_EXHAUSTED with RetryInfo, `retry-after` (whole seconds, rounded
/// up) and the quota headers.
fn rate_limited(limit: u32, retry_after: Duration) -> Refused {
    let mut details = ErrorDetails::with_retry_info(Some(retry_after));
    details.set_error_info(
        reasons::RATE_LIMITED,
        ERROR_DOMAIN,
        HashMap::from([("limit_per_minute".to_owned(), limit.to_string())]),
    );
    let status = Status::with_error_details(
        Code::ResourceExhausted,
        format!("rate limit of {limit} requests per minute reached; retry later"),
        details,
    );
    let mut headers = HeaderMap::new();
    set_quota_headers(&mut headers, limit, 0);
    let seconds = retry_after.as_micros().div_ceil(1_000_000).max(1);
    headers.insert(RETRY_AFTER, HeaderValue::from(seconds as u64));
    Refused { status, headers }
}

fn set_quota_headers(headers: &mut HeaderMap, limit: u32, remaining: u32) {
    headers.insert(RATELIMIT_LIMIT, HeaderValue::from(limit));
    headers.insert(RATELIMIT_REMAINING, HeaderValue::from(remaining));
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)?
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The token of `authorization: Bearer <token>` (the scheme in any case).
/// An `x-api-key` on an internal RPC is read too, so that it gets the answer
/// every API key gets there.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = header(headers, "authorization")?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use std::task::{Context, Poll};

    use numhub_proto::common::v1::Scope;
    use numhub_runtime::clock::ManualClock;

    use super::*;
    use crate::authenticator::Authenticator;
    use crate::identity::{RateLimits, Scopes};

    const BUY: &str = "/test.v1.Shop/Buy";
    const LOOK: &str = "/test.v1.Shop/Look";
    const WATCH: &str = "/test.v1.Shop/Watch";
    const RULES: &[MethodAccess] = &[
        MethodAccess {
            path: BUY,
            credential: Credential::ApiKey,
            scope: Scope::Write,
            moves_money: true,
            streams: false,
        },
        MethodAccess {
            path: LOOK,
            credential: Credential::ApiKey,
            scope: Scope::Read,
            moves_money: false,
            streams: false,
        },
        MethodAccess {
            path: WATCH,
            credential: Credential::ApiKey,
            scope: Scope::Read,
            moves_money: false,
            streams: true,
        },
    ];

    /// Knows one key, holding `scopes`.
    struct OneKey(String, Scopes);

    #[tonic::async_trait]
    impl Authenticator for OneKey {
        async fn authenticate(&self, key: &str) -> anyhow::Result<Option<Identity>> {
            Ok((key == self.0).then(|| Identity {
                account_id: "acct-1".into(),
                api_key_id: "key-1".into(),
                scopes: self.1,
                rate_limits: RateLimits {
                    requests_per_minute: 60,
                    money_requests_per_minute: 10,
                },
            }))
        }
    }

    /// Answers with the caller's account, as a handler would read it.
    #[derive(Clone)]
    struct Echo;

    impl Service<Request<()>> for Echo {
        type Response = Response<String>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Response<String>, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: Request<()>) -> Self::Future {
            let caller = request
                .extensions()
                .get::<Caller>()
                .map(|c| c.account_id.to_string());
            std::future::ready(Ok(Response::new(caller.unwrap_or_default())))
        }
    }

    fn service(scopes: &[Scope]) -> (Auth<Echo>, String) {
        let key = api_key::generate(Environment::Live).secret;
        let clock = Arc::new(ManualClock::starting_now());
        let authenticator = CachedAuthenticator::new(
            Arc::new(OneKey(key.clone(), scopes.iter().copied().collect())),
            Duration::from_secs(15),
            clock.clone(),
        );
        let layer = AuthLayer::with_rules(
            RULES,
            authenticator,
            ServiceCredentials::random(),
            Environment::Live,
            clock,
        );
        (layer.layer(Echo), key)
    }

    async fn call(
        auth: &mut Auth<Echo>,
        path: &str,
        header: (&str, String),
    ) -> Response<Guarded<String>> {
        let request = Request::builder()
            .uri(path)
            .header(header.0, header.1)
            .body(())
            .unwrap();
        auth.call(request).await.unwrap()
    }

    fn text<'r, B>(response: &'r Response<B>, name: &str) -> &'r str {
        response
            .headers()
            .get(name)
            .map_or("", |v| v.to_str().unwrap())
    }

    #[tokio::test]
    async fn money_rpcs_have_their_own_tighter_quota() {
        let (mut auth, key) = service(&[Scope::Read, Scope::Write]);
        for i in 0..10 {
            let response = call(&mut auth, BUY, ("authorization", format!("bearer {key}"))).await;
            assert_eq!(
                response.body().inner(),
                "acct-1",
                "the caller reaches the handler"
            );
            assert_eq!(text(&response, RATELIMIT_LIMIT), "10");
            assert_eq!(text(&response, RATELIMIT_REMAINING), (9 - i).to_string());
        }
        let refused = call(&mut auth, BUY, ("x-api-key", key.clone())).await;
        assert_eq!(
            text(&refused, "grpc-status"),
            (Code::ResourceExhausted as i32).to_string()
        );
        assert_eq!(text(&refused, RETRY_AFTER), "60");
        assert_eq!(text(&refused, RATELIMIT_LIMIT), "10");
        assert_eq!(refused.body().inner(), "", "the handler never ran");
        // Reading is still allowed, and the buys counted against it too.
        let look = call(&mut auth, LOOK, ("x-api-key", key)).await;
        assert_eq!(look.body().inner(), "acct-1");
        assert_eq!(text(&look, RATELIMIT_LIMIT), "60");
        assert_eq!(text(&look, RATELIMIT_REMAINING), "49");
    }

    #[tokio::test]
    async fn refusals_never_reach_the_handler() {
        let (mut auth, key) = service(&[Scope::Read]);
        let cases = [
            (
                BUY,
                ("authorization", format!("Bearer {key}")),
                Code::PermissionDenied,
            ),
            (
                LOOK,
                ("authorization", "Bearer".to_owned()),
                Code::Unauthenticated,
            ),
            (
                LOOK,
                ("authorization", format!("Basic {key}")),
                Code::Unauthenticated,
            ),
            (LOOK, ("x-api-key", " ".to_owned()), Code::Unauthenticated),
            (
                LOOK,
                ("x-api-key", format!("{key}x")),
                Code::Unauthenticated,
            ),
            (
                "/test.v1.Shop/Unknown",
                ("x-api-key", key.clone()),
                Code::Unimplemented,
            ),
        ];
        for (path, header, code) in cases {
            let what = format!("{path} {header:?}");
            let response = call(&mut auth, path, header).await;
            assert_eq!(
                text(&response, "grpc-status"),
                (code as i32).to_string(),
                "{what}"
            );
            assert_eq!(response.body().inner(), "", "{what}");
        }
    }

    /// A stream's body: open until its client or the layer ends it.
    #[derive(Default)]
    struct Endless;

    impl http_body::Body for Endless {
        type Data = bytes::Bytes;
        type Error = Infallible;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, Infallible>>> {
            Poll::Pending
        }
    }

    #[derive(Clone)]
    struct Streamer;

    impl Service<Request<()>> for Streamer {
        type Response = Response<Endless>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Response<Endless>, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request<()>) -> Self::Future {
            std::future::ready(Ok(Response::new(Endless)))
        }
    }

    /// Knows one key until it is revoked; may be unreachable.
    struct Revocable {
        key: String,
        revoked: std::sync::atomic::AtomicBool,
        unreachable: std::sync::atomic::AtomicBool,
    }

    #[tonic::async_trait]
    impl Authenticator for Revocable {
        async fn authenticate(&self, key: &str) -> anyhow::Result<Option<Identity>> {
            use std::sync::atomic::Ordering::SeqCst;
            if self.unreachable.load(SeqCst) {
                anyhow::bail!("accounts is unreachable");
            }
            Ok(
                (key == self.key && !self.revoked.load(SeqCst)).then(|| Identity {
                    account_id: "acct-1".into(),
                    api_key_id: "key-1".into(),
                    scopes: [Scope::Read].into_iter().collect(),
                    rate_limits: RateLimits {
                        requests_per_minute: 60,
                        money_requests_per_minute: 10,
                    },
                }),
            )
        }
    }

    /// The next frame of `body`, or `None` if none comes within `wait`.
    async fn next_frame<B: http_body::Body + Unpin>(
        body: &mut B,
        wait: Duration,
    ) -> Option<Option<http_body::Frame<B::Data>>> {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx));
        match tokio::time::timeout(wait, frame).await {
            Ok(frame) => Some(frame.map(|f| f.ok().unwrap())),
            Err(_) => None,
        }
    }

    #[tokio::test]
    async fn a_stream_ends_unauthenticated_within_the_ttl_of_its_keys_revocation() {
        use std::sync::atomic::Ordering::SeqCst;
        let ttl = Duration::from_millis(400);
        let key = api_key::generate(Environment::Live).secret;
        let accounts = Arc::new(Revocable {
            key: key.clone(),
            revoked: false.into(),
            unreachable: false.into(),
        });
        let clock = Arc::new(ManualClock::starting_now());
        let authenticator = CachedAuthenticator::new(accounts.clone(), ttl, clock.clone());
        let layer = AuthLayer::with_rules(
            RULES,
            authenticator,
            ServiceCredentials::random(),
            Environment::Live,
            clock.clone(),
        );
        let mut auth = layer.layer(Streamer);
        let request = || {
            Request::builder()
                .uri(WATCH)
                .header("x-api-key", key.clone())
                .body(())
                .unwrap()
        };
        let mut stream = auth.call(request()).await.unwrap().into_body();

        // While the key is good the stream stays open, TTL after TTL, and an
        // unreachable accounts does not end it either.
        for _ in 0..3 {
            clock.advance(ttl);
            assert!(next_frame(&mut stream, ttl).await.is_none(), "still open");
        }
        accounts.unreachable.store(true, SeqCst);
        clock.advance(ttl);
        assert!(
            next_frame(&mut stream, ttl).await.is_none(),
            "kept while unsure"
        );
        accounts.unreachable.store(false, SeqCst);

        // A stream opened just before the revocation, while the key is
        // cached as good, ends too.
        let mut late = auth.call(request()).await.unwrap().into_body();
        assert!(late.is_watched());
        accounts.revoked.store(true, SeqCst);
        clock.advance(ttl);
        for body in [&mut stream, &mut late] {
            let frame = next_frame(body, ttl * 3)
                .await
                .expect("ended within the TTL");
            let Ok(trailers) = frame.expect("a frame").into_trailers() else {
                panic!("the stream ended without trailers");
            };
            assert_eq!(
                trailers["grpc-status"],
                (Code::Unauthenticated as i32).to_string()
            );
            let details = Status::from_header_map(&trailers).unwrap();
            assert_eq!(
                details.get_error_details().error_info().unwrap().reason,
                reasons::INVALID_API_KEY
            );
            assert!(next_frame(body, ttl).await.expect("at once").is_none());
        }
        // New calls are refused as before.
        let refused = auth.call(request()).await.unwrap();
        assert_eq!(
            text(&refused, "grpc-status"),
            (Code::Unauthenticated as i32).to_string()
        );
    }

    #[tokio::test]
    async fn unary_answers_are_not_watched() {
        let (mut auth, key) = service(&[Scope::Read]);
        let response = call(&mut auth, LOOK, ("x-api-key", key)).await;
        assert!(!response.body().is_watched());
    }
}
