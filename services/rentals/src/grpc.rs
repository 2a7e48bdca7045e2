//! Rentals' public and internal gRPC services: thin handlers that validate
//! a request, call the domain, and map its answer. No rule lives here.

use numhub_auth::Caller;
use numhub_proto::catalog::v1::{NumberType, RentalDuration as DurationPb};
use numhub_proto::rentals::v1 as pb;
use numhub_runtime::clock::Timestamp;
use numhub_runtime::rental::RentalDuration;
use numhub_runtime::streams;
use numhub_runtime::tokens::TokenScope;
use numhub_runtime::validate::{self, Validator};
use numhub_runtime::{codes, money, phone, sms};
use tonic::{Request, Response, Status};

use crate::Rentals;
use crate::model::{self, Delivery, EventBody, Filter, Purchase, Rental, Settle};
use crate::streams::Watched;

const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 100;
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
        let r = request.into_inner();
        let mut v = Validator::new();
        let country = v.check("country_code", codes::country(&r.country_code));
        let number_type = v.check("number_type", number_type(r.number_type));
        let duration = v.check("duration", optional_duration(r.duration));
        let service = v.check("service_code", codes::optional_service(&r.service_code));
        let max_price = v.check("max_price", money::limit(r.max_price.as_ref()));
        let request_id = v.check("request_id", validate::request_id(&r.request_id));
        v.finish()?;
        let max_price = max_price.flatten();
        let rental = self
            .purchase(Purchase {
                account_id: caller.account_id.to_string(),
                request_id: request_id.unwrap_or_default(),
                country_code: country.unwrap_or_default(),
                number_type: number_type.unwrap_or(NumberType::Voip as i64),
                service_code: service.flatten().unwrap_or_default(),
                duration: duration.flatten().unwrap_or(RentalDuration::OneMonth),
                auto_renew: r.auto_renew.unwrap_or(true),
                max_price: max_price.as_ref().map(|m| m.0),
                // The catalog checks it is its own currency.
                max_price_currency: max_price.and_then(|m| m.1).unwrap_or_default(),
            })
            .await?;
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
        let id = rental_id(&request.get_ref().id)?;
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
        let mut v = Validator::new();
        let filter = v.check("filter", filter(r.filter));
        let page_size = v.check(
            "page_size",
            validate::page_size(r.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE),
        );
        let scope = TokenScope::new(LIST_RENTALS, &caller.account_id)
            .filter("filter", r.filter.to_string());
        let before = v.check("page_token", self.tokens.decode_uuid(&scope, &r.page_token));
        v.finish()?;
        let (rentals, next) = self
            .list(
                &caller.account_id,
                filter.unwrap_or(Filter::All),
                before.flatten().as_deref(),
                page_size.unwrap_or(DEFAULT_PAGE_SIZE),
            )
            .await?;
        let now = self.now();
        Ok(Response::new(pb::ListRentalsResponse {
            rentals: rentals
                .iter()
                .map(|r| rental_to_proto(r, Vec::new(), now))
                .collect(),
            next_page_token: next
                .map(|c| self.tokens.encode(&scope, &c))
                .unwrap_or_default(),
        }))
    }

    async fn renew_rental(
        &self,
        request: Request<pb::RenewRentalRequest>,
    ) -> Result<Response<pb::RenewRentalResponse>, Status> {
        let caller = Caller::of(&request)?;
        let r = request.into_inner();
        let mut v = Validator::new();
        let id = v.check("id", validate::uuid(&r.id));
        let duration = v.check("duration", optional_duration(r.duration));
        let max_price = v.check("max_price", money::limit(r.max_price.as_ref()));
        let request_id = v.check("request_id", validate::request_id(&r.request_id));
        v.finish()?;
        let (rental, renewal) = self
            .renew(
                &caller.account_id,
                &id.map(|id| id.to_string()).unwrap_or_default(),
                duration.flatten(),
                max_price.flatten(),
                &request_id.unwrap_or_default(),
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
        let id = rental_id(&request.get_ref().id)?;
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
        let r = request.into_inner();
        let mut v = Validator::new();
        let id = v.check("id", validate::uuid(&r.id));
        v.check("request_id", validate::request_id(&r.request_id));
        v.finish()?;
        let id = id.map(|id| id.to_string()).unwrap_or_default();
        let rental = self.cancel(&caller.account_id, &id).await?;
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
        let mut v = Validator::new();
        let number = v.check("phone_number", phone::normalize(&r.phone_number));
        let page_size = v.check(
            "page_size",
            validate::page_size(r.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE),
        );
        let scope = TokenScope::new(LIST_MESSAGES, &caller.account_id)
            .filter("phone_number", &r.phone_number);
        let after = v.check("page_token", self.tokens.decode_uuid(&scope, &r.page_token));
        v.finish()?;
        let after = after.flatten();
        let messages = self
            .messages_of_number(
                &caller.account_id,
                &number.unwrap_or_default(),
                after.as_deref(),
                page_size.unwrap_or(DEFAULT_PAGE_SIZE),
            )
            .await?;
        // Always a token: the poller's place, right after what it has seen.
        let next = messages.last().map(|m| m.id.clone()).or(after);
        Ok(Response::new(pb::ListMessagesResponse {
            messages: messages.iter().map(message_to_proto).collect(),
            next_page_token: self.tokens.encode(
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
        let mut v = Validator::new();
        let id = v.check("id", validate::uuid(&r.id));
        let scope = TokenScope::new(WATCH_RENTAL, &caller.account_id).filter("id", &r.id);
        let after = v.check(
            "after",
            streams::parse_cursor(&self.tokens, &scope, &r.after),
        );
        v.finish()?;
        let id = id.map(|id| id.to_string()).unwrap_or_default();
        // NOT_FOUND up front for another account's id, not an empty stream.
        self.get(&caller.account_id, &id).await?;
        let events = self.watch(&caller.account_id, Watched::Rental(id), after.unwrap_or(0));
        let rentals = self.clone();
        Ok(Response::new(streams::respond(events, move |event| {
            let cursor = streams::encode_cursor(&rentals.tokens, &scope, event.seq);
            let event = match event.body {
                EventBody::Changed(status, rental) => {
                    let mut rental = rental_to_proto(&rental, Vec::new(), rentals.now());
                    rental.status = status as i32;
                    pb::rental_event::Event::Changed(rental)
                }
                EventBody::Message(message) => {
                    pb::rental_event::Event::Message(message_to_proto(&message))
                }
            };
            Some(pb::RentalEvent {
                cursor,
                event: Some(event),
            })
        })))
    }
}

#[tonic::async_trait]
impl pb::rentals_internal_service_server::RentalsInternalService for Rentals {
    async fn deliver_message(
        &self,
        request: Request<pb::DeliverMessageRequest>,
    ) -> Result<Response<pb::Message>, Status> {
        let r = request.into_inner();
        let mut v = Validator::new();
        let rental = v.check("rental_id", validate::uuid(&r.rental_id));
        // The rules inbound checked the message by: what it accepts, this
        // accepts too.
        let inbound = v.check("inbound_message_id", sms::message_id(&r.inbound_message_id));
        let sender = v.check("sender", sms::sender(&r.sender));
        let body = v.check("body", sms::body(&r.body));
        let received_at = v.check("receive_time", required_time(r.receive_time.as_ref()));
        v.finish()?;
        let message = self
            .deliver(Delivery {
                rental_id: rental.map(|id| id.to_string()).unwrap_or_default(),
                inbound_id: inbound.unwrap_or_default(),
                sender: sender.unwrap_or_default(),
                body: body.unwrap_or_default(),
                received_at: received_at.unwrap_or(Timestamp::from_unix_micros(0)),
            })
            .await?;
        Ok(Response::new(message_to_proto(&message)))
    }

    type WatchAccountMessagesStream = Stream<pb::MessageEvent>;

    async fn watch_account_messages(
        &self,
        request: Request<pb::WatchAccountMessagesRequest>,
    ) -> Result<Response<Self::WatchAccountMessagesStream>, Status> {
        let r = request.into_inner();
        let mut v = Validator::new();
        let account = v.check("account_id", validate::uuid(&r.account_id));
        let scope = TokenScope::new(WATCH_ACCOUNT_MESSAGES, &r.account_id);
        let after = v.check(
            "after",
            streams::parse_cursor(&self.tokens, &scope, &r.after),
        );
        v.finish()?;
        let account = account.map(|a| a.to_string()).unwrap_or_default();
        let events = self.watch(&account, Watched::Messages, after.unwrap_or(0));
        let tokens = self.tokens.clone();
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

fn rental_id(value: &str) -> Result<String, Status> {
    let mut v = Validator::new();
    let id = v.check("id", validate::uuid(value));
    v.finish()?;
    Ok(id.map(|id| id.to_string()).unwrap_or_default())
}

/// A number type: unset means VOIP.
fn number_type(value: i32) -> Result<i64, String> {
    match NumberType::try_from(value) {
        Ok(NumberType::Unspecified) => Ok(NumberType::Voip as i64),
        Ok(t) => Ok(t as i64),
        Err(_) => Err(format!("{value} is not a number type")),
    }
}

/// A package; unset is `None`.
fn optional_duration(value: i32) -> Result<Option<RentalDuration>, String> {
    if value == DurationPb::Unspecified as i32 {
        return Ok(None);
    }
    RentalDuration::from_i64(i64::from(value))
        .map(Some)
        .ok_or_else(|| format!("{value} is not a rental duration"))
}

fn filter(value: i32) -> Result<Filter, String> {
    match pb::RentalFilter::try_from(value) {
        Ok(pb::RentalFilter::Unspecified | pb::RentalFilter::All) => Ok(Filter::All),
        Ok(pb::RentalFilter::Active) => Ok(Filter::Active),
        Ok(pb::RentalFilter::ExpiringSoon) => Ok(Filter::ExpiringSoon),
        Ok(pb::RentalFilter::Expired) => Ok(Filter::Expired),
        Ok(pb::RentalFilter::Cancelled) => Ok(Filter::Cancelled),
        Err(_) => Err(format!("{value} is not a rental filter")),
    }
}

fn required_time(value: Option<&prost_types::Timestamp>) -> Result<Timestamp, String> {
    Timestamp::from_proto(value.ok_or("is required")?)
}

fn rental_to_proto(r: &Rental, messages: Vec<model::Message>, now: Timestamp) -> pb::Rental {
    let paid = r.lease_id.is_some() && r.status != model::Status::Creating;
    pb::Rental {
        id: r.id.clone(),
        // A number is the customer's only once it is paid for.
        phone_number: if paid && r.status != model::Status::Failed {
            r.phone_number.clone()
        } else {
            String::new()
        },
        country_code: r.country_code.clone(),
        number_type: r.number_type as i32,
        service_code: r.service_code.clone(),
        duration: r.duration as i32,
        renewal_duration: r.renewal_duration as i32,
        auto_renew: r.auto_renew,
        status: r.status_at(now) as i32,
        price: money::to_proto(&r.currency, r.price),
        total_charged: money::to_proto(&r.currency, r.total_charged),
        refunded: money::to_proto(&r.currency, r.refunded),
        create_time: Some(r.created_at.to_proto()),
        expire_time: Some(r.expires_at.to_proto()),
        end_time: match r.status_at(now) {
            model::Status::Expired => Some(r.ended_at.unwrap_or(r.expires_at).to_proto()),
            _ => r.ended_at.map(Timestamp::to_proto),
        },
        sms_count: r.sms_count,
        renewals: r.renewals,
        auto_renew_failure: r.auto_renew_failure.clone(),
        auto_renew_failure_time: r.auto_renew_failed_at.map(Timestamp::to_proto),
        failure_reason: r.failure_reason.clone(),
        messages: messages.iter().map(message_to_proto).collect(),
    }
}

fn message_to_proto(m: &model::Message) -> pb::Message {
    pb::Message {
        id: m.id.clone(),
        rental_id: m.rental_id.clone(),
        phone_number: m.phone_number.clone(),
        sender: m.sender.clone(),
        body: m.body.clone(),
        code: m.code.clone(),
        service_code: m.service_code.clone(),
        receive_time: Some(m.received_at.to_proto()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_read_with_their_defaults_and_limits() {
        assert_eq!(number_type(0), Ok(NumberType::Voip as i64));
        assert_eq!(number_type(2), Ok(NumberType::NonVoip as i64));
        assert!(number_type(9).is_err());
        assert_eq!(optional_duration(0), Ok(None));
        assert_eq!(optional_duration(9), Ok(Some(RentalDuration::OneYear)));
        assert!(optional_duration(10).is_err());
        assert_eq!(filter(0), Ok(Filter::All));
        assert_eq!(filter(2), Ok(Filter::ExpiringSoon));
        assert!(filter(6).is_err());
    }
}
