//! The HTTP server: every route behind one stack of layers, on the
//! runtime's HTTP server (slow clients cut off, bodies bounded, a drain at
//! shutdown).

use std::time::Duration;

use axum::Router;
use http::{HeaderName, Request, StatusCode};
use numhub_runtime::http_server::{self, HttpLimits};
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate as _, SizeAbove};
use tower_http::cors::{Any, CorsLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::Gateway;
use crate::reply::ApiError;

/// The smallest answer worth compressing, in bytes. Below it gzip saves a
/// few bytes of a body that fits in one packet anyway, and its set-up (a
/// deflate state of some 300 KiB, zeroed) costs more CPU than the whole
/// request besides (`docs/benchmarks.md`, HTTP gateway).
const MIN_COMPRESSED_BYTES: u16 = 1024;

impl Gateway {
    /// Every route of the HTTP API, with its layers.
    pub fn router(&self) -> Router {
        let settings = &self.settings;
        crate::rest::routes()
            .merge(crate::openapi::routes())
            .merge(crate::sms_activate::routes())
            .fallback(|| async {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
            })
            .method_not_allowed_fallback(|| async {
                ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "this route does not take that method",
                )
            })
            .with_state(self.clone())
            .layer(TimeoutLayer::with_status_code(
                StatusCode::GATEWAY_TIMEOUT,
                settings.gateway_request_timeout,
            ))
            // Live event streams are never compressed (the default
            // predicate leaves text/event-stream alone): each event must
            // leave at once. Nor are small answers.
            .layer(
                CompressionLayer::new().compress_when(
                    DefaultPredicate::new().and(SizeAbove::new(MIN_COMPRESSED_BYTES)),
                ),
            )
            // Keys travel in headers, never in cookies: any origin may
            // call, and a browser sends nothing on its own.
            .layer(
                CorsLayer::new()
                    .allow_origin(Any)
                    .allow_methods(Any)
                    .allow_headers(Any)
                    .expose_headers([
                        HeaderName::from_static("x-ratelimit-limit"),
                        HeaderName::from_static("x-ratelimit-remaining"),
                        http::header::RETRY_AFTER,
                    ]),
            )
            .layer(TraceLayer::new_for_http().make_span_with(span))
    }

    /// Binds the HTTP address and serves the API in the background.
    pub(crate) async fn start_http(&self) -> anyhow::Result<()> {
        let settings = &self.settings;
        let listener = numhub_runtime::server::bind(settings.gateway_http_addr).await?;
        let limits = HttpLimits {
            header_timeout: settings.gateway_client_timeout,
            body_timeout: settings.gateway_client_timeout,
            max_body_bytes: settings.gateway_max_body_bytes,
            max_connections: settings.gateway_max_connections,
            shutdown_grace: Duration::from_secs(10),
        };
        let running = http_server::serve("gateway", listener, self.router(), limits)?;
        tracing::info!(addr = %running.local_addr(), "gateway serving HTTP");
        *self.http.lock().await = Some(running);
        Ok(())
    }

    /// Ends the live event streams, stops taking requests and lets those
    /// in flight end.
    pub(crate) async fn stop_http(&self) {
        self.closing.cancel();
        if let Some(running) = self.http.lock().await.take() {
            running.shutdown().await;
        }
    }
}

/// A request's span, continuing the caller's trace (W3C `traceparent`),
/// which every call to a service then passes on.
fn span<B>(request: &Request<B>) -> tracing::Span {
    let span = tracing::info_span!(
        "http",
        method = %request.method(),
        path = %request.uri().path(),
    );
    // A span that is not recorded has no parent to set.
    let _ = span.set_parent(numhub_runtime::telemetry::extract_context(
        request.headers(),
    ));
    span
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;
    use crate::caller::ApiKey;

    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const PARENT: &str = "00f067aa0ba902b7";

    #[test]
    fn a_requests_trace_context_goes_on_to_the_services_it_calls() {
        numhub_runtime::telemetry::install_propagator();
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let http = Request::builder()
            .uri("/v1/account")
            .header("traceparent", format!("00-{TRACE_ID}-{PARENT}-01"))
            .body(())
            .unwrap();

        let outgoing = tracing::subscriber::with_default(subscriber, || {
            let span = span(&http);
            let _entered = span.enter();
            ApiKey::new("nh_test_key").unwrap().request(())
        });

        let headers = outgoing.metadata().clone().into_headers();
        let context = numhub_runtime::telemetry::extract_context(&headers);
        let span = context.span();
        let passed = span.span_context();
        assert_eq!(
            passed.trace_id().to_string(),
            TRACE_ID,
            "the caller's trace"
        );
        assert_ne!(
            passed.span_id().to_string(),
            PARENT,
            "a child of the caller's span"
        );
        assert_eq!(headers["authorization"], "Bearer nh_test_key");
    }
}
