//! A thousand random buys, cancels, skips, completions, SMS deliveries
//! (some duplicated) and expiries at once, with a clock that jumps forward
//! under them; then the ledger invariant: every debit belongs to an
//! activation that got a number, every refund to one that ended without an
//! SMS, each exactly once; every number released; every accepted SMS stored
//! once. On SQLite and PostgreSQL; `NUMHUB_TEST_SEED` replays a run.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::*;
use numhub_proto::orders::v1 as pb;
use numhub_testkit::backend_tests;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use sqlx::Row;
use tokio::task::JoinSet;
use tonic::Code;

const TASKS: usize = 20;
const OPS: usize = 50;
const CUSTOMERS: usize = 4;

/// What a task saw succeed.
#[derive(Default)]
struct Seen {
    delivered: HashSet<String>,
}

/// A business answer, not a fault: anything else fails the test.
fn expected(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        Code::FailedPrecondition | Code::NotFound | Code::Aborted
    )
}

backend_tests! {
    async fn a_thousand_random_operations_keep_the_ledger_true(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 400).await;
        let mut customers = vec![(h.customer.clone(), h.client.clone())];
        for i in 1..CUSTOMERS {
            customers.push(h.other_customer(&format!("c{i}")).await);
        }
        for (i, (customer, _)) in customers.iter().enumerate() {
            // The last customer runs short of money now and then.
            let funds = if i == CUSTOMERS - 1 { 500 } else { 100_000 };
            h.fund(&customer.account_id, funds).await;
        }
        let seed: u64 = std::env::var("NUMHUB_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(rand::random);
        eprintln!("a_thousand_random_operations: NUMHUB_TEST_SEED={seed}");

        let mut tasks = JoinSet::new();
        for task in 0..TASKS {
            let (_, mut client) = customers[task % CUSTOMERS].clone();
            let mut internal = h.internal.clone();
            let orders = h.orders.clone();
            let clock = h.clock.clone();
            tasks.spawn(async move {
                let mut rng = StdRng::seed_from_u64(seed.wrapping_add(task as u64));
                let mut mine: Vec<String> = Vec::new();
                let mut seen = Seen::default();
                for op in 0..OPS {
                    let pick = |rng: &mut StdRng, mine: &Vec<String>| {
                        (!mine.is_empty()).then(|| mine[rng.random_range(0..mine.len())].clone())
                    };
                    let result: Result<(), tonic::Status> = match rng.random_range(0..100) {
                        0..30 => {
                            let service = if rng.random_bool(0.5) { "wa" } else { "tg" };
                            // Now and then a retry of the previous request.
                            let key = if op > 0 && rng.random_bool(0.1) {
                                format!("t{task}-{}", op - 1)
                            } else {
                                format!("t{task}-{op}")
                            };
                            match client.create_activation(Harness::buy_request(service, &key)).await {
                                Ok(a) => {
                                    mine.push(a.into_inner().id);
                                    Ok(())
                                }
                                Err(e) => Err(e),
                            }
                        }
                        30..60 => match pick(&mut rng, &mine) {
                            Some(id) => {
                                let inbound = if rng.random_bool(0.2) {
                                    format!("dup-{id}")
                                } else {
                                    format!("in-{task}-{op}")
                                };
                                let request = pb::DeliverMessageRequest {
                                    activation_id: id,
                                    inbound_message_id: inbound.clone(),
                                    sender: "Service".into(),
                                    body: format!("Your code is {:06}", rng.random_range(0..1_000_000)),
                                    receive_time: Some(numhub_runtime::clock::Clock::now(&*clock).to_proto()),
                                };
                                match internal.deliver_message(request).await {
                                    Ok(_) => {
                                        seen.delivered.insert(inbound);
                                        Ok(())
                                    }
                                    Err(e) => Err(e),
                                }
                            }
                            None => Ok(()),
                        },
                        60..72 => match pick(&mut rng, &mine) {
                            Some(id) => client.cancel_activation(pb::CancelActivationRequest { id }).await.map(drop),
                            None => Ok(()),
                        },
                        72..77 => match pick(&mut rng, &mine) {
                            Some(id) => client.skip_number(pb::SkipNumberRequest { id }).await.map(drop),
                            None => Ok(()),
                        },
                        77..87 => match pick(&mut rng, &mine) {
                            Some(id) => client.complete_activation(pb::CompleteActivationRequest { id }).await.map(drop),
                            None => Ok(()),
                        },
                        87..92 => match pick(&mut rng, &mine) {
                            Some(id) => client.request_another_sms(pb::RequestAnotherSmsRequest { id }).await.map(drop),
                            None => Ok(()),
                        },
                        92..96 => {
                            clock.advance(Duration::from_secs(rng.random_range(0..240)));
                            Ok(())
                        }
                        _ => {
                            orders.run_workers_once().await.expect("a worker pass");
                            Ok(())
                        }
                    };
                    if let Err(status) = result {
                        assert!(expected(&status), "seed {seed}: an unexpected failure: {status:?}");
                    }
                }
                seen
            });
        }
        let mut delivered = HashSet::new();
        while let Some(seen) = tasks.join_next().await {
            delivered.extend(seen.unwrap().delivered);
        }

        // Let everything end, and everything owed be paid.
        h.advance(LIFETIME + Duration::from_secs(60));
        h.settle_everything().await;

        let rows = sqlx::query(
            "SELECT id, account_id, status, price, sms_count, lease_id, settle FROM activations",
        )
        .fetch_all(h.orders_db.db.reader())
        .await
        .unwrap();
        assert!(rows.len() > 100, "the run bought too little to judge: {}", rows.len());
        let mut activations = HashMap::new();
        for row in &rows {
            let id: String = row.get("id");
            let status: i64 = row.get("status");
            assert!((4..=8).contains(&status), "seed {seed}: {id} still open ({status})");
            assert_eq!(row.get::<i64, _>("settle"), 0, "seed {seed}: {id} still owes");
            let lease: Option<String> = row.get("lease_id");
            if status == 8 {
                // FAILED: never charged; its number, if any, went back.
            } else {
                assert!(lease.is_some(), "seed {seed}: {id} ended without a number");
            }
            activations.insert(id, (row.get::<String, _>("account_id"), status, row.get::<i64, _>("price"), row.get::<i64, _>("sms_count"), lease));
        }

        for (customer, _) in &customers {
            let account = &customer.account_id;
            let ledger = h.ledger(account).await;
            let mut debited: HashMap<String, (String, i64)> = HashMap::new();
            let mut refunded: HashMap<String, i64> = HashMap::new();
            let mut balance = 0;
            for entry in &ledger {
                balance += entry.amount;
                match entry.kind.as_str() {
                    "debit" => {
                        let id = entry.reference.strip_prefix("activation:").expect("an activation's debit").to_owned();
                        let (owner, status, price, _, lease) = activations.get(&id).unwrap_or_else(|| panic!("seed {seed}: a debit of no activation {id}"));
                        assert_eq!(owner, account);
                        assert_ne!(*status, 8, "seed {seed}: a FAILED activation {id} was charged");
                        assert!(lease.is_some(), "seed {seed}: {id} charged without a number");
                        assert_eq!(-entry.amount, *price, "seed {seed}: {id} charged its price");
                        assert!(debited.insert(entry.id.clone(), (id, *price)).is_none());
                    }
                    "refund" => {
                        let debit = entry.refund_of.clone().expect("a refund names its debit");
                        *refunded.entry(debit).or_default() += entry.amount;
                    }
                    _ => {}
                }
            }
            assert_eq!(balance, h.balance(account).await, "seed {seed}: the balance is its ledger");
            assert!(balance >= 0);
            let charged: HashSet<&String> = debited.values().map(|(id, _)| id).collect();
            assert_eq!(charged.len(), debited.len(), "seed {seed}: one debit per activation");
            for (debit, (id, price)) in &debited {
                let (_, status, _, sms, _) = &activations[id];
                let refund = refunded.get(debit).copied().unwrap_or(0);
                let ended_without_sms = matches!(status, 5..=7);
                if ended_without_sms {
                    assert_eq!(*sms, 0, "seed {seed}: {id} refunded after an SMS");
                    assert_eq!(refund, *price, "seed {seed}: {id} refunded in full, once");
                } else {
                    assert_eq!(*status, 4, "seed {seed}: {id}");
                    assert_eq!(refund, 0, "seed {seed}: FINISHED {id} was refunded");
                }
            }
            for (id, (owner, status, ..)) in &activations {
                if owner == account && *status != 8 {
                    assert!(charged.contains(id), "seed {seed}: {id} got a number for free");
                }
            }
        }

        // Every number is back: no lease of these activations still holds one.
        for (id, (_, _, _, _, lease)) in &activations {
            match h.lease_of(id).await {
                Some(row) => {
                    assert!(!row.held, "seed {seed}: {id} still holds {}", row.phone_number);
                    assert_eq!(Some(&row.id), lease.as_ref(), "seed {seed}: {id} has one lease");
                }
                None => assert!(lease.is_none(), "seed {seed}: {id} recorded a lease the catalog lacks"),
            }
        }
        // Every accepted SMS is stored once.
        let stored: i64 = sqlx::query("SELECT COUNT(*) AS n FROM messages")
            .fetch_one(h.orders_db.db.reader())
            .await
            .unwrap()
            .get("n");
        assert_eq!(stored as usize, delivered.len(), "seed {seed}");
    }
}
