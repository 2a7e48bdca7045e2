//! The public gRPC services the gateway calls, over the same channels as
//! every service (a connect timeout, a deadline on every call, keepalive).

use numhub_proto::accounts::v1::accounts_service_client::AccountsServiceClient;
use numhub_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use numhub_proto::orders::v1::orders_service_client::OrdersServiceClient;
use numhub_proto::rentals::v1::rentals_service_client::RentalsServiceClient;
use numhub_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use numhub_runtime::channel::Channel;
use numhub_skeleton::{Context, Peer};

/// A client of each public service the gateway speaks for.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub accounts: AccountsServiceClient<Channel>,
    pub wallet: WalletServiceClient<Channel>,
    pub catalog: CatalogServiceClient<Channel>,
    pub orders: OrdersServiceClient<Channel>,
    pub rentals: RentalsServiceClient<Channel>,
}

impl Upstream {
    /// The services it calls, as `Gateway::CALLS` names them.
    pub const PEERS: &'static [Peer] = &[
        Peer::Accounts,
        Peer::Wallet,
        Peer::Catalog,
        Peer::Orders,
        Peer::Rentals,
    ];

    pub fn new(context: &Context) -> anyhow::Result<Self> {
        Ok(Self {
            accounts: AccountsServiceClient::new(context.channel(Peer::Accounts)?),
            wallet: WalletServiceClient::new(context.channel(Peer::Wallet)?),
            catalog: CatalogServiceClient::new(context.channel(Peer::Catalog)?),
            orders: OrdersServiceClient::new(context.channel(Peer::Orders)?),
            rentals: RentalsServiceClient::new(context.channel(Peer::Rentals)?),
        })
    }
}
