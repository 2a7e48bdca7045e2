//! A plain HTTP/1.1 server for an axum `Router` facing clients numhub does
//! not control (the carriers' webhook), with the limits that keep a slow or
//! hostile client from holding the port:
//!
//! * the headers must arrive within `header_timeout`, counted from when the
//!   connection opens or its previous response was sent, so an idle
//!   keep-alive connection is closed after that long too (hyper runs one
//!   timer while it waits for a request's head, idle or not);
//! * the whole body must arrive within `body_timeout` of the headers: 408
//!   and the connection closed otherwise;
//! * a body over `max_body_bytes` gets 413 (at once when its declared
//!   length says so), without reading it;
//! * at most `max_connections` connections are served at once; further ones
//!   wait in the listener's accept queue (the kernel's backlog) until one
//!   ends, and are not read before;
//! * shutdown stops accepting, lets requests in flight finish within
//!   `shutdown_grace`, and then closes what is left.
//!
//! The handler receives the body already read in full, so it never waits
//! on the client.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower_service::Service;

/// What a client may take of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// The longest wait for a request's headers, and for the next request
    /// on an idle keep-alive connection.
    pub header_timeout: Duration,
    /// The longest wait for a whole body once the headers are in.
    pub body_timeout: Duration,
    /// The largest body, in bytes.
    pub max_body_bytes: usize,
    /// The most connections served at once.
    pub max_connections: usize,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_body_bytes: 64 * 1024,
            max_connections: 512,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// A server running in the background.
#[derive(Debug)]
pub struct RunningHttp {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningHttp {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets requests in flight finish within the grace
    /// period, then closes every connection.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Serves `router` on `listener` with `limits` until shut down; `name`
/// names the server in logs.
pub fn serve(
    name: &'static str,
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
) -> std::io::Result<RunningHttp> {
    let addr = listener.local_addr()?;
    let (stop, stopping) = watch::channel(false);
    let task = tokio::spawn(accept_loop(name, listener, router, limits, stopping));
    Ok(RunningHttp { addr, stop, task })
}

async fn accept_loop(
    name: &'static str,
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    mut stopping: watch::Receiver<bool>,
) {
    let slots = std::sync::Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        // A slot first: without one, the next connection stays in the
        // kernel's accept queue.
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            _ = stopped(&mut stopping) => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors, or a connection reset before it
                    // was accepted: pause rather than spin.
                    tracing::warn!(server = name, %error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped(&mut stopping) => break,
        };
        let router = router.clone();
        let service =
            hyper::service::service_fn(move |request| handle(router.clone(), limits, request));
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let mut stopping = stopping.clone();
        connections.spawn(async move {
            let _permit = permit;
            let mut connection = std::pin::pin!(connection);
            let served = tokio::select! {
                served = connection.as_mut() => served,
                _ = stopped(&mut stopping) => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = served {
                // Timeouts, resets and malformed requests: the client's doing.
                tracing::debug!(server = name, %peer, %error, "connection ended");
            }
        });
    }
    drop(listener);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            server = name,
            left = connections.len(),
            "closing connections still busy after the grace period"
        );
        connections.shutdown().await;
    }
}

/// Returns once shutdown has begun (the guard `wait_for` gives is not
/// `Send`, so it is dropped here).
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

/// Reads the body in full within the limits, then hands the request on.
async fn handle(
    mut router: Router,
    limits: HttpLimits,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let (parts, body) = request.into_parts();
    let declared = hyper::body::Body::size_hint(&body).lower();
    if declared > limits.max_body_bytes as u64 {
        return Ok(refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is larger than the server takes",
        ));
    }
    let read = tokio::time::timeout(
        limits.body_timeout,
        Limited::new(body, limits.max_body_bytes).collect(),
    )
    .await;
    let bytes = match read {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(error)) if error.is::<LengthLimitError>() => {
            return Ok(refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is larger than the server takes",
            ));
        }
        Ok(Err(_)) => {
            return Ok(refuse(
                StatusCode::BAD_REQUEST,
                "malformed_body",
                "the request body is malformed",
            ));
        }
        Err(_) => {
            return Ok(refuse(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request body did not arrive in time",
            ));
        }
    };
    router
        .call(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// An answer after which the connection closes: the rest of the body was
/// not read, so the connection cannot carry another request. In the shape
/// of every numhub HTTP error: `{"success": false, "code", "message"}`.
fn refuse(status: StatusCode, code: &'static str, message: &'static str) -> Response<Body> {
    let body = format!(r#"{{"success":false,"code":"{code}","message":"{message}"}}"#);
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Bytes;
    use axum::routing::post;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn server(max_body_bytes: usize) -> RunningHttp {
        let router = Router::new().route(
            "/",
            post(|body: Bytes| async move { format!("{}", body.len()) }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let limits = HttpLimits {
            max_body_bytes,
            ..HttpLimits::default()
        };
        serve("test", listener, router, limits).unwrap()
    }

    async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        String::from_utf8_lossy(&answer).into_owned()
    }

    fn chunked(chunks: &[usize]) -> Vec<u8> {
        let mut request = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
        for &len in chunks {
            request.extend(format!("{len:x}\r\n").bytes());
            request.extend(std::iter::repeat_n(b'a', len));
            request.extend(b"\r\n");
        }
        request.extend(b"0\r\n\r\n");
        request
    }

    #[tokio::test]
    async fn bodies_are_read_in_full_up_to_the_limit() {
        let server = server(100).await;
        let at_limit = exchange(server.local_addr(), &chunked(&[60, 40])).await;
        assert!(
            at_limit.starts_with("HTTP/1.1 200") && at_limit.ends_with("\r\n\r\n100"),
            "{at_limit}"
        );
        // No declared length: refused when the bytes pass the limit.
        let over = exchange(server.local_addr(), &chunked(&[60, 41])).await;
        assert!(over.starts_with("HTTP/1.1 413"), "{over}");
        let declared = exchange(
            server.local_addr(),
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n",
        )
        .await;
        assert!(declared.starts_with("HTTP/1.1 413"), "{declared}");
        server.shutdown().await;
    }
}
