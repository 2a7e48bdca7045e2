//! A wallet that accepts calls and never answers them: purchases fail
//! within their deadline with a clear error and complete once it is back,
//! charged once; a worker pass goes on past it; a client's deadline
//! reaches the wallet. On SQLite and PostgreSQL.

mod common;

use std::time::{Duration, Instant};

use common::*;
use numhub_orders::saga::Step;
use numhub_orders::workers::Pass;
use numhub_proto::orders::v1 as pb;
use numhub_proto::orders::v1::ActivationStatus as S;
use numhub_runtime::config::CallConfig;
use numhub_testkit::backend_tests;
use numhub_testkit::hang::{Gate, Silence};
use tonic::Code;

/// Orders' per-call timeout in these tests.
const CALL_TIMEOUT: Duration = Duration::from_millis(500);
/// What a call may take beyond its deadline (scheduling, the other calls
/// of the same request).
const SLACK: Duration = Duration::from_millis(1500);
/// Past this, a call hung.
const HUNG: Duration = Duration::from_secs(20);

fn calls() -> CallConfig {
    CallConfig {
        connect_timeout: Duration::from_secs(5),
        call_timeout: CALL_TIMEOUT,
    }
}

/// Buys, failing the test if the answer does not come within `HUNG`.
async fn buy_timed(
    h: &mut Harness,
    request_id: &str,
) -> (Result<pb::Activation, tonic::Status>, Duration) {
    let started = Instant::now();
    let answer = tokio::time::timeout(HUNG, h.buy("wa", request_id))
        .await
        .expect("CreateActivation hung");
    (answer, started.elapsed())
}

/// The wallet's failure, as the client sees it: retry later, same request.
fn assert_wallet_unavailable(answer: Result<pb::Activation, tonic::Status>) {
    let status = answer.expect_err("the wallet never answered");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(reason(&status), "TEMPORARILY_UNAVAILABLE");
    assert!(status.message().contains("wallet"), "{status:?}");
}

backend_tests! {
    async fn a_purchase_fails_within_its_deadline_while_the_wallet_hangs_then_completes_once(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 2).await;
        let account = h.account();
        h.fund(&account, 100).await;
        // A relay in front of the wallet that accepts and never answers.
        let gate = Gate::start(h.wallet_server.addr()).await;
        h.rewire(&gate.url(), &calls()).await;
        gate.hang();
        let (answer, took) = buy_timed(&mut h, "buy-1").await;
        assert_wallet_unavailable(answer);
        assert!(took < CALL_TIMEOUT + SLACK, "took {took:?}");
        assert_eq!(h.charged(&account).await, (0, 0));

        gate.heal();
        let (answer, _) = buy_timed(&mut h, "buy-1").await;
        let a = answer.expect("the wallet is back");
        assert_eq!(status(&a), S::Waiting);
        assert_eq!(h.charged(&account).await, (WA_PRICE, 0));
        assert_eq!(h.balance(&account).await, 100 - WA_PRICE);
    }

    async fn a_debit_whose_answer_never_comes_is_not_charged_twice(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 2).await;
        let account = h.account();
        h.fund(&account, 100).await;
        let wallet = h.wallet_url();
        h.rewire(&wallet, &calls()).await;
        // The wallet debits, but its answer is lost after the handshake.
        h.wallet_mute.set(Some(Silence::LoseAnswer));
        let (answer, took) = buy_timed(&mut h, "buy-1").await;
        assert_wallet_unavailable(answer);
        assert!(took < CALL_TIMEOUT + SLACK, "took {took:?}");
        assert_eq!(h.charged(&account).await, (WA_PRICE, 0), "the debit went through");

        h.wallet_mute.set(None);
        let (answer, _) = buy_timed(&mut h, "buy-1").await;
        assert_eq!(status(&answer.expect("the wallet answers")), S::Waiting);
        assert_eq!(h.charged(&account).await, (WA_PRICE, 0), "charged once");
        assert_eq!(h.balance(&account).await, 100 - WA_PRICE);
    }

    async fn a_worker_pass_goes_on_past_a_hung_wallet(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 3).await;
        let account = h.account();
        h.fund(&account, 200).await;
        let gate = Gate::start(h.wallet_server.addr()).await;
        h.rewire(&gate.url(), &calls()).await;
        // Two purchases stopped before their debit, left to the recovery.
        h.orders.crash_at(Some(Step::AfterLease));
        assert!(h.buy("wa", "buy-1").await.is_err());
        assert!(h.buy("wa", "buy-2").await.is_err());
        h.orders.crash_at(None);

        gate.hang();
        h.advance(Duration::from_secs(31));
        let started = Instant::now();
        let pass = tokio::time::timeout(HUNG, h.orders.run_workers_once())
            .await
            .expect("the worker pass hung")
            .expect("the pass itself runs");
        let took = started.elapsed();
        // Each row waited its deadline, then the pass went on to the next.
        assert_eq!(pass, Pass { failed: 2, ..Pass::default() });
        assert!(took >= 2 * CALL_TIMEOUT, "took {took:?}");
        assert!(took < 2 * CALL_TIMEOUT + SLACK, "took {took:?}");
        assert_eq!(h.charged(&account).await, (0, 0));

        gate.heal();
        h.advance(Duration::from_secs(31));
        h.settle_everything().await;
        let list = h
            .client
            .list_activations(pb::ListActivationsRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(list.activations.len(), 2);
        assert!(list.activations.iter().all(|a| status(a) == S::Waiting), "{list:?}");
        assert_eq!(h.charged(&account).await, (2 * WA_PRICE, 0));
    }

    async fn a_clients_deadline_is_passed_on_to_the_wallet(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 2).await;
        let account = h.account();
        h.fund(&account, 100).await;
        // Orders' own timeout (the default, 10 s) is far: the client's
        // 800 ms is what the wallet must be told.
        let client_deadline = Duration::from_millis(800);
        h.wallet_mute.set(Some(Silence::Hang));
        let mut request = tonic::Request::new(Harness::buy_request("wa", "buy-1"));
        request.set_timeout(client_deadline);
        let started = Instant::now();
        let answer = tokio::time::timeout(HUNG, h.client.create_activation(request))
            .await
            .expect("CreateActivation hung");
        assert!(answer.is_err(), "the wallet never answered");
        assert!(started.elapsed() < client_deadline + SLACK);
        let told = h
            .wallet_mute
            .timeouts()
            .last()
            .copied()
            .flatten()
            .expect("the debit carries a deadline");
        assert!(told <= client_deadline, "the wallet was given {told:?}");

        h.wallet_mute.set(None);
        let (answer, _) = buy_timed(&mut h, "buy-1").await;
        assert_eq!(status(&answer.expect("the wallet answers")), S::Waiting);
        assert_eq!(h.charged(&account).await, (WA_PRICE, 0));
    }
}
