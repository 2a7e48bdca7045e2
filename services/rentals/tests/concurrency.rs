//! Hundreds of random rentals, renewals, cancels, auto-renew settings, SMS
//! and worker passes at once, with a clock that jumps forward under them;
//! then the money invariant: every charge of a rental is on the rental and
//! in the ledger exactly once, every refund belongs to a cancel inside the
//! window, no failed purchase is charged, every balance is its ledger, and
//! every lease ends with its rental. On SQLite and PostgreSQL;
//! `NUMHUB_TEST_SEED` replays a run.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use numhub_proto::catalog::v1::RentalDuration as D;
use numhub_proto::rentals::v1 as pb;
use numhub_testkit::backend_tests;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use sqlx::Row;
use tokio::task::JoinSet;
use tonic::Code;

const TASKS: usize = 8;
const OPS: usize = 40;

/// A business answer, not a fault: anything else fails the test.
fn expected(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        Code::FailedPrecondition | Code::NotFound | Code::Aborted
    )
}

backend_tests! {
    async fn random_operations_keep_every_rental_and_ledger_true(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 200).await;
        let account = r.account();
        // Enough for most, short now and then: auto-renew and renewals meet
        // refusals too.
        r.h.fund(&account, 40_000).await;
        let seed: u64 = std::env::var("NUMHUB_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(rand::random);
        eprintln!("random_operations: NUMHUB_TEST_SEED={seed}");

        let mut tasks = JoinSet::new();
        for task in 0..TASKS {
            let mut client = r.client.clone();
            let mut internal = r.internal.clone();
            let rentals = r.rentals.clone();
            let clock = r.h.clock.clone();
            tasks.spawn(async move {
                let mut rng = StdRng::seed_from_u64(seed.wrapping_add(task as u64));
                let mut mine: Vec<(String, String)> = Vec::new();
                for op in 0..OPS {
                    let pick = |rng: &mut StdRng, mine: &Vec<(String, String)>| {
                        (!mine.is_empty()).then(|| mine[rng.random_range(0..mine.len())].clone())
                    };
                    let result: Result<(), tonic::Status> = match rng.random_range(0..100) {
                        0..25 => {
                            let duration = [D::OneDay, D::SevenDays, D::OneMonth][rng.random_range(0..3)];
                            // Now and then a retry of the previous request.
                            let key = if op > 0 && rng.random_bool(0.15) {
                                format!("t{task}-{}", op - 1)
                            } else {
                                format!("t{task}-{op}")
                            };
                            let mut request = rent_request(&key, duration);
                            request.auto_renew = Some(rng.random_bool(0.7));
                            client.create_rental(request).await.map(|bought| {
                                let rental = bought.into_inner().rental.unwrap();
                                mine.push((rental.id, rental.phone_number));
                            })
                        }
                        25..45 => match pick(&mut rng, &mine) {
                            Some((id, _)) => {
                                let duration = [0, D::OneDay as i32, D::SevenDays as i32][rng.random_range(0..3)];
                                let request_id = format!("t{task}-renew-{}", rng.random_range(0..OPS));
                                client
                                    .renew_rental(pb::RenewRentalRequest { id, duration, request_id, max_price: None })
                                    .await
                                    .map(drop)
                            }
                            None => Ok(()),
                        },
                        45..55 => match pick(&mut rng, &mine) {
                            Some((id, _)) => client
                                .cancel_rental(pb::CancelRentalRequest { id, request_id: format!("t{task}-c{op}") })
                                .await
                                .map(drop),
                            None => Ok(()),
                        },
                        55..62 => match pick(&mut rng, &mine) {
                            Some((id, _)) => client
                                .set_auto_renew(pb::SetAutoRenewRequest { id, auto_renew: rng.random_bool(0.5) })
                                .await
                                .map(drop),
                            None => Ok(()),
                        },
                        62..80 => match pick(&mut rng, &mine) {
                            Some((id, _)) => {
                                use numhub_runtime::clock::Clock as _;
                                // Some SMS are delivered twice.
                                let inbound = format!("t{task}-sms-{}", rng.random_range(0..OPS));
                                internal
                                    .deliver_message(pb::DeliverMessageRequest {
                                        rental_id: id,
                                        inbound_message_id: inbound,
                                        sender: "+15550001111".into(),
                                        body: "code 123456".into(),
                                        receive_time: Some(clock.now().to_proto()),
                                    })
                                    .await
                                    .map(drop)
                            }
                            None => Ok(()),
                        },
                        80..90 => {
                            // Time passes: minutes to days.
                            let minutes = [5, 90, 60 * 13, 60 * 24 * 3][rng.random_range(0..4)];
                            clock.advance(Duration::from_secs(minutes * 60));
                            Ok(())
                        }
                        _ => {
                            rentals.run_workers_once().await.expect("a worker pass");
                            Ok(())
                        }
                    };
                    if let Err(status) = result {
                        assert!(expected(&status), "task {task} op {op}: {status:?}");
                    }
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("a task");
        }
        // Let every half-done thing finish, then check the books.
        r.advance(Duration::from_secs(31));
        r.settle().await;

        let rows = sqlx::query(
            "SELECT id, status, lease_id, debit_id, total_charged, refunded, settle, expires_at \
             FROM rentals WHERE account_id = $1",
        )
        .bind(&account)
        .fetch_all(r.rentals_db.db.reader())
        .await
        .unwrap();
        assert!(!rows.is_empty());
        let ledger = r.h.ledger(&account).await;
        let mut debits: HashMap<String, i64> = HashMap::new();
        let mut refunds_of: HashMap<String, i64> = HashMap::new();
        let debit_owner: HashMap<String, String> = ledger
            .iter()
            .filter(|e| e.kind == "debit")
            .map(|e| (e.id.clone(), e.reference.trim_start_matches("rental:").to_owned()))
            .collect();
        for e in &ledger {
            match e.kind.as_str() {
                "debit" => *debits.entry(e.reference.trim_start_matches("rental:").to_owned()).or_default() += -e.amount,
                "refund" => {
                    let owner = debit_owner[e.refund_of.as_ref().expect("a refund names its debit")].clone();
                    *refunds_of.entry(owner).or_default() += e.amount;
                }
                _ => {}
            }
        }
        let now = r.now().unix_micros();
        let mut total_debits = 0;
        for row in &rows {
            let id: String = row.get("id");
            let status: i64 = row.get("status");
            let charged: i64 = row.get("total_charged");
            let refunded: i64 = row.get("refunded");
            let settle: i64 = row.get("settle");
            assert_eq!(settle, 0, "{id}: everything owed is paid");
            let debited = debits.get(&id).copied().unwrap_or(0);
            total_debits += debited;
            // Every charge is on the rental, and only there; a refused or
            // refunded renewal left nothing behind.
            let renewals_refunded: i64 = sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(price), 0) AS BIGINT) FROM renewals WHERE rental_id = $1 AND state = 4",
            )
            .bind(&id)
            .fetch_one(r.rentals_db.db.reader())
            .await
            .unwrap();
            assert_eq!(debited, charged + renewals_refunded, "{id}: debits");
            let back = refunds_of.get(&id).copied().unwrap_or(0);
            assert_eq!(back, refunded + renewals_refunded, "{id}: refunds");
            match status {
                // FAILED: never charged.
                5 => assert_eq!(debited, 0, "{id}"),
                // Refunds only for a cancel, in full.
                4 => assert!(refunded == 0 || refunded == charged, "{id}"),
                _ => assert_eq!(refunded, 0, "{id}"),
            }
            // The lease ends with the rental: held while ACTIVE, and not a
            // moment past its expiry.
            if let Some(lease) = row.get::<Option<String>, _>("lease_id") {
                let lease_row = sqlx::query("SELECT released_at, expires_at FROM leases WHERE id = $1")
                    .bind(&lease)
                    .fetch_one(r.h.catalog_db.db.reader())
                    .await
                    .unwrap();
                let held = lease_row.get::<Option<i64>, _>("released_at").is_none()
                    && lease_row.get::<i64, _>("expires_at") > now;
                let active = status == 2 && row.get::<i64, _>("expires_at") > now;
                assert_eq!(held, active, "{id}: lease held {held}, rental status {status}");
                if status == 2 {
                    assert_eq!(lease_row.get::<i64, _>("expires_at"), row.get::<i64, _>("expires_at"), "{id}");
                }
            }
        }
        assert_eq!(debits.values().sum::<i64>(), total_debits, "no debit of an unknown rental");
        let credits: i64 = ledger.iter().filter(|e| e.kind == "credit").map(|e| e.amount).sum();
        let net: i64 = ledger.iter().map(|e| e.amount).sum();
        assert_eq!(credits, 40_000);
        assert_eq!(r.h.balance(&account).await, net, "the balance is its ledger");
        assert!(net >= 0);
        // Every delivered SMS is stored once.
        let messages: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages")
            .fetch_one(r.rentals_db.db.reader())
            .await
            .unwrap();
        let distinct: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT inbound_id) FROM messages")
            .fetch_one(r.rentals_db.db.reader())
            .await
            .unwrap();
        assert_eq!(messages, distinct);
        let counted: i64 = sqlx::query_scalar("SELECT CAST(COALESCE(SUM(sms_count), 0) AS BIGINT) FROM rentals")
            .fetch_one(r.rentals_db.db.reader())
            .await
            .unwrap();
        assert_eq!(counted, messages);
    }
}
