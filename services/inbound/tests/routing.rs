//! Inbound over real gRPC with the real catalog and orders, on SQLite and
//! PostgreSQL: durable, deduplicated intake; routing to whoever held the
//! number when the SMS arrived; unrouted messages kept for the operator;
//! outages retried; two workers never routing one message twice.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use numhub_inbound::routing::{Pass, unrouted_reason};
use numhub_inbound::store::State;
use numhub_proto::inbound::v1 as pb;
use numhub_proto::orders::v1 as orders_pb;
use numhub_testkit::backend_tests;
use tonic::Code;

backend_tests! {
    async fn an_sms_reaches_the_activation_that_held_the_number(backend: Backend) {
        let mut r = start_routed(backend).await;
        r.h.import(0, 2).await;
        let account = r.h.account();
        r.h.fund(&account, 100).await;
        let a = r.h.buy("wa", "buy-1").await.unwrap();
        r.h.advance(Duration::from_secs(30));
        let answer = r.deliver(r.sms("up-1", &a.phone_number, "Your WhatsApp code is 123-456")).await;
        assert!(!answer.duplicate);
        let message = answer.message.unwrap();
        assert_eq!(message.state, pb::RouteState::Pending as i32);
        assert_eq!(message.to, a.phone_number);

        let pass = r.inbound.route_due().await.unwrap();
        assert_eq!(pass, Pass { routed: 1, unrouted: 0, retried: 0 });
        let stored = r.stored(&message.id).await;
        assert_eq!(stored.state, State::Routed);
        assert_eq!(stored.holder_id, a.id);
        let got = r.h.get(&a.id).await;
        assert_eq!(got.messages.len(), 1);
        assert_eq!(got.messages[0].code, "123456");
        assert_eq!(got.status, orders_pb::ActivationStatus::Received as i32);
        // Digits alone are the same number.
        let digits = a.phone_number.trim_start_matches('+').to_owned();
        r.deliver(r.sms("up-2", &digits, "Code 777777")).await;
        r.inbound.route_due().await.unwrap();
        assert_eq!(r.h.get(&a.id).await.messages.len(), 2);
    }

    async fn a_gateway_that_retries_never_makes_a_second_message(backend: Backend) {
        let mut r = start_routed(backend).await;
        r.h.import(0, 1).await;
        let account = r.h.account();
        r.h.fund(&account, 100).await;
        let a = r.h.buy("wa", "buy-1").await.unwrap();
        let request = r.sms("up-1", &a.phone_number, "code 2468");
        let first = r.deliver(request.clone()).await;
        let again = r.deliver(request.clone()).await;
        assert!(again.duplicate);
        assert_eq!(first.message.as_ref().unwrap().id, again.message.as_ref().unwrap().id);
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let mut intake = r.intake.clone();
            let request = request.clone();
            tasks.push(tokio::spawn(async move { intake.deliver(request).await }));
        }
        let mut ids = HashSet::new();
        for task in tasks {
            ids.insert(task.await.unwrap().unwrap().into_inner().message.unwrap().id);
        }
        assert_eq!(ids.len(), 1);
        r.inbound.route_due().await.unwrap();
        assert_eq!(r.h.get(&a.id).await.messages.len(), 1);
        // The same id with another text is a gateway's bug, refused.
        let mut changed = request.clone();
        changed.body = "code 1111".into();
        let status = assert_status(r.intake.deliver(changed).await, Code::FailedPrecondition, "IDEMPOTENCY_KEY_REUSED");
        assert!(status.message().contains("up-1"));
        // Another gateway may use the same id for its own message.
        let mut other = request;
        other.upstream = "carrier-2".into();
        assert!(!r.deliver(other).await.duplicate);
    }

    async fn what_nobody_held_is_kept_unrouted_and_shown_to_nobody(backend: Backend) {
        let mut r = start_routed(backend).await;
        r.h.import(0, 2).await;
        let account = r.h.account();
        r.h.fund(&account, 100).await;
        // Reached the number before anyone held it, and routed while it is held.
        let early = r.sms("early", "+15550000000", "code 1111");
        r.h.advance(Duration::from_secs(5));
        let a = r.h.buy("wa", "buy-1").await.unwrap();
        assert_eq!(a.phone_number, "+15550000000");
        let early = r.deliver(early).await.message.unwrap();
        // A number nobody ever held, and one outside the inventory.
        let idle = r.deliver(r.sms("idle", "+15550000001", "code 2222")).await.message.unwrap();
        let stranger = r.deliver(r.sms("stranger", "+447700900123", "code 3333")).await.message.unwrap();
        // Received while held, routed after the holder cancelled.
        r.h.advance(Duration::from_secs(5));
        let late = r.deliver(r.sms("late", &a.phone_number, "code 4444")).await.message.unwrap();
        r.h.advance(Duration::from_secs(5));
        r.h.client.cancel_activation(orders_pb::CancelActivationRequest { id: a.id.clone() }).await.unwrap();

        let pass = r.inbound.route_due().await.unwrap();
        assert_eq!(pass, Pass { routed: 0, unrouted: 4, retried: 0 });
        for (id, reason) in [
            (&early.id, unrouted_reason::NO_HOLDER),
            (&idle.id, unrouted_reason::NO_HOLDER),
            (&stranger.id, unrouted_reason::NO_HOLDER),
            (&late.id, unrouted_reason::HOLDER_ENDED),
        ] {
            let stored = r.stored(id).await;
            assert_eq!((stored.state, stored.unrouted_reason.as_str()), (State::Unrouted, reason), "{id}");
        }
        assert!(r.h.get(&a.id).await.messages.is_empty(), "the customer saw none of them");

        // The operator lists them newest first, a page at a time.
        let mut seen = Vec::new();
        let mut token = String::new();
        loop {
            let page = r.admin.list_unrouted(pb::ListUnroutedRequest { page_size: 3, page_token: token.clone() }).await.unwrap().into_inner();
            seen.extend(page.messages.into_iter().map(|m| m.id));
            if page.next_page_token.is_empty() { break; }
            token = page.next_page_token;
        }
        assert_eq!(seen, [late.id.clone(), stranger.id.clone(), idle.id.clone(), early.id.clone()]);

        // Routing again decides again, from the same history.
        let again = r.admin.route_again(pb::RouteAgainRequest { id: early.id.clone() }).await.unwrap().into_inner();
        assert_eq!(again.state, pb::RouteState::Pending as i32);
        r.inbound.route_due().await.unwrap();
        let stored = r.stored(&early.id).await;
        assert_eq!((stored.state, stored.attempts), (State::Unrouted, 2));
        let unknown = uuid::Uuid::now_v7().to_string();
        assert_status(r.admin.route_again(pb::RouteAgainRequest { id: unknown }).await, Code::NotFound, "RESOURCE_NOT_FOUND");
        // A customer's key opens neither surface.
        let key = numhub_testkit::BearerKey(r.h.customer.key.clone());
        let mut as_customer = numhub_proto::inbound::v1::inbound_admin_service_client::InboundAdminServiceClient::with_interceptor(r.inbound_server.channel(), key.clone());
        assert_status(as_customer.list_unrouted(pb::ListUnroutedRequest::default()).await, Code::PermissionDenied, "MISSING_SCOPE");
        let mut intake_as_customer = numhub_proto::inbound::v1::inbound_internal_service_client::InboundInternalServiceClient::with_interceptor(r.inbound_server.channel(), key);
        assert_status(intake_as_customer.deliver(r.sms("x", "+15550000000", "code 1")).await, Code::PermissionDenied, "SERVICE_CREDENTIAL_REQUIRED");
    }

    async fn an_outage_is_retried_until_the_sms_gets_through(backend: Backend) {
        let mut r = start_routed(backend).await;
        r.h.import(0, 1).await;
        let account = r.h.account();
        r.h.fund(&account, 100).await;
        let a = r.h.buy("wa", "buy-1").await.unwrap();
        let message = r.deliver(r.sms("up-1", &a.phone_number, "code 5555")).await.message.unwrap();
        // A replica whose orders is unreachable.
        let cut_off = inbound_on(&r.h, &r.inbound_db, nowhere("orders")).await;
        let pass = cut_off.route_due().await.unwrap();
        assert_eq!(pass, Pass { routed: 0, unrouted: 0, retried: 1 });
        let stored = r.stored(&message.id).await;
        assert_eq!((stored.state, stored.attempts), (State::Pending, 1));
        // Not due again until its pause has passed.
        assert_eq!(r.inbound.route_due().await.unwrap(), Pass::default());
        r.h.advance(Duration::from_secs(1));
        assert_eq!(r.inbound.route_due().await.unwrap().routed, 1);
        assert_eq!(r.h.get(&a.id).await.messages.len(), 1);
    }

    async fn two_workers_route_each_message_once(backend: Backend) {
        let mut r = start_routed(backend).await;
        r.h.import(0, 10).await;
        let account = r.h.account();
        r.h.fund(&account, 10_000).await;
        let mut activations = Vec::new();
        for i in 0..10 {
            activations.push(r.h.buy("wa", &format!("b-{i}")).await.unwrap());
        }
        for i in 0..60 {
            let a = &activations[i % activations.len()];
            r.deliver(r.sms(&format!("up-{i}"), &a.phone_number, &format!("code {:04}", 1000 + i))).await;
        }
        let second = inbound_on(&r.h, &r.inbound_db, r.h.server.outbound("orders")).await;
        let (one, two) = tokio::join!(r.inbound.route_due(), second.route_due());
        let (one, two) = (one.unwrap(), two.unwrap());
        assert_eq!(one.routed + two.routed, 60, "{one:?} {two:?}");
        let mut total = 0;
        for a in &activations {
            total += r.h.get(&a.id).await.messages.len();
        }
        assert_eq!(total, 60, "every SMS delivered exactly once");
    }

    async fn bad_deliveries_name_their_fields(backend: Backend) {
        let mut r = start_routed(backend).await;
        let bad = pb::DeliverRequest {
            upstream: String::new(),
            upstream_message_id: "has space".into(),
            to: "not a number".into(),
            sender: "x".repeat(65),
            body: "  ".into(),
            receive_time: None,
        };
        let status = assert_status(r.intake.deliver(bad).await, Code::InvalidArgument, "INVALID_FIELD");
        assert_eq!(bad_fields(&status), ["upstream", "upstream_message_id", "to", "sender", "body", "receive_time"]);
        let list = pb::ListUnroutedRequest { page_size: 101, page_token: "forged".into() };
        let status = assert_status(r.admin.list_unrouted(list).await, Code::InvalidArgument, "INVALID_FIELD");
        assert_eq!(bad_fields(&status), ["page_size", "page_token"]);
        // Nothing was stored.
        assert_eq!(r.inbound.route_due().await.unwrap(), Pass::default());
    }
}

/// The worker routes what arrives without being asked, in real time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_routes_at_once() {
    let mut r = start_routed(Backend::Sqlite).await;
    r.h.import(0, 1).await;
    let account = r.h.account();
    r.h.fund(&account, 100).await;
    let a = r.h.buy("wa", "buy-1").await.unwrap();
    let workers = numhub_runtime::workers::Workers::new();
    r.inbound.start_workers(&workers);
    r.deliver(r.sms("up-1", &a.phone_number, "code 8642")).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while r.h.get(&a.id).await.messages.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the SMS was not routed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
