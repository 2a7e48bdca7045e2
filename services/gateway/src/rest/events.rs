//! Live events over HTTP: Server-Sent Events of the services' gRPC
//! streams. Each event's `id` is the stream's cursor, so a client that
//! reconnects with `Last-Event-ID` (or `?after=`, for clients that cannot
//! set headers) resumes right after the last event it received, without
//! gap or repeat. Quiet streams send a heartbeat comment; every stream
//! ends when the gateway stops (the client reconnects, to another replica).

use std::convert::Infallible;

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use http::HeaderMap;
use numhub_proto::orders::v1 as pb;
use numhub_proto::rentals::v1 as rentals_pb;
use serde::{Deserialize, Serialize};
use tokio_stream::StreamExt as _;
use utoipa::{IntoParams, ToSchema};

use super::Answer as _;
use super::activations::{Activation, ActivationId, Sms};
use super::numbers;
use crate::Gateway;
use crate::caller::ApiKey;
use crate::input::Params;
use crate::reply::{ApiError, ErrorBody};

/// One Server-Sent Event, as the OpenAPI document describes the stream's
/// items.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamEvent {
    /// The stream's cursor: send it back as `Last-Event-ID` to resume
    /// right after this event.
    pub id: String,
    /// `status` (an activation as it became), `changed` (a number as it
    /// is now) or `message` (an SMS).
    #[schema(pattern = "^(status|changed|message)$")]
    pub event: String,
    /// The event's JSON: an `Activation` for `status`, an `Sms` for
    /// `message`.
    pub data: String,
}

/// Where to resume.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResumeParams {
    /// The `id` of the last event received, for clients that cannot send
    /// `Last-Event-ID`; the header wins when both are sent.
    pub after: Option<String>,
}

impl ResumeParams {
    /// The cursor to resume after: `Last-Event-ID`, else `?after=`, else
    /// from the start.
    fn after(self, headers: &HeaderMap) -> String {
        headers
            .get("last-event-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or(self.after)
            .unwrap_or_default()
    }
}

/// One activation's events: `status` (the activation as it became) and
/// `message` (an SMS), in order; the stream ends after the event that ends
/// the activation.
#[utoipa::path(
    get, path = "/v1/activations/{id}/events", tag = "events",
    params(
        ActivationId,
        ("Last-Event-ID" = Option<String>, Header, description = "The id of the last event received."),
        ResumeParams,
    ),
    responses(
        (status = 200, description = "`text/event-stream`: `status` events carry an Activation, `message` events an Sms", content_type = "text/event-stream", body = StreamEvent),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
pub async fn activation(
    State(gateway): State<Gateway>,
    key: ApiKey,
    headers: HeaderMap,
    Path(ActivationId { id }): Path<ActivationId>,
    Params(resume): Params<ResumeParams>,
) -> Result<impl IntoResponse, ApiError> {
    let request = key.stream(pb::WatchActivationRequest {
        id,
        after: resume.after(&headers),
    });
    let (stream, _) = gateway
        .upstream()
        .orders
        .clone()
        .watch_activation(request)
        .await
        .answer()?;
    Ok(gateway.events(stream, |event: pb::ActivationEvent| {
        let (name, data) = match event.event? {
            pb::activation_event::Event::StatusChanged(activation) => {
                ("status", json(&Activation::from(activation)))
            }
            pb::activation_event::Event::Message(message) => ("message", json(&Sms::from(message))),
        };
        Some(Event::default().id(event.cursor).event(name).data(data))
    }))
}

/// One rented number's events: `changed` (the number as it is now: its
/// status, expiry, auto-renew) and `message` (an SMS), in order; the
/// stream ends after the event that ends the rental.
#[utoipa::path(
    get, path = "/v1/numbers/{id}/events", tag = "events",
    params(
        ("id" = i64, Path, description = "Number id from GET /v1/numbers.", minimum = 1),
        ("Last-Event-ID" = Option<String>, Header, description = "The id of the last event received."),
        ResumeParams,
    ),
    responses(
        (status = 200, description = "`text/event-stream`: `changed` events carry a Number, `message` events an Sms of the number", content_type = "text/event-stream", body = StreamEvent),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
pub async fn number(
    State(gateway): State<Gateway>,
    key: ApiKey,
    headers: HeaderMap,
    Path(id): Path<String>,
    Params(resume): Params<ResumeParams>,
) -> Result<impl IntoResponse, ApiError> {
    let id = numbers::number_id(&id)?;
    let request = key.stream(rentals_pb::WatchRentalRequest {
        id,
        after: resume.after(&headers),
    });
    let (stream, _) = gateway
        .upstream()
        .rentals
        .clone()
        .watch_rental(request)
        .await
        .answer()?;
    // Read once: a rental's country does not change while it is watched.
    let names = numbers::country_names(&gateway, &key).await?;
    Ok(
        gateway.events(stream, move |event: rentals_pb::RentalEvent| {
            let (name, data) = match event.event? {
                rentals_pb::rental_event::Event::Changed(rental) => {
                    ("changed", json(&numbers::number(rental, &names)))
                }
                rentals_pb::rental_event::Event::Message(message) => {
                    ("message", json(&numbers::Sms::from(message)))
                }
            };
            Some(Event::default().id(event.cursor).event(name).data(data))
        }),
    )
}

/// Every SMS that reaches any of the caller's numbers, activations' and
/// rentals' alike, as `message` events; never ends by itself.
#[utoipa::path(
    get, path = "/v1/messages/events", tag = "events",
    params(
        ("Last-Event-ID" = Option<String>, Header, description = "The id of the last event received."),
        ResumeParams,
    ),
    responses(
        (status = 200, description = "`text/event-stream` of `message` events, each an Sms", content_type = "text/event-stream", body = StreamEvent),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    )
)]
pub async fn messages(
    State(gateway): State<Gateway>,
    key: ApiKey,
    headers: HeaderMap,
    Params(resume): Params<ResumeParams>,
) -> Result<impl IntoResponse, ApiError> {
    let request = key.stream(pb::WatchMessagesRequest {
        after: resume.after(&headers),
    });
    let (stream, _) = gateway
        .upstream()
        .orders
        .clone()
        .watch_messages(request)
        .await
        .answer()?;
    Ok(gateway.events(stream, |event: pb::MessageEvent| {
        let message = event.message?;
        Some(
            Event::default()
                .id(event.cursor)
                .event("message")
                .data(json(&Sms::from(message))),
        )
    }))
}

fn json(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("an event serializes")
}

impl Gateway {
    /// `stream` as Server-Sent Events, each item written by `write`, with
    /// heartbeats, until the service ends it, fails, or the gateway stops.
    fn events<T, W>(
        &self,
        stream: tonic::Streaming<T>,
        write: W,
    ) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<T, W>>
    where
        T: Send + 'static,
        W: Fn(T) -> Option<Event> + Send + 'static,
    {
        let closing = self.closing.clone().cancelled_owned();
        let events = stream
            // A failed stream (the service stopping, a revoked key) ends
            // the HTTP stream: the client resumes with its last id.
            .map_while(Result::ok)
            .filter_map(write)
            .map(Ok);
        let events = futures_util::StreamExt::take_until(events, closing);
        Sse::new(events).keep_alive(
            KeepAlive::new()
                .interval(self.settings.gateway_heartbeat)
                .text("heartbeat"),
        )
    }
}
