//! Inbound's internal and admin gRPC services: thin handlers that parse a
//! request (see [`crate::proto`]), call the domain, and map its answer.

use numhub_proto::inbound::v1 as pb;
use numhub_runtime::parse;
use numhub_runtime::tokens::TokenScope;
use tonic::{Request, Response, Status};

use crate::Inbound;
use crate::arrival::Arrival;
use crate::proto::{self, message_to_proto};

#[tonic::async_trait]
impl pb::inbound_internal_service_server::InboundInternalService for Inbound {
    async fn deliver(
        &self,
        request: Request<pb::DeliverRequest>,
    ) -> Result<Response<pb::DeliverResponse>, Status> {
        let arrival = parse::request(Arrival::try_from(request.into_inner()))?;
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
        // Every account's messages: bound to the method alone.
        let scope = TokenScope::new("numhub.inbound.v1.InboundAdminService/ListUnrouted", "");
        let page = parse::request(parse::page(
            &self.tokens,
            &scope,
            (request.get_ref().page_size, &request.get_ref().page_token),
            proto::PAGE_SIZES,
        ))?;
        let (messages, next) = self
            .list_unrouted(page.cursor.as_deref(), page.size)
            .await?;
        Ok(Response::new(pb::ListUnroutedResponse {
            messages: messages.into_iter().map(message_to_proto).collect(),
            next_page_token: self.tokens.next_page(&scope, next),
        }))
    }

    async fn route_again(
        &self,
        request: Request<pb::RouteAgainRequest>,
    ) -> Result<Response<pb::InboundMessage>, Status> {
        let id = parse::request(proto::message_id(request.get_ref()))?;
        Ok(Response::new(message_to_proto(
            self.route_again(&id).await?,
        )))
    }
}
