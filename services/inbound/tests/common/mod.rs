//! The whole stack of orders' tests (accounts, wallet, catalog and orders
//! on fresh databases of one backend, one manual clock), plus inbound on a
//! database of its own, routing through the catalog and orders over gRPC.

#![allow(dead_code, unused_imports)]

#[path = "../../../orders/tests/common/mod.rs"]
mod stack;

use numhub_accounts::testing::BearerKey;
use numhub_auth::ServiceInterceptor;
use numhub_inbound::{Dependencies, Inbound, InboundSettings, MIGRATIONS, SERVICE_NAMES};
use numhub_proto::inbound::v1 as pb;
use numhub_proto::inbound::v1::inbound_admin_service_client::InboundAdminServiceClient;
use numhub_proto::inbound::v1::inbound_internal_service_client::InboundInternalServiceClient;
use numhub_runtime::clock::SharedClock;
pub use numhub_testkit::Backend;
use numhub_testkit::{TestDb, TestServer};
use tonic::codegen::InterceptedService;
use tonic::transport::Channel;

pub use stack::*;

pub type Intake = InboundInternalServiceClient<InterceptedService<Channel, ServiceInterceptor>>;
pub type Admin = InboundAdminServiceClient<InterceptedService<Channel, BearerKey>>;

pub struct Routed {
    pub h: Harness,
    pub inbound: Inbound,
    pub intake: Intake,
    pub admin: Admin,
    pub inbound_db: TestDb,
    pub inbound_server: TestServer,
}

pub async fn start_routed(backend: Backend) -> Routed {
    let h = start(backend).await;
    let inbound_db = TestDb::new(backend).await;
    inbound_db
        .db
        .migrate(&MIGRATIONS)
        .await
        .expect("migrate inbound");
    let inbound = inbound_on(&h, &inbound_db, h.server.outbound("orders")).await;
    let inbound_server = TestServer::start(
        inbound.routes(&h.stack.remote_auth_layer()),
        SERVICE_NAMES.to_vec(),
    )
    .await;
    Routed {
        intake: InboundInternalServiceClient::with_interceptor(
            inbound_server.channel(),
            h.stack.credentials.interceptor(),
        ),
        admin: InboundAdminServiceClient::with_interceptor(
            inbound_server.channel(),
            BearerKey(h.stack.admin_key.clone()),
        ),
        h,
        inbound,
        inbound_db,
        inbound_server,
    }
}

/// A channel to a port nothing listens on.
pub fn nowhere(name: &'static str) -> numhub_runtime::channel::Channel {
    numhub_testkit::outbound(name, "http://127.0.0.1:1", &Default::default())
}

/// An inbound on `db` that reaches orders through `orders` (the real one,
/// or a channel to nowhere, to play an outage).
pub async fn inbound_on(
    h: &Harness,
    db: &TestDb,
    orders: numhub_runtime::channel::Channel,
) -> Inbound {
    let clock: SharedClock = h.clock.clone();
    // No rentals here: a rented number's SMS would wait for them.
    let rentals = nowhere("rentals");
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

impl Routed {
    pub fn sms(&self, upstream_id: &str, to: &str, body: &str) -> pb::DeliverRequest {
        use numhub_runtime::clock::Clock;
        pb::DeliverRequest {
            upstream: "simbank-1".into(),
            upstream_message_id: upstream_id.into(),
            to: to.into(),
            sender: "WhatsApp".into(),
            body: body.into(),
            receive_time: Some(self.h.clock.now().to_proto()),
        }
    }

    pub async fn deliver(&mut self, request: pb::DeliverRequest) -> pb::DeliverResponse {
        self.intake
            .deliver(request)
            .await
            .expect("deliver")
            .into_inner()
    }

    /// The stored message, as the operator would see it.
    pub async fn stored(&self, id: &str) -> numhub_inbound::store::Message {
        self.inbound
            .get(id)
            .await
            .unwrap()
            .expect("a stored message")
    }
}
