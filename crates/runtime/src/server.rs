//! Serving a numhub service: gRPC with health and reflection (v1 and
//! v1alpha), the per-RPC telemetry layer, the deadline of each request for
//! the calls made while serving it, Prometheus metrics over HTTP, and a
//! graceful shutdown that first reports NOT_SERVING and then drains.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::channel::DeadlineLayer;
use crate::rpc_telemetry::{DURATION_METRIC, RpcTelemetryLayer};

/// Latency buckets in seconds: fine below 10 ms, where numhub's RPCs live.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A gRPC server about to start: the service's routes and the names of its
/// gRPC services, whose health it reports.
#[derive(Debug)]
pub struct Server {
    routes: Routes,
    service_names: Vec<&'static str>,
}

impl Server {
    pub fn new(routes: Routes, service_names: Vec<&'static str>) -> Self {
        Self {
            routes,
            service_names,
        }
    }

    /// Binds `addr` (port 0 allowed) and serves in the background.
    pub async fn start(self, addr: SocketAddr) -> anyhow::Result<RunningServer> {
        self.start_on(bind(addr).await?).await
    }

    /// Serves on a listener bound beforehand: for a process whose services
    /// call each other through its own address, which must be known before
    /// they are built.
    pub async fn start_on(self, listener: TcpListener) -> anyhow::Result<RunningServer> {
        let local_addr = listener.local_addr()?;

        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_service_status("", ServingStatus::Serving).await;
        for name in &self.service_names {
            health
                .set_service_status(*name, ServingStatus::Serving)
                .await;
        }
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(numhub_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(numhub_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()?;

        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let router = tonic::transport::Server::builder()
            .layer(RpcTelemetryLayer)
            .layer(DeadlineLayer)
            .add_routes(self.routes)
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha);
        let task = tokio::spawn(async move {
            router
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stop_rx.await;
                })
                .await
        });
        tracing::info!(%local_addr, services = ?self.service_names, "serving gRPC");
        Ok(RunningServer {
            local_addr,
            health,
            service_names: self.service_names,
            stop: stop_tx,
            task,
        })
    }
}

/// Binds `addr` (port 0 allowed) for [`Server::start_on`].
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}

/// A server that is serving.
#[derive(Debug)]
pub struct RunningServer {
    local_addr: SocketAddr,
    health: HealthReporter,
    service_names: Vec<&'static str>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl RunningServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Reports NOT_SERVING (so load balancers stop sending), stops accepting,
    /// lets in-flight RPCs finish for up to `grace`, then stops regardless.
    pub async fn shutdown(self, grace: Duration) -> anyhow::Result<()> {
        self.health
            .set_service_status("", ServingStatus::NotServing)
            .await;
        for name in &self.service_names {
            self.health
                .set_service_status(*name, ServingStatus::NotServing)
                .await;
        }
        let _ = self.stop.send(());
        let mut task = self.task;
        match tokio::time::timeout(grace, &mut task).await {
            Ok(joined) => joined
                .context("the gRPC server task failed")?
                .context("the gRPC server failed")?,
            Err(_) => {
                tracing::warn!(
                    ?grace,
                    "in-flight RPCs did not finish in time; stopping anyway"
                );
                task.abort();
            }
        }
        tracing::info!("gRPC server stopped");
        Ok(())
    }
}

/// Serves Prometheus metrics at `http://addr/metrics`. The recorder is global
/// to the process, so a second call (several services in one process) keeps
/// the first one.
pub fn install_metrics(addr: SocketAddr) -> anyhow::Result<()> {
    let result = PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets_for_metric(Matcher::Full(DURATION_METRIC.into()), LATENCY_BUCKETS)?
        .install();
    match result {
        Ok(()) => {
            tracing::info!(%addr, "serving Prometheus metrics at /metrics");
            Ok(())
        }
        Err(metrics_exporter_prometheus::BuildError::FailedToSetGlobalRecorder(_)) => Ok(()),
        Err(error) => Err(error).with_context(|| format!("cannot serve metrics on {addr}")),
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(error) => {
                    tracing::error!(%error, "cannot listen for SIGTERM; only Ctrl-C will stop");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutdown requested");
}
