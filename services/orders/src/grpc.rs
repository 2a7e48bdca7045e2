//! Orders' public and internal gRPC services: thin handlers that validate a
//! request, call the domain, and map its answer. No rule lives here.

use numhub_auth::Caller;
use numhub_proto::orders::v1 as pb;
use numhub_runtime::clock::Timestamp;
use numhub_runtime::streams;
use numhub_runtime::tokens::TokenScope;
use numhub_runtime::validate::{self, Validator};
use numhub_runtime::{codes, money, sms};
use tonic::{Request, Response, Status};

use crate::Orders;
use crate::account_messages::Cursor;
use crate::lifecycle::Abandon;
use crate::model::{self, Activation, Delivery, EventBody, Purchase};
use crate::streams::Watched;

const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 100;
const LIST_ACTIVATIONS: &str = "numhub.orders.v1.OrdersService/ListActivations";
const WATCH_ACTIVATION: &str = "numhub.orders.v1.OrdersService/WatchActivation";
const WATCH_MESSAGES: &str = "numhub.orders.v1.OrdersService/WatchMessages";

type Stream<T> = streams::ResponseStream<T>;

#[tonic::async_trait]
impl pb::orders_service_server::OrdersService for Orders {
    async fn create_activation(
        &self,
        request: Request<pb::CreateActivationRequest>,
    ) -> Result<Response<pb::Activation>, Status> {
        let caller = Caller::of(&request)?;
        let r = request.into_inner();
        let mut v = Validator::new();
        let service = v.check("service_code", codes::service(&r.service_code));
        let country = v.check("country_code", codes::country(&r.country_code));
        let operator = v.check("operator", codes::optional_operator(&r.operator));
        let max_price = v.check("max_price", max_price(r.max_price.as_ref()));
        let request_id = v.check("request_id", validate::request_id(&r.request_id));
        v.finish()?;
        let activation = self
            .purchase(Purchase {
                account_id: caller.account_id.to_string(),
                request_id: request_id.unwrap_or_default(),
                service_code: service.unwrap_or_default(),
                country_code: country.unwrap_or_default(),
                operator: operator.flatten(),
                max_price: max_price.as_ref().and_then(|m| m.0),
                max_price_currency: max_price.map(|m| m.1).unwrap_or_default(),
                reuse: None,
            })
            .await?;
        Ok(Response::new(activation_to_proto(&activation, Vec::new())))
    }

    async fn get_activation(
        &self,
        request: Request<pb::GetActivationRequest>,
    ) -> Result<Response<pb::Activation>, Status> {
        let caller = Caller::of(&request)?;
        let id = activation_id("id", &request.get_ref().id)?;
        let (activation, messages) = self.get_with_messages(&caller.account_id, &id).await?;
        Ok(Response::new(activation_to_proto(&activation, messages)))
    }

    async fn list_activations(
        &self,
        request: Request<pb::ListActivationsRequest>,
    ) -> Result<Response<pb::ListActivationsResponse>, Status> {
        let caller = Caller::of(&request)?;
        let r = request.into_inner();
        let mut v = Validator::new();
        let mut statuses = Vec::new();
        for (i, status) in r.statuses.iter().enumerate() {
            match model::Status::from_i64(i64::from(*status)) {
                Some(s) => statuses.push(s),
                None => v.violation(&format!("statuses[{i}]"), "is not an activation status"),
            }
        }
        let page_size = v.check(
            "page_size",
            validate::page_size(r.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE),
        );
        let scope = TokenScope::new(LIST_ACTIVATIONS, &caller.account_id)
            .filter("statuses", format!("{:?}", r.statuses));
        let before = v.check("page_token", self.tokens.decode_uuid(&scope, &r.page_token));
        v.finish()?;
        let (activations, next) = self
            .list(
                &caller.account_id,
                &statuses,
                before.flatten().as_deref(),
                page_size.unwrap_or(DEFAULT_PAGE_SIZE),
            )
            .await?;
        Ok(Response::new(pb::ListActivationsResponse {
            activations: activations
                .iter()
                .map(|a| activation_to_proto(a, Vec::new()))
                .collect(),
            next_page_token: next
                .map(|c| self.tokens.encode(&scope, &c))
                .unwrap_or_default(),
        }))
    }

    async fn cancel_activation(
        &self,
        request: Request<pb::CancelActivationRequest>,
    ) -> Result<Response<pb::Activation>, Status> {
        let caller = Caller::of(&request)?;
        let id = activation_id("id", &request.get_ref().id)?;
        let activation = self
            .abandon(&caller.account_id, &id, Abandon::Cancel)
            .await?;
        Ok(Response::new(activation_to_proto(&activation, Vec::new())))
    }

    async fn complete_activation(
        &self,
        request: Request<pb::CompleteActivationRequest>,
    ) -> Result<Response<pb::Activation>, Status> {
        let caller = Caller::of(&request)?;
        let id = activation_id("id", &request.get_ref().id)?;
        let activation = self.complete(&caller.account_id, &id).await?;
        Ok(Response::new(activation_to_proto(&activation, Vec::new())))
    }

    async fn request_another_sms(
        &self,
        request: Request<pb::RequestAnotherSmsRequest>,
    ) -> Result<Response<pb::Activation>, Status> {
        let caller = Caller::of(&request)?;
        let id = activation_id("id", &request.get_ref().id)?;
        let activation = self.request_another_sms(&caller.account_id, &id).await?;
        Ok(Response::new(activation_to_proto(&activation, Vec::new())))
    }

    async fn skip_number(
        &self,
        request: Request<pb::SkipNumberRequest>,
    ) -> Result<Response<pb::Activation>, Status> {
        let caller = Caller::of(&request)?;
        let id = activation_id("id", &request.get_ref().id)?;
        let activation = self.abandon(&caller.account_id, &id, Abandon::Skip).await?;
        Ok(Response::new(activation_to_proto(&activation, Vec::new())))
    }

    async fn reuse_number(
        &self,
        request: Request<pb::ReuseNumberRequest>,
    ) -> Result<Response<pb::Activation>, Status> {
        let caller = Caller::of(&request)?;
        let r = request.into_inner();
        let mut v = Validator::new();
        let previous = v.check("activation_id", validate::uuid(&r.activation_id));
        let max_price = v.check("max_price", max_price(r.max_price.as_ref()));
        let request_id = v.check("request_id", validate::request_id(&r.request_id));
        v.finish()?;
        let activation = self
            .reuse(
                &caller.account_id,
                &previous.map(|id| id.to_string()).unwrap_or_default(),
                max_price.unwrap_or_default(),
                &request_id.unwrap_or_default(),
            )
            .await?;
        Ok(Response::new(activation_to_proto(&activation, Vec::new())))
    }

    type WatchActivationStream = Stream<pb::ActivationEvent>;

    async fn watch_activation(
        &self,
        request: Request<pb::WatchActivationRequest>,
    ) -> Result<Response<Self::WatchActivationStream>, Status> {
        let caller = Caller::of(&request)?;
        let r = request.into_inner();
        let mut v = Validator::new();
        let id = v.check("id", validate::uuid(&r.id));
        let scope = TokenScope::new(WATCH_ACTIVATION, &caller.account_id).filter("id", &r.id);
        let after = v.check(
            "after",
            streams::parse_cursor(&self.tokens, &scope, &r.after),
        );
        v.finish()?;
        let id = id.map(|id| id.to_string()).unwrap_or_default();
        // NOT_FOUND up front for another account's id, not an empty stream.
        self.get(&caller.account_id, &id).await?;
        let events = self.watch(
            &caller.account_id,
            Watched::Activation(id),
            after.unwrap_or(0),
        );
        let tokens = self.tokens.clone();
        Ok(Response::new(streams::respond(events, move |event| {
            let cursor = streams::encode_cursor(&tokens, &scope, event.seq);
            let event = match event.body {
                EventBody::Status(status, activation) => {
                    let mut activation = activation_to_proto(&activation, Vec::new());
                    activation.status = status as i32;
                    pb::activation_event::Event::StatusChanged(activation)
                }
                EventBody::Message(message) => {
                    pb::activation_event::Event::Message(message_to_proto(&message))
                }
            };
            Some(pb::ActivationEvent {
                cursor,
                event: Some(event),
            })
        })))
    }

    type WatchMessagesStream = Stream<pb::MessageEvent>;

    async fn watch_messages(
        &self,
        request: Request<pb::WatchMessagesRequest>,
    ) -> Result<Response<Self::WatchMessagesStream>, Status> {
        let caller = Caller::of(&request)?;
        let mut v = Validator::new();
        let scope = TokenScope::new(WATCH_MESSAGES, &caller.account_id);
        let after = v.check(
            "after",
            Cursor::parse(&self.tokens, &scope, &request.get_ref().after),
        );
        v.finish()?;
        let stream = self
            .watch_account_messages(&caller.account_id, scope, after.unwrap_or_default())
            .await?;
        Ok(Response::new(stream))
    }
}

#[tonic::async_trait]
impl pb::orders_internal_service_server::OrdersInternalService for Orders {
    async fn deliver_message(
        &self,
        request: Request<pb::DeliverMessageRequest>,
    ) -> Result<Response<pb::Message>, Status> {
        let r = request.into_inner();
        let mut v = Validator::new();
        let activation = v.check("activation_id", validate::uuid(&r.activation_id));
        // The rules inbound checked the message by: what it accepts, this
        // accepts too.
        let inbound = v.check("inbound_message_id", sms::message_id(&r.inbound_message_id));
        let sender = v.check("sender", sms::sender(&r.sender));
        let body = v.check("body", sms::body(&r.body));
        let received_at = v.check("receive_time", required_time(r.receive_time.as_ref()));
        v.finish()?;
        let message = self
            .deliver(Delivery {
                activation_id: activation.map(|id| id.to_string()).unwrap_or_default(),
                inbound_id: inbound.unwrap_or_default(),
                sender: sender.unwrap_or_default(),
                body: body.unwrap_or_default(),
                received_at: received_at.unwrap_or(Timestamp::from_unix_micros(0)),
            })
            .await?;
        Ok(Response::new(message_to_proto(&message)))
    }
}

fn activation_id(field: &str, value: &str) -> Result<String, Status> {
    let mut v = Validator::new();
    let id = v.check(field, validate::uuid(value));
    v.finish()?;
    Ok(id.map(|id| id.to_string()).unwrap_or_default())
}

/// A customer's price limit: unset for none, else positive and in the
/// catalog's currency (which the catalog checks).
fn max_price(
    money: Option<&numhub_proto::common::v1::Money>,
) -> Result<(Option<i64>, String), String> {
    Ok(match money::limit(money)? {
        Some((units, currency)) => (Some(units), currency.unwrap_or_default()),
        None => (None, String::new()),
    })
}

fn required_time(value: Option<&prost_types::Timestamp>) -> Result<Timestamp, String> {
    Timestamp::from_proto(value.ok_or("is required")?)
}

fn activation_to_proto(a: &Activation, messages: Vec<model::Message>) -> pb::Activation {
    pb::Activation {
        id: a.id.clone(),
        // A number is the customer's only once it is paid for.
        phone_number: if a.lease_id.is_some() && a.status != model::Status::Creating {
            a.phone_number.clone()
        } else {
            String::new()
        },
        service_code: a.service_code.clone(),
        country_code: a.country_code.clone(),
        operator: a.operator.clone(),
        price: money::to_proto(&a.currency, a.price),
        status: a.status as i32,
        create_time: Some(a.created_at.to_proto()),
        expire_time: Some(a.expires_at.to_proto()),
        end_time: a.ended_at.map(Timestamp::to_proto),
        refunded: money::to_proto(&a.currency, a.refunded),
        code: a.code.clone(),
        messages: messages.iter().map(message_to_proto).collect(),
        reused_activation_id: a.reused_activation_id.clone().unwrap_or_default(),
        failure_reason: a.failure_reason.clone(),
    }
}

pub(crate) fn message_to_proto(m: &model::Message) -> pb::Message {
    pb::Message {
        id: m.id.clone(),
        activation_id: m.activation_id.clone(),
        phone_number: m.phone_number.clone(),
        sender: m.sender.clone(),
        body: m.body.clone(),
        code: m.code.clone(),
        receive_time: Some(m.received_at.to_proto()),
        rental_id: String::new(),
    }
}
