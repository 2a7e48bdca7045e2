//! The whole stack of orders' tests (accounts, wallet, catalog and orders
//! on fresh databases of one backend, one manual clock), plus inbound on a
//! database of its own, routing through the catalog and orders over gRPC.

#![allow(dead_code)]

use numhub_inbound::Inbound;
use numhub_proto::inbound::v1 as pb;
pub use numhub_testkit::Backend;
use numhub_testkit::stack::database;
pub use numhub_testkit::stack::inbound::{Admin, Intake};
pub use numhub_testkit::stack::orders::*;
#[allow(unused_imports)]
pub use numhub_testkit::status::{assert_status, bad_fields, reason};
use numhub_testkit::{TestDb, TestServer};

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
    let inbound_db = database::<Inbound>(backend).await;
    let inbound = inbound_on(&h, &inbound_db, h.server.outbound("orders")).await;
    let inbound_server = h.stack.serve(&inbound).await;
    let (intake, admin) = numhub_testkit::stack::inbound::clients(&h, inbound_server.channel());
    Routed {
        intake,
        admin,
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
    // No rentals here: a rented number's SMS would wait for them.
    numhub_testkit::stack::inbound::inbound_on(h, db, orders, nowhere("rentals")).await
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
