//! The SMS-Activate protocol at `/stubs/handler_api.php`, for the clients,
//! bots and libraries written for it: one path, `action` and `api_key` as
//! parameters, plain-text tokens and JSON as the protocol answers them.
//! docs/sms-activate.md maps it to numhub's rules.
//!
//! Each request is made on the caller's behalf with the `api_key` it
//! carries ([`crate::caller::ApiKey`]), exactly as the REST API's; the
//! handlers are thin: [`params`] reads the request, an action of
//! [`actions`] calls the public services, [`answer`] writes the protocol's
//! bytes, and [`refusal`] is the one table from numhub's refusals to the
//! protocol's error tokens. [`values`] writes amounts, times and numbers
//! as the protocol does.

pub mod actions;
pub mod answer;
pub mod params;
pub mod refusal;
pub mod values;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use bytes::Bytes;
use http::HeaderMap;

use crate::Gateway;
use answer::Answer;
use params::Params;

/// The protocol's one path.
pub const PATH: &str = "/stubs/handler_api.php";

/// The protocol's route, GET and POST.
pub fn routes() -> Router<Gateway> {
    Router::new().route(PATH, get(handle).post(handle))
}

async fn handle(
    State(gateway): State<Gateway>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let params = Params::read(query.as_deref(), &headers, &body);
    actions::run(gateway.upstream(), &params).await
}
