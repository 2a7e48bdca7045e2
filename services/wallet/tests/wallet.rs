//! The wallet's behaviour, through real gRPC, on SQLite and PostgreSQL.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use numhub_proto::ACCESS_RULES;
use numhub_proto::common::v1::{Credential, Money, Scope};
use numhub_proto::wallet::v1 as pb;
use numhub_runtime::clock::{Clock, SharedClock};
use numhub_skeleton::Service as _;
use numhub_testkit::raw::call_empty;
use numhub_testkit::{TestServer, backend_tests};
use numhub_wallet::{Wallet, WalletSettings};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::task::JoinSet;
use tonic::Code;

backend_tests! {
    async fn credit_creates_the_account_in_the_default_currency(backend: Backend) {
        let mut h = start(backend).await;
        let (customer, mut public) = h.customer().await;
        // Before any credit its owner sees a zero balance, not an error.
        let empty = public.get_balance(pb::GetBalanceRequest {}).await.unwrap().into_inner();
        assert_eq!(empty.available, usd(0));
        assert_eq!(empty.update_time, None);
        let entry = h.client
            .credit(pb::CreditRequest {
                account_id: customer.account_id.clone(),
                amount: Some(Money { currency_code: String::new(), minor_units: 500 }),
                request_id: "top-up-1".into(),
                reason: "first top-up".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .transaction
            .unwrap();
        assert_eq!(entry.kind, pb::TransactionKind::Credit as i32);
        assert_eq!(entry.amount, usd(500));
        assert_eq!(entry.balance_after, usd(500));
        assert_eq!(entry.reference, "first top-up");
        assert_eq!(entry.request_id, "top-up-1");
        assert!(uuid::Uuid::try_parse(&entry.id).unwrap().get_version_num() == 7);

        let balance = public.get_balance(pb::GetBalanceRequest {}).await.unwrap().into_inner();
        assert_eq!(balance.available, usd(500));
        assert_eq!(balance.account_id, customer.account_id);
        assert!(balance.update_time.is_some());
        // The operator reads the same through the admin surface.
        let admin_view = h.admin
            .get_account_balance(pb::GetAccountBalanceRequest { account_id: customer.account_id.clone() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(admin_view, balance);
        // An account id sent upper-case names the same account: a top-up
        // never lands on a look-alike.
        let upper = customer.account_id.to_uppercase();
        assert_ne!(upper, customer.account_id.to_string());
        let again = h.admin
            .credit(pb::CreditRequest {
                account_id: upper.clone(),
                amount: Some(Money { currency_code: String::new(), minor_units: 1 }),
                request_id: "top-up-upper".into(),
                reason: "second top-up".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .transaction
            .unwrap();
        assert_eq!(again.balance_after, usd(501));
        let read = h.admin.get_account_balance(pb::GetAccountBalanceRequest { account_id: upper }).await.unwrap().into_inner();
        assert_eq!((read.account_id, read.available), (customer.account_id.to_string(), usd(501)));
    }

    async fn an_account_keeps_the_currency_of_its_first_credit(backend: Backend) {
        let mut h = start(backend).await;
        let eur = |units| Some(Money { currency_code: "EUR".into(), minor_units: units });
        let first = h.client
            .credit(pb::CreditRequest {
                account_id: "euro".into(),
                amount: eur(100),
                request_id: "c1".into(),
                reason: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .transaction
            .unwrap();
        assert_eq!(first.balance_after, eur(100));
        let result = h.client.credit(pb::CreditRequest {
            account_id: "euro".into(),
            amount: usd(100),
            request_id: "c2".into(),
            reason: String::new(),
        }).await;
        assert_status(result, Code::FailedPrecondition, "CURRENCY_MISMATCH");
        let result = debit(&mut h.client, "euro", 10, "d1").await;
        assert_status(result, Code::FailedPrecondition, "CURRENCY_MISMATCH");
        assert_eq!(balance(&h.wallet, "euro").await, 100);
    }

    async fn debit_takes_money_and_reports_the_balance_left(backend: Backend) {
        let mut h = start(backend).await;
        credit(&mut h.client, "acc", 1_000, "c1").await;
        let entry = debit(&mut h.client, "acc", 300, "d1").await.unwrap();
        assert_eq!(entry.kind, pb::TransactionKind::Debit as i32);
        assert_eq!(entry.amount, usd(-300));
        assert_eq!(entry.balance_after, usd(700));
        assert_eq!(entry.reference, "activation");
        assert_eq!(balance(&h.wallet, "acc").await, 700);
        // Spending everything is allowed; going below zero is not.
        debit(&mut h.client, "acc", 700, "d2").await.unwrap();
        assert_eq!(balance(&h.wallet, "acc").await, 0);
    }

    async fn a_short_balance_is_refused_and_the_refusal_is_remembered(backend: Backend) {
        let mut h = start(backend).await;
        credit(&mut h.client, "acc", 100, "c1").await;
        let status = assert_status(
            debit(&mut h.client, "acc", 101, "d1").await,
            Code::FailedPrecondition,
            "INSUFFICIENT_BALANCE",
        );
        assert!(status.message().contains("100"), "{status:?}");
        assert_eq!(balance(&h.wallet, "acc").await, 100);
        assert_eq!(ledger(&h.wallet, "acc").await.len(), 1);

        // Topped up since, the same request still has its first answer.
        credit(&mut h.client, "acc", 1_000, "c2").await;
        let replay = debit(&mut h.client, "acc", 101, "d1").await;
        let replayed = assert_status(replay, Code::FailedPrecondition, "INSUFFICIENT_BALANCE");
        assert_eq!(replayed.message(), status.message());
        assert_eq!(balance(&h.wallet, "acc").await, 1_100);
        // A new request id is a new request.
        debit(&mut h.client, "acc", 101, "d2").await.unwrap();
        assert_eq!(balance(&h.wallet, "acc").await, 999);
    }

    async fn bad_amounts_are_invalid_arguments_naming_the_field(backend: Backend) {
        let mut h = start(backend).await;
        credit(&mut h.client, "acc", 100, "c1").await;
        for amount in [Some(0), Some(-5), None] {
            let request = pb::DebitRequest {
                amount: amount.and_then(usd),
                ..debit_request("acc", 1, "d-bad")
            };
            let status = assert_status(h.client.debit(request).await, Code::InvalidArgument, "INVALID_FIELD");
            assert_eq!(bad_fields(&status), ["amount"]);
            let request = pb::CreditRequest {
                account_id: "acc".into(),
                amount: amount.and_then(usd),
                request_id: "c-bad".into(),
                reason: String::new(),
            };
            let status = assert_status(h.client.credit(request).await, Code::InvalidArgument, "INVALID_FIELD");
            assert_eq!(bad_fields(&status), ["amount"]);
        }
        let lowercase = pb::DebitRequest {
            amount: Some(Money { currency_code: "usd".into(), minor_units: 5 }),
            ..debit_request("acc", 1, "d-bad")
        };
        let status = assert_status(h.client.debit(lowercase).await, Code::InvalidArgument, "INVALID_FIELD");
        assert_eq!(bad_fields(&status), ["amount"]);
        // Every field at fault is named at once.
        let status = assert_status(
            h.client.debit(pb::DebitRequest {
                account_id: String::new(),
                amount: usd(0),
                request_id: "x".repeat(256),
                reference: String::new(),
            }).await,
            Code::InvalidArgument,
            "INVALID_FIELD",
        );
        assert_eq!(bad_fields(&status), ["account_id", "amount", "request_id"]);
        let status = assert_status(debit(&mut h.client, "acc", 1, "").await, Code::InvalidArgument, "INVALID_FIELD");
        assert_eq!(bad_fields(&status), ["request_id"]);
        // Nothing moved.
        assert_eq!(balance(&h.wallet, "acc").await, 100);
        assert_eq!(ledger(&h.wallet, "acc").await.len(), 1);
    }

    async fn a_balance_cannot_overflow(backend: Backend) {
        let mut h = start(backend).await;
        credit(&mut h.client, "rich", i64::MAX - 10, "c1").await;
        let result = h.client.credit(pb::CreditRequest {
            account_id: "rich".into(),
            amount: usd(11),
            request_id: "c2".into(),
            reason: String::new(),
        }).await;
        assert_status(result, Code::FailedPrecondition, "BALANCE_LIMIT_EXCEEDED");
        credit(&mut h.client, "rich", 10, "c3").await;
        assert_eq!(balance(&h.wallet, "rich").await, i64::MAX);
    }

    async fn unknown_accounts_are_not_found(backend: Backend) {
        let mut h = start(backend).await;
        let result = h.admin
            .get_account_balance(pb::GetAccountBalanceRequest { account_id: "ghost".into() })
            .await;
        assert_status(result, Code::NotFound, "RESOURCE_NOT_FOUND");
        assert_status(debit(&mut h.client, "ghost", 1, "d1").await, Code::NotFound, "RESOURCE_NOT_FOUND");
        // A customer whose wallet was never credited has an empty ledger.
        let (_, mut public) = h.customer().await;
        let page = public
            .list_transactions(pb::ListTransactionsRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert!(page.transactions.is_empty());
    }

    async fn refunds_give_back_at_most_the_debit(backend: Backend) {
        let mut h = start(backend).await;
        credit(&mut h.client, "acc", 1_000, "c1").await;
        let charge = debit(&mut h.client, "acc", 400, "d1").await.unwrap();

        let part = refund(&mut h.client, &charge.id, Some(150), "r1").await.unwrap();
        assert_eq!(part.kind, pb::TransactionKind::Refund as i32);
        assert_eq!(part.amount, usd(150));
        assert_eq!(part.balance_after, usd(750));
        assert_eq!(part.refunded_transaction_id, charge.id);

        let status = assert_status(
            refund(&mut h.client, &charge.id, Some(251), "r2").await,
            Code::FailedPrecondition,
            "REFUND_EXCEEDS_DEBIT",
        );
        assert!(status.message().contains("250"), "{status:?}");
        // No amount: the rest.
        let rest = refund(&mut h.client, &charge.id, None, "r3").await.unwrap();
        assert_eq!(rest.amount, usd(250));
        assert_eq!(rest.balance_after, usd(1_000));
        assert_status(
            refund(&mut h.client, &charge.id, None, "r4").await,
            Code::FailedPrecondition,
            "REFUND_EXCEEDS_DEBIT",
        );
        assert_eq!(balance(&h.wallet, "acc").await, 1_000);
    }

    async fn refunds_need_a_debit(backend: Backend) {
        let mut h = start(backend).await;
        let top_up = credit(&mut h.client, "acc", 1_000, "c1").await;
        let unknown = uuid::Uuid::now_v7().to_string();
        assert_status(refund(&mut h.client, &unknown, None, "r1").await, Code::NotFound, "RESOURCE_NOT_FOUND");
        // A credit is not something to refund.
        assert_status(refund(&mut h.client, &top_up.id, None, "r2").await, Code::NotFound, "RESOURCE_NOT_FOUND");
        let status = assert_status(
            refund(&mut h.client, "not-an-id", None, "r3").await,
            Code::InvalidArgument,
            "INVALID_FIELD",
        );
        assert_eq!(bad_fields(&status), ["debit_transaction_id"]);
        assert_eq!(balance(&h.wallet, "acc").await, 1_000);
    }

    async fn a_retry_returns_the_first_result_and_moves_nothing(backend: Backend) {
        let mut h = start(backend).await;
        let first_credit = credit(&mut h.client, "acc", 1_000, "c1").await;
        assert_eq!(credit(&mut h.client, "acc", 1_000, "c1").await, first_credit);
        let first_debit = debit(&mut h.client, "acc", 300, "d1").await.unwrap();
        assert_eq!(debit(&mut h.client, "acc", 300, "d1").await.unwrap(), first_debit);
        let first_refund = refund(&mut h.client, &first_debit.id, None, "r1").await.unwrap();
        assert_eq!(refund(&mut h.client, &first_debit.id, None, "r1").await.unwrap(), first_refund);
        assert_eq!(balance(&h.wallet, "acc").await, 1_000);
        assert_eq!(ledger(&h.wallet, "acc").await.len(), 3);
    }

    async fn a_reused_key_with_other_fields_is_rejected(backend: Backend) {
        let mut h = start(backend).await;
        credit(&mut h.client, "acc", 1_000, "c1").await;
        let charge = debit(&mut h.client, "acc", 300, "k1").await.unwrap();
        assert_status(debit(&mut h.client, "acc", 301, "k1").await, Code::FailedPrecondition, "IDEMPOTENCY_KEY_REUSED");
        let other_reference = pb::DebitRequest { reference: "other".into(), ..debit_request("acc", 300, "k1") };
        assert_status(h.client.debit(other_reference).await, Code::FailedPrecondition, "IDEMPOTENCY_KEY_REUSED");
        // Keys are per account and shared by every kind of movement.
        let as_credit = h.client.credit(pb::CreditRequest {
            account_id: "acc".into(),
            amount: usd(300),
            request_id: "k1".into(),
            reason: String::new(),
        }).await;
        assert_status(as_credit, Code::FailedPrecondition, "IDEMPOTENCY_KEY_REUSED");
        assert_status(refund(&mut h.client, &charge.id, None, "k1").await, Code::FailedPrecondition, "IDEMPOTENCY_KEY_REUSED");
        credit(&mut h.client, "other-acc", 10, "k1").await;
        assert_eq!(balance(&h.wallet, "acc").await, 700);
    }

    async fn concurrent_duplicates_move_money_once(backend: Backend) {
        let h = start(backend).await;
        let mut client = h.client.clone();
        credit(&mut client, "acc", 10_000, "c1").await;
        let mut tasks = JoinSet::new();
        for _ in 0..20 {
            let mut client = h.client.clone();
            tasks.spawn(async move { debit(&mut client, "acc", 250, "same-key").await });
        }
        let mut ids = HashSet::new();
        while let Some(result) = tasks.join_next().await {
            match result.unwrap() {
                Ok(entry) => {
                    ids.insert(entry.id);
                }
                Err(status) => assert_eq!(status.code(), Code::Aborted, "{status:?}"),
            }
        }
        assert_eq!(ids.len(), 1, "every success names the one debit");
        assert_eq!(balance(&h.wallet, "acc").await, 9_750);
        assert_eq!(ledger(&h.wallet, "acc").await.len(), 2);
    }

    async fn transactions_page_newest_first_without_repeats(backend: Backend) {
        let mut h = start(backend).await;
        let (customer, mut public) = h.customer().await;
        let acc = customer.account_id.as_str();
        credit(&mut h.client, acc, 1_000, "c0").await;
        for i in 1..=6 {
            debit(&mut h.client, acc, i, &format!("d{i}")).await.unwrap();
        }
        let mut pages = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = public
                .list_transactions(pb::ListTransactionsRequest {
                    page_size: 3,
                    page_token,
                })
                .await
                .unwrap()
                .into_inner();
            pages.push(page.transactions.iter().map(|t| t.request_id.clone()).collect::<Vec<_>>());
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        assert_eq!(pages, [vec!["d6", "d5", "d4"], vec!["d3", "d2", "d1"], vec!["c0"]]);

        // The default page holds everything here; each entry's balance_after
        // is the running sum of the ledger.
        let all = ledger(&h.wallet, acc).await;
        let mut running = 0;
        for entry in all.iter().rev() {
            running += units(&entry.amount);
            assert_eq!(units(&entry.balance_after), running);
        }
        assert_eq!(running, balance(&h.wallet, acc).await);

        for (page_size, page_token, field) in [
            (101, String::new(), "page_size"),
            (-1, String::new(), "page_size"),
            (10, "garbage!".to_string(), "page_token"),
        ] {
            let status = assert_status(
                public.list_transactions(pb::ListTransactionsRequest {
                    page_size,
                    page_token,
                }).await,
                Code::InvalidArgument,
                "INVALID_FIELD",
            );
            assert_eq!(bad_fields(&status), [field]);
        }
    }

    async fn the_database_refuses_to_rewrite_the_ledger_or_go_negative(backend: Backend) {
        let mut h = start(backend).await;
        credit(&mut h.client, "acc", 100, "c1").await;
        let pool = h.db.db.writer();
        let rewrite = sqlx::query("UPDATE ledger_entries SET amount = 1000000").execute(pool).await;
        assert!(rewrite.is_err(), "the ledger was rewritten");
        let erase = sqlx::query("DELETE FROM ledger_entries").execute(pool).await;
        assert!(erase.is_err(), "the ledger was erased");
        let negative = sqlx::query("UPDATE accounts SET balance = -1").execute(pool).await;
        assert!(negative.is_err(), "a negative balance was stored");
        assert_eq!(balance(&h.wallet, "acc").await, 100);
    }

    async fn internal_errors_do_not_leak_database_text(backend: Backend) {
        let mut h = start(backend).await;
        credit(&mut h.client, "acc", 100, "c1").await;
        sqlx::query("DROP TABLE idempotency_keys").execute(h.db.db.writer()).await.unwrap();
        let status = debit(&mut h.client, "acc", 1, "d1").await.unwrap_err();
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal error");
        assert_eq!(reason(&status), "INTERNAL_ERROR");
        assert!(!format!("{status:?}").contains("idempotency_keys"));
    }

    async fn idempotency_keys_outlive_a_day_then_are_forgotten(backend: Backend) {
        let mut h = start(backend).await;
        credit(&mut h.client, "acc", 100, "c1").await;
        let store_pool = h.db.db.writer();
        let day = Duration::from_secs(24 * 3600);
        let purged = numhub_wallet::store::purge_keys(store_pool, h.clock.now().minus(day)).await.unwrap();
        assert_eq!(purged, 0, "a fresh key was forgotten");
        h.clock.advance(day * 31);
        let retention = WalletSettings::default().idempotency_retention;
        let purged = numhub_wallet::store::purge_keys(store_pool, h.clock.now().minus(retention)).await.unwrap();
        assert_eq!(purged, 1);
    }

    async fn two_instances_on_one_database_move_money_once(backend: Backend) {
        let h = start(backend).await;
        // A second wallet with its own pool and lanes: another replica.
        let other_db = numhub_runtime::db::Database::connect(&h.db.url, 8).await.unwrap();
        let clock: SharedClock = h.clock.clone();
        let other = Wallet::start(other_db, clock, &WalletSettings::default()).await.expect("start the wallet");
        let other_server =
            h.stack.serve(&other).await;
        let clients = [h.client.clone(), internal_client(&other_server, &h.stack)];

        let mut first = clients[0].clone();
        credit(&mut first, "hot", 1_000_000, "c1").await;
        let mut tasks = JoinSet::new();
        for task in 0..16 {
            let mut client = clients[task % 2].clone();
            tasks.spawn(async move {
                let mut moved = 0;
                for i in 0..25 {
                    // Both replicas see every key: each must move money once.
                    let key = format!("k{}", (task / 2) * 25 + i);
                    loop {
                        match debit(&mut client, "hot", 7, &key).await {
                            Ok(_) => { moved += 1; break; }
                            Err(status) if status.code() == Code::Aborted => continue,
                            Err(status) => panic!("{status:?}"),
                        }
                    }
                }
                moved
            });
        }
        let mut answered = 0;
        while let Some(moved) = tasks.join_next().await {
            answered += moved.unwrap();
        }
        assert_eq!(answered, 16 * 25);
        let entries = ledger(&h.wallet, "hot").await;
        assert_eq!(entries.len(), 1 + 8 * 25, "each key debited exactly once");
        assert_eq!(balance(&h.wallet, "hot").await, 1_000_000 - 7 * 8 * 25);
        other_server.shutdown().await;
    }

    async fn a_replica_never_decides_on_an_outdated_balance(backend: Backend) {
        let h = start(backend).await;
        let other_db = numhub_runtime::db::Database::connect(&h.db.url, 4).await.unwrap();
        let clock: SharedClock = h.clock.clone();
        let other = Wallet::start(other_db, clock, &WalletSettings::default()).await.expect("start the wallet");
        let other_server =
            h.stack.serve(&other).await;
        let (mut a, mut b) = (h.client.clone(), internal_client(&other_server, &h.stack));

        // A knows the account at 100.
        credit(&mut a, "shared", 100, "c1").await;
        debit(&mut a, "shared", 10, "d1").await.unwrap();
        // B tops it up behind A's back: A must not refuse what the real
        // balance covers.
        credit(&mut b, "shared", 1_000, "c2").await;
        let entry = debit(&mut a, "shared", 500, "d2").await.unwrap();
        assert_eq!(entry.balance_after, usd(590));
        // B spends nearly everything: A must not let a debit through on the
        // balance it last saw.
        debit(&mut b, "shared", 580, "d3").await.unwrap();
        assert_status(debit(&mut a, "shared", 100, "d4").await, Code::FailedPrecondition, "INSUFFICIENT_BALANCE");
        assert_eq!(balance(&h.wallet, "shared").await, 10);
        let entries = ledger(&h.wallet, "shared").await;
        assert_eq!(entries.iter().map(|e| units(&e.amount)).sum::<i64>(), 10);
        other_server.shutdown().await;
    }

    async fn every_rpc_refuses_a_caller_without_its_credential(backend: Backend) {
        let h = start(backend).await;
        let customer = h.stack.customer("acme", &[Scope::Read, Scope::Write]).await;
        let admin = h.stack.admin_key.clone();
        let rules: Vec<_> = ACCESS_RULES.iter().filter(|r| r.path.starts_with("/numhub.wallet.")).collect();
        assert_eq!(rules.len(), 7);
        for rule in rules {
            let channel = h.server.channel();
            let anonymous = call_empty(channel.clone(), rule.path, None).await;
            assert_eq!(anonymous.code(), Code::Unauthenticated, "{}: {anonymous:?}", rule.path);
            match rule.credential {
                Credential::Service => {
                    for key in [&customer.key, &admin] {
                        let status = call_empty(channel.clone(), rule.path, Some(&format!("Bearer {key}"))).await;
                        assert_eq!(status.code(), Code::PermissionDenied, "{}: {status:?}", rule.path);
                        assert_eq!(reason(&status), "SERVICE_CREDENTIAL_REQUIRED");
                    }
                }
                Credential::ApiKey if rule.scope == Scope::Admin => {
                    let status = call_empty(channel.clone(), rule.path, Some(&format!("Bearer {}", customer.key))).await;
                    assert_eq!(status.code(), Code::PermissionDenied, "{}: {status:?}", rule.path);
                    assert_eq!(reason(&status), "MISSING_SCOPE");
                }
                _ => {
                    let status = call_empty(channel.clone(), rule.path, Some(&format!("Bearer {}", customer.key))).await;
                    assert_eq!(status.code(), Code::Ok, "{}: {status:?}", rule.path);
                }
            }
        }
    }

    async fn another_account_learns_nothing(backend: Backend) {
        let mut h = start(backend).await;
        let (a, mut as_a) = h.customer().await;
        let (b, mut as_b) = h.customer().await;
        credit(&mut h.client, &a.account_id, 1_000, "a-top-up").await;
        let a_debit = debit(&mut h.client, &a.account_id, 300, "a-buy").await.unwrap();
        credit(&mut h.client, &b.account_id, 50, "b-top-up").await;
        let mut covered = HashSet::new();

        covered.insert("/numhub.wallet.v1.WalletService/GetBalance");
        let b_balance = as_b.get_balance(pb::GetBalanceRequest {}).await.unwrap().into_inner();
        assert_eq!((b_balance.account_id.as_str(), units(&b_balance.available)), (b.account_id.as_str(), 50));
        let a_balance = as_a.get_balance(pb::GetBalanceRequest {}).await.unwrap().into_inner();
        assert_eq!(units(&a_balance.available), 700);

        covered.insert("/numhub.wallet.v1.WalletService/ListTransactions");
        let b_ledger = as_b.list_transactions(pb::ListTransactionsRequest::default()).await.unwrap().into_inner();
        assert_eq!(b_ledger.transactions.len(), 1);
        assert!(b_ledger.transactions.iter().all(|t| t.account_id == b.account_id));
        // A's page token is A's alone, and a cursor made of A's debit id
        // (in the format of earlier versions) pages nothing.
        let a_page = as_a
            .list_transactions(pb::ListTransactionsRequest { page_size: 1, page_token: String::new() })
            .await
            .unwrap()
            .into_inner();
        for token in [a_page.next_page_token, numhub_testkit::tokens::v1(&a_debit.id)] {
            let request = pb::ListTransactionsRequest { page_size: 10, page_token: token.clone() };
            numhub_testkit::tokens::assert_refused(as_b.list_transactions(request).await, "page_token", &token);
        }
        let paged = as_b
            .list_transactions(pb::ListTransactionsRequest { page_size: 10, page_token: String::new() })
            .await
            .unwrap()
            .into_inner();
        assert!(paged.transactions.iter().all(|t| t.account_id == b.account_id));
        assert!(format!("{paged:?}{b_ledger:?}{b_balance:?}").find(&a.account_id).is_none());

        let public: HashSet<&str> = ACCESS_RULES
            .iter()
            .filter(|r| r.path.starts_with("/numhub.wallet.") && r.credential == Credential::ApiKey && r.scope != Scope::Admin)
            .map(|r| r.path)
            .collect();
        assert_eq!(covered, public, "every public RPC is swept");
    }

    async fn a_credential_accounts_refuses_is_an_outage_not_a_bad_key(backend: Backend) {
        let h = start(backend).await;
        let (_, mut public) = h.customer().await;
        public.get_balance(pb::GetBalanceRequest {}).await.expect("the right credential works");
        // A replica configured with another credential than accounts has.
        let wrong = numhub_auth::ServiceCredentials::new(vec![numhub_auth::Secret::new("x".repeat(40))]).unwrap();
        let authenticator = numhub_auth::CachedAuthenticator::new(
            Arc::new(numhub_auth::AccountsClient::new(h.stack.outbound(), &wrong)),
            Duration::from_secs(15),
            h.clock.clone(),
        );
        let auth = numhub_auth::AuthLayer::new(authenticator, wrong, numhub_auth::Environment::Live, h.clock.clone());
        let (routes, names) = h.wallet.protected(&auth);
        let other = TestServer::start(routes, names).await;
        let (customer, _) = h.customer().await;
        let mut misconfigured = pb::wallet_service_client::WalletServiceClient::with_interceptor(
            other.channel(),
            numhub_testkit::BearerKey(customer.key.clone()),
        );
        let status = misconfigured.get_balance(pb::GetBalanceRequest {}).await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        // Nothing was cached: the key works wherever accounts trusts the caller.
        h.public_client(&customer.key).get_balance(pb::GetBalanceRequest {}).await.expect("the key is valid");
        other.shutdown().await;
    }

    async fn an_admin_key_tops_up_any_account(backend: Backend) {
        let mut h = start(backend).await;
        let (customer, mut public) = h.customer().await;
        let entry = h.admin
            .credit(pb::CreditRequest {
                account_id: customer.account_id.clone(),
                amount: usd(2_500),
                request_id: "top-up-1".into(),
                reason: "wire transfer".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .transaction
            .unwrap();
        assert_eq!(entry.balance_after, usd(2_500));
        // The same key again is the same top-up, whichever surface it uses.
        let again = h.client
            .credit(pb::CreditRequest {
                account_id: customer.account_id.clone(),
                amount: usd(2_500),
                request_id: "top-up-1".into(),
                reason: "wire transfer".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .transaction
            .unwrap();
        assert_eq!(again.id, entry.id);
        let balance = public.get_balance(pb::GetBalanceRequest {}).await.unwrap().into_inner();
        assert_eq!(balance.available, usd(2_500));
    }

    async fn random_concurrent_movements_keep_every_invariant(backend: Backend) {
        let h = start(backend).await;
        const ACCOUNTS: [&str; 5] = ["a1", "a2", "a3", "a4", "a5"];
        const TASKS: usize = 50;
        const OPS: usize = 200;

        let mut client = h.client.clone();
        for account in ACCOUNTS {
            credit(&mut client, account, 1_000, "opening").await;
        }
        // A failure names its seed; NUMHUB_TEST_SEED replays it.
        let seed: u64 = std::env::var("NUMHUB_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(rand::random);
        eprintln!("random_concurrent_movements: NUMHUB_TEST_SEED={seed}");
        let mut tasks = JoinSet::new();
        for task in 0..TASKS {
            let mut client = h.client.clone();
            tasks.spawn(async move {
                let mut rng = StdRng::seed_from_u64(seed.wrapping_add(task as u64));
                // Successful movements by key: (account, signed amount).
                let mut moved: HashMap<String, (String, i64)> = HashMap::new();
                let mut debits: Vec<(String, String)> = Vec::new();
                let mut last: Option<pb::DebitRequest> = None;
                for op in 0..OPS {
                    let account = ACCOUNTS[rng.random_range(0..ACCOUNTS.len())];
                    let key = format!("t{task}-op{op}");
                    match rng.random_range(0..10) {
                        0..=2 => {
                            let amount = rng.random_range(1..=500);
                            credit(&mut client, account, amount, &key).await;
                            moved.insert(key, (account.into(), amount));
                        }
                        3..=6 => {
                            let amount = rng.random_range(1..=300);
                            let request = debit_request(account, amount, &key);
                            last = Some(request.clone());
                            match client.debit(request).await {
                                Ok(r) => {
                                    let entry = r.into_inner().transaction.unwrap();
                                    debits.push((entry.id.clone(), account.into()));
                                    moved.insert(key, (account.into(), -amount));
                                }
                                Err(s) => assert_eq!(reason(&s), "INSUFFICIENT_BALANCE", "{s:?}"),
                            }
                        }
                        7 => {
                            // Retry the last debit: never a second movement.
                            if let Some(request) = last.clone() {
                                match client.debit(request.clone()).await {
                                    Ok(r) => {
                                        let entry = r.into_inner().transaction.unwrap();
                                        assert!(moved.contains_key(&request.request_id), "a retry moved money");
                                        assert_eq!(entry.request_id, request.request_id);
                                    }
                                    Err(s) => {
                                        assert_eq!(reason(&s), "INSUFFICIENT_BALANCE", "{s:?}");
                                        assert!(!moved.contains_key(&request.request_id));
                                    }
                                }
                            }
                        }
                        _ => {
                            if debits.is_empty() {
                                continue;
                            }
                            let (debit_id, account) = debits[rng.random_range(0..debits.len())].clone();
                            let amount = if rng.random_bool(0.5) { None } else { Some(rng.random_range(1..=100)) };
                            match refund(&mut client, &debit_id, amount, &key).await {
                                Ok(entry) => {
                                    moved.insert(key, (account, units(&entry.amount)));
                                }
                                Err(s) => assert_eq!(reason(&s), "REFUND_EXCEEDS_DEBIT", "{s:?}"),
                            }
                        }
                    }
                }
                moved
            });
        }
        let mut expected: HashMap<String, i64> =
            ACCOUNTS.iter().map(|a| (a.to_string(), 1_000)).collect();
        let mut moved_keys = ACCOUNTS.len();
        while let Some(moved) = tasks.join_next().await {
            for (_, (account, amount)) in moved.unwrap() {
                *expected.entry(account).or_default() += amount;
                moved_keys += 1;
            }
        }

        let mut ledger_entries = 0;
        for account in ACCOUNTS {
            let expected = &expected[account];
            let balance = balance(&h.wallet, account).await;
            let entries = ledger(&h.wallet, account).await;
            ledger_entries += entries.len();
            assert!(balance >= 0);
            assert_eq!(balance, *expected, "{account}: credits - debits + refunds");
            assert_eq!(entries.iter().map(|e| units(&e.amount)).sum::<i64>(), balance, "{account}: ledger sum");
            let keys: HashSet<_> = entries.iter().map(|e| &e.request_id).collect();
            assert_eq!(keys.len(), entries.len(), "{account}: a request id moved money twice");
            assert!(entries.iter().all(|e| units(&e.balance_after) >= 0));
            // Refunds of one debit never exceed it.
            let mut refunded: HashMap<&str, i64> = HashMap::new();
            for e in entries.iter().filter(|e| !e.refunded_transaction_id.is_empty()) {
                *refunded.entry(&e.refunded_transaction_id).or_default() += units(&e.amount);
            }
            for (debit_id, total) in refunded {
                let debit = entries.iter().find(|e| e.id == debit_id).expect("refunded debit");
                assert!(total <= -units(&debit.amount), "over-refunded {debit_id}");
            }
        }
        assert_eq!(ledger_entries, moved_keys, "every success is one entry, and nothing else is");
    }
}
