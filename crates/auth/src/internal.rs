//! Clients of numhub's internal services, each presenting the service
//! credential on every call: the one way a service names another's.

use numhub_proto::accounts::v1::accounts_internal_service_client::AccountsInternalServiceClient;
use numhub_proto::catalog::v1::catalog_internal_service_client::CatalogInternalServiceClient;
use numhub_proto::inbound::v1::inbound_internal_service_client::InboundInternalServiceClient;
use numhub_proto::orders::v1::orders_internal_service_client::OrdersInternalServiceClient;
use numhub_proto::rentals::v1::rentals_internal_service_client::RentalsInternalServiceClient;
use numhub_proto::wallet::v1::wallet_internal_service_client::WalletInternalServiceClient;
use numhub_runtime::channel::Channel;
use tonic::codegen::InterceptedService;

use crate::credential::ServiceInterceptor;

/// A channel that presents the service credential.
pub type Credentialed = InterceptedService<Channel, ServiceInterceptor>;

pub type AccountsClient = AccountsInternalServiceClient<Credentialed>;
pub type WalletClient = WalletInternalServiceClient<Credentialed>;
pub type CatalogClient = CatalogInternalServiceClient<Credentialed>;
pub type OrdersClient = OrdersInternalServiceClient<Credentialed>;
pub type RentalsClient = RentalsInternalServiceClient<Credentialed>;
pub type InboundClient = InboundInternalServiceClient<Credentialed>;
