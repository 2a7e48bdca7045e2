//! Rentals' public and internal gRPC services: thin handlers that parse a
//! request (see [`crate::proto`]), call the domain, and map its answer. No
//! rule lives here.

use numhub_auth::Caller;
use numhub_holding::Holder as _;
use numhub_proto::rentals::v1 as pb;
use numhub_runtime::tokens::TokenScope;
use numhub_runtime::{money, parse, streams};
use tonic::{Request, Response, Status};

use crate::Rentals;
use crate::Watched;
use crate::model::{Cancellation, EventBody, RenewalOrder, Settle};
use crate::proto::{self, message_to_proto, rental_to_proto};

const LIST_RENTALS: &str = "numhub.rentals.v1.RentalsService/ListRentals";
const LIST_MESSAGES: &str = "numhub.rentals.v1.RentalsService/ListMessages";
const WATCH_RENTAL: &str = "numhub.rentals.v1.RentalsService/WatchRental";
const WATCH_ACCOUNT_MESSAGES: &str =
    "numhub.rentals.v1.RentalsInternalService/WatchAccountMessages";

type Stream<T> = streams::ResponseStream<T>;

#[tonic::async_trait]
impl pb::rentals_service_server::RentalsService for Rentals {
    async fn create_rental(
        &self,
        request: Request<pb::CreateRentalRequest>,
    ) -> Result<Response<pb::CreateRentalResponse>, Status> {
        let caller = Caller::of(&request)?;
        let purchase = parse::request(proto::purchase(
            caller.account_id.as_ref(),
            request.into_inner(),
        ))?;
        let rental = self.purchase(purchase).await?;
        Ok(Response::new(pb::CreateRentalResponse {
            charged: money::to_proto(&rental.currency, rental.price),
            balance_after: rental
                .balance_after
                .and_then(|b| money::to_proto(&rental.currency, b)),
            rental: Some(rental_to_proto(&rental, Vec::new(), self.now())),
        }))
    }

    async fn get_rental(
        &self,
        request: Request<pb::GetRentalRequest>,
    ) -> Result<Response<pb::Rental>, Status> {
        let caller = Caller::of(&request)?;
        let id = parse::request(proto::rental_id(&request.get_ref().id))?;
        let (rental, messages) = self.get_with_messages(&caller.account_id, &id).await?;
        Ok(Response::new(rental_to_proto(
            &rental,
            messages,
            self.now(),
        )))
    }

    async fn list_rentals(
        &self,
        request: Request<pb::ListRentalsRequest>,
    ) -> Result<Response<pb::ListRentalsResponse>, Status> {
        let caller = Caller::of(&request)?;
        let r = request.into_inner();
        let scope = TokenScope::new(LIST_RENTALS, &caller.account_id)
            .filter("filter", r.filter.to_string());
        let q = parse::request(proto::rental_query(&self.core.tokens, &scope, &r))?;
        let (rentals, next) = self
            .list(
                &caller.account_id,
                q.filter,
                q.before.as_deref(),
                q.page_size,
            )
            .await?;
        let now = self.now();
        Ok(Response::new(pb::ListRentalsResponse {
            rentals: rentals
                .iter()
                .map(|r| rental_to_proto(r, Vec::new(), now))
                .collect(),
            next_page_token: self.core.tokens.next_page(&scope, next),
        }))
    }

    async fn renew_rental(
        &self,
        request: Request<pb::RenewRentalRequest>,
    ) -> Result<Response<pb::RenewRentalResponse>, Status> {
        let caller = Caller::of(&request)?;
        let order = parse::request(RenewalOrder::try_from(request.into_inner()))?;
        let (rental, renewal) = self
            .renew(
                &caller.account_id,
                &order.rental_id,
                order.duration,
                order.max_price,
                &order.request_id,
            )
            .await?;
        Ok(Response::new(pb::RenewRentalResponse {
            charged: money::to_proto(&renewal.currency, renewal.price),
            balance_after: renewal
                .balance_after
                .and_then(|b| money::to_proto(&renewal.currency, b)),
            rental: Some(rental_to_proto(&rental, Vec::new(), self.now())),
        }))
    }

    async fn set_auto_renew(
        &self,
        request: Request<pb::SetAutoRenewRequest>,
    ) -> Result<Response<pb::Rental>, Status> {
        let caller = Caller::of(&request)?;
        let id = parse::request(proto::rental_id(&request.get_ref().id))?;
        let on = request.get_ref().auto_renew;
        let rental = self.set_auto_renew(&caller.account_id, &id, on).await?;
        Ok(Response::new(rental_to_proto(
            &rental,
            Vec::new(),
            self.now(),
        )))
    }

    async fn cancel_rental(
        &self,
        request: Request<pb::CancelRentalRequest>,
    ) -> Result<Response<pb::CancelRentalResponse>, Status> {
        let caller = Caller::of(&request)?;
        let cancellation = parse::request(Cancellation::try_from(request.into_inner()))?;
        let rental = self
            .cancel(&caller.account_id, &cancellation.rental_id)
            .await?;
        // The balance is known once the refund is paid.
        let balance_after = match rental.settle {
            Settle::Nothing if rental.refunded > 0 => rental.refund_balance_after,
            _ => None,
        };
        Ok(Response::new(pb::CancelRentalResponse {
            refunded: money::to_proto(&rental.currency, rental.refunded),
            balance_after: balance_after.and_then(|b| money::to_proto(&rental.currency, b)),
            rental: Some(rental_to_proto(&rental, Vec::new(), self.now())),
        }))
    }

    async fn list_messages(
        &self,
        request: Request<pb::ListMessagesRequest>,
    ) -> Result<Response<pb::ListMessagesResponse>, Status> {
        let caller = Caller::of(&request)?;
        let r = request.into_inner();
        let scope = TokenScope::new(LIST_MESSAGES, &caller.account_id)
            .filter("phone_number", &r.phone_number);
        let q = parse::request(proto::number_messages(&self.core.tokens, &scope, &r))?;
        let messages = self
            .messages_of_number(
                &caller.account_id,
                &q.phone_number,
                q.after.as_deref(),
                q.page_size,
            )
            .await?;
        // Always a token: the poller's place, right after what it has seen.
        let next = messages.last().map(|m| m.id.clone()).or(q.after);
        Ok(Response::new(pb::ListMessagesResponse {
            messages: messages.iter().map(message_to_proto).collect(),
            next_page_token: self.core.tokens.encode(
                &scope,
                &next.unwrap_or_else(|| uuid::Uuid::nil().to_string()),
            ),
        }))
    }

    type WatchRentalStream = Stream<pb::RentalEvent>;

    async fn watch_rental(
        &self,
        request: Request<pb::WatchRentalRequest>,
    ) -> Result<Response<Self::WatchRentalStream>, Status> {
        let caller = Caller::of(&request)?;
        let r = request.into_inner();
        let target = (r.id.as_str(), r.after.as_str());
        let rentals = self.clone();
        let events = self.watch_one(
            &caller.account_id,
            WATCH_RENTAL,
            target,
            move |cursor, body| {
                let event = match body {
                    EventBody::Changed(status, rental) => {
                        let mut rental = rental_to_proto(&rental, Vec::new(), rentals.now());
                        rental.status = status as i32;
                        pb::rental_event::Event::Changed(rental)
                    }
                    EventBody::Message(message) => {
                        pb::rental_event::Event::Message(message_to_proto(&message))
                    }
                };
                pb::RentalEvent {
                    cursor,
                    event: Some(event),
                }
            },
        );
        Ok(Response::new(events.await?))
    }
}

#[tonic::async_trait]
impl pb::rentals_internal_service_server::RentalsInternalService for Rentals {
    async fn deliver_message(
        &self,
        request: Request<pb::DeliverMessageRequest>,
    ) -> Result<Response<pb::Message>, Status> {
        let delivery = parse::request(proto::delivery(request.get_ref()))?;
        let message = self.deliver(delivery).await?;
        Ok(Response::new(message_to_proto(&message)))
    }

    type WatchAccountMessagesStream = Stream<pb::MessageEvent>;

    async fn watch_account_messages(
        &self,
        request: Request<pb::WatchAccountMessagesRequest>,
    ) -> Result<Response<Self::WatchAccountMessagesStream>, Status> {
        let r = request.into_inner();
        let scope = TokenScope::new(WATCH_ACCOUNT_MESSAGES, &r.account_id);
        let q = parse::request(proto::account_messages(&self.core.tokens, &scope, &r))?;
        let events = self.watch(&q.account_id, Watched::Messages, q.after);
        let tokens = self.core.tokens.clone();
        Ok(Response::new(streams::respond(
            events,
            move |event| match event.body {
                EventBody::Message(message) => Some(pb::MessageEvent {
                    cursor: streams::encode_cursor(&tokens, &scope, event.seq),
                    message: Some(message_to_proto(&message)),
                }),
                EventBody::Changed(..) => None,
            },
        )))
    }
}
