//! Auto-renew and the recovery of half-done purchases and renewals: each
//! period charged exactly once, however many workers race and wherever a
//! process dies; on SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use common::*;
use numhub_proto::catalog::v1::RentalDuration as D;
use numhub_proto::rentals::v1::RentalStatus as S;
use numhub_rentals::saga::Step;
use numhub_testkit::backend_tests;
use tonic::Code;

backend_tests! {
    async fn auto_renew_charges_each_period_once(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 1).await;
        let account = r.account();
        r.h.fund(&account, 10_000).await;
        let rental = r.rent("rent", D::SevenDays).await.unwrap().rental.unwrap();
        let mut expiry = instant(&rental.expire_time);

        for period in 2..=4 {
            // Not yet: a day ahead at the most.
            r.h.clock.set(expiry.minus(DAY).minus(Duration::from_secs(1)));
            assert_eq!(r.settle().await.renewed, 0);
            r.h.clock.set(expiry.minus(DAY));
            let pass = r.settle().await;
            assert_eq!(pass.renewed, 1, "period {period}: {pass:?}");
            // Again and again: nothing more for this period.
            r.advance(HOUR);
            assert_eq!(r.settle().await.renewed, 0);
            let now = r.get(&rental.id).await;
            assert_eq!(status(&now), S::Active);
            assert_eq!(now.renewals, period - 1);
            assert_eq!(instant(&now.expire_time), expiry.plus(7 * DAY));
            expiry = instant(&now.expire_time);
            assert_eq!(r.lease(&rental.id).await, (false, seconds(&now.expire_time)));
        }
        assert_eq!(
            r.debits_of(&account, &rental.id).await,
            [WEEK_PRICE, WEEK_PRICE, WEEK_PRICE, WEEK_PRICE]
        );
        // The keys name the rental and the period.
        let keys: Vec<String> = sqlx::query_scalar("SELECT key FROM renewals ORDER BY id")
            .fetch_all(r.rentals_db.db.reader())
            .await
            .unwrap();
        assert_eq!(keys, ["auto:2:1", "auto:3:1", "auto:4:1"]);
    }

    async fn racing_workers_charge_a_period_once(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 4).await;
        let account = r.account();
        r.h.fund(&account, 100_000).await;
        let mut ids = Vec::new();
        for n in 0..4 {
            let rental = r.rent(&format!("rent-{n}"), D::OneDay).await.unwrap().rental.unwrap();
            ids.push(rental.id);
        }
        // Two replicas on one database, and each runs two passes at once.
        let replica = rentals_on(&r.h, &r.rentals_db, settings()).await;
        // Due half a day before each expiry (half a one-day package).
        r.advance(DAY / 2);
        for _ in 0..3 {
            let mut passes = Vec::new();
            for rentals in [&r.rentals, &replica, &r.rentals, &replica] {
                let rentals = rentals.clone();
                passes.push(tokio::spawn(async move { rentals.run_workers_once().await }));
            }
            let mut renewed = 0;
            for pass in passes {
                renewed += pass.await.unwrap().expect("a pass").renewed;
            }
            assert_eq!(renewed, ids.len(), "each rental once per period");
            r.advance(DAY);
        }
        for id in &ids {
            assert_eq!(r.debits_of(&account, id).await, [DAY_PRICE; 4], "{id}");
            assert_eq!(r.get(id).await.renewals, 3);
        }
    }

    async fn a_short_balance_is_recorded_retried_and_ends_in_expiry(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 2).await;
        let account = r.account();
        r.h.fund(&account, 2 * WEEK_PRICE + 10).await;
        let rescued = r.rent("rescued", D::SevenDays).await.unwrap().rental.unwrap();
        let lost = r.rent("lost", D::SevenDays).await.unwrap().rental.unwrap();
        let expiry = instant(&lost.expire_time);

        r.h.clock.set(expiry.minus(DAY));
        let pass = r.settle().await;
        assert_eq!((pass.renewed, pass.renewals_refused), (0, 2), "{pass:?}");
        let failed = r.get(&lost.id).await;
        assert_eq!(failed.auto_renew_failure, "INSUFFICIENT_BALANCE");
        assert_eq!(instant(&failed.auto_renew_failure_time), r.now());
        assert_eq!(failed.expire_time, lost.expire_time);
        // Not again before the retry pause.
        r.advance(Duration::from_secs(29 * 60));
        assert_eq!(r.settle().await.renewals_refused, 0);
        r.advance(Duration::from_secs(60));
        assert_eq!(r.settle().await.renewals_refused, 2);

        // Money arrives for one: the next attempt renews it, once.
        r.h.fund(&account, WEEK_PRICE).await;
        r.advance(Duration::from_secs(30 * 60));
        let pass = r.settle().await;
        assert_eq!((pass.renewed, pass.renewals_refused), (1, 1), "{pass:?}");
        let renewed = [r.get(&rescued.id).await, r.get(&lost.id).await];
        let (ok, short): (Vec<_>, Vec<_>) = renewed.into_iter().partition(|x| x.renewals == 1);
        assert_eq!((ok.len(), short.len()), (1, 1));
        assert!(ok[0].auto_renew_failure.is_empty(), "a success clears the failure");
        assert_eq!(ok[0].auto_renew_failure_time, None);
        let short = short[0].id.clone();

        // The other keeps failing until its expiry, then expires, and its
        // number goes to quarantine.
        r.h.clock.set(expiry);
        let pass = r.settle().await;
        assert_eq!(pass.expired, 1, "{pass:?}");
        assert_eq!(status(&r.get(&short).await), S::Expired);
        assert_eq!(r.debits_of(&account, &short).await, [WEEK_PRICE]);
        let keys: Vec<String> = sqlx::query_scalar(
            "SELECT key FROM renewals WHERE rental_id = $1 ORDER BY id",
        )
        .bind(&short)
        .fetch_all(r.rentals_db.db.reader())
        .await
        .unwrap();
        assert_eq!(keys[..3], ["auto:2:1", "auto:2:2", "auto:2:3"]);
        assert!(r.h.balance(&account).await >= 0);
    }

    async fn auto_renew_off_lets_a_rental_expire_and_on_again_retries_at_once(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 1).await;
        let account = r.account();
        r.h.fund(&account, WEEK_PRICE).await;
        let rental = r.rent("rent", D::SevenDays).await.unwrap().rental.unwrap();
        let expiry = instant(&rental.expire_time);
        r.h.clock.set(expiry.minus(DAY));
        assert_eq!(r.settle().await.renewals_refused, 1);
        r.h.fund(&account, WEEK_PRICE).await;
        // Turning it back on clears the failure: no wait for the pause.
        let mut client = r.client.clone();
        let set = |on: bool| numhub_proto::rentals::v1::SetAutoRenewRequest { id: rental.id.clone(), auto_renew: on };
        client.set_auto_renew(set(false)).await.unwrap();
        r.advance(HOUR);
        assert_eq!(r.settle().await.renewed, 0, "off");
        let on = client.set_auto_renew(set(true)).await.unwrap().into_inner();
        assert!(on.auto_renew && on.auto_renew_failure.is_empty());
        assert_eq!(r.settle().await.renewed, 1);
        assert_eq!(r.debits_of(&account, &rental.id).await, [WEEK_PRICE, WEEK_PRICE]);
    }

    async fn a_failed_attempt_waits_its_pause_not_the_workers_claim(backend: Backend) {
        let quick = numhub_rentals::RentalsSettings {
            renew_retry: Duration::from_secs(5),
            ..settings()
        };
        let mut r = start_with(backend, quick).await;
        r.h.import(0, 1).await;
        let account = r.account();
        r.h.fund(&account, WEEK_PRICE).await;
        let rental = r.rent("rent", D::SevenDays).await.unwrap().rental.unwrap();
        r.h.clock.set(instant(&rental.expire_time).minus(DAY));
        assert_eq!(r.settle().await.renewals_refused, 1);
        // Five seconds on (the claim of the attempt would hold for 30).
        r.advance(Duration::from_secs(5));
        assert_eq!(r.settle().await.renewals_refused, 1, "tried again after the pause");
        // Money, and auto-renew set on again: at once.
        r.h.fund(&account, WEEK_PRICE).await;
        let mut client = r.client.clone();
        client
            .set_auto_renew(numhub_proto::rentals::v1::SetAutoRenewRequest {
                id: rental.id.clone(),
                auto_renew: true,
            })
            .await
            .unwrap();
        assert_eq!(r.settle().await.renewed, 1);
        assert_eq!(r.debits_of(&account, &rental.id).await, [WEEK_PRICE, WEEK_PRICE]);
    }

    async fn a_purchase_crashed_at_any_step_is_finished_once(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 3).await;
        let account = r.account();
        r.h.fund(&account, 10_000).await;
        for (n, step) in [Step::AfterInsert, Step::AfterLease, Step::AfterDebit].into_iter().enumerate() {
            let request = format!("crash-{n}");
            r.rentals.crash_at(Some(step));
            let crashed = r.rent(&request, D::OneMonth).await.unwrap_err();
            assert_eq!(crashed.code(), Code::Unavailable, "{step:?}");
            r.rentals.crash_at(None);
            // Even number: the recovery worker finishes it; odd: the retry.
            let rental = if n % 2 == 0 {
                r.advance(Duration::from_secs(31));
                assert_eq!(r.settle().await.recovered, 1, "{step:?}");
                r.rent(&request, D::OneMonth).await.unwrap().rental.unwrap()
            } else {
                r.rent(&request, D::OneMonth).await.unwrap().rental.unwrap()
            };
            assert_eq!(status(&rental), S::Active, "{step:?}");
            assert_eq!(r.debits_of(&account, &rental.id).await, [MONTH_PRICE], "{step:?}");
            assert!(!r.lease(&rental.id).await.0, "held");
        }
        assert_eq!(r.h.balance(&account).await, 10_000 - 3 * MONTH_PRICE);
    }

    async fn a_renewal_crashed_half_way_is_finished_once(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 1).await;
        let account = r.account();
        r.h.fund(&account, 10_000).await;
        let rental = r.rent("rent", D::OneMonth).await.unwrap().rental.unwrap();
        let mut expiry = instant(&rental.expire_time);
        for (n, step) in [Step::RenewalAfterCharge, Step::RenewalAfterExtend].into_iter().enumerate() {
            r.rentals.crash_at(Some(step));
            let request = format!("renew-{n}");
            let crashed = r.renew(&rental.id, Some(D::SevenDays), &request).await.unwrap_err();
            assert_eq!(crashed.code(), Code::Unavailable, "{step:?}");
            r.rentals.crash_at(None);
            // Meanwhile, another renewal waits its turn.
            let busy = r.renew(&rental.id, Some(D::OneDay), "other").await.unwrap_err();
            assert_eq!(busy.code(), Code::Aborted, "{step:?}");
            let cancel = r.cancel(&rental.id).await.unwrap_err();
            assert_eq!(cancel.code(), Code::Aborted, "{step:?}");
            r.advance(Duration::from_secs(31));
            assert_eq!(r.settle().await.recovered, 1, "{step:?}");
            let now = r.get(&rental.id).await;
            assert_eq!(instant(&now.expire_time), expiry.plus(7 * DAY), "{step:?}");
            expiry = instant(&now.expire_time);
            // The client's retry gets the applied renewal.
            let retry = r.renew(&rental.id, Some(D::SevenDays), &request).await.unwrap();
            assert_eq!(instant(&retry.rental.unwrap().expire_time), expiry);
        }
        assert_eq!(
            r.debits_of(&account, &rental.id).await,
            [MONTH_PRICE, WEEK_PRICE, WEEK_PRICE]
        );
    }

    async fn a_renewal_charged_too_late_is_refunded(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 1).await;
        let account = r.account();
        r.h.fund(&account, 10_000).await;
        let rental = r.rent("rent", D::OneDay).await.unwrap().rental.unwrap();
        r.rentals.crash_at(Some(Step::RenewalAfterCharge));
        r.renew(&rental.id, None, "renew").await.unwrap_err();
        r.rentals.crash_at(None);
        // The process stays down past the expiry: the lease cannot be
        // extended any more, so the charge goes back and the rental ends.
        r.h.clock.set(instant(&rental.expire_time).plus(Duration::from_secs(1)));
        let pass = r.settle().await;
        assert_eq!((pass.recovered, pass.expired), (1, 1), "{pass:?}");
        assert_eq!(status(&r.get(&rental.id).await), S::Expired);
        let retry = r.renew(&rental.id, None, "renew").await.unwrap_err();
        assert_refused(&retry, Code::FailedPrecondition, "NUMBER_EXPIRED");
        let (debits, refunds) = r.h.charged(&account).await;
        assert_eq!((debits, refunds), (2 * DAY_PRICE, DAY_PRICE));
        assert_eq!(r.h.balance(&account).await, 10_000 - DAY_PRICE);
    }

    async fn two_replicas_recover_one_purchase_once(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 1).await;
        let account = r.account();
        r.h.fund(&account, 10_000).await;
        r.rentals.crash_at(Some(Step::AfterLease));
        r.rent("rent", D::OneMonth).await.unwrap_err();
        r.rentals.crash_at(None);
        r.advance(Duration::from_secs(31));
        let replica = rentals_on(&r.h, &r.rentals_db, settings()).await;
        let (a, b) = tokio::join!(r.rentals.run_workers_once(), replica.run_workers_once());
        assert_eq!(a.unwrap().recovered + b.unwrap().recovered, 1);
        let rental = r.rent("rent", D::OneMonth).await.unwrap().rental.unwrap();
        assert_eq!(r.debits_of(&account, &rental.id).await, [MONTH_PRICE]);
    }
}
