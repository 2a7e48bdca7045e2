//! A tower layer worn by every gRPC server: one `tracing` span per RPC, whose
//! parent is the caller's W3C trace context, and Prometheus metrics (request
//! count and latency histogram per service, method and status code).
//!
//! A unary error arrives as a trailers-only response (grpc-status in the
//! headers); anything else ends with trailers in the body, so the body is
//! wrapped to see them. A body dropped before its trailers is a cancellation.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tonic::Code;
use tower_layer::Layer;
use tower_service::Service;
use tracing::{Instrument, Span, field};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::telemetry::extract_context;

/// Counter of finished RPCs, labelled `service`, `method`, `code`.
pub const REQUESTS_METRIC: &str = "numhub_rpc_requests_total";
/// Histogram of RPC durations in seconds, with the same labels.
pub const DURATION_METRIC: &str = "numhub_rpc_duration_seconds";

#[derive(Debug, Clone, Copy, Default)]
pub struct RpcTelemetryLayer;

impl<S> Layer<S> for RpcTelemetryLayer {
    type Service = RpcTelemetry<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcTelemetry { inner }
    }
}

#[derive(Debug, Clone)]
pub struct RpcTelemetry<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RpcTelemetry<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Send,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = Response<ObservedBody<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let (service, method) = split_path(request.uri().path());
        let span = tracing::info_span!(
            "rpc",
            otel.name = %request.uri().path().trim_start_matches('/'),
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
            rpc.grpc.status_code = field::Empty,
            // Filled in by the auth layer for calls with an API key.
            account_id = field::Empty,
        );
        // A parent that cannot be set (no OpenTelemetry layer) is fine.
        let _ = span.set_parent(extract_context(request.headers()));
        let observer = Observer {
            service,
            method,
            started: Instant::now(),
            span: span.clone(),
            done: false,
        };
        let future = self.inner.call(request);
        Box::pin(
            async move {
                let response = future.await?;
                let mut observer = observer;
                if let Some(code) = grpc_status(response.headers()) {
                    observer.finish(code);
                }
                Ok(response.map(|body| ObservedBody {
                    inner: body,
                    observer,
                }))
            }
            .instrument(span),
        )
    }
}

fn split_path(path: &str) -> (String, String) {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let service = parts.next().unwrap_or_default().to_owned();
    let method = parts.next().unwrap_or_default().to_owned();
    (service, method)
}

fn grpc_status(headers: &HeaderMap) -> Option<Code> {
    let value = headers.get("grpc-status")?.to_str().ok()?;
    Some(Code::from_i32(value.parse().ok()?))
}

#[derive(Debug)]
struct Observer {
    service: String,
    method: String,
    started: Instant,
    span: Span,
    done: bool,
}

impl Observer {
    fn finish(&mut self, code: Code) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let code_name = format!("{code:?}");
        self.span.record("rpc.grpc.status_code", code as i32);
        let labels = [
            ("service", self.service.clone()),
            ("method", self.method.clone()),
            ("code", code_name),
        ];
        metrics::counter!(REQUESTS_METRIC, &labels).increment(1);
        metrics::histogram!(DURATION_METRIC, &labels).record(self.started.elapsed().as_secs_f64());
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        // The body went away before its trailers: the client hung up.
        self.finish(Code::Cancelled);
    }
}

pin_project! {
    /// A response body that reports the RPC's status when its trailers pass.
    #[derive(Debug)]
    pub struct ObservedBody<B> {
        #[pin]
        inner: B,
        observer: Observer,
    }
}

impl<B> Body for ObservedBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(grpc_status) {
                    this.observer.finish(code);
                }
            }
            Poll::Ready(Some(Err(_))) => this.observer.finish(Code::Internal),
            Poll::Ready(None) => this.observer.finish(Code::Ok),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_service_and_method() {
        assert_eq!(
            split_path("/numhub.wallet.v1.WalletService/Debit"),
            ("numhub.wallet.v1.WalletService".into(), "Debit".into())
        );
        assert_eq!(split_path("/"), (String::new(), String::new()));
    }

    #[test]
    fn status_is_read_from_headers() {
        let mut headers = HeaderMap::new();
        assert_eq!(grpc_status(&headers), None);
        headers.insert("grpc-status", "9".parse().unwrap());
        assert_eq!(grpc_status(&headers), Some(Code::FailedPrecondition));
    }
}
