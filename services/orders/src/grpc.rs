//! Orders' public and internal gRPC services: thin handlers that parse a
//! request (see [`crate::proto`]), call the domain, and map its answer. No
//! rule lives here.

use numhub_auth::Caller;
use numhub_holding::Holder as _;
use numhub_proto::orders::v1 as pb;
use numhub_runtime::parse;
use numhub_runtime::streams;
use numhub_runtime::tokens::TokenScope;
use tonic::{Request, Response, Status};

use crate::Orders;
use crate::lifecycle::Abandon;
use crate::model::{EventBody, Reuse};
use crate::proto::{self, activation_to_proto, message_to_proto};

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
        let purchase = parse::request(proto::purchase(
            caller.account_id.as_ref(),
            request.into_inner(),
        ))?;
        let activation = self.purchase(purchase).await?;
        Ok(Response::new(activation_to_proto(&activation, Vec::new())))
    }

    async fn get_activation(
        &self,
        request: Request<pb::GetActivationRequest>,
    ) -> Result<Response<pb::Activation>, Status> {
        let caller = Caller::of(&request)?;
        let id = parse::request(proto::activation_id(&request.get_ref().id))?;
        let (activation, messages) = self.get_with_messages(&caller.account_id, &id).await?;
        Ok(Response::new(activation_to_proto(&activation, messages)))
    }

    async fn list_activations(
        &self,
        request: Request<pb::ListActivationsRequest>,
    ) -> Result<Response<pb::ListActivationsResponse>, Status> {
        let caller = Caller::of(&request)?;
        let r = request.into_inner();
        let scope = TokenScope::new(LIST_ACTIVATIONS, &caller.account_id)
            .filter("statuses", format!("{:?}", r.statuses));
        let q = parse::request(proto::activation_query(&self.core.tokens, &scope, &r))?;
        let (activations, next) = self
            .list(
                &caller.account_id,
                &q.statuses,
                q.before.as_deref(),
                q.page_size,
            )
            .await?;
        Ok(Response::new(pb::ListActivationsResponse {
            activations: activations
                .iter()
                .map(|a| activation_to_proto(a, Vec::new()))
                .collect(),
            next_page_token: self.core.tokens.next_page(&scope, next),
        }))
    }

    async fn cancel_activation(
        &self,
        request: Request<pb::CancelActivationRequest>,
    ) -> Result<Response<pb::Activation>, Status> {
        let caller = Caller::of(&request)?;
        let id = parse::request(proto::activation_id(&request.get_ref().id))?;
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
        let id = parse::request(proto::activation_id(&request.get_ref().id))?;
        let activation = self.complete(&caller.account_id, &id).await?;
        Ok(Response::new(activation_to_proto(&activation, Vec::new())))
    }

    async fn request_another_sms(
        &self,
        request: Request<pb::RequestAnotherSmsRequest>,
    ) -> Result<Response<pb::Activation>, Status> {
        let caller = Caller::of(&request)?;
        let id = parse::request(proto::activation_id(&request.get_ref().id))?;
        let activation = self.request_another_sms(&caller.account_id, &id).await?;
        Ok(Response::new(activation_to_proto(&activation, Vec::new())))
    }

    async fn skip_number(
        &self,
        request: Request<pb::SkipNumberRequest>,
    ) -> Result<Response<pb::Activation>, Status> {
        let caller = Caller::of(&request)?;
        let id = parse::request(proto::activation_id(&request.get_ref().id))?;
        let activation = self.abandon(&caller.account_id, &id, Abandon::Skip).await?;
        Ok(Response::new(activation_to_proto(&activation, Vec::new())))
    }

    async fn reuse_number(
        &self,
        request: Request<pb::ReuseNumberRequest>,
    ) -> Result<Response<pb::Activation>, Status> {
        let caller = Caller::of(&request)?;
        let reuse = parse::request(Reuse::try_from(request.into_inner()))?;
        let activation = self
            .reuse(
                &caller.account_id,
                &reuse.previous_id,
                reuse.max_price,
                &reuse.request_id,
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
        let target = (r.id.as_str(), r.after.as_str());
        let events = self.watch_one(
            &caller.account_id,
            WATCH_ACTIVATION,
            target,
            |cursor, body| {
                let event = match body {
                    EventBody::Changed(status, activation) => {
                        let mut activation = activation_to_proto(&activation, Vec::new());
                        activation.status = status as i32;
                        pb::activation_event::Event::StatusChanged(activation)
                    }
                    EventBody::Message(message) => {
                        pb::activation_event::Event::Message(message_to_proto(&message))
                    }
                };
                pb::ActivationEvent {
                    cursor,
                    event: Some(event),
                }
            },
        );
        Ok(Response::new(events.await?))
    }

    type WatchMessagesStream = Stream<pb::MessageEvent>;

    async fn watch_messages(
        &self,
        request: Request<pb::WatchMessagesRequest>,
    ) -> Result<Response<Self::WatchMessagesStream>, Status> {
        let caller = Caller::of(&request)?;
        let scope = TokenScope::new(WATCH_MESSAGES, &caller.account_id);
        let after = parse::request(proto::messages_cursor(
            &self.core.tokens,
            &scope,
            &request.get_ref().after,
        ))?;
        let messages = self
            .watch_account_messages(&caller.account_id, after)
            .await?;
        let tokens = self.core.tokens.clone();
        Ok(Response::new(streams::respond(
            messages,
            move |(cursor, message)| {
                Some(pb::MessageEvent {
                    cursor: proto::encode_messages_cursor(&tokens, &scope, &cursor),
                    message: Some(proto::account_message_to_proto(message)),
                })
            },
        )))
    }
}

#[tonic::async_trait]
impl pb::orders_internal_service_server::OrdersInternalService for Orders {
    async fn deliver_message(
        &self,
        request: Request<pb::DeliverMessageRequest>,
    ) -> Result<Response<pb::Message>, Status> {
        let delivery = parse::request(proto::delivery(request.get_ref()))?;
        let message = self.deliver(delivery).await?;
        Ok(Response::new(message_to_proto(&message)))
    }
}
