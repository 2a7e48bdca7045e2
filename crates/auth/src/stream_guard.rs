//! Open streams outlive the check their call passed: a key revoked while a
//! stream is open must still end it. [`Guarded`] wraps a streaming response's
//! body and re-checks the key on a timer; once the key no longer resolves to
//! the identity that opened the stream, the body ends with UNAUTHENTICATED
//! trailers and the handler's stream is dropped.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use numhub_runtime::error::{error_chain, status};
use pin_project_lite::pin_project;
use tonic::Code;

use crate::authenticator::CachedAuthenticator;
use crate::reasons;

/// The shortest pause between two checks of one stream's key.
const MIN_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// A future that resolves, with the trailers to end on, once the stream's
/// key stops working.
type Revoked = Pin<Box<dyn Future<Output = HeaderMap> + Send>>;

pin_project! {
    /// A response body that ends early once its key is revoked. Bodies of
    /// unary calls and internal RPCs pass through unwatched.
    pub struct Guarded<B> {
        #[pin]
        inner: B,
        revoked: Option<Revoked>,
        ended: bool,
    }
}

impl<B> Guarded<B> {
    /// A body that is not watched.
    pub fn open(inner: B) -> Self {
        Self {
            inner,
            revoked: None,
            ended: false,
        }
    }

    /// A body that ends when `key` no longer resolves to `api_key_id`.
    pub fn watched(
        inner: B,
        authenticator: CachedAuthenticator,
        key: String,
        api_key_id: Arc<str>,
    ) -> Self {
        Self {
            inner,
            revoked: Some(Box::pin(watch(authenticator, key, api_key_id))),
            ended: false,
        }
    }

    pub fn inner(&self) -> &B {
        &self.inner
    }

    /// Whether this body ends when its key is revoked.
    pub fn is_watched(&self) -> bool {
        self.revoked.is_some()
    }
}

/// Checks the key every quarter of the cache's TTL, taking only answers
/// fetched within the rest of it: so the check that sees a revocation comes
/// at most one TTL after it, as for a new call. The lookups of many streams
/// of one key share the cache, so accounts hears of them once per TTL.
///
/// An answer that cannot be had (accounts unreachable) keeps the stream: it
/// is tried again at the next check, and new calls are refused meanwhile.
async fn watch(authenticator: CachedAuthenticator, key: String, api_key_id: Arc<str>) -> HeaderMap {
    let ttl = authenticator.ttl();
    let interval = (ttl / 4).max(MIN_CHECK_INTERVAL);
    let max_age = ttl.saturating_sub(interval);
    loop {
        tokio::time::sleep(interval).await;
        match authenticator.authenticate_within(&key, max_age).await {
            Ok(Some(identity)) if identity.api_key_id == api_key_id => continue,
            Ok(_) => break,
            Err(error) => {
                tracing::warn!(error = %error_chain(&*error), "cannot re-check an open stream's API key");
            }
        }
    }
    tracing::info!(api_key_id = %api_key_id, "ending a stream whose API key was revoked");
    let ended = status(
        Code::Unauthenticated,
        reasons::INVALID_API_KEY,
        "the API key is no longer valid; the stream has ended",
    );
    // A trailers-only response carries the status in its headers: the same
    // fields end a stream as trailers.
    let mut trailers = ended.into_http::<()>().into_parts().0.headers;
    trailers.remove(http::header::CONTENT_TYPE);
    trailers
}

impl<B> Body for Guarded<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        if *this.ended {
            return Poll::Ready(None);
        }
        if let Some(revoked) = this.revoked.as_mut()
            && let Poll::Ready(trailers) = revoked.as_mut().poll(cx)
        {
            // The inner body (and with it the handler's stream) is dropped
            // with this body; nothing more of it is sent.
            *this.ended = true;
            *this.revoked = None;
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        let frame = this.inner.poll_frame(cx);
        if let Poll::Ready(None) = frame {
            *this.revoked = None;
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
