//! Numeric ids: every activation has one beside its UUID, assigned once in
//! creation order, and every request that names an activation takes
//! either, through real gRPC on SQLite and PostgreSQL.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use numhub_holding::Store as _;
use numhub_orders::store::Activations;
use numhub_orders::{Orders, OrdersSettings};
use numhub_proto::orders::v1 as pb;
use numhub_proto::orders::v1::ActivationStatus as S;
use numhub_proto::orders::v1::activation_event::Event;
use numhub_proto::orders::v1::orders_service_client::OrdersServiceClient;
use numhub_runtime::clock::SharedClock;
use numhub_testkit::{Backend, BearerKey, TestDb, backend_tests};
use sqlx::{AssertSqlSafe, Row};
use tokio_stream::StreamExt as _;
use tonic::{Code, Streaming};

const NOT_FOUND: &str = "RESOURCE_NOT_FOUND";

fn status(a: &pb::Activation) -> S {
    S::try_from(a.status).expect("a known status")
}

async fn next(stream: &mut Streaming<pb::ActivationEvent>) -> Option<pb::ActivationEvent> {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an event in time")
        .map(|event| event.expect("an event, not an error"))
}

fn watch(id: &str, after: &str) -> pb::WatchActivationRequest {
    pb::WatchActivationRequest {
        id: id.into(),
        after: after.into(),
    }
}

fn reuse(id: &str, key: &str) -> pb::ReuseNumberRequest {
    pb::ReuseNumberRequest {
        activation_id: id.into(),
        max_price: None,
        request_id: key.into(),
    }
}

/// The activations' (id, numeric_id) as stored, in id order: creation order.
async fn stored_ids(db: &TestDb) -> Vec<(String, i64)> {
    let rows = sqlx::query("SELECT id, numeric_id FROM activations ORDER BY id")
        .fetch_all(db.db.reader())
        .await
        .unwrap();
    rows.iter()
        .map(|row| (row.get("id"), row.get("numeric_id")))
        .collect()
}

/// An activation as the first migration stored it, with no numeric id.
async fn insert_unnumbered(db: &TestDb, id: &str, request_id: &str) {
    sqlx::query(
        "INSERT INTO activations (id, account_id, request_id, fingerprint, service_code, country_code, operator, \
         max_price_currency, status, phone_number, price, currency, refunded, code, sms_count, failure_reason, \
         failure_message, created_at, expires_at, settle, claimed_until) \
         VALUES ($1, 'a', $2, 'f', 'wa', 'US', '', '', 8, '', 0, '', 0, '', 0, 'NO_NUMBERS_AVAILABLE', 'none', 0, 0, 0, 0)",
    )
    .bind(id)
    .bind(request_id)
    .execute(db.db.writer())
    .await
    .unwrap();
}

backend_tests! {
    async fn numeric_ids_are_positive_unique_and_follow_creation(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 3).await;
        let account = h.account();
        h.fund(&account, 1000).await;

        let first = h.buy("wa", "buy-1").await.unwrap();
        let second = h.buy("tg", "buy-2").await.unwrap();
        // A retry is the same activation, with the same number.
        let retry = h.buy("wa", "buy-1").await.unwrap();
        assert_eq!((retry.id.as_str(), retry.numeric_id), (first.id.as_str(), first.numeric_id));
        // A refused purchase is an activation too, and numbered.
        assert_status(h.buy("go", "buy-3").await, Code::FailedPrecondition, "NOT_OFFERED");
        let third = h.buy("wa", "buy-4").await.unwrap();
        assert!(0 < first.numeric_id, "{first:?}");
        assert!(first.numeric_id < second.numeric_id && second.numeric_id < third.numeric_id, "{first:?} {second:?} {third:?}");

        // Reads by either id show the same activation and number.
        let by_number = h.get(&first.numeric_id.to_string()).await;
        assert_eq!((by_number.id.as_str(), by_number.numeric_id), (first.id.as_str(), first.numeric_id));
        assert_eq!(h.get(&first.id).await.numeric_id, first.numeric_id);
        let list = h.client.list_activations(pb::ListActivationsRequest::default()).await.unwrap().into_inner();
        let listed: Vec<(String, i64)> = list.activations.iter().map(|a| (a.id.clone(), a.numeric_id)).collect();
        assert_eq!(listed.len(), 4);
        assert_eq!(listed[0], (third.id.clone(), third.numeric_id));
        assert_eq!(listed[3], (first.id.clone(), first.numeric_id));

        // As stored: in creation (UUIDv7) order, increasing, and never twice.
        let stored = stored_ids(&h.orders_db).await;
        assert_eq!(stored, listed.into_iter().rev().collect::<Vec<_>>());
        assert!(stored.windows(2).all(|pair| pair[0].1 < pair[1].1), "{stored:?}");
    }

    async fn concurrent_purchases_get_distinct_numeric_ids(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 20).await;
        let account = h.account();
        h.fund(&account, 20 * WA_PRICE).await;
        // A second orders on the same database, with an open limit: its
        // inserts run in a transaction under the account's lock, the first
        // one's in a single statement. They race each other.
        let settings = OrdersSettings { max_open: 100, ..settings() };
        let clock: SharedClock = h.clock.clone();
        let deps = numhub_orders::Dependencies::new(h.wallet_server.outbound("wallet"), h.catalog_server.outbound("catalog"), &h.stack.credentials);
        let replica = Orders::new(h.orders_db.db.clone(), clock, settings, deps).await.expect("a second orders");
        let replica_server = h.stack.serve(&replica).await;
        let on_replica = OrdersServiceClient::with_interceptor(replica_server.channel(), BearerKey(h.customer.key.clone()));
        let clients = [h.client.clone(), on_replica];

        let mut tasks = Vec::new();
        for i in 0..20 {
            let mut client = clients[i % 2].clone();
            tasks.push(tokio::spawn(async move { client.create_activation(Harness::buy_request("wa", &format!("buy-{i}"))).await }));
        }
        // And six concurrent retries of one of them.
        for i in 0..6 {
            let mut client = clients[i % 2].clone();
            tasks.push(tokio::spawn(async move { client.create_activation(Harness::buy_request("wa", "buy-7")).await }));
        }
        let mut bought = Vec::new();
        for task in tasks {
            bought.push(task.await.unwrap().expect("a purchase").into_inner());
        }
        let (firsts, retries) = bought.split_at(20);
        let ids: HashSet<&str> = firsts.iter().map(|a| a.id.as_str()).collect();
        let numbers: HashSet<i64> = firsts.iter().map(|a| a.numeric_id).collect();
        assert_eq!((ids.len(), numbers.len()), (20, 20), "{firsts:?}");
        assert!(numbers.iter().all(|n| *n > 0), "{numbers:?}");
        for retry in retries {
            assert_eq!((retry.id.as_str(), retry.numeric_id), (firsts[7].id.as_str(), firsts[7].numeric_id));
        }
        let stored = stored_ids(&h.orders_db).await;
        assert_eq!(stored.len(), 20);
        assert_eq!(stored.iter().map(|(_, n)| *n).collect::<HashSet<_>>(), numbers);
        replica_server.shutdown().await;
    }

    async fn requests_name_an_activation_by_its_numeric_id(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 4).await;
        let account = h.account();
        h.fund(&account, 1000).await;
        let a = h.buy("wa", "buy-1").await.unwrap();
        let n = a.numeric_id.to_string();

        // A stream by number: the activation, its SMS, to its end.
        let mut stream = h.client.watch_activation(watch(&n, "")).await.unwrap().into_inner();
        let first = next(&mut stream).await.unwrap();
        let Some(Event::StatusChanged(waiting)) = &first.event else { panic!("{first:?}") };
        assert_eq!((waiting.id.as_str(), waiting.numeric_id, status(waiting)), (a.id.as_str(), a.numeric_id, S::Waiting));
        h.deliver(&a.id, "in-1", "Your code is 2468").await.unwrap();
        let got = h.get(&n).await;
        assert_eq!((got.id.as_str(), status(&got), got.messages.len()), (a.id.as_str(), S::Received, 1));
        let again = h.client.request_another_sms(pb::RequestAnotherSmsRequest { id: n.clone() }).await.unwrap().into_inner();
        assert_eq!(status(&again), S::Waiting);
        let done = h.client.complete_activation(pb::CompleteActivationRequest { id: n.clone() }).await.unwrap().into_inner();
        assert_eq!((done.id.as_str(), done.numeric_id, status(&done)), (a.id.as_str(), a.numeric_id, S::Finished));
        let mut seen = Vec::new();
        let mut cursor = first.cursor.clone();
        while let Some(event) = next(&mut stream).await {
            match event.event.unwrap() {
                Event::StatusChanged(changed) => {
                    assert_eq!((changed.id.as_str(), changed.numeric_id), (a.id.as_str(), a.numeric_id));
                    seen.push(format!("{:?}", status(&changed)));
                }
                Event::Message(message) => {
                    assert_eq!(message.activation_id, a.id);
                    seen.push("message".into());
                }
            }
            cursor = event.cursor;
        }
        assert_eq!(seen, ["message", "Received", "Waiting", "Finished"]);
        // Its cursors resume a stream of the same id as spelled, not the UUID's.
        let mut resumed = h.client.watch_activation(watch(&n, &first.cursor)).await.unwrap().into_inner();
        assert!(next(&mut resumed).await.is_some());
        assert_status(h.client.watch_activation(watch(&a.id, &cursor)).await, Code::InvalidArgument, "INVALID_FIELD");

        // A reuse of the number names the finished activation by number.
        let reused = h.client.reuse_number(reuse(&n, "reuse-1")).await.unwrap().into_inner();
        assert_eq!((reused.reused_activation_id.as_str(), reused.phone_number.as_str()), (a.id.as_str(), a.phone_number.as_str()));
        assert!(reused.numeric_id > a.numeric_id);
        assert_eq!(h.client.reuse_number(reuse(&a.id, "reuse-1")).await.unwrap().into_inner().id, reused.id, "a retry by UUID is the same request");

        // Cancel and skip by number, each refunded in full.
        let b = h.buy("wa", "buy-2").await.unwrap();
        let cancelled = h.client.cancel_activation(pb::CancelActivationRequest { id: b.numeric_id.to_string() }).await.unwrap().into_inner();
        assert_eq!((cancelled.id.as_str(), status(&cancelled), units(&cancelled.refunded)), (b.id.as_str(), S::Cancelled, WA_PRICE));
        let c = h.buy("tg", "buy-3").await.unwrap();
        let skipped = h.client.skip_number(pb::SkipNumberRequest { id: c.numeric_id.to_string() }).await.unwrap().into_inner();
        assert_eq!((skipped.id.as_str(), status(&skipped)), (c.id.as_str(), S::Skipped));
        h.settle_everything().await;
        assert_eq!(h.charged(&account).await, (3 * WA_PRICE + TG_PRICE, WA_PRICE + TG_PRICE));
        assert!(h.lease_of(&b.id).await.unwrap().released);
    }

    async fn another_accounts_numeric_id_is_not_found(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 1).await;
        let account = h.account();
        h.fund(&account, 100).await;
        let a = h.buy("wa", "buy-1").await.unwrap();
        let (_, mut stranger) = h.other_customer("stranger").await;
        let n = a.numeric_id.to_string();
        assert_status(stranger.get_activation(pb::GetActivationRequest { id: n.clone() }).await, Code::NotFound, NOT_FOUND);
        assert_status(stranger.cancel_activation(pb::CancelActivationRequest { id: n.clone() }).await, Code::NotFound, NOT_FOUND);
        assert_status(stranger.complete_activation(pb::CompleteActivationRequest { id: n.clone() }).await, Code::NotFound, NOT_FOUND);
        assert_status(stranger.skip_number(pb::SkipNumberRequest { id: n.clone() }).await, Code::NotFound, NOT_FOUND);
        assert_status(stranger.request_another_sms(pb::RequestAnotherSmsRequest { id: n.clone() }).await, Code::NotFound, NOT_FOUND);
        assert_status(stranger.reuse_number(reuse(&n, "s-1")).await, Code::NotFound, NOT_FOUND);
        assert_status(stranger.watch_activation(watch(&n, "")).await, Code::NotFound, NOT_FOUND);
        // As for a number nobody holds.
        let unknown = i64::MAX.to_string();
        let status_ = assert_status(h.client.get_activation(pb::GetActivationRequest { id: unknown.clone() }).await, Code::NotFound, NOT_FOUND);
        assert!(status_.message().contains(&unknown), "{status_:?}");
        assert_status(h.client.cancel_activation(pb::CancelActivationRequest { id: unknown.clone() }).await, Code::NotFound, NOT_FOUND);
        assert_status(h.client.watch_activation(watch(&unknown, "")).await, Code::NotFound, NOT_FOUND);
        let got = h.get(&n).await;
        assert_eq!((status(&got), got.numeric_id), (S::Waiting, a.numeric_id), "untouched");
        assert_eq!(h.charged(&account).await, (WA_PRICE, 0));
    }

    async fn bad_numeric_ids_are_invalid_arguments_naming_the_field(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 1).await;
        let account = h.account();
        h.fund(&account, 100).await;
        let a = h.buy("wa", "buy-1").await.unwrap();
        let huge = "9".repeat(100_000);
        for value in ["0", "-1", "-0", "007", "12x", "1.5", "+1", " 1", "9223372036854775808", huge.as_str()] {
            let id = value.to_owned();
            for result in [
                h.client.get_activation(pb::GetActivationRequest { id: id.clone() }).await.map(|_| ()),
                h.client.cancel_activation(pb::CancelActivationRequest { id: id.clone() }).await.map(|_| ()),
                h.client.complete_activation(pb::CompleteActivationRequest { id: id.clone() }).await.map(|_| ()),
                h.client.skip_number(pb::SkipNumberRequest { id: id.clone() }).await.map(|_| ()),
                h.client.request_another_sms(pb::RequestAnotherSmsRequest { id: id.clone() }).await.map(|_| ()),
                h.client.watch_activation(watch(&id, "")).await.map(|_| ()),
            ] {
                let status_ = assert_status(result, Code::InvalidArgument, "INVALID_FIELD");
                assert_eq!(bad_fields(&status_), ["id"], "{value}: {status_:?}");
                assert!(status_.message().len() < 200, "{value}: echoed");
            }
            let status_ = assert_status(h.client.reuse_number(reuse(&id, "r-1")).await, Code::InvalidArgument, "INVALID_FIELD");
            assert_eq!(bad_fields(&status_), ["activation_id"], "{value}: {status_:?}");
        }
        // With a bad cursor too, both fields at once.
        let status_ = assert_status(h.client.watch_activation(watch("0", "forged")).await, Code::InvalidArgument, "INVALID_FIELD");
        assert_eq!(bad_fields(&status_), ["id", "after"]);
        assert_eq!(status(&h.get(&a.id).await), S::Waiting, "untouched");
    }

    async fn existing_activations_are_numbered_in_creation_order(backend: Backend) {
        let db = TestDb::new(backend).await;
        let migrations = numhub_orders::MIGRATIONS;
        let migrator = match backend {
            Backend::Sqlite => migrations.sqlite,
            Backend::Postgres => migrations.postgres,
        };
        migrator.run_to(1, db.db.writer()).await.expect("the schema before numeric ids");
        let ids: Vec<String> = (0..3).map(|_| uuid::Uuid::now_v7().to_string()).collect();
        // Inserted in another order than they were created in.
        for (i, id) in ids.iter().enumerate().rev() {
            insert_unnumbered(&db, id, &format!("r-{i}")).await;
        }
        db.db.migrate(&migrations).await.expect("the numeric ids' migration");
        let numbered: Vec<(String, i64)> = ids.iter().cloned().zip(1..).collect();
        assert_eq!(stored_ids(&db).await, numbered);

        // New activations follow them; one inserted without its number is refused.
        let next = Activations::next_numeric_id(db.db.backend());
        let insert = format!(
            "INSERT INTO activations (numeric_id, id, account_id, request_id, fingerprint, service_code, country_code, \
             operator, max_price_currency, status, phone_number, price, currency, refunded, code, sms_count, \
             failure_reason, failure_message, created_at, expires_at, settle, claimed_until) \
             VALUES ({next}, $1, 'a', $2, 'f', 'wa', 'US', '', '', 8, '', 0, '', 0, '', 0, '', '', 0, 0, 0, 0) \
             RETURNING numeric_id"
        );
        let row = sqlx::query(AssertSqlSafe(insert)).bind(uuid::Uuid::now_v7().to_string()).bind("r-3").fetch_one(db.db.writer()).await.unwrap();
        assert_eq!(row.get::<i64, _>("numeric_id"), 4);
        let unnumbered = sqlx::query(
            "INSERT INTO activations (numeric_id, id, account_id, request_id, fingerprint, service_code, country_code, \
             operator, max_price_currency, status, phone_number, price, currency, refunded, code, sms_count, \
             failure_reason, failure_message, created_at, expires_at, settle, claimed_until) \
             VALUES (NULL, 'x', 'a', 'r-4', 'f', 'wa', 'US', '', '', 8, '', 0, '', 0, '', 0, '', '', 0, 0, 0, 0)",
        )
        .execute(db.db.writer())
        .await;
        assert!(unnumbered.is_err(), "a NULL numeric id is refused");
        let duplicate = sqlx::query("UPDATE activations SET numeric_id = 1 WHERE request_id = 'r-3'").execute(db.db.writer()).await;
        assert!(duplicate.is_err(), "numeric ids are unique");
    }
}
