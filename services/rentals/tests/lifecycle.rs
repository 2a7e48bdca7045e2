//! A rental's whole life and each way it can go wrong, through real gRPC
//! against a real wallet, catalog and inbound, on SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use common::*;
use numhub_proto::catalog::v1::RentalDuration as D;
use numhub_proto::rentals::v1 as pb;
use numhub_proto::rentals::v1::{RentalFilter as F, RentalStatus as S};
use numhub_runtime::sms;
use numhub_testkit::backend_tests;
use tonic::Code;

backend_tests! {
    async fn a_rental_lives_receives_and_expires_into_quarantine(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 1).await;
        let account = r.account();
        r.h.fund(&account, 1_000).await;

        let bought = r.rent("rent-1", D::OneMonth).await.unwrap();
        let rental = bought.rental.clone().unwrap();
        assert_eq!(status(&rental), S::Active);
        assert_eq!(units(&bought.charged), MONTH_PRICE);
        assert_eq!(units(&bought.balance_after), 1_000 - MONTH_PRICE);
        assert_eq!(r.h.balance(&account).await, 1_000 - MONTH_PRICE);
        assert!(rental.auto_renew, "auto-renew is on unless asked otherwise");
        assert_eq!(rental.duration, D::OneMonth as i32);
        assert_eq!(rental.renewal_duration, D::OneMonth as i32);
        let number = rental.phone_number.clone();
        assert!(number.starts_with("+1555"), "{rental:?}");
        // A calendar month from the purchase, and the lease ends with it.
        let month = seconds(&rental.expire_time) - seconds(&rental.create_time);
        assert!((28 * 86_400..=31 * 86_400).contains(&month), "{month}");
        assert_eq!(r.lease(&rental.id).await, (false, seconds(&rental.expire_time)));

        // Every SMS for the whole period, newest first in the inbox.
        r.advance(DAY);
        let first = r.sms(&number, "WhatsApp", "Your WhatsApp code is 123-456").await;
        r.advance(Duration::from_secs(60));
        let second = r.sms(&number, "Telegram", "Telegram code: 98765").await;
        assert_eq!(r.routed(&first).await, Ok(rental.id.clone()));
        assert_eq!(r.routed(&second).await, Ok(rental.id.clone()));
        let got = r.get(&rental.id).await;
        assert_eq!(got.sms_count, 2);
        let inbox: Vec<_> = got.messages.iter().map(|m| (m.code.as_str(), m.service_code.as_str())).collect();
        assert_eq!(inbox, [("98765", "tg"), ("123456", "wa")]);
        assert_eq!(got.messages[0].phone_number, number);

        // Without auto-renew, the expiry ends it, releases the number, and
        // quarantines it.
        let off = r
            .client
            .set_auto_renew(pb::SetAutoRenewRequest { id: rental.id.clone(), auto_renew: false })
            .await
            .unwrap()
            .into_inner();
        assert!(!off.auto_renew);
        let expiry = seconds(&rental.expire_time);
        r.h.clock.set(instant(&rental.expire_time).minus(Duration::from_micros(1)));
        assert_eq!(r.settle().await.expired, 0);
        r.advance(Duration::from_micros(1));
        // Already EXPIRED to the customer before the worker writes it.
        assert_eq!(status(&r.get(&rental.id).await), S::Expired);
        let pass = r.settle().await;
        assert_eq!(pass.expired, 1, "{pass:?}");
        let ended = r.get(&rental.id).await;
        assert_eq!(status(&ended), S::Expired);
        assert_eq!(seconds(&ended.end_time), expiry);
        // The lease ended with the rental, not a moment later.
        assert_eq!(r.lease(&rental.id).await.1, expiry);
        let quarantine = numhub_catalog::CatalogSettings::default().quarantine.as_secs() as i64;
        assert_eq!(r.free_at(&number).await, expiry + quarantine);
        // An SMS after the expiry is nobody's.
        let late = r.sms(&number, "WhatsApp", "code 111222").await;
        assert_eq!(r.routed(&late).await, Err("NO_HOLDER".into()));
        assert_eq!(r.get(&rental.id).await.sms_count, 2);
        // Nothing was charged but the purchase.
        assert_eq!(r.debits_of(&account, &rental.id).await, [MONTH_PRICE]);
    }

    async fn a_retried_purchase_is_the_same_rental_charged_once(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 3).await;
        let account = r.account();
        r.h.fund(&account, 1_000).await;
        let first = r.rent("same", D::SevenDays).await.unwrap();
        let again = r.rent("same", D::SevenDays).await.unwrap();
        assert_eq!(first.rental.as_ref().unwrap().id, again.rental.as_ref().unwrap().id);
        assert_eq!(first.balance_after, again.balance_after);
        assert_eq!(r.h.balance(&account).await, 1_000 - WEEK_PRICE);
        let other = r.rent("same", D::OneMonth).await.unwrap_err();
        assert_refused(&other, Code::FailedPrecondition, "IDEMPOTENCY_KEY_REUSED");

        // Concurrent retries of one request still make one rental.
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let mut client = r.client.clone();
            tasks.push(tokio::spawn(async move {
                client.create_rental(rent_request("burst", D::OneDay)).await.map(|r| r.into_inner())
            }));
        }
        let mut ids = std::collections::BTreeSet::new();
        for task in tasks {
            match task.await.unwrap() {
                Ok(bought) => {
                    ids.insert(bought.rental.unwrap().id);
                }
                // A retry that met the purchase half-way is told to retry.
                Err(status) => assert_eq!(status.code(), Code::Aborted, "{status:?}"),
            }
        }
        assert_eq!(ids.len(), 1, "{ids:?}");
        assert_eq!(r.h.balance(&account).await, 1_000 - WEEK_PRICE - DAY_PRICE);
    }

    async fn refusals_charge_nothing_and_hold_no_number(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 1).await;
        let account = r.account();
        r.h.fund(&account, MONTH_PRICE - 1).await;

        let short = r.rent("poor", D::OneMonth).await.unwrap_err();
        assert_refused(&short, Code::FailedPrecondition, "INSUFFICIENT_BALANCE");
        // The retry gets the same answer.
        let again = r.rent("poor", D::OneMonth).await.unwrap_err();
        assert_refused(&again, Code::FailedPrecondition, "INSUFFICIENT_BALANCE");
        assert_eq!(r.h.balance(&account).await, MONTH_PRICE - 1);
        let failed = r.list(F::All).await;
        assert_eq!(failed.len(), 1);
        assert_eq!(status(&r.get(&failed[0]).await), S::Failed);
        assert_eq!(r.get(&failed[0]).await.phone_number, "");

        // The one number was released at once, without quarantine: a
        // customer without money cannot lock the inventory.
        r.h.fund(&account, 1).await;
        let bought = r.rent("rich", D::OneMonth).await.unwrap();
        assert_eq!(status(bought.rental.as_ref().unwrap()), S::Active);
        let none_left = r.rent("more", D::OneDay).await.unwrap_err();
        assert_refused(&none_left, Code::FailedPrecondition, "NO_NUMBERS_AVAILABLE");

        let unsold = r.rent("year", D::OneYear).await.unwrap_err();
        assert_refused(&unsold, Code::FailedPrecondition, "NOT_OFFERED");
        let mut nowhere = rent_request("zz", D::OneMonth);
        nowhere.country_code = "ZZ".into();
        let unknown = r.client.create_rental(nowhere).await.unwrap_err();
        assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");

        let bad = pb::CreateRentalRequest {
            country_code: "usa".into(),
            number_type: 7,
            duration: 42,
            service_code: "Not A Code".into(),
            auto_renew: None,
            request_id: String::new(),
            max_price: Some(numhub_proto::common::v1::Money { currency_code: String::new(), minor_units: 0 }),
        };
        let invalid = r.client.create_rental(bad).await.unwrap_err();
        assert_eq!(invalid.code(), Code::InvalidArgument);
        assert_eq!(
            bad_fields(&invalid),
            ["country_code", "number_type", "duration", "service_code", "max_price", "request_id"]
        );
        assert_eq!(r.h.balance(&account).await, 0);
    }

    async fn renewal_adds_its_package_to_the_expiry_at_todays_price(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 1).await;
        let account = r.account();
        r.h.fund(&account, 10_000).await;
        let rental = r.rent("rent", D::OneMonth).await.unwrap().rental.unwrap();
        let expiry = seconds(&rental.expire_time);

        // Early: ten days in, a week more at the week's new price.
        r.advance(10 * DAY);
        set_plan(&mut r.h, "", D::SevenDays, 350).await;
        let renewed = r.renew(&rental.id, Some(D::SevenDays), "renew-1").await.unwrap();
        let after = renewed.rental.clone().unwrap();
        assert_eq!(seconds(&after.expire_time), expiry + 7 * 86_400, "nothing lost");
        assert_eq!(units(&renewed.charged), 350);
        assert_eq!(units(&renewed.balance_after), 10_000 - MONTH_PRICE - 350);
        assert_eq!(after.renewal_duration, D::SevenDays as i32, "the package auto-renew uses");
        assert_eq!(after.renewals, 1);
        assert_eq!(units(&after.total_charged), MONTH_PRICE + 350);
        assert_eq!(r.lease(&rental.id).await, (false, expiry + 7 * 86_400));

        // A retry charges nothing more; the same key with another package
        // is refused.
        let retry = r.renew(&rental.id, Some(D::SevenDays), "renew-1").await.unwrap();
        assert_eq!(seconds(&retry.rental.unwrap().expire_time), expiry + 7 * 86_400);
        let reused = r.renew(&rental.id, Some(D::OneDay), "renew-1").await.unwrap_err();
        assert_refused(&reused, Code::FailedPrecondition, "IDEMPOTENCY_KEY_REUSED");
        assert_eq!(r.debits_of(&account, &rental.id).await, [MONTH_PRICE, 350]);

        // Without a package, the renewal package: a week again.
        let again = r.renew(&rental.id, None, "renew-2").await.unwrap();
        assert_eq!(seconds(&again.rental.unwrap().expire_time), expiry + 14 * 86_400);
        // Another package meanwhile; the retry of "the renewal package" is
        // still the same request, and charges nothing more.
        r.renew(&rental.id, Some(D::OneDay), "renew-day").await.unwrap();
        r.renew(&rental.id, None, "renew-2").await.unwrap();
        let unsold = r.renew(&rental.id, Some(D::OneYear), "renew-3").await.unwrap_err();
        assert_refused(&unsold, Code::FailedPrecondition, "NOT_OFFERED");

        // Late: once expired, no renewal and no charge.
        let end = instant(&r.get(&rental.id).await.expire_time);
        r.h.clock.set(end);
        let late = r.renew(&rental.id, None, "renew-late").await.unwrap_err();
        assert_refused(&late, Code::FailedPrecondition, "NUMBER_EXPIRED");
        r.settle().await;
        let late = r.renew(&rental.id, None, "renew-later").await.unwrap_err();
        assert_refused(&late, Code::FailedPrecondition, "NUMBER_EXPIRED");
        assert_eq!(
            r.debits_of(&account, &rental.id).await,
            [MONTH_PRICE, 350, 350, DAY_PRICE]
        );
    }

    async fn a_short_balance_refuses_a_renewal_and_keeps_the_expiry(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 1).await;
        let account = r.account();
        r.h.fund(&account, MONTH_PRICE + 10).await;
        let rental = r.rent("rent", D::OneMonth).await.unwrap().rental.unwrap();
        let short = r.renew(&rental.id, None, "renew").await.unwrap_err();
        assert_refused(&short, Code::FailedPrecondition, "INSUFFICIENT_BALANCE");
        // The refusal is the request's answer for good.
        r.h.fund(&account, 1_000).await;
        let replay = r.renew(&rental.id, None, "renew").await.unwrap_err();
        assert_refused(&replay, Code::FailedPrecondition, "INSUFFICIENT_BALANCE");
        let kept = r.get(&rental.id).await;
        assert_eq!(kept.expire_time, rental.expire_time);
        assert_eq!(kept.renewals, 0);
        // A new request renews.
        r.renew(&rental.id, None, "renew-again").await.unwrap();
        assert_eq!(r.debits_of(&account, &rental.id).await, [MONTH_PRICE, MONTH_PRICE]);
    }

    async fn cancel_refunds_only_inside_the_window_without_sms(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 5).await;
        let account = r.account();
        r.h.fund(&account, 10_000).await;

        // At exactly 120 minutes, with a renewal made meanwhile: everything
        // charged comes back.
        let a = r.rent("a", D::OneMonth).await.unwrap().rental.unwrap();
        r.renew(&a.id, Some(D::OneDay), "a-renew").await.unwrap();
        r.advance(Duration::from_secs(120 * 60));
        let cancelled = r.cancel(&a.id).await.unwrap();
        let rental = cancelled.rental.clone().unwrap();
        assert_eq!(status(&rental), S::Cancelled);
        assert_eq!(units(&cancelled.refunded), MONTH_PRICE + DAY_PRICE);
        assert_eq!(units(&cancelled.balance_after), 10_000);
        assert_eq!(r.h.balance(&account).await, 10_000);
        assert!(r.lease(&a.id).await.0, "released");
        // Cancelling again changes nothing and refunds nothing more.
        let again = r.cancel(&a.id).await.unwrap();
        assert_eq!(units(&again.refunded), MONTH_PRICE + DAY_PRICE);
        assert_eq!(r.h.balance(&account).await, 10_000);
        let renew = r.renew(&a.id, None, "after-cancel").await.unwrap_err();
        assert_refused(&renew, Code::FailedPrecondition, "NUMBER_EXPIRED");
        let auto = r
            .client
            .set_auto_renew(pb::SetAutoRenewRequest { id: a.id.clone(), auto_renew: false })
            .await
            .unwrap_err();
        assert_refused(&auto, Code::FailedPrecondition, "RENTAL_ENDED");

        // One second past the window: released, nothing refunded.
        let b = r.rent("b", D::OneMonth).await.unwrap().rental.unwrap();
        r.advance(Duration::from_secs(120 * 60 + 1));
        let late = r.cancel(&b.id).await.unwrap();
        assert_eq!(units(&late.refunded), 0);
        assert_eq!(late.balance_after, None);
        assert!(r.lease(&b.id).await.0, "released anyway");

        // Inside the window but after an SMS: nothing refunded.
        let c = r.rent("c", D::OneMonth).await.unwrap().rental.unwrap();
        r.sms(&c.phone_number, "+15550001111", "hello").await;
        let used = r.cancel(&c.id).await.unwrap();
        assert_eq!(units(&used.refunded), 0);
        assert_eq!(r.h.balance(&account).await, 10_000 - 2 * MONTH_PRICE);

        // An expired rental is not cancelled.
        let d = r.rent("d", D::OneDay).await.unwrap().rental.unwrap();
        r.advance(DAY);
        let expired = r.cancel(&d.id).await.unwrap_err();
        assert_refused(&expired, Code::FailedPrecondition, "RENTAL_ENDED");

        // The ledger holds each refund once.
        let ledger = r.h.ledger(&account).await;
        let refunds: Vec<_> = ledger.iter().filter(|e| e.kind == "refund").map(|e| e.amount).collect();
        assert_eq!(refunds, [MONTH_PRICE, DAY_PRICE]);
    }

    async fn sms_after_a_cancel_never_reach_the_former_renter(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 1).await;
        let account = r.account();
        r.h.fund(&account, 1_000).await;
        let rental = r.rent("rent", D::OneMonth).await.unwrap().rental.unwrap();
        let number = rental.phone_number.clone();
        let before = r.sms(&number, "WhatsApp", "WhatsApp code 111-111").await;
        r.advance(Duration::from_secs(1));
        r.cancel(&rental.id).await.unwrap();
        r.advance(Duration::from_secs(1));
        let after = r.sms(&number, "WhatsApp", "WhatsApp code 222-222").await;
        assert_eq!(r.routed(&before).await, Ok(rental.id.clone()));
        assert_eq!(r.routed(&after).await, Err("NO_HOLDER".into()));

        // Even handed straight to rentals, it is refused.
        let direct = pb::DeliverMessageRequest {
            rental_id: rental.id.clone(),
            inbound_message_id: "late-1".into(),
            sender: "WhatsApp".into(),
            body: "WhatsApp code 333-333".into(),
            receive_time: Some(r.now().to_proto()),
        };
        let refused = r.internal.deliver_message(direct).await.unwrap_err();
        assert_refused(&refused, Code::FailedPrecondition, "RENTAL_ENDED");
        let inbox = r.get(&rental.id).await;
        assert_eq!(inbox.messages.len(), 1);
        assert_eq!(inbox.messages[0].code, "111111");
        let page = r
            .client
            .list_messages(pb::ListMessagesRequest { phone_number: number, page_size: 10, page_token: String::new() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page.messages.len(), 1);
    }

    async fn a_service_rental_receives_only_its_service(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 1).await;
        let account = r.account();
        r.h.fund(&account, 1_000).await;
        let mut request = rent_request("wa", D::OneMonth);
        request.service_code = "wa".into();
        let bought = r.client.create_rental(request).await.unwrap().into_inner();
        assert_eq!(units(&bought.charged), WA_MONTH_PRICE, "the service's own plan");
        let rental = bought.rental.unwrap();
        assert_eq!(rental.service_code, "wa");
        let wa = r.sms(&rental.phone_number, "WhatsApp", "Your WhatsApp code: 456-789").await;
        let tg = r.sms(&rental.phone_number, "Telegram", "Telegram code 12345").await;
        assert_eq!(r.routed(&wa).await, Ok(rental.id.clone()));
        assert_eq!(r.routed(&tg).await, Err("OTHER_SERVICE".into()));
        let got = r.get(&rental.id).await;
        assert_eq!(got.messages.len(), 1);
        assert_eq!(got.messages[0].code, "456789");
    }

    async fn list_filters_meet_their_boundaries(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 5).await;
        let account = r.account();
        r.h.fund(&account, 10_000).await;
        let month = r.rent("month", D::OneMonth).await.unwrap().rental.unwrap();
        let week = r.rent("week", D::SevenDays).await.unwrap().rental.unwrap();
        let day = r.rent("day", D::OneDay).await.unwrap().rental.unwrap();
        let gone = r.rent("gone", D::OneMonth).await.unwrap().rental.unwrap();
        r.cancel(&gone.id).await.unwrap();

        assert_eq!(r.list(F::All).await, [gone.id.clone(), day.id.clone(), week.id.clone(), month.id.clone()]);
        assert_eq!(r.list(F::Unspecified).await, r.list(F::All).await);
        assert_eq!(r.list(F::Active).await, [day.id.clone(), week.id.clone(), month.id.clone()]);
        assert_eq!(r.list(F::ExpiringSoon).await, [day.id.clone(), week.id.clone()]);
        assert_eq!(r.list(F::Cancelled).await, vec![gone.id.clone()]);
        assert!(r.list(F::Expired).await.is_empty());

        // The month's expiry a microsecond beyond ten days, then exactly ten.
        let expiry = instant(&month.expire_time);
        r.h.clock.set(expiry.minus(10 * DAY).minus(Duration::from_micros(1)));
        assert_eq!(r.list(F::ExpiringSoon).await, Vec::<String>::new(), "week and day expired");
        assert_eq!(r.list(F::Expired).await, [day.id.clone(), week.id.clone()], "expired by the clock");
        r.h.clock.set(expiry.minus(10 * DAY));
        assert_eq!(r.list(F::ExpiringSoon).await, vec![month.id.clone()]);
        r.settle().await;
        assert_eq!(r.list(F::Expired).await, [day.id.clone(), week.id.clone()], "and by the worker");
        r.h.clock.set(expiry);
        assert_eq!(r.list(F::Active).await, Vec::<String>::new());
        assert_eq!(r.list(F::Expired).await, [day.id.clone(), week.id.clone(), month.id.clone()]);

        // Pages, newest first.
        let first = r
            .client
            .list_rentals(pb::ListRentalsRequest { filter: 0, page_size: 3, page_token: String::new() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(first.rentals.len(), 3);
        let second = r
            .client
            .list_rentals(pb::ListRentalsRequest { filter: 0, page_size: 3, page_token: first.next_page_token })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(second.rentals.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), [month.id.as_str()]);
        assert!(second.next_page_token.is_empty());
        let bad = r
            .client
            .list_rentals(pb::ListRentalsRequest { filter: 9, page_size: 101, page_token: "x".into() })
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&bad), ["filter", "page_size", "page_token"]);
    }

    async fn another_accounts_rental_is_not_found(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 1).await;
        let account = r.account();
        r.h.fund(&account, 1_000).await;
        let rental = r.rent("mine", D::OneMonth).await.unwrap().rental.unwrap();
        r.sms(&rental.phone_number, "WhatsApp", "WhatsApp code 123-123").await;

        let (_, _) = r.h.other_customer("other").await;
        let other = r.h.stack.customer_with_limits("intruder", &[numhub_proto::common::v1::Scope::Read, numhub_proto::common::v1::Scope::Write], Some(GENEROUS)).await;
        let mut theirs = numhub_proto::rentals::v1::rentals_service_client::RentalsServiceClient::with_interceptor(
            r.rentals_server.channel(),
            numhub_testkit::BearerKey(other.key.clone()),
        );
        let id = rental.id.clone();
        let not_found = |status: tonic::Status| assert_eq!(status.code(), Code::NotFound, "{status:?}");
        not_found(theirs.get_rental(pb::GetRentalRequest { id: id.clone() }).await.unwrap_err());
        not_found(
            theirs
                .renew_rental(pb::RenewRentalRequest { id: id.clone(), duration: 0, request_id: "x".into(), max_price: None })
                .await
                .unwrap_err(),
        );
        not_found(
            theirs
                .cancel_rental(pb::CancelRentalRequest { id: id.clone(), request_id: "x".into() })
                .await
                .unwrap_err(),
        );
        not_found(
            theirs
                .set_auto_renew(pb::SetAutoRenewRequest { id: id.clone(), auto_renew: false })
                .await
                .unwrap_err(),
        );
        not_found(
            theirs
                .watch_rental(pb::WatchRentalRequest { id: id.clone(), after: String::new() })
                .await
                .unwrap_err(),
        );
        not_found(
            theirs
                .list_messages(pb::ListMessagesRequest {
                    phone_number: rental.phone_number.clone(),
                    page_size: 0,
                    page_token: String::new(),
                })
                .await
                .unwrap_err(),
        );
        let unknown = r.client.get_rental(pb::GetRentalRequest { id: uuid::Uuid::now_v7().to_string() }).await.unwrap_err();
        assert_eq!(unknown.code(), Code::NotFound);
        let bad = r.client.get_rental(pb::GetRentalRequest { id: "forty-two".into() }).await.unwrap_err();
        assert_eq!(bad_fields(&bad), ["id"]);
        // Still the owner's, untouched.
        let mine = r.get(&id).await;
        assert_eq!((status(&mine), mine.sms_count, mine.auto_renew), (S::Active, 1, true));
    }

    async fn list_messages_pages_by_number_for_polling(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 1).await;
        let account = r.account();
        r.h.fund(&account, 1_000).await;
        let rental = r.rent("rent", D::OneMonth).await.unwrap().rental.unwrap();
        for n in 0..5 {
            r.advance(Duration::from_secs(1));
            r.sms(&rental.phone_number, "+15550009999", &format!("message {n}")).await;
        }
        let digits = rental.phone_number.trim_start_matches('+').to_owned();
        let page = |token: String, size: i32| pb::ListMessagesRequest {
            phone_number: digits.clone(),
            page_size: size,
            page_token: token,
        };
        let first = r.client.list_messages(page(String::new(), 2)).await.unwrap().into_inner();
        let bodies = |p: &pb::ListMessagesResponse| p.messages.iter().map(|m| m.body.clone()).collect::<Vec<_>>();
        assert_eq!(bodies(&first), ["message 0", "message 1"]);
        let second = r.client.list_messages(page(first.next_page_token, 10)).await.unwrap().into_inner();
        assert_eq!(bodies(&second), ["message 2", "message 3", "message 4"]);
        // Caught up: an empty page with the same place, then what comes.
        let empty = r.client.list_messages(page(second.next_page_token.clone(), 10)).await.unwrap().into_inner();
        assert!(empty.messages.is_empty());
        assert_eq!(empty.next_page_token, second.next_page_token);
        r.sms(&rental.phone_number, "+15550009999", "message 5").await;
        let new = r.client.list_messages(page(empty.next_page_token, 10)).await.unwrap().into_inner();
        assert_eq!(bodies(&new), ["message 5"]);

        let never = r.client.list_messages(pb::ListMessagesRequest { phone_number: "+15559999999".into(), page_size: 0, page_token: String::new() }).await.unwrap_err();
        assert_eq!(never.code(), Code::NotFound);
        let bad = r.client.list_messages(pb::ListMessagesRequest { phone_number: "call me".into(), page_size: 500, page_token: "nope".into() }).await.unwrap_err();
        assert_eq!(bad_fields(&bad), ["phone_number", "page_size", "page_token"]);
    }

    async fn deliveries_are_idempotent_and_checked(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 2).await;
        let account = r.account();
        r.h.fund(&account, 1_000).await;
        let a = r.rent("a", D::OneMonth).await.unwrap().rental.unwrap();
        let b = r.rent("b", D::OneMonth).await.unwrap().rental.unwrap();
        let now = r.now();
        let delivery = |rental: &str, id: &str| pb::DeliverMessageRequest {
            rental_id: rental.into(),
            inbound_message_id: id.into(),
            sender: "WhatsApp".into(),
            body: "WhatsApp code 777-888".into(),
            receive_time: Some(now.to_proto()),
        };
        let first = r.internal.deliver_message(delivery(&a.id, "in-1")).await.unwrap().into_inner();
        let again = r.internal.deliver_message(delivery(&a.id, "in-1")).await.unwrap().into_inner();
        assert_eq!(first.id, again.id);
        assert_eq!(first.code, "777888");
        let elsewhere = r.internal.deliver_message(delivery(&b.id, "in-1")).await.unwrap_err();
        assert_refused(&elsewhere, Code::FailedPrecondition, "IDEMPOTENCY_KEY_REUSED");
        assert_eq!(r.get(&a.id).await.sms_count, 1);
        let unknown = r.internal.deliver_message(delivery(&uuid::Uuid::now_v7().to_string(), "in-2")).await.unwrap_err();
        assert_eq!(unknown.code(), Code::NotFound);
        let bad = pb::DeliverMessageRequest { rental_id: "x".into(), inbound_message_id: String::new(), sender: "s".repeat(65), body: String::new(), receive_time: None };
        let invalid = r.internal.deliver_message(bad).await.unwrap_err();
        assert_eq!(bad_fields(&invalid), ["rental_id", "inbound_message_id", "sender", "body", "receive_time"]);
        // The limits inbound checks a message by (numhub_runtime::sms), in
        // characters: at them, delivered; one over, refused as inbound
        // refuses it.
        let at_limit = "ж".repeat(sms::MAX_BODY_LEN);
        let mut edge = delivery(&a.id, &"i".repeat(sms::MAX_MESSAGE_ID_LEN));
        edge.body = at_limit.clone();
        edge.sender = "s".repeat(sms::MAX_SENDER_LEN);
        assert_eq!(r.internal.deliver_message(edge).await.unwrap().into_inner().body, at_limit);
        let mut over = delivery(&a.id, &"i".repeat(sms::MAX_MESSAGE_ID_LEN + 1));
        over.body = format!("{at_limit}ж");
        over.sender = "s".repeat(sms::MAX_SENDER_LEN + 1);
        let invalid = r.internal.deliver_message(over).await.unwrap_err();
        assert_eq!(bad_fields(&invalid), ["inbound_message_id", "sender", "body"]);
        // Before the purchase's own instant: not the rental's.
        let mut early = delivery(&a.id, "in-3");
        early.receive_time = Some(now.minus(HOUR).to_proto());
        let refused = r.internal.deliver_message(early).await.unwrap_err();
        assert_refused(&refused, Code::FailedPrecondition, "RENTAL_ENDED");
        // An API key cannot deliver.
        let mut public_internal = numhub_proto::rentals::v1::rentals_internal_service_client::RentalsInternalServiceClient::with_interceptor(
            r.rentals_server.channel(),
            numhub_testkit::BearerKey(r.h.customer.key.clone()),
        );
        let denied = public_internal.deliver_message(delivery(&a.id, "in-4")).await.unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    }

    async fn a_rental_is_read_with_its_inbox_from_one_snapshot(backend: Backend) {
        let mut r = start(backend).await;
        r.h.import(0, 1).await;
        let account = r.account();
        r.h.fund(&account, 1_000).await;
        let rental = r.rent("snap", D::OneMonth).await.unwrap().rental.unwrap();
        let now = r.now();
        let mut internal = r.internal.clone();
        let id = rental.id.clone();
        let writer = tokio::spawn(async move {
            for n in 0..30 {
                internal
                    .deliver_message(pb::DeliverMessageRequest {
                        rental_id: id.clone(),
                        inbound_message_id: format!("snap-{n}"),
                        sender: "Bank".into(),
                        body: format!("message {n}"),
                        receive_time: Some(now.to_proto()),
                    })
                    .await
                    .unwrap();
            }
        });
        // While SMS arrive, every read's count agrees with its inbox.
        while !writer.is_finished() {
            let read = r.get(&rental.id).await;
            assert_eq!(read.sms_count, read.messages.len() as i64, "a torn read");
        }
        writer.await.unwrap();
        let last = r.get(&rental.id).await;
        assert_eq!((last.sms_count, last.messages.len()), (30, 30));
    }
}
