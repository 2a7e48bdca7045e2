//! The buy saga interrupted between each pair of steps, as if the process
//! had died there, and brought to a consistent end by a retry or by the
//! recovery worker; on SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use common::*;
use numhub_orders::saga::Step;
use numhub_proto::orders::v1 as pb;
use numhub_proto::orders::v1::ActivationStatus as S;
use numhub_testkit::backend_tests;
use tonic::Code;

/// The activation a purchase left behind, read through the list.
async fn only_activation(h: &mut Harness) -> pb::Activation {
    let list = h
        .client
        .list_activations(pb::ListActivationsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.activations.len(), 1, "{list:?}");
    list.activations.into_iter().next().unwrap()
}

/// Buys with a crash at `step`, then checks what was left half-done.
async fn crash_during_purchase(h: &mut Harness, step: Step) -> pb::Activation {
    h.orders.crash_at(Some(step));
    let crashed = h.buy("wa", "buy-1").await;
    h.orders.crash_at(None);
    let status_ = crashed.expect_err("the purchase was interrupted");
    assert_eq!(status_.code(), Code::Unavailable, "{status_:?}");
    let a = only_activation(h).await;
    assert_eq!(status(&a), S::Creating);
    assert!(a.phone_number.is_empty(), "no number shown while CREATING");
    a
}

backend_tests! {
    async fn the_recovery_worker_finishes_a_purchase_stopped_at_any_step(backend: Backend) {
        for step in [Step::AfterInsert, Step::AfterLease, Step::AfterDebit] {
            let mut h = start(backend).await;
            h.import(0, 2).await;
            let account = h.account();
            h.fund(&account, 100).await;
            let a = crash_during_purchase(&mut h, step).await;
            let charged = if step == Step::AfterDebit { WA_PRICE } else { 0 };
            assert_eq!(h.charged(&account).await, (charged, 0), "{step:?}");

            // The worker leaves it alone while its request may still run...
            h.settle_everything().await;
            assert_eq!(status(&h.get(&a.id).await), S::Creating, "{step:?}");
            // ...and drives it forward after that.
            h.advance(Duration::from_secs(31));
            h.settle_everything().await;
            let a = h.get(&a.id).await;
            assert_eq!(status(&a), S::Waiting, "{step:?}");
            assert!(h.lease_of(&a.id).await.unwrap().held, "{step:?}");
            assert_eq!(h.charged(&account).await, (WA_PRICE, 0), "charged once: {step:?}");
            // The client's retry gets the same activation and pays nothing more.
            assert_eq!(h.buy("wa", "buy-1").await.unwrap().id, a.id);
            assert_eq!(h.charged(&account).await, (WA_PRICE, 0), "{step:?}");
        }
    }

    async fn a_retry_finishes_a_purchase_stopped_at_any_step(backend: Backend) {
        for step in [Step::AfterInsert, Step::AfterLease, Step::AfterDebit] {
            let mut h = start(backend).await;
            h.import(0, 2).await;
            let account = h.account();
            h.fund(&account, 100).await;
            let a = crash_during_purchase(&mut h, step).await;
            let retried = h.buy("wa", "buy-1").await.unwrap();
            assert_eq!(retried.id, a.id);
            assert_eq!(status(&retried), S::Waiting);
            assert_eq!(h.charged(&account).await, (WA_PRICE, 0), "{step:?}");
            // Only one number was leased for it.
            assert_eq!(h.lease_of(&a.id).await.unwrap().phone_number, retried.phone_number);
        }
    }

    async fn a_purchase_stopped_before_its_lease_fails_once_too_late(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 1).await;
        let account = h.account();
        h.fund(&account, 100).await;
        let a = crash_during_purchase(&mut h, Step::AfterInsert).await;
        // Down for longer than the activation would have lived.
        h.advance(LIFETIME + Duration::from_secs(1));
        h.settle_everything().await;
        let a = h.get(&a.id).await;
        assert_eq!(status(&a), S::Failed);
        assert_eq!(a.failure_reason, "PURCHASE_TIMED_OUT");
        assert!(h.lease_of(&a.id).await.is_none(), "nothing was leased");
        assert_eq!(h.charged(&account).await, (0, 0));
        assert_status(h.buy("wa", "buy-1").await, Code::FailedPrecondition, "PURCHASE_TIMED_OUT");
    }

    async fn a_purchase_stopped_after_its_lease_is_charged_then_refunded_at_expiry(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 1).await;
        let account = h.account();
        h.fund(&account, 100).await;
        let a = crash_during_purchase(&mut h, Step::AfterLease).await;
        h.advance(LIFETIME + Duration::from_secs(1));
        h.settle_everything().await;
        let a = h.get(&a.id).await;
        // It held a number, so it was bought; it never got an SMS, so the
        // expiry gave the money back.
        assert_eq!(status(&a), S::Expired);
        assert_eq!(units(&a.refunded), WA_PRICE);
        assert_eq!(h.charged(&account).await, (WA_PRICE, WA_PRICE));
        assert_eq!(h.balance(&account).await, 100);
    }

    async fn a_short_balance_found_by_recovery_releases_the_number(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 1).await;
        let account = h.account();
        h.fund(&account, 10).await;
        let a = crash_during_purchase(&mut h, Step::AfterLease).await;
        h.advance(Duration::from_secs(31));
        h.settle_everything().await;
        let a = h.get(&a.id).await;
        assert_eq!(status(&a), S::Failed);
        assert_eq!(a.failure_reason, "INSUFFICIENT_BALANCE");
        assert!(!h.lease_of(&a.id).await.unwrap().held, "the number went back");
        assert_eq!(h.charged(&account).await, (0, 0));
    }

    async fn two_workers_racing_on_the_same_rows_charge_and_refund_once(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 20).await;
        let account = h.account();
        h.fund(&account, 10_000).await;
        h.orders.crash_at(Some(Step::AfterLease));
        for i in 0..10 {
            assert!(h.buy("wa", &format!("b-{i}")).await.is_err());
        }
        h.orders.crash_at(None);
        h.advance(Duration::from_secs(31));
        // Two "replicas" recover at once; then both expire everything.
        let (a, b) = tokio::join!(h.orders.run_workers_once(), h.orders.run_workers_once());
        a.unwrap();
        b.unwrap();
        h.settle_everything().await;
        assert_eq!(h.charged(&account).await, (10 * WA_PRICE, 0));
        h.advance(LIFETIME);
        let (a, b) = tokio::join!(h.orders.run_workers_once(), h.orders.run_workers_once());
        a.unwrap();
        b.unwrap();
        h.settle_everything().await;
        assert_eq!(h.charged(&account).await, (10 * WA_PRICE, 10 * WA_PRICE));
        assert_eq!(h.balance(&account).await, 10_000);
    }
}
