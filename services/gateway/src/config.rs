//! The gateway's own settings, from flags and `NUMHUB_GATEWAY_*` variables.

use std::net::SocketAddr;
use std::time::Duration;

/// What the gateway is told besides what every service is.
#[derive(Debug, Clone, clap::Args)]
pub struct GatewaySettings {
    /// Where the HTTP API listens (the REST API, the SMS-Activate protocol,
    /// OpenAPI and live events); port 0 picks a free one.
    #[arg(
        long,
        env = "NUMHUB_GATEWAY_HTTP_ADDR",
        default_value = "127.0.0.1:8080"
    )]
    pub gateway_http_addr: SocketAddr,
    /// The longest a request may take to be answered (its headers; a live
    /// event stream then runs on): 504 after that.
    #[arg(long, env = "NUMHUB_GATEWAY_REQUEST_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub gateway_request_timeout: Duration,
    /// The longest wait for a request's headers, and for a whole body once
    /// they are in: a slow client is cut off after it.
    #[arg(long, env = "NUMHUB_GATEWAY_CLIENT_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub gateway_client_timeout: Duration,
    /// The largest request body, in bytes: 413 above it.
    #[arg(
        long,
        env = "NUMHUB_GATEWAY_MAX_BODY_BYTES",
        default_value_t = 64 * 1024
    )]
    pub gateway_max_body_bytes: usize,
    /// The most HTTP connections served at once; each live event stream
    /// holds one.
    #[arg(long, env = "NUMHUB_GATEWAY_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub gateway_max_connections: usize,
    /// How often a live event stream sends a heartbeat comment when nothing
    /// else happens, so that proxies keep it open and clients see it alive.
    #[arg(long, env = "NUMHUB_GATEWAY_HEARTBEAT", default_value = "15s", value_parser = humantime::parse_duration)]
    pub gateway_heartbeat: Duration,
}
