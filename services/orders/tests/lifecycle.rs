//! An activation's whole life and each way it can go wrong, through real
//! gRPC against a real wallet and catalog, on SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use common::*;
use numhub_orders::OrdersSettings;
use numhub_proto::orders::v1 as pb;
use numhub_proto::orders::v1::ActivationStatus as S;
use numhub_runtime::sms;
use numhub_testkit::backend_tests;
use tonic::Code;

backend_tests! {
    async fn buy_sms_complete_keeps_the_price_and_frees_the_number(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 3).await;
        let account = h.account();
        h.fund(&account, 100).await;

        let a = h.buy("wa", "buy-1").await.unwrap();
        assert_eq!(status(&a), S::Waiting);
        assert!(a.phone_number.starts_with("+1555"), "{a:?}");
        assert_eq!(units(&a.price), WA_PRICE);
        assert_eq!(a.price.as_ref().unwrap().currency_code, "USD");
        assert_eq!(a.service_code, "wa");
        assert_eq!(a.country_code, "US");
        let created = a.create_time.unwrap();
        let expires = a.expire_time.unwrap();
        assert_eq!(expires.seconds - created.seconds, LIFETIME.as_secs() as i64);
        assert_eq!(h.balance(&account).await, 100 - WA_PRICE);
        let lease = h.lease_of(&a.id).await.expect("a lease");
        assert_eq!(lease.phone_number, a.phone_number);
        assert!(lease.held);

        h.advance(Duration::from_secs(40));
        let message = h
            .deliver(&a.id, "in-1", "Your WhatsApp code is 123-456. Don't share it.")
            .await
            .unwrap();
        assert_eq!(message.code, "123456");
        assert_eq!(message.phone_number, a.phone_number);
        let got = h.get(&a.id).await;
        assert_eq!(status(&got), S::Received);
        assert_eq!(got.code, "123456");
        assert_eq!(got.messages.len(), 1);
        assert_eq!(got.messages[0].body, "Your WhatsApp code is 123-456. Don't share it.");

        let done = h
            .client
            .complete_activation(pb::CompleteActivationRequest { id: a.id.clone() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(status(&done), S::Finished);
        assert!(done.end_time.is_some());
        assert_eq!(units(&done.refunded), 0);
        assert!(h.lease_of(&a.id).await.unwrap().released, "the number is released");
        assert_eq!(h.stored(&a.id).await.1, 0, "nothing left to settle");
        // Completing again changes nothing; the money stays charged.
        let again = h
            .client
            .complete_activation(pb::CompleteActivationRequest { id: a.id.clone() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(again.end_time, done.end_time);
        assert_eq!(h.balance(&account).await, 100 - WA_PRICE);
        assert_eq!(h.charged(&account).await, (WA_PRICE, 0));
    }

    async fn cancel_before_any_sms_refunds_in_full_once(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 2).await;
        let account = h.account();
        h.fund(&account, 100).await;
        let a = h.buy("wa", "buy-1").await.unwrap();
        let cancelled = h
            .client
            .cancel_activation(pb::CancelActivationRequest { id: a.id.clone() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(status(&cancelled), S::Cancelled);
        assert_eq!(units(&cancelled.refunded), WA_PRICE);
        assert_eq!(h.balance(&account).await, 100);
        assert!(h.lease_of(&a.id).await.unwrap().released);
        // A second cancel is a no-op, never a second refund.
        let again = h
            .client
            .cancel_activation(pb::CancelActivationRequest { id: a.id.clone() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(status(&again), S::Cancelled);
        assert_eq!(h.charged(&account).await, (WA_PRICE, WA_PRICE));
        // An ended activation takes no SMS, and cannot be completed.
        assert_status(h.deliver(&a.id, "late", "code 1234").await, Code::FailedPrecondition, "ACTIVATION_ENDED");
        let complete = h.client.complete_activation(pb::CompleteActivationRequest { id: a.id.clone() }).await;
        assert_status(complete, Code::FailedPrecondition, "ACTIVATION_ENDED");
        let skip = h.client.skip_number(pb::SkipNumberRequest { id: a.id.clone() }).await;
        assert_status(skip, Code::FailedPrecondition, "ACTIVATION_ENDED");
    }

    async fn an_sms_forbids_cancel_and_no_sms_forbids_complete(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 2).await;
        let account = h.account();
        h.fund(&account, 100).await;
        let a = h.buy("wa", "buy-1").await.unwrap();
        let complete = h.client.complete_activation(pb::CompleteActivationRequest { id: a.id.clone() }).await;
        assert_status(complete, Code::FailedPrecondition, "NO_SMS_RECEIVED");
        h.deliver(&a.id, "in-1", "Code: 4321").await.unwrap();
        let cancel = h.client.cancel_activation(pb::CancelActivationRequest { id: a.id.clone() }).await;
        assert_status(cancel, Code::FailedPrecondition, "SMS_ALREADY_RECEIVED");
        let skip = h.client.skip_number(pb::SkipNumberRequest { id: a.id.clone() }).await;
        assert_status(skip, Code::FailedPrecondition, "SMS_ALREADY_RECEIVED");
        // Even back in WAITING for another SMS, it cannot be cancelled.
        let back = h.client.request_another_sms(pb::RequestAnotherSmsRequest { id: a.id.clone() }).await.unwrap().into_inner();
        assert_eq!(status(&back), S::Waiting);
        let cancel = h.client.cancel_activation(pb::CancelActivationRequest { id: a.id.clone() }).await;
        assert_status(cancel, Code::FailedPrecondition, "SMS_ALREADY_RECEIVED");
        assert_eq!(h.charged(&account).await, (WA_PRICE, 0));
    }

    async fn another_sms_goes_back_to_waiting_and_keeps_the_latest_code(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 1).await;
        let account = h.account();
        h.fund(&account, 100).await;
        let a = h.buy("wa", "buy-1").await.unwrap();
        // Asking while WAITING changes nothing.
        let same = h.client.request_another_sms(pb::RequestAnotherSmsRequest { id: a.id.clone() }).await.unwrap().into_inner();
        assert_eq!(status(&same), S::Waiting);
        h.deliver(&a.id, "in-1", "Your code is 111111").await.unwrap();
        let waiting = h.client.request_another_sms(pb::RequestAnotherSmsRequest { id: a.id.clone() }).await.unwrap().into_inner();
        assert_eq!(status(&waiting), S::Waiting);
        assert_eq!(waiting.expire_time, a.expire_time, "the expiry does not move");
        h.deliver(&a.id, "in-2", "Your code is 222222").await.unwrap();
        let got = h.get(&a.id).await;
        assert_eq!(status(&got), S::Received);
        assert_eq!(got.code, "222222");
        assert_eq!(got.messages.iter().map(|m| m.code.as_str()).collect::<Vec<_>>(), ["111111", "222222"]);
        // A WAITING activation that had an SMS can still be completed.
        h.client.request_another_sms(pb::RequestAnotherSmsRequest { id: a.id.clone() }).await.unwrap();
        let done = h.client.complete_activation(pb::CompleteActivationRequest { id: a.id.clone() }).await.unwrap().into_inner();
        assert_eq!(status(&done), S::Finished);
        let after = h.client.request_another_sms(pb::RequestAnotherSmsRequest { id: a.id.clone() }).await;
        assert_status(after, Code::FailedPrecondition, "ACTIVATION_ENDED");
    }

    async fn expiry_refunds_without_sms_and_keeps_the_price_after_one(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 2).await;
        let account = h.account();
        h.fund(&account, 100).await;
        let silent = h.buy("wa", "silent").await.unwrap();
        let answered = h.buy("tg", "answered").await.unwrap();
        h.deliver(&answered.id, "in-1", "Telegram code 55555").await.unwrap();
        h.advance(LIFETIME - Duration::from_secs(1));
        h.settle_everything().await;
        assert_eq!(status(&h.get(&silent.id).await), S::Waiting, "not yet");
        h.advance(Duration::from_secs(1));
        h.settle_everything().await;
        let silent = h.get(&silent.id).await;
        assert_eq!(status(&silent), S::Expired);
        assert_eq!(units(&silent.refunded), WA_PRICE);
        let answered = h.get(&answered.id).await;
        assert_eq!(status(&answered), S::Finished);
        assert_eq!(units(&answered.refunded), 0);
        assert_eq!(h.balance(&account).await, 100 - TG_PRICE);
        assert!(!h.lease_of(&silent.id).await.unwrap().held);
        assert!(!h.lease_of(&answered.id).await.unwrap().held);
        // Running the workers again refunds nothing more.
        h.advance(Duration::from_secs(3600));
        h.settle_everything().await;
        assert_eq!(h.charged(&account).await, (WA_PRICE + TG_PRICE, WA_PRICE));
    }

    async fn an_sms_received_after_expiry_is_refused(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 1).await;
        let account = h.account();
        h.fund(&account, 100).await;
        let a = h.buy("wa", "buy-1").await.unwrap();
        // Past the expiry but before the worker ran: the SMS came too late.
        h.advance(LIFETIME);
        assert_status(h.deliver(&a.id, "in-1", "code 1234").await, Code::FailedPrecondition, "ACTIVATION_ENDED");
        h.settle_everything().await;
        assert_eq!(status(&h.get(&a.id).await), S::Expired);
        assert_eq!(h.balance(&account).await, 100);
    }

    async fn skip_refunds_and_bans_the_number_for_the_account_only(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 1).await;
        let account = h.account();
        h.fund(&account, 200).await;
        let a = h.buy("wa", "buy-1").await.unwrap();
        let skipped = h.client.skip_number(pb::SkipNumberRequest { id: a.id.clone() }).await.unwrap().into_inner();
        assert_eq!(status(&skipped), S::Skipped);
        assert_eq!(units(&skipped.refunded), WA_PRICE);
        assert_eq!(h.balance(&account).await, 200);
        // The only number is banned for this account, for any service...
        assert_status(h.buy("tg", "buy-2").await, Code::FailedPrecondition, "NO_NUMBERS_AVAILABLE");
        // ...and not for another.
        let (other, mut client) = h.other_customer("other").await;
        h.fund(&other.account_id, 100).await;
        let theirs = client.create_activation(Harness::buy_request("tg", "o-1")).await.unwrap().into_inner();
        assert_eq!(theirs.phone_number, a.phone_number);
        // A refused purchase charges nothing.
        assert_eq!(h.charged(&account).await, (WA_PRICE, WA_PRICE));
    }

    async fn cancel_can_require_a_minimum_age(backend: Backend) {
        let settings = OrdersSettings { min_cancel_age: Duration::from_secs(120), ..settings() };
        let mut h = start_with(backend, settings).await;
        h.import(0, 1).await;
        let account = h.account();
        h.fund(&account, 100).await;
        let a = h.buy("wa", "buy-1").await.unwrap();
        h.advance(Duration::from_secs(30));
        let early = h.client.cancel_activation(pb::CancelActivationRequest { id: a.id.clone() }).await;
        let status_ = assert_status(early, Code::FailedPrecondition, "EARLY_CANCEL_DENIED");
        use tonic_types::StatusExt as _;
        let info = status_.get_error_details().error_info().cloned().unwrap();
        assert_eq!(info.metadata.get("retry_after_seconds").map(String::as_str), Some("90"));
        assert_eq!(h.balance(&account).await, 100 - WA_PRICE, "nothing refunded yet");
        h.advance(Duration::from_secs(90));
        let cancelled = h.client.cancel_activation(pb::CancelActivationRequest { id: a.id.clone() }).await.unwrap().into_inner();
        assert_eq!(status(&cancelled), S::Cancelled);
        assert_eq!(h.balance(&account).await, 100);
    }

    async fn short_balance_fails_the_purchase_and_frees_the_number(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 1).await;
        let account = h.account();
        h.fund(&account, WA_PRICE - 1).await;
        assert_status(h.buy("wa", "buy-1").await, Code::FailedPrecondition, "INSUFFICIENT_BALANCE");
        // The same request after a top-up still gets the first answer.
        h.fund(&account, 100).await;
        assert_status(h.buy("wa", "buy-1").await, Code::FailedPrecondition, "INSUFFICIENT_BALANCE");
        let list = h.client.list_activations(pb::ListActivationsRequest::default()).await.unwrap().into_inner();
        assert_eq!(list.activations.len(), 1);
        assert_eq!(status(&list.activations[0]), S::Failed);
        assert_eq!(list.activations[0].failure_reason, "INSUFFICIENT_BALANCE");
        let lease = h.lease_of(&list.activations[0].id).await.unwrap();
        assert!(lease.released, "the number went back");
        // The unpaid lease did not wear the number out: a new request gets
        // it, fresh for the same service, and pays.
        let a = h.buy("wa", "buy-2").await.unwrap();
        assert_eq!(a.phone_number, lease.phone_number);
        assert_eq!(h.charged(&account).await, (WA_PRICE, 0));
    }

    async fn catalog_refusals_fail_the_purchase_without_a_charge(backend: Backend) {
        let mut h = start(backend).await;
        let account = h.account();
        h.fund(&account, 100).await;
        assert_status(h.buy("wa", "none").await, Code::FailedPrecondition, "NO_NUMBERS_AVAILABLE");
        h.import(0, 1).await;
        let mut dear = Harness::buy_request("wa", "dear");
        dear.max_price = usd(WA_PRICE - 1);
        assert_status(h.client.create_activation(dear).await, Code::FailedPrecondition, "PRICE_ABOVE_MAX");
        assert_status(h.buy("go", "unpriced").await, Code::FailedPrecondition, "NOT_OFFERED");
        assert_status(h.buy("zzzz", "unknown").await, Code::NotFound, "RESOURCE_NOT_FOUND");
        let mut exact = Harness::buy_request("wa", "exact");
        exact.max_price = usd(WA_PRICE);
        h.client.create_activation(exact).await.unwrap();
        assert_eq!(h.charged(&account).await, (WA_PRICE, 0));
        // A limit in another currency than the catalog's is the client's
        // mistake, and stays one on retry.
        h.import(1, 1).await;
        let mut euros = Harness::buy_request("tg", "euros");
        euros.max_price = Some(numhub_proto::common::v1::Money { currency_code: "EUR".into(), minor_units: 500 });
        for _ in 0..2 {
            let status_ = assert_status(h.client.create_activation(euros.clone()).await, Code::InvalidArgument, "INVALID_FIELD");
            assert_eq!(bad_fields(&status_), ["max_price"]);
            assert!(status_.message().contains("USD"), "{status_:?}");
        }
        assert_eq!(h.charged(&account).await, (WA_PRICE, 0));
        // A limit of zero is a mistake, not "no limit": nothing is bought.
        for units in [0, -5] {
            let mut nothing = Harness::buy_request("tg", &format!("zero-{units}"));
            nothing.max_price = usd(units);
            let status_ = assert_status(h.client.create_activation(nothing).await, Code::InvalidArgument, "INVALID_FIELD");
            assert_eq!(bad_fields(&status_), ["max_price"]);
        }
        assert_eq!(h.charged(&account).await, (WA_PRICE, 0));
    }

    async fn retries_replay_and_reused_keys_are_refused(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 5).await;
        let account = h.account();
        h.fund(&account, 1000).await;
        let first = h.buy("wa", "same").await.unwrap();
        let again = h.buy("wa", "same").await.unwrap();
        assert_eq!(first.id, again.id);
        assert_status(h.buy("tg", "same").await, Code::FailedPrecondition, "IDEMPOTENCY_KEY_REUSED");
        // Ten concurrent duplicates make one activation and one charge.
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let mut client = h.client.clone();
            tasks.push(tokio::spawn(async move {
                client.create_activation(Harness::buy_request("tg", "burst")).await
            }));
        }
        let mut ids = std::collections::HashSet::new();
        for task in tasks {
            match task.await.unwrap() {
                Ok(a) => { ids.insert(a.into_inner().id); }
                Err(status) => assert_eq!(status.code(), Code::Aborted, "{status:?}"),
            }
        }
        assert_eq!(ids.len(), 1, "{ids:?}");
        let settled = h.buy("tg", "burst").await.unwrap();
        assert!(ids.contains(&settled.id));
        assert_eq!(h.charged(&account).await, (WA_PRICE + TG_PRICE, 0));
    }

    async fn the_open_activation_limit_holds_under_concurrency(backend: Backend) {
        let settings = OrdersSettings { max_open: 3, ..settings() };
        let mut h = start_with(backend, settings).await;
        h.import(0, 20).await;
        let account = h.account();
        h.fund(&account, 10_000).await;
        let mut tasks = Vec::new();
        for i in 0..10 {
            let mut client = h.client.clone();
            tasks.push(tokio::spawn(async move {
                client.create_activation(Harness::buy_request("wa", &format!("b-{i}"))).await
            }));
        }
        let mut bought = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                Ok(a) => bought.push(a.into_inner()),
                Err(status) => {
                    assert_eq!(status.code(), Code::FailedPrecondition);
                    assert_eq!(reason(&status), "OPEN_ACTIVATION_LIMIT");
                }
            }
        }
        assert_eq!(bought.len(), 3);
        assert_eq!(h.charged(&account).await, (3 * WA_PRICE, 0));
        // Ending one makes room for one more.
        h.client.cancel_activation(pb::CancelActivationRequest { id: bought[0].id.clone() }).await.unwrap();
        h.buy("wa", "after").await.unwrap();
        assert_status(h.buy("wa", "one-too-many").await, Code::FailedPrecondition, "OPEN_ACTIVATION_LIMIT");
    }

    async fn reuse_buys_the_same_number_again_within_the_window(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 2).await;
        let account = h.account();
        h.fund(&account, 1000).await;
        let a = h.buy("wa", "first").await.unwrap();
        let reuse = |id: &str, key: &str| pb::ReuseNumberRequest { activation_id: id.into(), max_price: None, request_id: key.into() };
        // Not finished yet.
        assert_status(h.client.reuse_number(reuse(&a.id, "r0")).await, Code::FailedPrecondition, "REUSE_WINDOW_CLOSED");
        h.deliver(&a.id, "in-1", "code 9876").await.unwrap();
        h.client.complete_activation(pb::CompleteActivationRequest { id: a.id.clone() }).await.unwrap();
        // A fresh purchase for the same service never gets a used number.
        let fresh = h.buy("wa", "fresh").await.unwrap();
        assert_ne!(fresh.phone_number, a.phone_number);
        let again = h.client.reuse_number(reuse(&a.id, "r1")).await.unwrap().into_inner();
        assert_eq!(status(&again), S::Waiting);
        assert_eq!(again.phone_number, a.phone_number);
        assert_eq!(again.service_code, "wa");
        assert_eq!(again.reused_activation_id, a.id);
        assert_eq!(h.charged(&account).await, (3 * WA_PRICE, 0));
        // The retry replays; another account's id is not found.
        assert_eq!(h.client.reuse_number(reuse(&a.id, "r1")).await.unwrap().into_inner().id, again.id);
        let (_, mut stranger) = h.other_customer("stranger").await;
        assert_status(stranger.reuse_number(reuse(&a.id, "s1")).await, Code::NotFound, "RESOURCE_NOT_FOUND");
        // While the reuse holds the number, reusing it again finds it gone.
        h.deliver(&again.id, "in-2", "code 5555").await.unwrap();
        assert_status(h.client.reuse_number(reuse(&a.id, "r2")).await, Code::FailedPrecondition, "NUMBER_OFFLINE");
        // After the window, no more.
        h.client.complete_activation(pb::CompleteActivationRequest { id: again.id.clone() }).await.unwrap();
        h.advance(Duration::from_secs(3601));
        assert_status(h.client.reuse_number(reuse(&again.id, "r3")).await, Code::FailedPrecondition, "REUSE_WINDOW_CLOSED");
        assert_eq!(h.charged(&account).await, (3 * WA_PRICE, 0), "refusals charge nothing");
    }

    async fn deliveries_are_idempotent_and_checked(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 2).await;
        let account = h.account();
        h.fund(&account, 100).await;
        let a = h.buy("wa", "buy-1").await.unwrap();
        let first = h.deliver(&a.id, "in-1", "Your code: 2468").await.unwrap();
        let second = h.deliver(&a.id, "in-1", "Your code: 2468").await.unwrap();
        assert_eq!(first, second);
        assert_eq!(h.get(&a.id).await.messages.len(), 1);
        // Ten concurrent redeliveries store one message.
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let mut internal = h.internal.clone();
            let request = h.delivery(&a.id, "in-2", "Your code: 1357");
            tasks.push(tokio::spawn(async move { internal.deliver_message(request).await }));
        }
        let mut ids = std::collections::HashSet::new();
        for task in tasks {
            ids.insert(task.await.unwrap().unwrap().into_inner().id);
        }
        assert_eq!(ids.len(), 1);
        assert_eq!(h.get(&a.id).await.messages.len(), 2);
        // The same inbound id for another activation is a reused key.
        let b = h.buy("tg", "buy-2").await.unwrap();
        assert_status(h.deliver(&b.id, "in-1", "x 1234").await, Code::FailedPrecondition, "IDEMPOTENCY_KEY_REUSED");
        let unknown = uuid::Uuid::now_v7().to_string();
        assert_status(h.deliver(&unknown, "in-9", "x 1234").await, Code::NotFound, "RESOURCE_NOT_FOUND");
        let mut bad = h.delivery("nope", "", "");
        bad.receive_time = None;
        let status_ = assert_status(h.internal.deliver_message(bad).await, Code::InvalidArgument, "INVALID_FIELD");
        assert_eq!(bad_fields(&status_), ["activation_id", "inbound_message_id", "body", "receive_time"]);
        // A message without a code is kept too.
        let plain = h.deliver(&b.id, "in-3", "Welcome to Telegram!").await.unwrap();
        assert_eq!(plain.code, "");
        assert_eq!(status(&h.get(&b.id).await), S::Received);
        // The limits inbound checks a message by (numhub_runtime::sms), in
        // characters: at them, delivered; one over, refused as inbound
        // refuses it.
        let at_limit = "ж".repeat(sms::MAX_BODY_LEN);
        let mut edge = h.delivery(&b.id, "in-4", &at_limit);
        edge.sender = "s".repeat(sms::MAX_SENDER_LEN);
        edge.inbound_message_id = "i".repeat(sms::MAX_MESSAGE_ID_LEN);
        assert_eq!(h.internal.deliver_message(edge).await.unwrap().into_inner().body, at_limit);
        let mut over = h.delivery(&b.id, "in-5", &format!("{at_limit}ж"));
        over.sender = "s".repeat(sms::MAX_SENDER_LEN + 1);
        over.inbound_message_id = "i".repeat(sms::MAX_MESSAGE_ID_LEN + 1);
        let status_ = assert_status(h.internal.deliver_message(over).await, Code::InvalidArgument, "INVALID_FIELD");
        assert_eq!(bad_fields(&status_), ["inbound_message_id", "sender", "body"]);
    }

    async fn bad_requests_name_their_fields(backend: Backend) {
        let mut h = start(backend).await;
        let bad = pb::CreateActivationRequest {
            service_code: "WA!".into(),
            country_code: "usa".into(),
            operator: "T-Mobile".into(),
            max_price: usd(-1),
            request_id: String::new(),
        };
        let status_ = assert_status(h.client.create_activation(bad).await, Code::InvalidArgument, "INVALID_FIELD");
        assert_eq!(bad_fields(&status_), ["service_code", "country_code", "operator", "max_price", "request_id"]);
        let status_ = assert_status(h.client.get_activation(pb::GetActivationRequest { id: "x".into() }).await, Code::InvalidArgument, "INVALID_FIELD");
        assert_eq!(bad_fields(&status_), ["id"]);
        let list = pb::ListActivationsRequest { statuses: vec![42], page_size: 101, page_token: "forged".into() };
        let status_ = assert_status(h.client.list_activations(list).await, Code::InvalidArgument, "INVALID_FIELD");
        assert_eq!(bad_fields(&status_), ["statuses[0]", "page_size", "page_token"]);
        let watch = pb::WatchMessagesRequest { after: "forged".into() };
        let status_ = assert_status(h.client.watch_messages(watch).await, Code::InvalidArgument, "INVALID_FIELD");
        assert_eq!(bad_fields(&status_), ["after"]);
    }

    async fn other_accounts_ids_are_not_found(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 1).await;
        let account = h.account();
        h.fund(&account, 100).await;
        let a = h.buy("wa", "buy-1").await.unwrap();
        let (_, mut stranger) = h.other_customer("stranger").await;
        let id = a.id.clone();
        assert_status(stranger.get_activation(pb::GetActivationRequest { id: id.clone() }).await, Code::NotFound, "RESOURCE_NOT_FOUND");
        assert_status(stranger.cancel_activation(pb::CancelActivationRequest { id: id.clone() }).await, Code::NotFound, "RESOURCE_NOT_FOUND");
        assert_status(stranger.complete_activation(pb::CompleteActivationRequest { id: id.clone() }).await, Code::NotFound, "RESOURCE_NOT_FOUND");
        assert_status(stranger.skip_number(pb::SkipNumberRequest { id: id.clone() }).await, Code::NotFound, "RESOURCE_NOT_FOUND");
        assert_status(stranger.request_another_sms(pb::RequestAnotherSmsRequest { id: id.clone() }).await, Code::NotFound, "RESOURCE_NOT_FOUND");
        assert_status(stranger.watch_activation(pb::WatchActivationRequest { id: id.clone(), after: String::new() }).await, Code::NotFound, "RESOURCE_NOT_FOUND");
        let theirs = stranger.list_activations(pb::ListActivationsRequest::default()).await.unwrap().into_inner();
        assert!(theirs.activations.is_empty());
        assert_eq!(status(&h.get(&id).await), S::Waiting, "untouched");
    }

    async fn lists_page_newest_first_and_filter_by_status(backend: Backend) {
        let mut h = start(backend).await;
        h.import(0, 5).await;
        let account = h.account();
        h.fund(&account, 1000).await;
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(h.buy("wa", &format!("b-{i}")).await.unwrap().id);
        }
        h.client.cancel_activation(pb::CancelActivationRequest { id: ids[1].clone() }).await.unwrap();
        let mut seen = Vec::new();
        let mut token = String::new();
        loop {
            let page = h.client.list_activations(pb::ListActivationsRequest { statuses: vec![], page_size: 2, page_token: token.clone() }).await.unwrap().into_inner();
            assert!(page.activations.len() <= 2);
            seen.extend(page.activations.into_iter().map(|a| a.id));
            if page.next_page_token.is_empty() { break; }
            token = page.next_page_token;
        }
        let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
        assert_eq!(seen, newest_first);
        let cancelled = h.client.list_activations(pb::ListActivationsRequest { statuses: vec![S::Cancelled as i32], ..Default::default() }).await.unwrap().into_inner();
        assert_eq!(cancelled.activations.iter().map(|a| a.id.clone()).collect::<Vec<_>>(), [ids[1].clone()]);
        assert!(cancelled.activations[0].messages.is_empty());
    }
}
