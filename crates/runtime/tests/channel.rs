//! Calls through the channel builder against dependencies that stop
//! answering, over real sockets: each ends within its deadline with a
//! status naming the dependency; streams outlive the per-call timeout; a
//! caller's deadline reaches the callee.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use numhub_runtime::channel::{Channel, DeadlineLayer, open_ended};
use numhub_runtime::config::CallConfig;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

/// What the probe service does with a call.
#[derive(Clone)]
enum Behaviour {
    /// Never answers.
    Hang,
    /// Answers SERVING (a stream: every 100 ms).
    Answer,
    /// Asks `Check` of the service behind the channel, and answers that.
    Relay(Channel),
}

/// A health service that records the `grpc-timeout` of each call.
#[derive(Clone)]
struct Probe {
    behaviour: Behaviour,
    seen: Arc<Mutex<Vec<Option<String>>>>,
}

impl Probe {
    fn record<T>(&self, request: &Request<T>) {
        let header = request
            .metadata()
            .get("grpc-timeout")
            .map(|v| v.to_str().unwrap().to_owned());
        self.seen.lock().unwrap().push(header);
    }

    fn last_timeout(&self) -> Option<Duration> {
        let seen = self.seen.lock().unwrap();
        let header = seen.last().expect("a call arrived").as_deref()?;
        Some(numhub_testkit_free::parse(header))
    }
}

/// The `grpc-timeout` wire format, read independently of the runtime's.
mod numhub_testkit_free {
    use std::time::Duration;

    pub fn parse(text: &str) -> Duration {
        let (digits, unit) = text.split_at(text.len() - 1);
        let value: u64 = digits.parse().expect("digits");
        match unit {
            "S" => Duration::from_secs(value),
            "m" => Duration::from_millis(value),
            "u" => Duration::from_micros(value),
            "n" => Duration::from_nanos(value),
            other => panic!("unexpected unit {other}"),
        }
    }
}

type Watch = Pin<Box<dyn futures_util::Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

fn serving() -> HealthCheckResponse {
    HealthCheckResponse { status: 1 }
}

#[tonic::async_trait]
impl Health for Probe {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        self.record(&request);
        match &self.behaviour {
            Behaviour::Hang => std::future::pending().await,
            Behaviour::Answer => Ok(Response::new(serving())),
            Behaviour::Relay(channel) => {
                HealthClient::new(channel.clone())
                    .check(HealthCheckRequest::default())
                    .await
            }
        }
    }

    type WatchStream = Watch;

    async fn watch(&self, request: Request<HealthCheckRequest>) -> Result<Response<Watch>, Status> {
        self.record(&request);
        if let Behaviour::Hang = self.behaviour {
            std::future::pending::<()>().await;
        }
        let ticks = futures_util::stream::unfold((), |()| async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Some((Ok(serving()), ()))
        });
        Ok(Response::new(Box::pin(ticks)))
    }
}

/// Serves `behaviour` on 127.0.0.1, with the deadline layer as every
/// numhub server wears it.
async fn serve(behaviour: Behaviour) -> (SocketAddr, Probe) {
    let probe = Probe {
        behaviour,
        seen: Arc::default(),
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = tonic::transport::Server::builder()
        .layer(DeadlineLayer)
        .add_service(HealthServer::new(probe.clone()));
    tokio::spawn(router.serve_with_incoming(TcpIncoming::from(listener)));
    (addr, probe)
}

fn channel(addr: SocketAddr, connect: Duration, call: Duration) -> Channel {
    let calls = CallConfig {
        connect_timeout: connect,
        call_timeout: call,
    };
    calls
        .channel("probe", &format!("http://{addr}"), "TEST_ADDR")
        .unwrap()
}

/// Checks through `channel`, failing the test if it hangs.
async fn check(channel: &Channel) -> (Result<HealthCheckResponse, Status>, Duration) {
    let started = Instant::now();
    let answer = tokio::time::timeout(
        Duration::from_secs(20),
        HealthClient::new(channel.clone()).check(HealthCheckRequest::default()),
    )
    .await
    .expect("the call hung");
    (answer.map(Response::into_inner), started.elapsed())
}

fn assert_fails_within(
    outcome: (Result<HealthCheckResponse, Status>, Duration),
    code: Code,
    deadline: Duration,
) {
    let (answer, took) = outcome;
    let status = answer.expect_err("no answer can come");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().contains("probe"),
        "names the dependency: {status:?}"
    );
    assert!(
        took < deadline + Duration::from_millis(700),
        "took {took:?}"
    );
}

#[tokio::test]
async fn a_dependency_that_accepts_and_never_answers_fails_the_call_within_its_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let deadline = Duration::from_millis(300);
    let channel = channel(addr, Duration::from_secs(5), deadline);
    let outcome = check(&channel).await;
    assert!(outcome.1 >= deadline, "{:?}", outcome.1);
    assert_fails_within(outcome, Code::DeadlineExceeded, deadline);
    // And again on the same channel: nothing is stuck behind the first.
    assert_fails_within(check(&channel).await, Code::DeadlineExceeded, deadline);
}

#[tokio::test]
async fn a_handler_that_never_answers_fails_the_call_within_its_deadline() {
    let (addr, _) = serve(Behaviour::Hang).await;
    let deadline = Duration::from_millis(300);
    let channel = channel(addr, Duration::from_secs(5), deadline);
    assert_fails_within(check(&channel).await, Code::DeadlineExceeded, deadline);
    // A stream that never opens is bounded the same way.
    let started = Instant::now();
    let opened = tokio::time::timeout(
        Duration::from_secs(20),
        HealthClient::new(channel.clone()).watch(open_ended(HealthCheckRequest::default())),
    )
    .await
    .expect("the stream's opening hung");
    let status = opened.expect_err("it never opens");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(started.elapsed() < deadline + Duration::from_millis(700));
}

/// A health service whose replies stop after their headers: the message
/// and trailers never come.
#[derive(Clone)]
struct Stalling(HealthServer<Probe>);

impl tonic::server::NamedService for Stalling {
    const NAME: &'static str = "grpc.health.v1.Health";
}

impl tower_service::Service<http::Request<tonic::body::Body>> for Stalling {
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        tower_service::Service::<http::Request<tonic::body::Body>>::poll_ready(&mut self.0, cx)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let reply = self.0.call(request);
        Box::pin(async move {
            let (head, _) = reply.await?.into_parts();
            Ok(http::Response::from_parts(
                head,
                tonic::body::Body::new(Never),
            ))
        })
    }
}

/// A body that never yields anything.
struct Never;

impl http_body::Body for Never {
    type Data = bytes::Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Status>>> {
        std::task::Poll::Pending
    }
}

#[tokio::test]
async fn a_reply_that_stops_after_its_headers_fails_within_the_deadline() {
    let probe = Probe {
        behaviour: Behaviour::Answer,
        seen: Arc::default(),
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router =
        tonic::transport::Server::builder().add_service(Stalling(HealthServer::new(probe)));
    tokio::spawn(router.serve_with_incoming(TcpIncoming::from(listener)));
    let deadline = Duration::from_millis(300);
    let channel = channel(addr, Duration::from_secs(5), deadline);
    assert_fails_within(check(&channel).await, Code::DeadlineExceeded, deadline);
}

/// A listener whose accept queue is full: the kernel drops new SYNs, so a
/// connection attempt waits, as for a host that vanished.
async fn unanswered_syn() -> (SocketAddr, TcpListener, Vec<TcpStream>) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut queued = Vec::new();
    for _ in 0..8 {
        match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => queued.push(stream),
            _ => break,
        }
    }
    (addr, listener, queued)
}

#[tokio::test]
async fn a_connection_that_cannot_be_made_fails_unavailable_within_the_connect_timeout() {
    let (addr, _listener, _queued) = unanswered_syn().await;
    let connect = Duration::from_millis(300);
    // The call's own deadline is far: the connect timeout alone ends it.
    let channel = channel(addr, connect, Duration::from_secs(10));
    assert_fails_within(check(&channel).await, Code::Unavailable, connect);
}

#[tokio::test]
async fn a_stream_outlives_the_call_timeout_and_carries_no_deadline() {
    let (addr, probe) = serve(Behaviour::Answer).await;
    let deadline = Duration::from_millis(300);
    let channel = channel(addr, Duration::from_secs(5), deadline);
    let started = Instant::now();
    let mut stream = HealthClient::new(channel.clone())
        .watch(open_ended(HealthCheckRequest::default()))
        .await
        .expect("the stream opens")
        .into_inner();
    for _ in 0..8 {
        let item = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("the stream goes on");
        assert_eq!(item.expect("not ended").expect("no error"), serving());
    }
    assert!(started.elapsed() > 2 * deadline, "{:?}", started.elapsed());
    assert_eq!(probe.last_timeout(), None, "a stream is told no deadline");
    // A unary call on the same channel is told its deadline.
    check(&channel).await.0.expect("answered");
    let told = probe.last_timeout().expect("a deadline");
    assert!(told <= deadline && told > deadline / 2, "{told:?}");
}

#[tokio::test]
async fn a_callers_deadline_bounds_the_calls_made_while_serving_it() {
    let (callee, probe) = serve(Behaviour::Answer).await;
    let default = Duration::from_secs(10);
    // The caller calls the callee with the default per-call timeout.
    let (caller, _) = serve(Behaviour::Relay(channel(
        callee,
        Duration::from_secs(5),
        default,
    )))
    .await;
    let mut client = HealthClient::new(channel(caller, Duration::from_secs(5), default));

    let mut request = Request::new(HealthCheckRequest::default());
    request.set_timeout(Duration::from_millis(700));
    client.check(request).await.expect("answered");
    let told = probe.last_timeout().expect("a deadline");
    assert!(told <= Duration::from_millis(700), "{told:?}");

    // Without a deadline of its own, the caller passes on the default.
    client
        .check(HealthCheckRequest::default())
        .await
        .expect("answered");
    let told = probe.last_timeout().expect("a deadline");
    // The client's own call is bounded by the same default, a little earlier.
    assert!(
        told <= default && told > default - Duration::from_secs(1),
        "{told:?}"
    );
}

#[tokio::test]
async fn a_caller_out_of_time_fails_its_calls_at_once() {
    let (callee, probe) = serve(Behaviour::Answer).await;
    let channel = channel(callee, Duration::from_secs(5), Duration::from_secs(10));
    let past = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let answer = numhub_runtime::channel::with_deadline(past, async {
        HealthClient::new(channel.clone())
            .check(HealthCheckRequest::default())
            .await
    })
    .await;
    assert_eq!(answer.unwrap_err().code(), Code::DeadlineExceeded);
    assert!(probe.seen.lock().unwrap().is_empty(), "nothing was sent");
}
