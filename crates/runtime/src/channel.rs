//! Calls between services that cannot hang: every channel to another
//! service comes from [`CallConfig::channel`], which connects lazily with a
//! connect timeout, HTTP/2 keepalive and `TCP_NODELAY`, and gives every
//! call a deadline.
//!
//! A call's deadline is the nearer of the configured per-call timeout and
//! the deadline of the request being served, if any: [`DeadlineLayer`] on
//! the server records an incoming `grpc-timeout`, and the channel passes on
//! what is left of it as the outgoing `grpc-timeout`. Workers, serving no
//! request, get the per-call timeout. The deadline covers the whole reply:
//! headers, message and trailers.
//!
//! A server stream ([`open_ended`]) outlives any per-call timeout: the
//! timeout bounds only its opening (until the response headers), and the
//! header carries only a caller's own deadline.
//!
//! A call that runs out of time ends DEADLINE_EXCEEDED, one that cannot
//! reach its dependency UNAVAILABLE, each naming the dependency.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::{Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::Instant;
use tonic::body::Body;
use tonic::transport::Endpoint;
use tonic::{Status, TimeoutExpired};
use tower_layer::Layer;
use tower_service::Service;

use crate::config::CallConfig;

const GRPC_TIMEOUT: &str = "grpc-timeout";
/// How often an HTTP/2 connection is pinged, and how long an answer may
/// take before the connection is dropped: a peer that vanished without a
/// word (a dead host, a dropped route) is found within both.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(20);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

tokio::task_local! {
    /// The deadline of the request this task is serving.
    static DEADLINE: Instant;
}

impl CallConfig {
    /// A channel to the service `name` at `addr` that connects on first
    /// use: a service starts, and reports healthy, while what it calls is
    /// down; the calls that need it fail with UNAVAILABLE until it is back.
    /// `variable` names the setting the address came from, for the error.
    pub fn channel(
        &self,
        name: &'static str,
        addr: &str,
        variable: &str,
    ) -> anyhow::Result<Channel> {
        let endpoint = Endpoint::from_shared(addr.to_owned())
            .map_err(|_| anyhow::anyhow!("{variable}: {addr:?} is not a URL"))?
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true);
        Ok(Channel {
            inner: endpoint.connect_lazy(),
            name,
            call_timeout: self.call_timeout,
        })
    }
}

/// A channel to another service, for any of its generated clients; clones
/// share a connection. See the module's documentation.
#[derive(Debug, Clone)]
pub struct Channel {
    inner: tonic::transport::Channel,
    name: &'static str,
    call_timeout: Duration,
}

/// Marks a request that opens a server stream: no per-call timeout ends
/// it once open. Use it for every streaming call through a [`Channel`].
pub fn open_ended<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.extensions_mut().insert(OpenEnded);
    request
}

#[derive(Debug, Clone, Copy)]
struct OpenEnded;

impl Service<Request<Body>> for Channel {
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let name = self.name;
        self.inner
            .poll_ready(cx)
            .map_err(|error| unreachable_error(name, &error))
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let name = self.name;
        let now = Instant::now();
        let caller = current_deadline();
        let deadline = caller.map_or(now + self.call_timeout, |d| d.min(now + self.call_timeout));
        let open_ended = request.extensions().get::<OpenEnded>().is_some();
        // What the callee is told: a stream carries only its caller's own
        // deadline; a unary call its whole deadline.
        let announced = if open_ended { caller } else { Some(deadline) };
        if let Some(announced) = announced {
            let left = announced.saturating_duration_since(now);
            let asked = parse_grpc_timeout(request.headers());
            if asked.is_none_or(|asked| left < asked) {
                request
                    .headers_mut()
                    .insert(GRPC_TIMEOUT, format_grpc_timeout(left));
            }
        }
        if deadline <= now {
            return Box::pin(std::future::ready(Err(out_of_time(name, Duration::ZERO))));
        }
        let budget = deadline - now;
        let call = self.inner.call(request);
        Box::pin(async move {
            match tokio::time::timeout_at(deadline, call).await {
                // A reply must also end by then: its message and trailers
                // come after the headers.
                Ok(Ok(response)) if !open_ended => Ok(response.map(|body| {
                    Body::new(DeadlineBody {
                        inner: body,
                        sleep: tokio::time::sleep_until(deadline),
                        name,
                        budget,
                    })
                })),
                Ok(Ok(response)) => Ok(response),
                Ok(Err(error)) if timed_out(&error) => Err(out_of_time(name, budget)),
                Ok(Err(error)) => Err(unreachable_error(name, &error)),
                Err(_) => Err(out_of_time(name, budget)),
            }
        })
    }
}

pin_project! {
    /// A reply's body that fails DEADLINE_EXCEEDED if it has not ended by
    /// the call's deadline.
    struct DeadlineBody {
        #[pin]
        inner: Body,
        #[pin]
        sleep: tokio::time::Sleep,
        name: &'static str,
        budget: Duration,
    }
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        if let Poll::Ready(frame) = this.inner.poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        match this.sleep.poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(out_of_time(this.name, *this.budget)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether tonic's own timer (from the `grpc-timeout` header) ended it.
fn timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(error) = source {
        if error.is::<TimeoutExpired>() {
            return true;
        }
        source = error.source();
    }
    false
}

fn out_of_time(name: &str, budget: Duration) -> BoxError {
    Box::new(Status::deadline_exceeded(format!(
        "{name} did not answer within {} ms",
        budget.as_millis()
    )))
}

fn unreachable_error(name: &str, error: &(dyn std::error::Error + 'static)) -> BoxError {
    Box::new(Status::unavailable(format!(
        "{name} is unreachable: {}",
        crate::error::error_chain(error)
    )))
}

/// The deadline of the request being served, if it came with one.
pub fn current_deadline() -> Option<Instant> {
    DEADLINE.try_with(|deadline| *deadline).ok()
}

/// Runs `future` as the serving of a request due by `deadline`: the calls
/// it makes through a [`Channel`] end by then.
pub async fn with_deadline<F: Future>(deadline: Instant, future: F) -> F::Output {
    let deadline = current_deadline().map_or(deadline, |outer| outer.min(deadline));
    DEADLINE.scope(deadline, future).await
}

/// Worn by every gRPC server: a request's `grpc-timeout` becomes the
/// deadline of the calls made while serving it.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeadlineLayer;

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Deadline { inner }
    }
}

#[derive(Debug, Clone)]
pub struct Deadline<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for Deadline<S>
where
    S: Service<Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        match parse_grpc_timeout(request.headers()) {
            Some(timeout) => {
                let deadline = Instant::now() + timeout;
                let future = DEADLINE.sync_scope(deadline, || self.inner.call(request));
                Box::pin(DEADLINE.scope(deadline, future))
            }
            None => Box::pin(self.inner.call(request)),
        }
    }
}

/// A `grpc-timeout` header's duration; `None` when absent or malformed
/// (gRPC's rule: at most 8 digits and a unit).
pub fn parse_grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(GRPC_TIMEOUT)?.to_str().ok()?;
    if text.len() < 2 || text.len() > 9 {
        return None;
    }
    let (digits, unit) = text.split_at(text.len() - 1);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(value * 3600),
        "M" => Duration::from_secs(value * 60),
        "S" => Duration::from_secs(value),
        "m" => Duration::from_millis(value),
        "u" => Duration::from_micros(value),
        "n" => Duration::from_nanos(value),
        _ => return None,
    })
}

/// `left` as a `grpc-timeout` value, in the finest unit that fits 8 digits
/// (rounded down, so the callee never gets more time than is left).
fn format_grpc_timeout(left: Duration) -> HeaderValue {
    const MAX: u128 = 99_999_999;
    let text = if left.as_micros() <= MAX {
        format!("{}u", left.as_micros())
    } else if left.as_millis() <= MAX {
        format!("{}m", left.as_millis())
    } else {
        format!("{}S", left.as_secs().min(MAX as u64))
    };
    HeaderValue::from_str(&text).expect("digits and a unit")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(GRPC_TIMEOUT, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn grpc_timeouts_read_and_write_in_every_unit() {
        assert_eq!(
            parse_grpc_timeout(&headers("2H")),
            Some(Duration::from_secs(7200))
        );
        assert_eq!(
            parse_grpc_timeout(&headers("3M")),
            Some(Duration::from_secs(180))
        );
        assert_eq!(
            parse_grpc_timeout(&headers("10S")),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_grpc_timeout(&headers("250m")),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            parse_grpc_timeout(&headers("7u")),
            Some(Duration::from_micros(7))
        );
        assert_eq!(
            parse_grpc_timeout(&headers("9n")),
            Some(Duration::from_nanos(9))
        );
        for bad in ["", "S", "10", "123456789S", "-1S", "1.5S", "10s"] {
            let mut map = HeaderMap::new();
            if let Ok(value) = HeaderValue::from_str(bad) {
                map.insert(GRPC_TIMEOUT, value);
            }
            assert_eq!(parse_grpc_timeout(&map), None, "{bad:?}");
        }
        for left in [
            Duration::ZERO,
            Duration::from_micros(1500),
            Duration::from_secs(10),
            Duration::from_secs(500),
            Duration::from_secs(50_000_000),
        ] {
            let written = headers(format_grpc_timeout(left).to_str().unwrap());
            let read = parse_grpc_timeout(&written).unwrap();
            assert!(read <= left, "{left:?} became {read:?}");
            assert!(
                left - read < Duration::from_secs(1).max(left / 1000),
                "{left:?}"
            );
        }
    }
}
