//! Dependencies that stop answering, for tests of the calls that must not
//! wait for them forever: [`Gate`], a TCP relay that can be made to accept
//! connections and never answer them, and [`Mute`], a switch in front of a
//! service's routes that can leave calls unanswered after the HTTP/2
//! handshake (before or after the service did the work).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tonic::service::Routes;

/// A TCP relay on 127.0.0.1 in front of `target`. Hung, it accepts
/// connections and never answers them (nor passes them on); healed, it
/// relays again. Each switch drops the connections of the other mode, so
/// a client's next call meets the new one.
#[derive(Debug)]
pub struct Gate {
    addr: SocketAddr,
    hung: watch::Sender<bool>,
}

impl Gate {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind the gate");
        let addr = listener.local_addr().expect("the gate's address");
        let (hung, mode) = watch::channel(false);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let _ = client.set_nodelay(true);
                tokio::spawn(relay(client, target, mode.clone()));
            }
        });
        Self { addr, hung }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// From now on, connections are accepted and never answered.
    pub fn hang(&self) {
        self.hung.send_replace(true);
    }

    /// From now on, connections reach the target again.
    pub fn heal(&self) {
        self.hung.send_replace(false);
    }
}

async fn relay(mut client: TcpStream, target: SocketAddr, mut mode: watch::Receiver<bool>) {
    let hung = *mode.borrow_and_update();
    if hung {
        // Held open, unread, until the mode changes.
        let _ = mode.changed().await;
        return;
    }
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    let _ = server.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = mode.changed() => {}
    }
}

/// What a muted service does with a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Silence {
    /// Never starts it and never answers.
    Hang,
    /// Does the work, then never answers: the answer is lost on the way.
    LoseAnswer,
}

/// A switch in front of a service's routes (see [`Mute::routes`]), which
/// also records the `grpc-timeout` of the calls it sees.
#[derive(Debug, Clone, Default)]
pub struct Mute {
    state: Arc<Mutex<MuteState>>,
}

#[derive(Debug, Default)]
struct MuteState {
    silence: Option<Silence>,
    timeouts: Vec<Option<Duration>>,
}

impl Mute {
    /// `routes` behind this switch.
    pub fn routes(&self, routes: Routes) -> Routes {
        let mute = self.clone();
        let router = routes.into_axum_router().layer(middleware::from_fn(
            move |request: Request, next: Next| {
                let mute = mute.clone();
                async move { mute.pass(request, next).await }
            },
        ));
        Routes::from(router)
    }

    /// `Some` silences the calls from now on; `None` lets them through.
    pub fn set(&self, silence: Option<Silence>) {
        self.state.lock().expect("mute lock").silence = silence;
    }

    /// The `grpc-timeout` of each call seen so far, in order.
    pub fn timeouts(&self) -> Vec<Option<Duration>> {
        self.state.lock().expect("mute lock").timeouts.clone()
    }

    async fn pass(&self, request: Request, next: Next) -> Response {
        let timeout = numhub_runtime::channel::parse_grpc_timeout(request.headers());
        let silence = {
            let mut state = self.state.lock().expect("mute lock");
            state.timeouts.push(timeout);
            state.silence
        };
        match silence {
            None => next.run(request).await,
            Some(Silence::Hang) => std::future::pending().await,
            Some(Silence::LoseAnswer) => {
                // Done whatever the caller does meanwhile; then lost.
                let _ = tokio::spawn(next.run(request)).await;
                std::future::pending().await
            }
        }
    }
}
