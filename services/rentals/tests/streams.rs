//! WatchRental, and rental messages in orders' WatchMessages: history then
//! live events, resumed without gap or repeat, on SQLite and PostgreSQL.

mod common;

use numhub_rentals::Holder as _;
use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use numhub_proto::catalog::v1::RentalDuration as D;
use numhub_proto::orders::v1 as orders_pb;
use numhub_proto::rentals::v1 as pb;
use numhub_proto::rentals::v1::RentalStatus as S;
use numhub_testkit::{backend_available, backend_tests};
use tokio_stream::StreamExt as _;
use tonic::Code;
use tonic::codec::Streaming;

/// How long a test waits for an event that should come at once.
const PATIENCE: Duration = Duration::from_secs(10);

async fn next<T>(stream: &mut Streaming<T>) -> Option<Result<T, tonic::Status>> {
    tokio::time::timeout(PATIENCE, stream.next())
        .await
        .expect("an event in time")
}

async fn watch(client: &mut Client, id: &str, after: &str) -> Streaming<pb::RentalEvent> {
    let request = pb::WatchRentalRequest {
        id: id.into(),
        after: after.into(),
    };
    client
        .watch_rental(request)
        .await
        .expect("watch")
        .into_inner()
}

enum Seen {
    Changed(S, i64),
    Message(String),
}

fn seen(event: &pb::RentalEvent) -> Seen {
    match event.event.as_ref().expect("an event") {
        pb::rental_event::Event::Changed(r) => Seen::Changed(status(r), r.renewals),
        pb::rental_event::Event::Message(m) => Seen::Message(m.code.clone()),
    }
}

fn code_of(event: &pb::RentalEvent) -> String {
    match seen(event) {
        Seen::Message(code) => code,
        Seen::Changed(..) => panic!("expected a message"),
    }
}

fn change_of(event: &pb::RentalEvent) -> (S, i64) {
    match seen(event) {
        Seen::Changed(s, renewals) => (s, renewals),
        Seen::Message(code) => panic!("expected a change, got message {code}"),
    }
}

backend_tests! {
    async fn a_rental_stream_shows_history_then_live_then_its_end(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 1).await;
        let account = r.account();
        r.h.fund(&account, 10_000).await;
        let rental = r.rent("rent", D::OneMonth).await.unwrap().rental.unwrap();
        let number = rental.phone_number.clone();
        r.sms(&number, "WhatsApp", "WhatsApp code 100-001").await;

        let mut client = r.client.clone();
        let mut stream = watch(&mut client, &rental.id, "").await;
        let first = next(&mut stream).await.unwrap().unwrap();
        assert_eq!(change_of(&first), (S::Active, 0));
        let history = next(&mut stream).await.unwrap().unwrap();
        assert_eq!(code_of(&history), "100001");

        // Live: an SMS, a renewal, then the cancel that ends the stream.
        r.sms(&number, "Telegram", "Telegram code: 20002").await;
        let live = next(&mut stream).await.unwrap().unwrap();
        assert_eq!(code_of(&live), "20002");
        r.renew(&rental.id, Some(D::SevenDays), "renew").await.unwrap();
        let renewed = next(&mut stream).await.unwrap().unwrap();
        assert_eq!(change_of(&renewed), (S::Active, 1));
        r.cancel(&rental.id).await.unwrap();
        let end = next(&mut stream).await.unwrap().unwrap();
        assert_eq!(change_of(&end).0, S::Cancelled);
        assert!(next(&mut stream).await.is_none(), "the stream ends with the rental");

        // Resumed after the history message: the rest, once each.
        let mut resumed = watch(&mut client, &rental.id, &history.cursor).await;
        let mut rest = Vec::new();
        while let Some(event) = next(&mut resumed).await {
            rest.push(event.unwrap().cursor);
        }
        assert_eq!(rest, [live.cursor, renewed.cursor, end.cursor]);

        let bad = client
            .watch_rental(pb::WatchRentalRequest { id: rental.id.clone(), after: "nope".into() })
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&bad), ["after"]);
    }

    async fn watch_messages_carries_activations_and_rentals_alike(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 3).await;
        let account = r.account();
        r.h.fund(&account, 10_000).await;
        let rental = r.rent("rent", D::OneMonth).await.unwrap().rental.unwrap();
        let activation = r.h.buy("wa", "buy").await.unwrap();
        r.sms(&rental.phone_number, "WhatsApp", "WhatsApp code 300-003").await;
        r.sms(&activation.phone_number, "WhatsApp", "WhatsApp code 400-004").await;

        let mut orders = r.orders.clone();
        let watch_all = |after: String| orders_pb::WatchMessagesRequest { after };
        let mut stream = orders.watch_messages(watch_all(String::new())).await.unwrap().into_inner();
        let mut seen = BTreeSet::new();
        let mut cursors = Vec::new();
        for _ in 0..2 {
            let event = next(&mut stream).await.unwrap().unwrap();
            let message = event.message.clone().unwrap();
            if message.rental_id.is_empty() {
                assert_eq!((message.activation_id.as_str(), message.code.as_str()), (activation.id.as_str(), "400004"));
            } else {
                assert_eq!((message.rental_id.as_str(), message.code.as_str()), (rental.id.as_str(), "300003"));
                assert!(message.activation_id.is_empty());
            }
            seen.insert(message.id);
            cursors.push(event.cursor);
        }
        // Live, from both.
        r.sms(&rental.phone_number, "Telegram", "Telegram code: 50005").await;
        let live = next(&mut stream).await.unwrap().unwrap();
        assert_eq!(live.message.as_ref().unwrap().code, "50005");
        assert_eq!(live.message.as_ref().unwrap().rental_id, rental.id);
        r.sms(&activation.phone_number, "WhatsApp", "WhatsApp code 600-006").await;
        let live2 = next(&mut stream).await.unwrap().unwrap();
        assert_eq!(live2.message.as_ref().unwrap().code, "600006");

        // Resumed from the second event: exactly the two after it.
        let mut resumed = orders.watch_messages(watch_all(cursors[1].clone())).await.unwrap().into_inner();
        let mut codes = BTreeSet::new();
        for _ in 0..2 {
            let event = next(&mut resumed).await.unwrap().unwrap();
            codes.insert(event.message.unwrap().code);
        }
        assert_eq!(codes, ["50005".to_owned(), "600006".to_owned()].into());
        // Nothing more comes: no repeat.
        assert!(tokio::time::timeout(Duration::from_millis(300), resumed.next()).await.is_err());

        // Resumed from the first event: the other history message among
        // what follows, and never the first again.
        let mut from_first = orders.watch_messages(watch_all(cursors[0].clone())).await.unwrap().into_inner();
        let mut after_first = Vec::new();
        for _ in 0..3 {
            after_first.push(next(&mut from_first).await.unwrap().unwrap().message.unwrap().id);
        }
        let first_id = seen.iter().find(|id| !after_first.contains(id));
        assert!(first_id.is_some(), "the first event is not repeated");
        assert_eq!(after_first.iter().filter(|id| seen.contains(*id)).count(), 1);
    }

    async fn streams_end_unavailable_at_shutdown(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 1).await;
        let account = r.account();
        r.h.fund(&account, 1_000).await;
        let rental = r.rent("rent", D::OneMonth).await.unwrap().rental.unwrap();
        let mut client = r.client.clone();
        let mut stream = watch(&mut client, &rental.id, "").await;
        next(&mut stream).await.unwrap().unwrap();
        let mut orders = r.orders.clone();
        let mut messages = orders
            .watch_messages(orders_pb::WatchMessagesRequest { after: String::new() })
            .await
            .unwrap()
            .into_inner();
        r.rentals.close_streams();
        let ended = next(&mut stream).await.unwrap().unwrap_err();
        assert_eq!(ended.code(), Code::Unavailable);
        // Orders' stream ends too, to be resumed once rentals is back.
        let merged = next(&mut messages).await.unwrap().unwrap_err();
        assert_eq!(merged.code(), Code::Unavailable);
    }
}

/// Two rentals processes on one PostgreSQL database: a stream served by one
/// sees an SMS delivered through the other, woken by LISTEN/NOTIFY on the
/// rentals channel (the streams' own re-check is an hour away).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_postgres_share_their_streams() {
    if !backend_available(Backend::Postgres).await {
        return;
    }
    let mut r = start(Backend::Postgres).await;
    r.h.import(0, 1).await;
    let account = r.account();
    r.h.fund(&account, 1_000).await;
    let second = rentals_on(&r.h, &r.rentals_db, settings()).await;
    let workers = numhub_runtime::workers::Workers::new();
    second.start_workers(&workers, Some(r.rentals_db.url.clone()));
    let second_server = r.h.stack.serve(&second).await;
    let mut on_second =
        numhub_proto::rentals::v1::rentals_service_client::RentalsServiceClient::with_interceptor(
            second_server.channel(),
            numhub_testkit::BearerKey(r.h.customer.key.clone()),
        );
    let rental = r.rent("rent", D::OneMonth).await.unwrap().rental.unwrap();
    let mut stream = watch(&mut on_second, &rental.id, "").await;
    assert_eq!(
        change_of(&next(&mut stream).await.unwrap().unwrap()).0,
        S::Active
    );
    // Give the second process's listener a moment to be LISTENing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    r.sms(&rental.phone_number, "WhatsApp", "WhatsApp code 700-007")
        .await;
    assert_eq!(
        code_of(&next(&mut stream).await.unwrap().unwrap()),
        "700007"
    );
    second_server.shutdown().await;
}
