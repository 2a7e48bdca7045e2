//! numhubd: every numhub service in one process, on one port, each with
//! its own storage (a SQLite file under the data directory, or a schema of
//! one PostgreSQL database). It is the services' own skeleton, with every
//! service added to one [`Host`]: they call each other through the
//! process's own port, over the same contracts and behind the same auth
//! layer as between processes. Besides, numhubd loads the demo and runs
//! the simulated SIM bank.
//!
//! The binary is [`Config`] parsed from flags and the environment, then
//! [`run`]. Tests and tools start the same thing in process with [`start`],
//! which answers once every service is serving, with a [`Numhubd`] handle
//! that knows the bound address and shuts it all down.

pub mod demo;

use std::net::SocketAddr;

use numhub_accounts::{Accounts, AccountsSettings};
use numhub_catalog::{Catalog, CatalogSettings};
use numhub_gateway::{Gateway, GatewaySettings};
use numhub_inbound::simulator::{Simulator, SimulatorSettings};
use numhub_inbound::{Inbound, InboundSettings};
use numhub_orders::{Orders, OrdersSettings};
use numhub_rentals::{Rentals, RentalsSettings};
use numhub_runtime::config::ServiceDefaults;
use numhub_runtime::server::shutdown_signal;
use numhub_skeleton::{Common, Host, Layout, Peer, Running};
use numhub_wallet::{Wallet, WalletSettings};

/// numhubd's name and default ports: gRPC on 50050, metrics on 9050.
pub const DEFAULTS: ServiceDefaults = ServiceDefaults::new("numhub", 50050, 9050);

/// Everything numhubd can be told, from flags or `NUMHUB_*` variables.
#[derive(Debug, clap::Parser)]
#[command(
    name = "numhubd",
    version,
    about = "numhub on one box: every service in one process"
)]
pub struct Config {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub accounts: AccountsSettings,
    #[command(flatten)]
    pub wallet: WalletSettings,
    #[command(flatten)]
    pub catalog: CatalogSettings,
    #[command(flatten)]
    pub orders: OrdersSettings,
    #[command(flatten)]
    pub rentals: RentalsSettings,
    #[command(flatten)]
    pub inbound: InboundSettings,
    #[command(flatten)]
    pub gateway: GatewaySettings,
    #[command(flatten)]
    pub simulator: SimulatorSettings,
    /// Whether the first start loads the demo: numbers in three countries,
    /// prices, and a demo customer with money and a key, printed once.
    #[arg(long, env = "NUMHUB_DEMO", default_value_t = true, action = clap::ArgAction::Set)]
    pub demo: bool,
}

/// What the binary does once telemetry is up: start, serve until SIGTERM
/// or SIGINT, shut down.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let numhubd = start(config).await?;
    shutdown_signal().await;
    numhubd.shutdown().await
}

/// Binds the listen address (port 0 picks a free port), opens and migrates
/// every service's storage, builds the services (accounts bootstraps the
/// operator's admin key, printing a generated one once on standard error),
/// loads the demo on a first start, and serves them all. Answers once the
/// server is serving.
pub async fn start(config: Config) -> anyhow::Result<Numhubd> {
    let mut host = Host::bind(&config.common, DEFAULTS, Layout::Together).await?;
    let accounts: Accounts = host.add(&config.accounts).await?;
    let wallet: Wallet = host.add(&config.wallet).await?;
    let catalog: Catalog = host.add(&config.catalog).await?;
    host.add::<Orders>(&config.orders).await?;
    host.add::<Rentals>(&config.rentals).await?;
    host.add::<Inbound>(&config.inbound).await?;
    let gateway: Gateway = host.add(&config.gateway).await?;
    if config.simulator.enabled {
        Simulator::new(
            host.channel(Peer::Catalog)?,
            host.channel(Peer::Inbound)?,
            host.credentials(),
            host.clock().clone(),
            config.simulator.clone(),
        )
        .start(host.workers());
    }
    if config.demo
        && let Some(secret) = demo::load(&accounts, &wallet, &catalog).await?
    {
        demo::print_key(&secret);
    }
    Ok(Numhubd {
        http_addr: gateway
            .http_addr()
            .await
            .expect("the gateway serves once built"),
        running: host.serve().await?,
    })
}

/// numhubd serving: its address, and the way to stop it.
#[derive(Debug)]
pub struct Numhubd {
    running: Running,
    http_addr: SocketAddr,
}

impl Numhubd {
    /// The address the gRPC server is bound to (the real port when the
    /// config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.running.local_addr()
    }

    /// The address the HTTP gateway is bound to.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Ends the live streams and the webhook, reports NOT_SERVING, lets
    /// in-flight RPCs finish within the shutdown grace, stops the workers
    /// within it too, and closes the databases.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.running.shutdown().await
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    #[test]
    fn every_setting_of_every_service_has_a_flag_of_its_own() {
        super::Config::command().debug_assert();
    }
}
