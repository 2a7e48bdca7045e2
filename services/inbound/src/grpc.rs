//! Inbound's internal and admin gRPC services: thin handlers that validate
//! a request, call the domain, and map its answer.

use numhub_proto::inbound::v1 as pb;
use numhub_runtime::clock::Timestamp;
use numhub_runtime::tokens::TokenScope;
use numhub_runtime::validate::{self, Validator};
use tonic::{Request, Response, Status};

use crate::Inbound;
use crate::arrival::{Arrival, Field, Fields};
use crate::store::{Message, State};

/// A field of an arrival as DeliverRequest names it.
fn field_name(field: Field) -> &'static str {
    match field {
        Field::Upstream => "upstream",
        Field::UpstreamId => "upstream_message_id",
        Field::To => "to",
        Field::Sender => "sender",
        Field::Body => "body",
    }
}

#[tonic::async_trait]
impl pb::inbound_internal_service_server::InboundInternalService for Inbound {
    async fn deliver(
        &self,
        request: Request<pb::DeliverRequest>,
    ) -> Result<Response<pb::DeliverResponse>, Status> {
        let r = request.into_inner();
        let received_at = r
            .receive_time
            .as_ref()
            .ok_or_else(|| "is required".to_string())
            .and_then(Timestamp::from_proto);
        let fields = Fields {
            upstream: &r.upstream,
            upstream_id: &r.upstream_message_id,
            to: &r.to,
            sender: &r.sender,
            body: &r.body,
        };
        let parsed = Arrival::parse(
            fields,
            received_at
                .clone()
                .unwrap_or(Timestamp::from_unix_micros(0)),
        );
        let mut v = Validator::new();
        if let Err(violations) = &parsed {
            for (field, description) in violations {
                v.violation(field_name(*field), description.as_str());
            }
        }
        v.check("receive_time", received_at);
        v.finish()?;
        let arrival = parsed.map_err(|_| Status::internal("internal error"))?;
        let (message, duplicate) = self.accept(arrival).await?;
        Ok(Response::new(pb::DeliverResponse {
            message: Some(message_to_proto(message)),
            duplicate,
        }))
    }
}

#[tonic::async_trait]
impl pb::inbound_admin_service_server::InboundAdminService for Inbound {
    async fn list_unrouted(
        &self,
        request: Request<pb::ListUnroutedRequest>,
    ) -> Result<Response<pb::ListUnroutedResponse>, Status> {
        let r = request.into_inner();
        let mut v = Validator::new();
        let page_size = v.check("page_size", validate::page_size(r.page_size, 50, 100));
        // Every account's messages: bound to the method alone.
        let scope = TokenScope::new("numhub.inbound.v1.InboundAdminService/ListUnrouted", "");
        let before = v.check("page_token", self.tokens.decode_uuid(&scope, &r.page_token));
        v.finish()?;
        let (messages, next) = self
            .list_unrouted(before.flatten().as_deref(), page_size.unwrap_or(50))
            .await?;
        Ok(Response::new(pb::ListUnroutedResponse {
            messages: messages.into_iter().map(message_to_proto).collect(),
            next_page_token: next
                .map(|c| self.tokens.encode(&scope, &c))
                .unwrap_or_default(),
        }))
    }

    async fn route_again(
        &self,
        request: Request<pb::RouteAgainRequest>,
    ) -> Result<Response<pb::InboundMessage>, Status> {
        let mut v = Validator::new();
        let id = v.check("id", validate::uuid(&request.get_ref().id));
        v.finish()?;
        let id = id.map(|id| id.to_string()).unwrap_or_default();
        Ok(Response::new(message_to_proto(
            self.route_again(&id).await?,
        )))
    }
}

fn message_to_proto(m: Message) -> pb::InboundMessage {
    pb::InboundMessage {
        id: m.id,
        upstream: m.upstream,
        upstream_message_id: m.upstream_id,
        to: m.to,
        sender: m.sender,
        body: m.body,
        receive_time: Some(m.received_at.to_proto()),
        store_time: Some(m.stored_at.to_proto()),
        state: match m.state {
            State::Pending => pb::RouteState::Pending,
            State::Routed => pb::RouteState::Routed,
            State::Unrouted => pb::RouteState::Unrouted,
        } as i32,
        holder_id: m.holder_id,
        unrouted_reason: m.unrouted_reason,
        attempts: i32::try_from(m.attempts).unwrap_or(i32::MAX),
    }
}
