//! A customer's price limit (`max_price`) on a purchase and on a renewal:
//! a price above it is refused with nothing charged, one at it is paid, and
//! a limit of nothing (zero, negative) or in another currency is the
//! client's mistake. Through real gRPC, on SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use common::*;
use numhub_proto::catalog::v1::RentalDuration as D;
use numhub_proto::common::v1::Money;
use numhub_proto::rentals::v1 as pb;
use numhub_proto::rentals::v1::{RentalFilter as F, RentalStatus as S};
use numhub_rentals::saga::Step;
use numhub_testkit::backend_tests;
use tonic::Code;

fn money(currency_code: &str, minor_units: i64) -> Option<Money> {
    Some(Money {
        currency_code: currency_code.into(),
        minor_units,
    })
}

fn rent_within(request_id: &str, max_price: Option<Money>) -> pb::CreateRentalRequest {
    pb::CreateRentalRequest {
        max_price,
        ..rent_request(request_id, D::OneMonth)
    }
}

/// Asserts INVALID_ARGUMENT naming `max_price` alone.
fn assert_bad_max_price(status: &tonic::Status) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(bad_fields(status), ["max_price"], "{status:?}");
}

backend_tests! {
    async fn a_purchase_above_its_limit_fails_and_charges_nothing(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 1).await;
        let account = r.account();
        r.h.fund(&account, 10_000).await;

        let dear = r.client.create_rental(rent_within("dear", usd(MONTH_PRICE - 1))).await.unwrap_err();
        assert_refused(&dear, Code::FailedPrecondition, "PRICE_ABOVE_MAX");
        // The retry gets the same answer; the same id with another limit is
        // another request.
        let again = r.client.create_rental(rent_within("dear", usd(MONTH_PRICE - 1))).await.unwrap_err();
        assert_refused(&again, Code::FailedPrecondition, "PRICE_ABOVE_MAX");
        let other = r.client.create_rental(rent_within("dear", usd(MONTH_PRICE))).await.unwrap_err();
        assert_refused(&other, Code::FailedPrecondition, "IDEMPOTENCY_KEY_REUSED");
        let listed = r.list(F::All).await;
        assert_eq!(listed.len(), 1);
        let failed = r.get(&listed[0]).await;
        assert_eq!(status(&failed), S::Failed);
        assert_eq!(failed.failure_reason, "PRICE_ABOVE_MAX");
        assert_eq!(failed.phone_number, "");
        assert_eq!(r.h.balance(&account).await, 10_000);
        assert!(r.debits_of(&account, &failed.id).await.is_empty());

        // At exactly the price: rented, on the one number, which the
        // refusal left free.
        let bought = r.client.create_rental(rent_within("exact", usd(MONTH_PRICE))).await.unwrap().into_inner();
        let rental = bought.rental.unwrap();
        assert_eq!(status(&rental), S::Active);
        assert_eq!(units(&bought.charged), MONTH_PRICE);
        assert_eq!(r.h.balance(&account).await, 10_000 - MONTH_PRICE);
        assert_eq!(r.debits_of(&account, &rental.id).await, [MONTH_PRICE]);
    }

    async fn a_limit_of_nothing_or_in_another_currency_is_invalid(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 2).await;
        let account = r.account();
        r.h.fund(&account, 10_000).await;

        // Zero is not "no limit", and negative is no limit at all: nothing
        // is done, not even a FAILED rental.
        for (n, limit) in [money("", 0), usd(0), usd(-1), money("usd", MONTH_PRICE)].into_iter().enumerate() {
            let request = format!("nothing-{n}");
            let invalid = r.client.create_rental(rent_within(&request, limit.clone())).await.unwrap_err();
            assert_bad_max_price(&invalid);
        }
        assert!(r.list(F::All).await.is_empty());
        assert_eq!(r.h.balance(&account).await, 10_000);

        // Only the catalog knows its currency: its refusal reaches the
        // client as the client's mistake, never INTERNAL, on retry too.
        for _ in 0..2 {
            let euros = r.client.create_rental(rent_within("euros", money("EUR", 10_000))).await.unwrap_err();
            assert_bad_max_price(&euros);
        }
        assert_eq!(r.h.balance(&account).await, 10_000);

        // The same for a renewal, with nothing charged.
        let rental = r.rent("rent", D::OneMonth).await.unwrap().rental.unwrap();
        for limit in [money("", 0), usd(-MONTH_PRICE), money("EUR", 10_000)] {
            let invalid = r.renew_within(&rental.id, None, limit, "renew").await.unwrap_err();
            assert_bad_max_price(&invalid);
        }
        let kept = r.get(&rental.id).await;
        assert_eq!((kept.expire_time, kept.renewals), (rental.expire_time, 0));
        assert_eq!(r.debits_of(&account, &rental.id).await, [MONTH_PRICE]);
        // Both numbers were free until now: the invalid purchase held none.
        r.rent("second", D::OneDay).await.unwrap();
        assert_eq!(r.h.balance(&account).await, 10_000 - MONTH_PRICE - DAY_PRICE);
    }

    async fn a_renewal_above_its_limit_is_refused_before_any_charge(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 1).await;
        let account = r.account();
        r.h.fund(&account, 10_000).await;
        let rental = r.rent("rent", D::OneMonth).await.unwrap().rental.unwrap();

        // The month costs more today than the customer will pay.
        let today = MONTH_PRICE + 100;
        set_plan(&mut r.h, "", D::OneMonth, today).await;
        let dear = r.renew_within(&rental.id, None, usd(today - 1), "dear").await.unwrap_err();
        assert_refused(&dear, Code::FailedPrecondition, "PRICE_ABOVE_MAX");
        let kept = r.get(&rental.id).await;
        assert_eq!((kept.expire_time, kept.renewals), (rental.expire_time, 0));
        assert_eq!(r.lease(&rental.id).await.1, seconds(&rental.expire_time));
        assert_eq!(r.debits_of(&account, &rental.id).await, [MONTH_PRICE]);
        // The refusal is the request's answer for good, even once the price
        // is back within the limit; the same id with another limit, or
        // none, is another request.
        set_plan(&mut r.h, "", D::OneMonth, MONTH_PRICE).await;
        let replay = r.renew_within(&rental.id, None, usd(today - 1), "dear").await.unwrap_err();
        assert_refused(&replay, Code::FailedPrecondition, "PRICE_ABOVE_MAX");
        for other in [usd(today), None] {
            let reused = r.renew_within(&rental.id, None, other, "dear").await.unwrap_err();
            assert_refused(&reused, Code::FailedPrecondition, "IDEMPOTENCY_KEY_REUSED");
        }
        assert_eq!(r.debits_of(&account, &rental.id).await, [MONTH_PRICE]);

        // At exactly today's price: renewed, and charged that price.
        set_plan(&mut r.h, "", D::OneMonth, today).await;
        let renewed = r.renew_within(&rental.id, None, money("", today), "exact").await.unwrap();
        assert_eq!(units(&renewed.charged), today);
        let after = renewed.rental.unwrap();
        assert_eq!(after.renewals, 1);
        assert!(seconds(&after.expire_time) > seconds(&rental.expire_time));
        let retry = r.renew_within(&rental.id, None, money("", today), "exact").await.unwrap();
        assert_eq!(retry.rental.unwrap().expire_time, after.expire_time);
        let reused = r.renew_within(&rental.id, None, usd(today), "exact").await.unwrap_err();
        assert_refused(&reused, Code::FailedPrecondition, "IDEMPOTENCY_KEY_REUSED");
        assert_eq!(r.debits_of(&account, &rental.id).await, [MONTH_PRICE, today]);
    }

    async fn a_crashed_purchase_keeps_its_limit_for_the_recovery(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 1).await;
        let account = r.account();
        r.h.fund(&account, 10_000).await;

        // Stored, then the process dies: the recovery worker leases with
        // the limit the request set, not without one.
        r.rentals.crash_at(Some(Step::AfterInsert));
        let crashed = r.client.create_rental(rent_within("dear", usd(MONTH_PRICE - 1))).await.unwrap_err();
        assert_eq!(crashed.code(), Code::Unavailable, "{crashed:?}");
        r.rentals.crash_at(None);
        r.advance(Duration::from_secs(31));
        assert_eq!(r.settle().await.recovered, 1);
        let retry = r.client.create_rental(rent_within("dear", usd(MONTH_PRICE - 1))).await.unwrap_err();
        assert_refused(&retry, Code::FailedPrecondition, "PRICE_ABOVE_MAX");
        assert_eq!(r.h.balance(&account).await, 10_000);

        // Within the limit, the recovery rents as the request would have.
        r.rentals.crash_at(Some(Step::AfterInsert));
        r.client.create_rental(rent_within("exact", usd(MONTH_PRICE))).await.unwrap_err();
        r.rentals.crash_at(None);
        r.advance(Duration::from_secs(31));
        assert_eq!(r.settle().await.recovered, 1);
        let bought = r.client.create_rental(rent_within("exact", usd(MONTH_PRICE))).await.unwrap().into_inner();
        assert_eq!(status(bought.rental.as_ref().unwrap()), S::Active);
        assert_eq!(r.h.balance(&account).await, 10_000 - MONTH_PRICE);
    }
}
