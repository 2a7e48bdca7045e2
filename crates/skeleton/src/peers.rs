//! Where the other services are, and the channels to them.

use numhub_runtime::channel::Channel;
use numhub_runtime::config::CallConfig;

/// A numhub service another one may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    Accounts,
    Wallet,
    Catalog,
    Orders,
    Inbound,
    Rentals,
}

impl Peer {
    pub const ALL: [Peer; 6] = [
        Peer::Accounts,
        Peer::Wallet,
        Peer::Catalog,
        Peer::Orders,
        Peer::Inbound,
        Peer::Rentals,
    ];

    /// Its name in logs and errors.
    pub fn name(self) -> &'static str {
        match self {
            Peer::Accounts => "accounts",
            Peer::Wallet => "wallet",
            Peer::Catalog => "catalog",
            Peer::Orders => "orders",
            Peer::Inbound => "inbound",
            Peer::Rentals => "rentals",
        }
    }

    /// The id of its address setting in [`PeerAddrs`], as clap knows it.
    pub(crate) fn arg_id(self) -> &'static str {
        match self {
            Peer::Accounts => "accounts_addr",
            Peer::Wallet => "wallet_addr",
            Peer::Catalog => "catalog_addr",
            Peer::Orders => "orders_addr",
            Peer::Inbound => "inbound_addr",
            Peer::Rentals => "rentals_addr",
        }
    }

    fn variable(self) -> &'static str {
        match self {
            Peer::Accounts => "NUMHUB_ACCOUNTS_ADDR",
            Peer::Wallet => "NUMHUB_WALLET_ADDR",
            Peer::Catalog => "NUMHUB_CATALOG_ADDR",
            Peer::Orders => "NUMHUB_ORDERS_ADDR",
            Peer::Inbound => "NUMHUB_INBOUND_ADDR",
            Peer::Rentals => "NUMHUB_RENTALS_ADDR",
        }
    }
}

/// Where each service is, for a binary of one service; each binary shows
/// the settings of those it calls (and accepts the others, so one set of
/// variables may serve every binary).
#[derive(Debug, Clone, clap::Args)]
pub struct PeerAddrs {
    /// Where the accounts service is, to resolve API keys.
    #[arg(
        long,
        env = "NUMHUB_ACCOUNTS_ADDR",
        default_value = "http://127.0.0.1:50051"
    )]
    pub accounts_addr: String,
    /// Where the wallet is, to charge and refund.
    #[arg(
        long,
        env = "NUMHUB_WALLET_ADDR",
        default_value = "http://127.0.0.1:50052"
    )]
    pub wallet_addr: String,
    /// Where the catalog is, to price, lease and release numbers.
    #[arg(
        long,
        env = "NUMHUB_CATALOG_ADDR",
        default_value = "http://127.0.0.1:50053"
    )]
    pub catalog_addr: String,
    /// Where orders is, to deliver activations' messages.
    #[arg(
        long,
        env = "NUMHUB_ORDERS_ADDR",
        default_value = "http://127.0.0.1:50054"
    )]
    pub orders_addr: String,
    /// Where inbound is.
    #[arg(
        long,
        env = "NUMHUB_INBOUND_ADDR",
        default_value = "http://127.0.0.1:50055"
    )]
    pub inbound_addr: String,
    /// Where rentals is, to deliver rentals' messages and read them.
    #[arg(
        long,
        env = "NUMHUB_RENTALS_ADDR",
        default_value = "http://127.0.0.1:50056"
    )]
    pub rentals_addr: String,
}

impl PeerAddrs {
    fn addr(&self, peer: Peer) -> &str {
        match peer {
            Peer::Accounts => &self.accounts_addr,
            Peer::Wallet => &self.wallet_addr,
            Peer::Catalog => &self.catalog_addr,
            Peer::Orders => &self.orders_addr,
            Peer::Inbound => &self.inbound_addr,
            Peer::Rentals => &self.rentals_addr,
        }
    }
}

/// How a process reaches the services it calls.
#[derive(Debug, Clone)]
pub(crate) enum PeerChannels {
    /// Each at its configured address.
    At(PeerAddrs, CallConfig),
    /// All in this process, through its own port: the same gRPC contracts,
    /// the same auth, the same deadlines as between processes.
    Itself(Channel),
}

impl PeerChannels {
    pub(crate) fn channel(&self, peer: Peer) -> anyhow::Result<Channel> {
        match self {
            PeerChannels::At(addrs, calls) => {
                calls.channel(peer.name(), addrs.addr(peer), peer.variable())
            }
            PeerChannels::Itself(channel) => Ok(channel.clone()),
        }
    }
}
