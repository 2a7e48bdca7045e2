//! Inbound beside the buying stack, routing through its catalog over gRPC.

use numhub_auth::ServiceInterceptor;
use numhub_inbound::{Dependencies, Inbound, InboundSettings};
use numhub_proto::inbound::v1::inbound_admin_service_client::InboundAdminServiceClient;
use numhub_proto::inbound::v1::inbound_internal_service_client::InboundInternalServiceClient;
use numhub_runtime::channel::Channel as Outbound;
use numhub_runtime::clock::SharedClock;
use tonic::codegen::InterceptedService;
use tonic::transport::Channel;

use super::orders::Harness;
use crate::{BearerKey, TestDb};

/// Inbound's intake, with the service credential: what a SIM bank calls.
pub type Intake = InboundInternalServiceClient<InterceptedService<Channel, ServiceInterceptor>>;
/// Inbound's admin surface, with the operator's key.
pub type Admin = InboundAdminServiceClient<InterceptedService<Channel, BearerKey>>;

/// An inbound on `db` (migrated) with `h`'s catalog and clock, delivering
/// to `orders` and `rentals`.
pub async fn inbound_on(h: &Harness, db: &TestDb, orders: Outbound, rentals: Outbound) -> Inbound {
    let clock: SharedClock = h.clock.clone();
    let deps = Dependencies::new(
        h.catalog_server.outbound("catalog"),
        orders,
        rentals,
        &h.stack.credentials,
    );
    Inbound::new(db.db.clone(), clock, InboundSettings::default(), deps)
        .await
        .expect("start inbound")
}

/// The intake and admin clients of an inbound served at `channel`.
pub fn clients(h: &Harness, channel: Channel) -> (Intake, Admin) {
    let intake = InboundInternalServiceClient::with_interceptor(
        channel.clone(),
        h.stack.credentials.interceptor(),
    );
    let admin =
        InboundAdminServiceClient::with_interceptor(channel, BearerKey(h.stack.admin_key.clone()));
    (intake, admin)
}
