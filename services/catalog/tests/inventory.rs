//! The inventory and its leases, over gRPC, on SQLite and PostgreSQL.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use numhub_catalog::{Catalog, CatalogSettings};
use numhub_proto::catalog::v1 as pb;
use numhub_runtime::clock::Clock;
use numhub_runtime::workers::Workers;
use numhub_testkit::backend_tests;
use tokio::time::Instant;
use tonic::Code;

backend_tests! {
    async fn an_unused_release_keeps_the_number_fresh_for_the_service(backend: Backend) {
        let mut h = start(backend).await;
        h.import(us_numbers(0, 1, "", pb::NumberType::Voip)).await;
        h.set_price("wa", "US", "", 45).await;
        let unpaid = h.lease(h.activation("acme", "wa", "a1")).await.unwrap();
        let request = pb::ReleaseRequest { lease_id: unpaid.id.clone(), unused: true };
        h.internal.release(request).await.unwrap();
        h.clock.advance(std::time::Duration::from_secs(1));
        h.catalog.sweep().await.unwrap();
        assert_eq!(h.stock("wa", "US").await, 1, "still fresh for wa");
        h.assert_counters_match_inventory("wa").await;
        let paid = h.lease(h.activation("globex", "wa", "g1")).await.unwrap();
        assert_eq!(paid.phone_number, unpaid.phone_number);
        // A used number released normally is spent for the service.
        h.release(&paid.id).await;
        h.assert_counters_match_inventory("wa").await;
        let again = h.lease(h.activation("initech", "wa", "i1")).await;
        assert_status(again, Code::FailedPrecondition, "NO_NUMBERS_AVAILABLE");
    }

    async fn active_leases_are_a_feed_of_what_holds_a_number_now(backend: Backend) {
        let mut h = start(backend).await;
        h.import(us_numbers(0, 4, "", pb::NumberType::Voip)).await;
        h.set_price("wa", "US", "", 45).await;
        let mut leases = Vec::new();
        for i in 0..4 {
            leases.push(h.lease(h.activation("acme", "wa", &format!("a{i}"))).await.unwrap());
        }
        h.release(&leases[1].id).await;
        let feed = |after: &str, page_size: i32| pb::ListActiveLeasesRequest { after_lease_id: after.into(), page_size };
        let all = h.internal.list_active_leases(feed("", 0)).await.unwrap().into_inner().leases;
        let ids: Vec<_> = all.iter().map(|l| l.id.clone()).collect();
        assert_eq!(ids, [leases[0].id.clone(), leases[2].id.clone(), leases[3].id.clone()], "oldest first, released left out");
        let after = h.internal.list_active_leases(feed(&leases[2].id, 0)).await.unwrap().into_inner().leases;
        assert_eq!(after.iter().map(|l| l.id.clone()).collect::<Vec<_>>(), [leases[3].id.clone()]);
        let one = h.internal.list_active_leases(feed("", 1)).await.unwrap().into_inner().leases;
        assert_eq!(one.len(), 1);
        // Expired leases are left out too.
        h.advance_minutes(21);
        assert!(h.internal.list_active_leases(feed("", 0)).await.unwrap().into_inner().leases.is_empty());
        let status = assert_status(h.internal.list_active_leases(feed("x", 1001)).await, Code::InvalidArgument, "INVALID_FIELD");
        assert_eq!(bad_fields(&status), ["after_lease_id", "page_size"]);
    }

    async fn a_reuse_takes_its_own_number_back_and_nobody_elses(backend: Backend) {
        let mut h = start(backend).await;
        h.import(us_numbers(0, 2, "", pb::NumberType::Voip)).await;
        h.set_price("wa", "US", "", 45).await;
        let first = h.lease(h.activation("acme", "wa", "a1")).await.unwrap();
        h.release(&first.id).await;
        let reuse = |h: &Harness, account: &str, key: &str| pb::LeaseNumberRequest {
            phone_number: first.phone_number.clone(),
            ..h.activation(account, "wa", key)
        };
        // Another account may not take a number used for the service...
        let other = h.lease(reuse(&h, "globex", "g1")).await;
        assert_status(other, Code::FailedPrecondition, "NO_NUMBERS_AVAILABLE");
        // ...while the account that used it gets that very number again.
        let again = h.lease(reuse(&h, "acme", "a2")).await.unwrap();
        assert_eq!(again.phone_number, first.phone_number);
        // Held now: a second reuse finds it taken.
        let taken = h.lease(reuse(&h, "acme", "a3")).await;
        assert_status(taken, Code::FailedPrecondition, "NO_NUMBERS_AVAILABLE");
        let mut rental = h.rental("acme", "r1");
        rental.phone_number = first.phone_number.clone();
        let status = assert_status(h.lease(rental).await, Code::InvalidArgument, "INVALID_FIELD");
        assert_eq!(bad_fields(&status), ["phone_number"]);
    }

    async fn an_activation_lease_takes_a_number_at_the_server_price(backend: Backend) {
        let mut h = start(backend).await;
        let report = h.import(us_numbers(0, 2, "", pb::NumberType::Voip)).await;
        assert_eq!(report.imported_count, 2);
        h.set_price("wa", "US", "", 45).await;
        let account = h.customer.account_id.clone();
        let lease = h.lease(h.activation(&account, "wa", "r1")).await.unwrap();
        assert_eq!(units(&lease.price), 45);
        assert_eq!(lease.state, pb::LeaseState::Active as i32);
        assert_eq!(lease.kind, pb::LeaseKind::Activation as i32);
        assert_eq!((lease.account_id.as_str(), lease.holder_id.as_str()), (account.as_str(), "activation-r1"));
        assert!(lease.phone_number.starts_with("+1555"));
        assert_eq!(h.stock("wa", "US").await, 1);
        h.assert_counters_match_inventory("wa").await;
        let fetched = h.internal.get_lease(pb::GetLeaseRequest { lease_id: lease.id.clone() }).await.unwrap().into_inner();
        assert_eq!(fetched, lease);
    }

    async fn fifty_tasks_racing_for_twenty_numbers_get_twenty_leases(backend: Backend) {
        let mut h = start(backend).await;
        h.import(us_numbers(0, 20, "", pb::NumberType::Voip)).await;
        h.set_price("wa", "US", "", 10).await;
        let mut tasks = Vec::new();
        for task in 0..50 {
            let mut client = h.internal.clone();
            let request = h.activation(&format!("account-{task}"), "wa", &format!("race-{task}"));
            tasks.push(tokio::spawn(async move { client.lease_number(request).await }));
        }
        let mut numbers = Vec::new();
        let mut refused = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(lease) => numbers.push(lease.into_inner().phone_number),
                Err(status) => {
                    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
                    assert_eq!(reason(&status), "NO_NUMBERS_AVAILABLE");
                    refused += 1;
                }
            }
        }
        assert_eq!(numbers.len(), 20);
        assert_eq!(refused, 30);
        assert_eq!(numbers.iter().collect::<HashSet<_>>().len(), 20, "no number leased twice");
        assert_eq!(h.stock("wa", "US").await, 0);
        h.assert_counters_match_inventory("wa").await;
    }

    async fn concurrent_retries_of_one_request_make_one_lease(backend: Backend) {
        let mut h = start(backend).await;
        h.import(us_numbers(0, 5, "", pb::NumberType::Voip)).await;
        h.set_price("wa", "US", "", 10).await;
        let request = h.activation("acme", "wa", "same-key");
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let mut client = h.internal.clone();
            let request = request.clone();
            tasks.push(tokio::spawn(async move { client.lease_number(request).await }));
        }
        let mut ids = HashSet::new();
        for task in tasks {
            ids.insert(task.await.unwrap().expect("every retry gets the lease").into_inner().id);
        }
        assert_eq!(ids.len(), 1);
        assert_eq!(h.stock("wa", "US").await, 4);
        h.assert_counters_match_inventory("wa").await;
    }

    async fn a_retry_replays_the_answer_and_a_reused_key_is_refused(backend: Backend) {
        let mut h = start(backend).await;
        h.set_price("wa", "US", "", 10).await;
        // Nothing in stock: the refusal is recorded under the key.
        let request = h.activation("acme", "wa", "k1");
        assert_status(h.lease(request.clone()).await, Code::FailedPrecondition, "NO_NUMBERS_AVAILABLE");
        h.import(us_numbers(0, 1, "", pb::NumberType::Voip)).await;
        assert_status(h.lease(request.clone()).await, Code::FailedPrecondition, "NO_NUMBERS_AVAILABLE");
        // A new key leases; its retry returns the same lease.
        let first = h.lease(h.activation("acme", "wa", "k2")).await.unwrap();
        assert_eq!(h.lease(h.activation("acme", "wa", "k2")).await.unwrap().id, first.id);
        let mut other = h.activation("acme", "tg", "k2");
        other.holder_id = "activation-k2".into();
        assert_status(h.lease(other).await, Code::FailedPrecondition, "IDEMPOTENCY_KEY_REUSED");
        // Keys are per account: another account may use the same one.
        h.import(us_numbers(1, 1, "", pb::NumberType::Voip)).await;
        let theirs = h.lease(h.activation("globex", "wa", "k2")).await.unwrap();
        assert_ne!(theirs.id, first.id);
    }

    async fn request_ids_replay_past_the_expiry_and_are_forgotten_after_thirty_days(backend: Backend) {
        let mut h = start(backend).await;
        h.import(us_numbers(0, 2, "", pb::NumberType::Voip)).await;
        h.set_price("wa", "US", "", 10).await;
        let request = h.activation("acme", "wa", "k1");
        let first = h.lease(request.clone()).await.unwrap();
        // Long after the lease's end, a retry still replays it.
        h.advance_minutes(60);
        assert_eq!(h.lease(request.clone()).await.unwrap().id, first.id);
        assert_eq!(h.catalog.purge_requests().await.unwrap(), 0);
        h.advance_minutes(30 * 24 * 60);
        assert_eq!(h.catalog.purge_requests().await.unwrap(), 1);
        // Forgotten: the key is new again, and the lease stays in the history.
        let status = assert_status(h.lease(request).await, Code::InvalidArgument, "INVALID_FIELD");
        assert_eq!(bad_fields(&status), ["expire_time"]);
        let started = numhub_runtime::clock::Timestamp::from_proto(first.start_time.as_ref().unwrap()).unwrap();
        assert_eq!(h.resolve(&first.phone_number, started).await.unwrap().id, first.id);
    }

    async fn a_number_serves_each_service_once(backend: Backend) {
        let mut h = start(backend).await;
        h.import(us_numbers(0, 1, "", pb::NumberType::Voip)).await;
        h.set_price("wa", "US", "", 10).await;
        h.set_price("tg", "US", "", 12).await;
        let wa = h.lease(h.activation("acme", "wa", "a1")).await.unwrap();
        h.release(&wa.id).await;
        // Released, the number is free, but never again for WhatsApp,
        // whoever asks.
        assert_status(h.lease(h.activation("globex", "wa", "b1")).await, Code::FailedPrecondition, "NO_NUMBERS_AVAILABLE");
        assert_eq!(h.stock("wa", "US").await, 0);
        assert_eq!(h.stock("tg", "US").await, 1);
        let tg = h.lease(h.activation("globex", "tg", "b2")).await.unwrap();
        assert_eq!(tg.phone_number, wa.phone_number);
        assert_eq!(units(&tg.price), 12);
        h.assert_counters_match_inventory("wa").await;
        h.assert_counters_match_inventory("tg").await;
    }

    async fn an_active_lease_holds_its_number_against_everyone(backend: Backend) {
        let mut h = start(backend).await;
        h.import(us_numbers(0, 1, "", pb::NumberType::Voip)).await;
        h.set_price("wa", "US", "", 10).await;
        h.set_price("tg", "US", "", 10).await;
        h.set_plan("US", pb::NumberType::Voip, "", pb::RentalDuration::OneDay, 300).await;
        let wa = h.lease(h.activation("acme", "wa", "a1")).await.unwrap();
        // Another activation, for another service, and a rental: both wait.
        assert_status(h.lease(h.activation("globex", "tg", "b1")).await, Code::FailedPrecondition, "NO_NUMBERS_AVAILABLE");
        assert_status(h.lease(h.rental("globex", "b2")).await, Code::FailedPrecondition, "NO_NUMBERS_AVAILABLE");
        // The activation expires by time: the number is free again at once.
        h.advance_minutes(21);
        let expired = h.internal.get_lease(pb::GetLeaseRequest { lease_id: wa.id.clone() }).await.unwrap().into_inner();
        assert_eq!(expired.state, pb::LeaseState::Expired as i32);
        let rental = h.lease(h.rental("globex", "b3")).await.unwrap();
        assert_eq!(rental.phone_number, wa.phone_number);
        assert_eq!(units(&rental.price), 300);
        // A rental holds it against any activation.
        assert_status(h.lease(h.activation("initech", "tg", "c1")).await, Code::FailedPrecondition, "NO_NUMBERS_AVAILABLE");
        h.catalog.sweep().await.unwrap();
        h.assert_counters_match_inventory("wa").await;
    }

    async fn skipped_numbers_never_come_back_to_that_account(backend: Backend) {
        let mut h = start(backend).await;
        h.import(us_numbers(0, 1, "", pb::NumberType::Voip)).await;
        h.set_price("wa", "US", "", 10).await;
        h.set_price("tg", "US", "", 10).await;
        h.set_plan("US", pb::NumberType::Voip, "", pb::RentalDuration::OneDay, 300).await;
        let lease = h.lease(h.activation("acme", "wa", "a1")).await.unwrap();
        h.internal
            .mark_skipped(pb::MarkSkippedRequest { account_id: "acme".into(), phone_number: lease.phone_number.clone() })
            .await
            .unwrap();
        // Twice is fine.
        h.internal
            .mark_skipped(pb::MarkSkippedRequest { account_id: "acme".into(), phone_number: lease.phone_number.trim_start_matches('+').into() })
            .await
            .unwrap();
        h.release(&lease.id).await;
        assert_status(h.lease(h.activation("acme", "tg", "a2")).await, Code::FailedPrecondition, "NO_NUMBERS_AVAILABLE");
        assert_status(h.lease(h.rental("acme", "a3")).await, Code::FailedPrecondition, "NO_NUMBERS_AVAILABLE");
        let theirs = h.lease(h.activation("globex", "tg", "b1")).await.unwrap();
        assert_eq!(theirs.phone_number, lease.phone_number);
        let unknown = h.internal
            .mark_skipped(pb::MarkSkippedRequest { account_id: "acme".into(), phone_number: "+15559999999".into() })
            .await;
        assert_status(unknown, Code::NotFound, "RESOURCE_NOT_FOUND");
    }

    async fn a_number_leaving_a_rental_rests_in_quarantine(backend: Backend) {
        let mut h = start(backend).await;
        h.import(us_numbers(0, 1, "", pb::NumberType::Voip)).await;
        h.set_price("wa", "US", "", 10).await;
        h.set_plan("US", pb::NumberType::Voip, "", pb::RentalDuration::OneDay, 300).await;
        let rental = h.lease(h.rental("acme", "r1")).await.unwrap();
        h.advance_minutes(60);
        let released = h.release(&rental.id).await;
        assert_eq!(released.state, pb::LeaseState::Released as i32);
        let stock = |h: &mut Harness| {
            let mut public = h.public.clone();
            async move {
                let request = pb::CheckInventoryRequest { country_code: "US".into(), ..Default::default() };
                public.check_inventory(request).await.unwrap().into_inner().stock
            }
        };
        // Quarantined: no one gets it, and SMS to it belong to no one.
        assert_status(h.lease(h.activation("globex", "wa", "b1")).await, Code::FailedPrecondition, "NO_NUMBERS_AVAILABLE");
        assert_status(h.lease(h.rental("globex", "b2")).await, Code::FailedPrecondition, "NO_NUMBERS_AVAILABLE");
        assert_status(h.resolve(&rental.phone_number, h.clock.now()).await, Code::NotFound, "RESOURCE_NOT_FOUND");
        h.catalog.sweep().await.unwrap();
        assert_eq!(stock(&mut h).await, 0);
        // Just before the end of the quarantine, still resting; then free.
        h.clock.advance(QUARANTINE - std::time::Duration::from_secs(1));
        h.catalog.sweep().await.unwrap();
        assert_eq!(stock(&mut h).await, 0);
        assert_status(h.lease(h.activation("globex", "wa", "b3")).await, Code::FailedPrecondition, "NO_NUMBERS_AVAILABLE");
        h.clock.advance(std::time::Duration::from_secs(1));
        assert_eq!(h.catalog.sweep().await.unwrap(), 1);
        assert_eq!(stock(&mut h).await, 1);
        let next = h.lease(h.activation("globex", "wa", "b4")).await.unwrap();
        assert_eq!(next.phone_number, rental.phone_number);
        h.assert_counters_match_inventory("wa").await;
    }

    async fn a_rental_ending_by_time_is_quarantined_from_its_end(backend: Backend) {
        let mut h = start(backend).await;
        h.import(us_numbers(0, 1, "", pb::NumberType::Voip)).await;
        h.set_plan("US", pb::NumberType::Voip, "", pb::RentalDuration::OneDay, 300).await;
        let rental = h.lease(h.rental("acme", "r1")).await.unwrap();
        h.advance_minutes(24 * 60);
        assert_status(h.lease(h.rental("globex", "b1")).await, Code::FailedPrecondition, "NO_NUMBERS_AVAILABLE");
        h.clock.advance(QUARANTINE);
        let next = h.lease(h.rental("globex", "b2")).await.unwrap();
        assert_eq!(next.phone_number, rental.phone_number);
    }

    async fn resolve_finds_the_holder_at_each_instant_of_the_history(backend: Backend) {
        let mut h = start(backend).await;
        h.import(us_numbers(0, 1, "", pb::NumberType::Voip)).await;
        h.set_price("wa", "US", "", 10).await;
        h.set_price("tg", "US", "", 10).await;
        h.set_plan("US", pb::NumberType::Voip, "", pb::RentalDuration::OneDay, 300).await;
        let t0 = h.clock.now();
        let first = h.lease(h.activation("acme", "wa", "a1")).await.unwrap();
        h.advance_minutes(5);
        let t1 = h.clock.now();
        h.release(&first.id).await;
        h.advance_minutes(5);
        let t2 = h.clock.now();
        let second = h.lease(h.activation("globex", "tg", "b1")).await.unwrap();
        h.advance_minutes(20); // expires by time at t2 + 20 min
        let t3 = h.clock.now();
        let rental = h.lease(h.rental("initech", "c1")).await.unwrap();
        let number = first.phone_number.clone();
        let at = |t: numhub_runtime::clock::Timestamp, minutes: i64| {
            numhub_runtime::clock::Timestamp::from_unix_micros(t.unix_micros() + minutes * 60_000_000)
        };
        let holder = |lease: Result<pb::Lease, tonic::Status>| lease.map(|l| l.holder_id).unwrap_or_else(|s| format!("{:?}", s.code()));
        assert_eq!(holder(h.resolve(&number, at(t0, -1)).await), "NotFound");
        assert_eq!(holder(h.resolve(&number, t0).await), first.holder_id);
        assert_eq!(holder(h.resolve(&number, at(t0, 4)).await), first.holder_id);
        assert_eq!(holder(h.resolve(&number, t1).await), "NotFound", "the end is exclusive");
        assert_eq!(holder(h.resolve(&number, at(t1, 2)).await), "NotFound");
        assert_eq!(holder(h.resolve(&number, t2).await), second.holder_id);
        assert_eq!(holder(h.resolve(&number, at(t2, 19)).await), second.holder_id);
        assert_eq!(holder(h.resolve(&number, t3).await), rental.holder_id);
        // Digits alone name the same number.
        let resolved = h.resolve(number.trim_start_matches('+'), at(t3, 60)).await.unwrap();
        assert_eq!((resolved.kind, resolved.account_id.as_str()), (pb::LeaseKind::Rental as i32, "initech"));
        assert_status(h.resolve("+15550009999", t3).await, Code::NotFound, "RESOURCE_NOT_FOUND");
        let bad = h.internal.resolve(pb::ResolveRequest { phone_number: "12ab".into(), time: None }).await;
        let status = assert_status(bad, Code::InvalidArgument, "INVALID_FIELD");
        assert_eq!(bad_fields(&status), ["phone_number", "time"]);
    }

    async fn max_price_picks_affordable_operators_or_says_why_not(backend: Backend) {
        let mut h = start(backend).await;
        h.import(us_numbers(0, 1, "att", pb::NumberType::NonVoip)).await;
        h.import(us_numbers(1, 1, "tmobile", pb::NumberType::NonVoip)).await;
        h.import(us_numbers(2, 1, "", pb::NumberType::Voip)).await;
        h.set_price("wa", "US", "", 50).await;
        h.set_price("wa", "US", "att", 30).await;
        h.set_price("wa", "US", "tmobile", 80).await;
        let cheap = |h: &Harness, key: &str, max: i64| {
            let mut r = h.activation("acme", "wa", key);
            r.max_price = usd(max);
            r
        };
        // At most 40: only the att number qualifies.
        let lease = h.lease(cheap(&h, "m1", 40)).await.unwrap();
        assert_eq!((lease.operator.as_str(), units(&lease.price)), ("att", 30));
        // Numbers remain, but all dearer.
        assert_status(h.lease(cheap(&h, "m2", 40)).await, Code::FailedPrecondition, "PRICE_ABOVE_MAX");
        // At most 60: the number without an operator, at the general price.
        let lease = h.lease(cheap(&h, "m3", 60)).await.unwrap();
        assert_eq!((lease.operator.as_str(), units(&lease.price)), ("", 50));
        // Asking for an operator: its own price.
        let mut tmobile = cheap(&h, "m4", 100);
        tmobile.operator = "tmobile".into();
        let lease = h.lease(tmobile).await.unwrap();
        assert_eq!((lease.operator.as_str(), units(&lease.price)), ("tmobile", 80));
        // None left at any price.
        assert_status(h.lease(cheap(&h, "m5", 1_000)).await, Code::FailedPrecondition, "NO_NUMBERS_AVAILABLE");
        // A max in another currency is refused.
        let mut eur = cheap(&h, "m6", 100);
        eur.max_price.as_mut().unwrap().currency_code = "EUR".into();
        let status = assert_status(h.lease(eur).await, Code::InvalidArgument, "INVALID_FIELD");
        assert_eq!(bad_fields(&status), ["max_price"]);
    }

    async fn only_priced_operators_are_sold(backend: Backend) {
        let mut h = start(backend).await;
        h.import(us_numbers(0, 1, "att", pb::NumberType::NonVoip)).await;
        h.import(us_numbers(1, 1, "tmobile", pb::NumberType::NonVoip)).await;
        // No general price: only att's numbers are for sale.
        assert_status(h.lease(h.activation("acme", "wa", "n0")).await, Code::FailedPrecondition, "NOT_OFFERED");
        h.set_price("wa", "US", "att", 30).await;
        let lease = h.lease(h.activation("acme", "wa", "n1")).await.unwrap();
        assert_eq!(lease.operator, "att");
        assert_status(h.lease(h.activation("acme", "wa", "n2")).await, Code::FailedPrecondition, "NO_NUMBERS_AVAILABLE");
        // A disabled operator's numbers are not leased.
        h.set_price("wa", "US", "", 50).await;
        h.admin
            .upsert_operator(pb::UpsertOperatorRequest {
                operator: Some(pb::Operator { country_code: "US".into(), code: "tmobile".into(), name: "T-Mobile".into(), disabled: true }),
            })
            .await
            .unwrap();
        assert_status(h.lease(h.activation("acme", "wa", "n3")).await, Code::FailedPrecondition, "NO_NUMBERS_AVAILABLE");
        // Unknown service or country: not found.
        assert_status(h.lease(h.activation("acme", "zz", "n4")).await, Code::NotFound, "RESOURCE_NOT_FOUND");
        let mut nowhere = h.activation("acme", "wa", "n5");
        nowhere.country_code = "ZZ".into();
        assert_status(h.lease(nowhere).await, Code::NotFound, "RESOURCE_NOT_FOUND");
    }

    async fn rentals_take_their_type_and_plan_price(backend: Backend) {
        let mut h = start(backend).await;
        h.import(us_numbers(0, 1, "", pb::NumberType::NonVoip)).await;
        h.import(us_numbers(1, 1, "", pb::NumberType::Voip)).await;
        h.set_plan("US", pb::NumberType::Voip, "", pb::RentalDuration::OneDay, 300).await;
        h.set_plan("US", pb::NumberType::Voip, "ds", pb::RentalDuration::OneDay, 120).await;
        let general = h.lease(h.rental("acme", "r1")).await.unwrap();
        assert_eq!((general.number_type, units(&general.price)), (pb::NumberType::Voip as i32, 300));
        assert_eq!(general.rental_duration, pb::RentalDuration::OneDay as i32);
        h.release(&general.id).await;
        // No VoIP number left (the other rests); no plan for non-VoIP.
        assert_status(h.lease(h.rental("acme", "r2")).await, Code::FailedPrecondition, "NO_NUMBERS_AVAILABLE");
        let mut non_voip = h.rental("acme", "r3");
        non_voip.number_type = pb::NumberType::NonVoip as i32;
        assert_status(h.lease(non_voip).await, Code::FailedPrecondition, "NOT_OFFERED");
        // A service's own plan prices its rentals.
        h.import(us_numbers(2, 1, "", pb::NumberType::Voip)).await;
        let mut discord = h.rental("acme", "r4");
        discord.service_code = "ds".into();
        let lease = h.lease(discord).await.unwrap();
        assert_eq!((lease.service_code.as_str(), units(&lease.price)), ("ds", 120));
    }

    async fn extend_moves_the_end_of_an_active_lease_only(backend: Backend) {
        let mut h = start(backend).await;
        h.import(us_numbers(0, 1, "", pb::NumberType::Voip)).await;
        h.set_price("wa", "US", "", 10).await;
        h.set_price("tg", "US", "", 10).await;
        let lease = h.lease(h.activation("acme", "wa", "a1")).await.unwrap();
        let extend = |id: &str, until: numhub_runtime::clock::Timestamp| pb::ExtendRequest { lease_id: id.into(), expire_time: Some(until.to_proto()) };
        let later = h.in_minutes(40);
        let extended = h.internal.extend(extend(&lease.id, later)).await.unwrap().into_inner();
        assert_eq!(extended.expire_time, Some(later.to_proto()));
        // The same end again changes nothing; an earlier one is refused.
        h.internal.extend(extend(&lease.id, later)).await.unwrap();
        let earlier = h.internal.extend(extend(&lease.id, h.in_minutes(30))).await;
        let status = assert_status(earlier, Code::InvalidArgument, "INVALID_FIELD");
        assert_eq!(bad_fields(&status), ["expire_time"]);
        // Past its first end, the lease still holds the number.
        h.advance_minutes(30);
        assert_status(h.lease(h.activation("globex", "tg", "b1")).await, Code::FailedPrecondition, "NO_NUMBERS_AVAILABLE");
        assert_eq!(h.resolve(&lease.phone_number, h.clock.now()).await.unwrap().id, lease.id);
        // Ended leases cannot be extended, whether expired or released.
        h.advance_minutes(11);
        let expired = h.internal.extend(extend(&lease.id, h.in_minutes(60))).await;
        assert_status(expired, Code::FailedPrecondition, "LEASE_ENDED");
        let other = h.lease(h.activation("globex", "tg", "b2")).await.unwrap();
        h.release(&other.id).await;
        let released = h.internal.extend(extend(&other.id, h.in_minutes(60))).await;
        assert_status(released, Code::FailedPrecondition, "LEASE_ENDED");
        let unknown = h.internal.extend(extend(&uuid::Uuid::now_v7().to_string(), h.in_minutes(60))).await;
        assert_status(unknown, Code::NotFound, "RESOURCE_NOT_FOUND");
    }

    async fn release_is_idempotent_and_frees_an_activation_at_once(backend: Backend) {
        let mut h = start(backend).await;
        h.import(us_numbers(0, 1, "", pb::NumberType::Voip)).await;
        h.set_price("wa", "US", "", 10).await;
        h.set_price("tg", "US", "", 10).await;
        let lease = h.lease(h.activation("acme", "wa", "a1")).await.unwrap();
        assert_eq!(h.stock("tg", "US").await, 0);
        let released = h.release(&lease.id).await;
        assert_eq!(released.state, pb::LeaseState::Released as i32);
        h.advance_minutes(1);
        let again = h.release(&lease.id).await;
        assert_eq!(again.release_time, released.release_time, "a second release changes nothing");
        assert_eq!(h.stock("tg", "US").await, 1);
        h.assert_counters_match_inventory("wa").await;
        h.assert_counters_match_inventory("tg").await;
        let unknown = h.internal.release(pb::ReleaseRequest { lease_id: uuid::Uuid::now_v7().to_string(), unused: false }).await;
        assert_status(unknown, Code::NotFound, "RESOURCE_NOT_FOUND");
        let malformed = h.internal.release(pb::ReleaseRequest { lease_id: "nope".into(), unused: false }).await;
        let status = assert_status(malformed, Code::InvalidArgument, "INVALID_FIELD");
        assert_eq!(bad_fields(&status), ["lease_id"]);
    }

    async fn stock_follows_leases_that_end_by_time_after_a_sweep(backend: Backend) {
        let mut h = start(backend).await;
        h.import(us_numbers(0, 3, "", pb::NumberType::Voip)).await;
        h.set_price("wa", "US", "", 10).await;
        h.set_price("tg", "US", "", 10).await;
        h.lease(h.activation("acme", "wa", "a1")).await.unwrap();
        h.lease(h.activation("acme", "wa", "a2")).await.unwrap();
        assert_eq!((h.stock("wa", "US").await, h.stock("tg", "US").await), (1, 1));
        h.advance_minutes(21);
        // Leasable at once, counted at the next sweep.
        assert_eq!(h.stock("tg", "US").await, 1);
        assert_eq!(h.catalog.sweep().await.unwrap(), 2);
        assert_eq!(h.catalog.sweep().await.unwrap(), 0, "each number is counted once");
        assert_eq!((h.stock("wa", "US").await, h.stock("tg", "US").await), (1, 3));
        h.assert_counters_match_inventory("wa").await;
        h.assert_counters_match_inventory("tg").await;
        // An uncounted number leased again is not subtracted twice.
        h.lease(h.activation("acme", "tg", "a3")).await.unwrap();
        h.advance_minutes(21);
        for key in ["a4", "a5", "a6"] {
            h.lease(h.activation("acme", "tg", key)).await.ok();
        }
        h.catalog.sweep().await.unwrap();
        h.assert_counters_match_inventory("wa").await;
        h.assert_counters_match_inventory("tg").await;
    }

    async fn the_sweeper_is_a_worker_that_stops_at_shutdown_before_the_pool_closes(backend: Backend) {
        let mut h = start(backend).await;
        h.import(us_numbers(0, 3, "", pb::NumberType::Voip)).await;
        h.set_price("wa", "US", "", 10).await;
        h.set_price("tg", "US", "", 10).await;
        h.lease(h.activation("acme", "wa", "a1")).await.unwrap();
        h.advance_minutes(21);
        let sweep_interval = Duration::from_millis(20);
        let settings = CatalogSettings { sweep_interval, ..settings() };
        let catalog = Catalog::new(h.db.db.clone(), h.clock.clone(), settings).await.unwrap();
        let workers = Workers::new();
        catalog.start_workers(&workers);
        // The sweeper counts the lease that ended by time by itself.
        let deadline = Instant::now() + Duration::from_secs(10);
        while h.stock("tg", "US").await != 3 {
            assert!(Instant::now() < deadline, "the sweeper did not run");
            tokio::time::sleep(sweep_interval).await;
        }
        assert!(workers.shutdown(Duration::from_secs(5)).await.is_empty(), "stopped in time");
        assert!(workers.running().is_empty());
        // Stopped: a lease that ends now stays uncounted, however long one
        // waits, until a sweep is asked for.
        h.lease(h.activation("acme", "tg", "a2")).await.unwrap();
        h.advance_minutes(21);
        tokio::time::sleep(sweep_interval * 10).await;
        assert_eq!(catalog.sweep().await.unwrap(), 1, "no sweep ran after shutdown");
        // Nothing of the sweeper holds the pool, which closes at once.
        tokio::time::timeout(Duration::from_secs(5), h.db.db.close()).await.expect("the pool closes");
    }

    async fn random_concurrent_leases_and_releases_keep_the_counters_true(backend: Backend) {
        let mut h = start(backend).await;
        h.import(us_numbers(0, 30, "att", pb::NumberType::NonVoip)).await;
        h.import(us_numbers(30, 30, "", pb::NumberType::Voip)).await;
        for service in ["wa", "tg", "ig"] {
            h.set_price(service, "US", "", 10).await;
        }
        h.set_plan("US", pb::NumberType::Voip, "", pb::RentalDuration::OneDay, 300).await;
        let mut tasks = Vec::new();
        for task in 0..8 {
            let mut client = h.internal.clone();
            let requests: Vec<_> = (0..12)
                .map(|i| match (task + i) % 4 {
                    3 => h.rental(&format!("acct-{task}"), &format!("t{task}-{i}")),
                    n => h.activation(&format!("acct-{task}"), ["wa", "tg", "ig"][n], &format!("t{task}-{i}")),
                })
                .collect();
            tasks.push(tokio::spawn(async move {
                let mut held = Vec::new();
                for (i, request) in requests.into_iter().enumerate() {
                    if let Ok(lease) = client.lease_number(request).await {
                        held.push(lease.into_inner());
                    }
                    if i % 3 == 2 && let Some(lease) = held.pop() {
                        client.release(pb::ReleaseRequest { lease_id: lease.id, unused: false }).await.unwrap();
                    }
                }
                held
            }));
        }
        let mut holding = HashSet::new();
        for task in tasks {
            for lease in task.await.unwrap() {
                assert!(holding.insert(lease.phone_number.clone()), "{} held twice", lease.phone_number);
            }
        }
        h.catalog.sweep().await.unwrap();
        for service in ["wa", "tg", "ig"] {
            h.assert_counters_match_inventory(service).await;
        }
    }

    async fn bad_lease_requests_name_every_field_at_fault(backend: Backend) {
        let mut h = start(backend).await;
        let request = pb::LeaseNumberRequest { country_code: "usa".into(), ..Default::default() };
        let status = assert_status(h.lease(request).await, Code::InvalidArgument, "INVALID_FIELD");
        assert_eq!(bad_fields(&status), ["kind", "account_id", "holder_id", "country_code", "expire_time", "request_id"]);
        let mut activation = h.activation("acme", "", "x1");
        activation.rental_duration = pb::RentalDuration::OneDay as i32;
        let status = assert_status(h.lease(activation).await, Code::InvalidArgument, "INVALID_FIELD");
        assert_eq!(bad_fields(&status), ["service_code", "rental_duration"]);
        let mut rental = h.rental("acme", "x2");
        rental.number_type = 0;
        rental.rental_duration = 0;
        let status = assert_status(h.lease(rental).await, Code::InvalidArgument, "INVALID_FIELD");
        assert_eq!(bad_fields(&status), ["number_type", "rental_duration"]);
        let mut past = h.activation("acme", "wa", "x3");
        past.expire_time = Some(h.clock.now().to_proto());
        let status = assert_status(h.lease(past).await, Code::InvalidArgument, "INVALID_FIELD");
        assert_eq!(bad_fields(&status), ["expire_time"]);
        let mut odd = h.activation("acme", "wa", "x4");
        odd.kind = 7;
        odd.number_type = 9;
        let status = assert_status(h.lease(odd).await, Code::InvalidArgument, "INVALID_FIELD");
        assert_eq!(bad_fields(&status), ["kind", "number_type"]);
    }
}
