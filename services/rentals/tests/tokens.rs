//! Page tokens and stream cursors sent back as a hostile client would:
//! another method's, another account's, another filter's, altered, made up,
//! or of an earlier version, each refused with INVALID_ARGUMENT naming the
//! field; and the ones a service issued, still good after it restarts (a
//! fresh service on the same database). Over real gRPC, on both backends.

mod common;

use std::time::Duration;

use common::*;
use numhub_proto::accounts::v1 as accounts_pb;
use numhub_proto::accounts::v1::accounts_service_client::AccountsServiceClient;
use numhub_proto::catalog::v1::RentalDuration as D;
use numhub_proto::orders::v1 as orders_pb;
use numhub_proto::rentals::v1 as pb;
use numhub_proto::wallet::v1 as wallet_pb;
use numhub_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use numhub_testkit::BearerKey;
use numhub_testkit::backend_tests;
use numhub_testkit::tokens::{assert_refused, tampered, v1};
use tokio_stream::StreamExt as _;
use tonic::codec::Streaming;

async fn next<T>(stream: &mut Streaming<T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an event in time")
        .expect("an event")
        .expect("no error")
}

fn list_rentals(filter: pb::RentalFilter, token: &str) -> pb::ListRentalsRequest {
    pb::ListRentalsRequest {
        filter: filter as i32,
        page_size: 1,
        page_token: token.into(),
    }
}

fn watch_rental(id: &str, after: &str) -> pb::WatchRentalRequest {
    pb::WatchRentalRequest {
        id: id.into(),
        after: after.into(),
    }
}

fn watch_activation(id: &str, after: &str) -> orders_pb::WatchActivationRequest {
    orders_pb::WatchActivationRequest {
        id: id.into(),
        after: after.into(),
    }
}

/// A customer with two rentals and an activation (their ids).
async fn busy_customer(backend: Backend) -> (Rented, Vec<String>, String) {
    let mut r = start(backend).await;
    r.h.import(0, 6).await;
    let account = r.account();
    r.h.fund(&account, 10_000).await;
    let mut rentals = Vec::new();
    for key in ["rent-1", "rent-2"] {
        rentals.push(r.rent(key, D::OneMonth).await.unwrap().rental.unwrap().id);
    }
    let activation = r.h.buy("wa", "buy-1").await.unwrap().id;
    (r, rentals, activation)
}

backend_tests! {
    async fn a_page_token_works_only_for_the_method_that_issued_it(backend: Backend) {
        let (mut r, _, _) = busy_customer(backend).await;
        let key = BearerKey(r.h.customer.key.clone());
        let mut wallet = WalletServiceClient::with_interceptor(r.h.wallet_server.channel(), key.clone());
        let mut accounts = AccountsServiceClient::with_interceptor(r.h.stack.channel(), key);
        let ledger = |token: &str| wallet_pb::ListTransactionsRequest { page_size: 1, page_token: token.into() };
        let first = wallet.list_transactions(ledger("")).await.unwrap().into_inner();
        let token = first.next_page_token;
        assert!(!token.is_empty(), "the ledger has more than one entry");

        let activations = orders_pb::ListActivationsRequest { page_token: token.clone(), ..Default::default() };
        assert_refused(r.h.client.list_activations(activations).await, "page_token", &token);
        let keys = accounts_pb::ListApiKeysRequest { page_token: token.clone(), ..Default::default() };
        assert_refused(accounts.list_api_keys(keys).await, "page_token", &token);
        let rentals = list_rentals(pb::RentalFilter::All, &token);
        assert_refused(r.client.list_rentals(rentals).await, "page_token", &token);

        // The method that issued it takes it.
        let second = wallet.list_transactions(ledger(&token)).await.unwrap().into_inner();
        assert_eq!(second.transactions.len(), 1);
        assert_ne!(second.transactions[0].id, first.transactions[0].id);
    }

    async fn a_page_token_is_bound_to_its_account_and_filters(backend: Backend) {
        let (mut r, rentals, _) = busy_customer(backend).await;
        let page = r.client.list_rentals(list_rentals(pb::RentalFilter::All, "")).await.unwrap().into_inner();
        let token = page.next_page_token;
        assert_eq!(page.rentals[0].id, rentals[1], "newest first");

        // Another account, the same method and filter.
        let (other, _) = r.h.other_customer("other").await;
        let mut as_other = pb::rentals_service_client::RentalsServiceClient::with_interceptor(
            r.rentals_server.channel(),
            BearerKey(other.key.clone()),
        );
        assert_refused(as_other.list_rentals(list_rentals(pb::RentalFilter::All, &token)).await, "page_token", &token);
        // The same account, another filter.
        let active = list_rentals(pb::RentalFilter::Active, &token);
        assert_refused(r.client.list_rentals(active).await, "page_token", &token);
        // One bit flipped: in the version, the cursor, the tag.
        for at in [0, 5, -1] {
            let altered = tampered(&token, at);
            let request = list_rentals(pb::RentalFilter::All, &altered);
            assert_refused(r.client.list_rentals(request).await, "page_token", &altered);
        }
        // Cut short, and made of nothing.
        let short = &token[..token.len() - 4];
        assert_refused(r.client.list_rentals(list_rentals(pb::RentalFilter::All, short)).await, "page_token", short);
        assert_refused(r.client.list_rentals(list_rentals(pb::RentalFilter::All, "garbage!")).await, "page_token", "garbage!");
        // A cursor made up in the format of earlier versions: refused, and
        // the message says to start again.
        let forged = v1(&rentals[1]);
        let status = assert_refused(r.client.list_rentals(list_rentals(pb::RentalFilter::All, &forged)).await, "page_token", &forged);
        assert!(status.message().contains("earlier version"), "{status:?}");

        // Activations: bound to the status filter too.
        for key in ["buy-2", "buy-3"] {
            r.h.buy("wa", key).await.unwrap();
        }
        let list = |statuses: Vec<i32>, token: &str| orders_pb::ListActivationsRequest {
            statuses,
            page_size: 1,
            page_token: token.into(),
        };
        let waiting = vec![orders_pb::ActivationStatus::Waiting as i32];
        let page = r.h.client.list_activations(list(waiting.clone(), "")).await.unwrap().into_inner();
        let token = page.next_page_token;
        assert!(!token.is_empty());
        assert_refused(r.h.client.list_activations(list(Vec::new(), &token)).await, "page_token", &token);
        let mut as_other = r.h.client_for(&other);
        assert_refused(as_other.list_activations(list(waiting.clone(), &token)).await, "page_token", &token);
        let next = r.h.client.list_activations(list(waiting, &token)).await.unwrap().into_inner();
        assert_eq!(next.activations.len(), 1);
    }

    async fn a_stream_cursor_works_only_for_the_stream_that_issued_it(backend: Backend) {
        let (mut r, rentals, activation) = busy_customer(backend).await;
        let mut orders = r.h.client.clone();
        let mut stream = orders.watch_activation(watch_activation(&activation, "")).await.unwrap().into_inner();
        let cursor = next(&mut stream).await.cursor;
        drop(stream);

        assert_refused(r.client.watch_rental(watch_rental(&rentals[0], &cursor)).await, "after", &cursor);
        let messages = orders_pb::WatchMessagesRequest { after: cursor.clone() };
        assert_refused(r.orders.watch_messages(messages).await, "after", &cursor);
        // Another activation of the same account.
        let other = r.h.buy("wa", "buy-2").await.unwrap().id;
        assert_refused(orders.watch_activation(watch_activation(&other, &cursor)).await, "after", &cursor);
        // A rental's cursor sent to orders, and to another rental.
        let mut stream = r.client.watch_rental(watch_rental(&rentals[0], "")).await.unwrap().into_inner();
        let rental_cursor = next(&mut stream).await.cursor;
        drop(stream);
        assert_refused(orders.watch_activation(watch_activation(&activation, &rental_cursor)).await, "after", &rental_cursor);
        assert_refused(r.client.watch_rental(watch_rental(&rentals[1], &rental_cursor)).await, "after", &rental_cursor);
        // Altered, and forged in the earlier format.
        let altered = tampered(&cursor, 1);
        assert_refused(orders.watch_activation(watch_activation(&activation, &altered)).await, "after", &altered);
        let forged = v1("0");
        let status = assert_refused(orders.watch_activation(watch_activation(&activation, &forged)).await, "after", &forged);
        assert!(status.message().contains("earlier version"), "{status:?}");
        let status = assert_refused(r.orders.watch_messages(orders_pb::WatchMessagesRequest { after: forged.clone() }).await, "after", &forged);
        assert!(status.message().contains("earlier version"), "{status:?}");
    }

    async fn tokens_and_cursors_outlive_a_restart(backend: Backend) {
        let (mut r, rentals, _) = busy_customer(backend).await;
        let page = r.client.list_rentals(list_rentals(pb::RentalFilter::All, "")).await.unwrap().into_inner();
        let mut stream = r.client.watch_rental(watch_rental(&rentals[0], "")).await.unwrap().into_inner();
        let cursor = next(&mut stream).await.cursor;
        drop(stream);
        let mut messages = r.orders.watch_messages(orders_pb::WatchMessagesRequest::default()).await.unwrap().into_inner();
        let number = r.get(&rentals[0]).await.phone_number;
        r.sms(&number, "WhatsApp", "WhatsApp code 111-111").await;
        let first_message = next(&mut messages).await;
        drop(messages);
        r.sms(&number, "WhatsApp", "WhatsApp code 222-222").await;

        // A fresh rentals on the same database, as after a restart.
        let restarted = rentals_on(&r.h, &r.rentals_db, settings()).await;
        let server = r.h.stack.serve(&restarted).await;
        let mut client = pb::rentals_service_client::RentalsServiceClient::with_interceptor(
            server.channel(),
            BearerKey(r.h.customer.key.clone()),
        );
        let second = client
            .list_rentals(list_rentals(pb::RentalFilter::All, &page.next_page_token))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(second.rentals.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), [rentals[0].as_str()]);
        let mut resumed = client.watch_rental(watch_rental(&rentals[0], &cursor)).await.unwrap().into_inner();
        match next(&mut resumed).await.event.expect("an event") {
            pb::rental_event::Event::Message(m) => assert_eq!(m.code, "111111"),
            other => panic!("expected the first message, got {other:?}"),
        }

        // A fresh orders on orders' database: WatchMessages resumes after
        // the first message with the second, from the cursor holding both
        // positions.
        let orders = numhub_orders::Orders::new(
            r.h.orders_db.db.clone(),
            r.h.clock.clone(),
            numhub_orders::OrdersSettings { stream_recheck: Duration::from_secs(3600), ..Default::default() },
            numhub_orders::Dependencies::new(r.h.wallet_server.outbound("wallet"), r.h.catalog_server.outbound("catalog"), &r.h.stack.credentials)
                .with_rentals(server.outbound("rentals"), &r.h.stack.credentials),
        )
        .await
        .expect("start orders");
        let orders_server = r.h.stack.serve(&orders).await;
        let mut on_restarted = numhub_proto::orders::v1::orders_service_client::OrdersServiceClient::with_interceptor(
            orders_server.channel(),
            BearerKey(r.h.customer.key.clone()),
        );
        let request = orders_pb::WatchMessagesRequest { after: first_message.cursor.clone() };
        let mut resumed = on_restarted.watch_messages(request).await.unwrap().into_inner();
        assert_eq!(next(&mut resumed).await.message.expect("a message").code, "222222");
        drop(resumed);
        orders_server.shutdown().await;
        server.shutdown().await;
    }
}
