//! WatchActivation and WatchMessages: history then live events, resumable
//! without gap or repeat, many at once, across two orders processes on one
//! PostgreSQL database, and freed when the client hangs up.

mod common;

use std::time::Duration;

use common::*;
use numhub_orders::Holder as _;
use numhub_orders::{Dependencies, Orders};
use numhub_proto::orders::v1 as pb;
use numhub_proto::orders::v1::ActivationStatus as S;
use numhub_proto::orders::v1::activation_event::Event;
use numhub_runtime::clock::SharedClock;
use numhub_testkit::{Backend, backend_available, backend_tests};
use tokio_stream::StreamExt as _;
use tonic::Streaming;

/// Long enough for any wake-up on a loaded CI machine; a stream that needs
/// the periodic re-check (an hour in these tests) would miss it.
const PATIENCE: Duration = Duration::from_secs(10);

async fn next<T>(stream: &mut Streaming<T>) -> Option<T> {
    tokio::time::timeout(PATIENCE, stream.next())
        .await
        .expect("an event within the patience window")
        .map(|item| item.expect("a stream item, not an error"))
}

async fn watch(client: &mut Public, id: &str, after: &str) -> Streaming<pb::ActivationEvent> {
    client
        .watch_activation(pb::WatchActivationRequest {
            id: id.into(),
            after: after.into(),
        })
        .await
        .expect("watch")
        .into_inner()
}

async fn watch_messages(client: &mut Public, after: &str) -> Streaming<pb::MessageEvent> {
    client
        .watch_messages(pb::WatchMessagesRequest {
            after: after.into(),
        })
        .await
        .expect("watch messages")
        .into_inner()
}

fn status_of(event: &pb::ActivationEvent) -> Option<S> {
    match &event.event {
        Some(Event::StatusChanged(a)) => Some(status(a)),
        _ => None,
    }
}

fn message_of(event: &pb::ActivationEvent) -> Option<&pb::Message> {
    match &event.event {
        Some(Event::Message(m)) => Some(m),
        _ => None,
    }
}

backend_tests! {
    async fn watch_activation_sends_history_then_live_events_and_ends(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 1).await;
        let account = h.account();
        h.fund(&account, 100).await;
        let a = h.buy("wa", "buy-1").await.unwrap();
        let mut client = h.client.clone();
        let mut stream = watch(&mut client, &a.id, "").await;
        let first = next(&mut stream).await.unwrap();
        assert_eq!(status_of(&first), Some(S::Waiting));

        h.deliver(&a.id, "in-1", "Your WhatsApp code 334455").await.unwrap();
        let message = next(&mut stream).await.unwrap();
        assert_eq!(message_of(&message).unwrap().code, "334455");
        let received = next(&mut stream).await.unwrap();
        assert_eq!(status_of(&received), Some(S::Received));

        h.client.complete_activation(pb::CompleteActivationRequest { id: a.id.clone() }).await.unwrap();
        let finished = next(&mut stream).await.unwrap();
        assert_eq!(status_of(&finished), Some(S::Finished));
        assert!(next(&mut stream).await.is_none(), "the stream ends with the final status");

        // Cursors only grow, and resuming after one sends what followed.
        let cursors = [&first, &message, &received, &finished].map(|e| e.cursor.clone());
        let mut resumed = watch(&mut client, &a.id, &cursors[1]).await;
        assert_eq!(status_of(&next(&mut resumed).await.unwrap()), Some(S::Received));
        assert_eq!(status_of(&next(&mut resumed).await.unwrap()), Some(S::Finished));
        assert!(next(&mut resumed).await.is_none());
        // After the last event of an ended activation: nothing, and the end.
        let mut done = watch(&mut client, &a.id, &cursors[3]).await;
        assert!(next(&mut done).await.is_none());
    }

    async fn watch_messages_resumes_without_gap_or_repeat(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 3).await;
        let account = h.account();
        h.fund(&account, 1000).await;
        let a = h.buy("wa", "a").await.unwrap();
        let b = h.buy("tg", "b").await.unwrap();
        h.deliver(&a.id, "m1", "code 1111").await.unwrap();
        h.deliver(&b.id, "m2", "code 2222").await.unwrap();
        let mut client = h.client.clone();
        let mut stream = watch_messages(&mut client, "").await;
        let m1 = next(&mut stream).await.unwrap();
        let m2 = next(&mut stream).await.unwrap();
        assert_eq!(m1.message.as_ref().unwrap().code, "1111");
        assert_eq!(m2.message.as_ref().unwrap().code, "2222");
        drop(stream);
        h.deliver(&a.id, "m3", "code 3333").await.unwrap();
        h.deliver(&b.id, "m4", "code 4444").await.unwrap();
        let mut resumed = watch_messages(&mut client, &m2.cursor).await;
        let codes = [
            next(&mut resumed).await.unwrap().message.unwrap().code,
            next(&mut resumed).await.unwrap().message.unwrap().code,
        ];
        assert_eq!(codes, ["3333", "4444"]);
        // Live, and only this account's: another account's message never shows.
        let (other, mut other_client) = h.other_customer("other").await;
        h.fund(&other.account_id, 100).await;
        let theirs = other_client.create_activation(Harness::buy_request("wa", "o")).await.unwrap().into_inner();
        h.deliver(&theirs.id, "theirs", "code 9999").await.unwrap();
        h.deliver(&b.id, "m5", "code 5555").await.unwrap();
        assert_eq!(next(&mut resumed).await.unwrap().message.unwrap().code, "5555");
    }

    async fn an_end_that_refunds_says_so_in_its_event(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 2).await;
        let account = h.account();
        h.fund(&account, 100).await;
        let a = h.buy("wa", "a").await.unwrap();
        let b = h.buy("tg", "b").await.unwrap();
        let mut client = h.client.clone();
        let mut cancelled = watch(&mut client, &a.id, "").await;
        let mut expired = watch(&mut client, &b.id, "").await;
        next(&mut cancelled).await;
        next(&mut expired).await;
        h.client.cancel_activation(pb::CancelActivationRequest { id: a.id.clone() }).await.unwrap();
        h.advance(LIFETIME);
        h.settle_everything().await;
        for (stream, want, price) in [(&mut cancelled, S::Cancelled, WA_PRICE), (&mut expired, S::Expired, TG_PRICE)] {
            let event = next(stream).await.unwrap();
            let Some(Event::StatusChanged(activation)) = event.event else { panic!("{event:?}") };
            assert_eq!(status(&activation), want);
            assert_eq!(units(&activation.refunded), price);
            assert!(next(stream).await.is_none());
        }
    }

    async fn shutting_down_ends_every_stream_with_unavailable(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 1).await;
        let account = h.account();
        h.fund(&account, 100).await;
        let a = h.buy("wa", "a").await.unwrap();
        let mut client = h.client.clone();
        let mut activation = watch(&mut client, &a.id, "").await;
        let mut messages = watch_messages(&mut client, "").await;
        next(&mut activation).await;
        h.orders.close_streams();
        for status_ in [
            tokio::time::timeout(PATIENCE, activation.next()).await.unwrap().unwrap().unwrap_err(),
            tokio::time::timeout(PATIENCE, messages.next()).await.unwrap().unwrap().unwrap_err(),
        ] {
            assert_eq!(status_.code(), tonic::Code::Unavailable, "{status_:?}");
            assert_eq!(reason(&status_), "TEMPORARILY_UNAVAILABLE");
        }
        // A stream opened during the shutdown ends at once too.
        let mut late = watch_messages(&mut client, "").await;
        let status_ = tokio::time::timeout(PATIENCE, late.next()).await.unwrap().unwrap().unwrap_err();
        assert_eq!(status_.code(), tonic::Code::Unavailable);
    }

    async fn a_slow_reader_gets_everything_in_order(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 1).await;
        let account = h.account();
        h.fund(&account, 100).await;
        let a = h.buy("wa", "buy-1").await.unwrap();
        let mut client = h.client.clone();
        let mut stream = watch_messages(&mut client, "").await;
        // Far more than one read batch arrives while the reader sleeps.
        for i in 0..300 {
            h.deliver(&a.id, &format!("in-{i}"), &format!("code {:04}", 1000 + i)).await.unwrap();
        }
        let mut last_cursor = String::new();
        for i in 0..300 {
            let event = next(&mut stream).await.unwrap();
            assert_eq!(event.message.unwrap().code, format!("{:04}", 1000 + i));
            assert_ne!(event.cursor, last_cursor);
            last_cursor = event.cursor;
        }
    }

    async fn a_client_that_hangs_up_frees_its_stream(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 1).await;
        let account = h.account();
        h.fund(&account, 100).await;
        let a = h.buy("wa", "buy-1").await.unwrap();
        let mut streams = Vec::new();
        let mut message_streams = Vec::new();
        for _ in 0..20 {
            let mut client = h.client.clone();
            streams.push(watch(&mut client, &a.id, "").await);
            message_streams.push(watch_messages(&mut client, "").await);
        }
        for stream in &mut streams {
            next(stream).await;
        }
        assert_eq!(h.orders.hub().watched(), 2);
        drop(streams);
        drop(message_streams);
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            h.orders.hub().prune();
            if h.orders.hub().watched() == 0 {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "streams were not freed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn a_thousand_streams_each_get_their_own_message(backend: Backend) {
        let mut h = start(backend).await;
        const ACTIVATIONS: usize = 200;
        const PER_ACTIVATION: usize = 5;
        h.import(0, ACTIVATIONS as u32).await;
        let account = h.account();
        h.fund(&account, 1_000_000).await;
        let mut ids = Vec::new();
        for i in 0..ACTIVATIONS {
            ids.push(h.buy("wa", &format!("b-{i}")).await.unwrap().id);
        }
        // HTTP/2 caps concurrent streams per connection: spread them.
        let mut channels = Vec::new();
        for _ in 0..10 {
            channels.push(h.server.new_channel().await);
        }
        let mut tasks = Vec::new();
        for (n, id) in ids.iter().cycle().take(ACTIVATIONS * PER_ACTIVATION).enumerate() {
            let mut client = numhub_proto::orders::v1::orders_service_client::OrdersServiceClient::with_interceptor(
                channels[n % channels.len()].clone(),
                numhub_testkit::BearerKey(h.customer.key.clone()),
            );
            let id = id.clone();
            let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
            tasks.push((ready_rx, tokio::spawn(async move {
                let mut stream = watch(&mut client, &id, "").await;
                let waiting = next(&mut stream).await.unwrap();
                assert_eq!(status_of(&waiting), Some(S::Waiting));
                ready_tx.send(()).unwrap();
                let message = next(&mut stream).await.unwrap();
                (id, message_of(&message).expect("a message").body.clone())
            })));
        }
        let mut running = Vec::new();
        for (ready, task) in tasks {
            ready.await.expect("the stream opened");
            running.push(task);
        }
        assert_eq!(h.orders.hub().watched(), ACTIVATIONS);
        for id in &ids {
            h.deliver(id, &format!("in-{id}"), &format!("for {id}: code 1234")).await.unwrap();
        }
        let mut received = 0;
        for task in running {
            let (id, body) = task.await.unwrap();
            assert_eq!(body, format!("for {id}: code 1234"), "each stream sees its own message");
            received += 1;
        }
        assert_eq!(received, ACTIVATIONS * PER_ACTIVATION);
    }
}

/// Two orders processes on one PostgreSQL database: a stream served by one
/// sees a message delivered through the other, woken by LISTEN/NOTIFY (the
/// streams' own re-check is an hour away).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_postgres_share_their_streams() {
    if !backend_available(Backend::Postgres).await {
        return;
    }
    let mut h = start(Backend::Postgres).await;
    h.import(0, 2).await;
    let account = h.account();
    h.fund(&account, 100).await;
    let clock: SharedClock = h.clock.clone();
    let deps = Dependencies::new(
        h.wallet_server.outbound("wallet"),
        h.catalog_server.outbound("catalog"),
        &h.stack.credentials,
    );
    let second = Orders::new(h.orders_db.db.clone(), clock, settings(), deps)
        .await
        .expect("start orders");
    let workers = numhub_runtime::workers::Workers::new();
    h.orders
        .start_workers(&workers, Some(h.orders_db.url.clone()));
    second.start_workers(&workers, Some(h.orders_db.url.clone()));
    let second_server = h.stack.serve(&second).await;
    let mut on_second =
        numhub_proto::orders::v1::orders_service_client::OrdersServiceClient::with_interceptor(
            second_server.channel(),
            numhub_testkit::BearerKey(h.customer.key.clone()),
        );

    // Bought through the first, watched on the second.
    let a = h.buy("wa", "buy-1").await.unwrap();
    let mut stream = watch(&mut on_second, &a.id, "").await;
    let mut messages = watch_messages(&mut on_second, "").await;
    assert_eq!(
        status_of(&next(&mut stream).await.unwrap()),
        Some(S::Waiting)
    );
    // Give the second process's listener a moment to be LISTENing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.deliver(&a.id, "in-1", "Your code is 8642").await.unwrap();
    let event = next(&mut stream).await.unwrap();
    assert_eq!(message_of(&event).unwrap().code, "8642");
    assert_eq!(
        next(&mut messages).await.unwrap().message.unwrap().code,
        "8642"
    );
    assert_eq!(
        status_of(&next(&mut stream).await.unwrap()),
        Some(S::Received)
    );
    // And the other way round: completed on the second, seen on the first.
    let mut on_first = h.client.clone();
    let mut first_stream = watch(&mut on_first, &a.id, &event.cursor).await;
    assert_eq!(
        status_of(&next(&mut first_stream).await.unwrap()),
        Some(S::Received)
    );
    on_second
        .complete_activation(pb::CompleteActivationRequest { id: a.id.clone() })
        .await
        .unwrap();
    assert_eq!(
        status_of(&next(&mut first_stream).await.unwrap()),
        Some(S::Finished)
    );
    assert!(next(&mut first_stream).await.is_none());
    second_server.shutdown().await;
}
