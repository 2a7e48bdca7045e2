//! Numeric ids: every rental has one beside its UUID, assigned once in
//! creation order, and every request that names a rental takes either,
//! through real gRPC on SQLite and PostgreSQL.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use numhub_holding::Store as _;
use numhub_proto::catalog::v1::RentalDuration as D;
use numhub_proto::rentals::v1 as pb;
use numhub_proto::rentals::v1::RentalStatus as S;
use numhub_proto::rentals::v1::rental_event::Event;
use numhub_proto::rentals::v1::rentals_service_client::RentalsServiceClient;
use numhub_rentals::store::RentalsTable;
use numhub_testkit::{Backend, BearerKey, TestDb, backend_tests};
use sqlx::{AssertSqlSafe, Row};
use tokio_stream::StreamExt as _;
use tonic::{Code, Streaming};

const NOT_FOUND: &str = "RESOURCE_NOT_FOUND";

async fn next(stream: &mut Streaming<pb::RentalEvent>) -> Option<pb::RentalEvent> {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an event in time")
        .map(|event| event.expect("an event, not an error"))
}

fn watch(id: &str, after: &str) -> pb::WatchRentalRequest {
    pb::WatchRentalRequest {
        id: id.into(),
        after: after.into(),
    }
}

fn renew(id: &str, request_id: &str) -> pb::RenewRentalRequest {
    pb::RenewRentalRequest {
        id: id.into(),
        duration: D::OneDay as i32,
        request_id: request_id.into(),
        max_price: None,
    }
}

fn cancel(id: &str) -> pb::CancelRentalRequest {
    pb::CancelRentalRequest {
        id: id.into(),
        request_id: "cancel-1".into(),
    }
}

fn auto_renew(id: &str, on: bool) -> pb::SetAutoRenewRequest {
    pb::SetAutoRenewRequest {
        id: id.into(),
        auto_renew: on,
    }
}

/// The rentals' (id, numeric_id) as stored, in id order: creation order.
async fn stored_ids(db: &TestDb) -> Vec<(String, i64)> {
    let rows = sqlx::query("SELECT id, numeric_id FROM rentals ORDER BY id")
        .fetch_all(db.db.reader())
        .await
        .unwrap();
    rows.iter()
        .map(|row| (row.get("id"), row.get("numeric_id")))
        .collect()
}

/// The columns of a FAILED rental of the schema before numeric ids, after
/// `numeric_id` and `id` when given.
const FAILED_RENTAL: &str = "account_id, request_id, fingerprint, country_code, number_type, service_code, duration, \
    renewal_duration, auto_renew, status, phone_number, price, currency, total_charged, refunded, sms_count, renewals, \
    auto_renew_failure, failure_reason, failure_message, created_at, expires_at, settle, claimed_until";
const FAILED_VALUES: &str = "'a', $2, 'f', 'US', 1, '', 7, 7, 1, 5, '', 0, '', 0, 0, 0, 0, '', 'NO_NUMBERS_AVAILABLE', 'none', 0, 0, 0, 0";

backend_tests! {
    async fn numeric_ids_are_positive_unique_and_follow_creation(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 2).await;
        let account = r.account();
        r.h.fund(&account, 10_000).await;

        let first = r.rent("rent-1", D::OneDay).await.unwrap().rental.unwrap();
        // A retry is the same rental, with the same number.
        let retry = r.rent("rent-1", D::OneDay).await.unwrap().rental.unwrap();
        assert_eq!((retry.id.as_str(), retry.numeric_id), (first.id.as_str(), first.numeric_id));
        let second = r.rent("rent-2", D::SevenDays).await.unwrap().rental.unwrap();
        // A refused purchase is a rental too, and numbered.
        let refused = r.rent("rent-3", D::OneDay).await.unwrap_err();
        assert_refused(&refused, Code::FailedPrecondition, "NO_NUMBERS_AVAILABLE");
        assert!(0 < first.numeric_id && first.numeric_id < second.numeric_id, "{first:?} {second:?}");

        // Reads by either id show the same rental and number.
        let by_number = r.get(&second.numeric_id.to_string()).await;
        assert_eq!((by_number.id.as_str(), by_number.numeric_id), (second.id.as_str(), second.numeric_id));
        assert_eq!(r.get(&first.id).await.numeric_id, first.numeric_id);
        let list = r.client.list_rentals(pb::ListRentalsRequest::default()).await.unwrap().into_inner();
        let listed: Vec<(String, i64)> = list.rentals.iter().map(|x| (x.id.clone(), x.numeric_id)).collect();
        assert_eq!(listed.len(), 3);
        assert_eq!(listed[1], (second.id.clone(), second.numeric_id));
        assert_eq!(listed[2], (first.id.clone(), first.numeric_id));

        // As stored: in creation (UUIDv7) order, increasing, and never twice.
        let stored = stored_ids(&r.rentals_db).await;
        assert_eq!(stored, listed.into_iter().rev().collect::<Vec<_>>());
        assert!(stored.windows(2).all(|pair| pair[0].1 < pair[1].1), "{stored:?}");
    }

    async fn concurrent_rentals_get_distinct_numeric_ids(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 20).await;
        let account = r.account();
        r.h.fund(&account, 20 * DAY_PRICE).await;
        // A second rentals on the same database: the two race each other.
        let replica = rentals_on(&r.h, &r.rentals_db, settings()).await;
        let replica_server = r.h.stack.serve(&replica).await;
        let on_replica = RentalsServiceClient::with_interceptor(replica_server.channel(), BearerKey(r.h.customer.key.clone()));
        let clients = [r.client.clone(), on_replica];

        let mut tasks = Vec::new();
        for i in 0..20 {
            let mut client = clients[i % 2].clone();
            tasks.push(tokio::spawn(async move { client.create_rental(rent_request(&format!("rent-{i}"), D::OneDay)).await }));
        }
        // And six concurrent retries of one of them.
        for i in 0..6 {
            let mut client = clients[i % 2].clone();
            tasks.push(tokio::spawn(async move { client.create_rental(rent_request("rent-7", D::OneDay)).await }));
        }
        let mut rented = Vec::new();
        for task in tasks {
            rented.push(task.await.unwrap().expect("a rental").into_inner().rental.unwrap());
        }
        let (firsts, retries) = rented.split_at(20);
        let ids: HashSet<&str> = firsts.iter().map(|x| x.id.as_str()).collect();
        let numbers: HashSet<i64> = firsts.iter().map(|x| x.numeric_id).collect();
        assert_eq!((ids.len(), numbers.len()), (20, 20), "{firsts:?}");
        assert!(numbers.iter().all(|n| *n > 0), "{numbers:?}");
        for retry in retries {
            assert_eq!((retry.id.as_str(), retry.numeric_id), (firsts[7].id.as_str(), firsts[7].numeric_id));
        }
        let stored = stored_ids(&r.rentals_db).await;
        assert_eq!(stored.len(), 20);
        assert_eq!(stored.iter().map(|(_, n)| *n).collect::<HashSet<_>>(), numbers);
        replica_server.shutdown().await;
    }

    async fn requests_name_a_rental_by_its_numeric_id(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 2).await;
        let account = r.account();
        r.h.fund(&account, 10_000).await;
        let rental = r.rent("rent-1", D::OneDay).await.unwrap().rental.unwrap();
        let n = rental.numeric_id.to_string();

        // A stream by number: the rental, its SMS, its changes, to its end.
        let mut stream = r.client.watch_rental(watch(&n, "")).await.unwrap().into_inner();
        let first = next(&mut stream).await.unwrap();
        let Some(Event::Changed(active)) = &first.event else { panic!("{first:?}") };
        assert_eq!((active.id.as_str(), active.numeric_id, status(active)), (rental.id.as_str(), rental.numeric_id, S::Active));
        r.sms(&rental.phone_number, "WhatsApp", "Your WhatsApp code is 123-456").await;
        let got = r.get(&n).await;
        assert_eq!((got.id.as_str(), got.sms_count, got.messages.len()), (rental.id.as_str(), 1, 1));

        let off = r.client.set_auto_renew(auto_renew(&n, false)).await.unwrap().into_inner();
        assert_eq!((off.id.as_str(), off.auto_renew), (rental.id.as_str(), false));
        let renewed = r.client.renew_rental(renew(&n, "renew-1")).await.unwrap().into_inner();
        let after = renewed.rental.unwrap();
        assert_eq!((after.id.as_str(), after.numeric_id, after.renewals), (rental.id.as_str(), rental.numeric_id, 1));
        assert_eq!(units(&renewed.charged), DAY_PRICE);
        // A retry by UUID is the same renewal, charged once.
        let again = r.client.renew_rental(renew(&rental.id, "renew-1")).await.unwrap().into_inner();
        assert_eq!(again.rental.unwrap().expire_time, after.expire_time);
        let cancelled = r.client.cancel_rental(cancel(&n)).await.unwrap().into_inner().rental.unwrap();
        assert_eq!((cancelled.id.as_str(), status(&cancelled)), (rental.id.as_str(), S::Cancelled));

        let mut seen = Vec::new();
        let mut cursor = first.cursor.clone();
        while let Some(event) = next(&mut stream).await {
            match event.event.unwrap() {
                Event::Changed(changed) => {
                    assert_eq!((changed.id.as_str(), changed.numeric_id), (rental.id.as_str(), rental.numeric_id));
                    seen.push(format!("{:?}", status(&changed)));
                }
                Event::Message(message) => {
                    assert_eq!(message.rental_id, rental.id);
                    seen.push("message".into());
                }
            }
            cursor = event.cursor;
        }
        assert_eq!(seen, ["message", "Active", "Active", "Cancelled"]);
        // Its cursors resume a stream of the same id as spelled, not the UUID's.
        let mut resumed = r.client.watch_rental(watch(&n, &first.cursor)).await.unwrap().into_inner();
        assert!(next(&mut resumed).await.is_some());
        let refused = r.client.watch_rental(watch(&rental.id, &cursor)).await.unwrap_err();
        assert_eq!(bad_fields(&refused), ["after"]);

        // Cancel by number inside the refund window gives everything back.
        let other = r.rent("rent-2", D::OneDay).await.unwrap().rental.unwrap();
        let response = r.client.cancel_rental(cancel(&other.numeric_id.to_string())).await.unwrap().into_inner();
        assert_eq!(units(&response.refunded), DAY_PRICE);
        assert_eq!(response.rental.unwrap().id, other.id);
        r.settle().await;
        assert_eq!(r.h.balance(&account).await, 10_000 - 2 * DAY_PRICE);
    }

    async fn another_accounts_numeric_id_is_not_found(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 1).await;
        let account = r.account();
        r.h.fund(&account, 1_000).await;
        let rental = r.rent("mine", D::OneDay).await.unwrap().rental.unwrap();
        let (other, _) = r.h.other_customer("other").await;
        let mut theirs = RentalsServiceClient::with_interceptor(r.rentals_server.channel(), BearerKey(other.key.clone()));
        let n = rental.numeric_id.to_string();
        assert_refused(&theirs.get_rental(pb::GetRentalRequest { id: n.clone() }).await.unwrap_err(), Code::NotFound, NOT_FOUND);
        assert_refused(&theirs.renew_rental(renew(&n, "x")).await.unwrap_err(), Code::NotFound, NOT_FOUND);
        assert_refused(&theirs.cancel_rental(cancel(&n)).await.unwrap_err(), Code::NotFound, NOT_FOUND);
        assert_refused(&theirs.set_auto_renew(auto_renew(&n, false)).await.unwrap_err(), Code::NotFound, NOT_FOUND);
        assert_refused(&theirs.watch_rental(watch(&n, "")).await.unwrap_err(), Code::NotFound, NOT_FOUND);
        // As for a number nobody holds.
        let unknown = i64::MAX.to_string();
        let status_ = r.client.get_rental(pb::GetRentalRequest { id: unknown.clone() }).await.unwrap_err();
        assert_refused(&status_, Code::NotFound, NOT_FOUND);
        assert!(status_.message().contains(&unknown), "{status_:?}");
        assert_refused(&r.client.cancel_rental(cancel(&unknown)).await.unwrap_err(), Code::NotFound, NOT_FOUND);
        assert_refused(&r.client.renew_rental(renew(&unknown, "y")).await.unwrap_err(), Code::NotFound, NOT_FOUND);
        // Still the owner's, untouched.
        let mine = r.get(&n).await;
        assert_eq!((status(&mine), mine.auto_renew, mine.renewals), (S::Active, true, 0));
        assert_eq!(r.h.balance(&account).await, 1_000 - DAY_PRICE);
    }

    async fn bad_numeric_ids_are_invalid_arguments_naming_the_field(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 1).await;
        let account = r.account();
        r.h.fund(&account, 1_000).await;
        let rental = r.rent("mine", D::OneDay).await.unwrap().rental.unwrap();
        let huge = "9".repeat(100_000);
        for value in ["0", "-1", "-0", "007", "12x", "1.5", "+1", " 1", "9223372036854775808", huge.as_str()] {
            for result in [
                r.client.get_rental(pb::GetRentalRequest { id: value.into() }).await.map(|_| ()),
                r.client.renew_rental(renew(value, "x")).await.map(|_| ()),
                r.client.cancel_rental(cancel(value)).await.map(|_| ()),
                r.client.set_auto_renew(auto_renew(value, false)).await.map(|_| ()),
                r.client.watch_rental(watch(value, "")).await.map(|_| ()),
            ] {
                let status_ = result.unwrap_err();
                assert_refused(&status_, Code::InvalidArgument, "INVALID_FIELD");
                assert_eq!(bad_fields(&status_), ["id"], "{value}: {status_:?}");
                assert!(status_.message().len() < 200, "{value}: echoed");
            }
        }
        // With other bad fields, all at once.
        let status_ = r.client.watch_rental(watch("0", "forged")).await.unwrap_err();
        assert_eq!(bad_fields(&status_), ["id", "after"]);
        let status_ = r.client.renew_rental(renew("-5", "")).await.unwrap_err();
        assert_eq!(bad_fields(&status_), ["id", "request_id"]);
        let mine = r.get(&rental.id).await;
        assert_eq!((status(&mine), mine.renewals), (S::Active, 0), "untouched");
    }

    async fn existing_rentals_are_numbered_in_creation_order(backend: Backend) {
        let db = TestDb::new(backend).await;
        let migrations = numhub_rentals::MIGRATIONS;
        let migrator = match backend {
            Backend::Sqlite => migrations.sqlite,
            Backend::Postgres => migrations.postgres,
        };
        migrator.run_to(2, db.db.writer()).await.expect("the schema before numeric ids");
        let ids: Vec<String> = (0..3).map(|_| uuid::Uuid::now_v7().to_string()).collect();
        // Inserted in another order than they were created in.
        for (i, id) in ids.iter().enumerate().rev() {
            let insert = format!("INSERT INTO rentals (id, {FAILED_RENTAL}) VALUES ($1, {FAILED_VALUES})");
            sqlx::query(AssertSqlSafe(insert)).bind(id).bind(format!("r-{i}")).execute(db.db.writer()).await.unwrap();
        }
        db.db.migrate(&migrations).await.expect("the numeric ids' migration");
        let numbered: Vec<(String, i64)> = ids.iter().cloned().zip(1..).collect();
        assert_eq!(stored_ids(&db).await, numbered);

        // New rentals follow them; one inserted without its number is refused.
        let next = RentalsTable::next_numeric_id(db.db.backend());
        let insert = format!("INSERT INTO rentals (numeric_id, id, {FAILED_RENTAL}) VALUES ({next}, $1, {FAILED_VALUES}) RETURNING numeric_id");
        let row = sqlx::query(AssertSqlSafe(insert)).bind(uuid::Uuid::now_v7().to_string()).bind("r-3").fetch_one(db.db.writer()).await.unwrap();
        assert_eq!(row.get::<i64, _>("numeric_id"), 4);
        let insert = format!("INSERT INTO rentals (numeric_id, id, {FAILED_RENTAL}) VALUES (NULL, $1, {FAILED_VALUES})");
        let unnumbered = sqlx::query(AssertSqlSafe(insert)).bind("x").bind("r-4").execute(db.db.writer()).await;
        assert!(unnumbered.is_err(), "a NULL numeric id is refused");
        let duplicate = sqlx::query("UPDATE rentals SET numeric_id = 1 WHERE request_id = 'r-3'").execute(db.db.writer()).await;
        assert!(duplicate.is_err(), "numeric ids are unique");
    }
}
