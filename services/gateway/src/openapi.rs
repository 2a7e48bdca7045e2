//! The OpenAPI 3.1 document of the REST API, generated from the handlers'
//! and types' own annotations, served at `/v1/openapi.json`.

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::Gateway;
use crate::{reply, rest};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "numhub REST API",
        description = "Virtual numbers for SMS verification: activations, rentals, the wallet and the catalog. Every answer is `{\"success\": true, ...}` or `{\"success\": false, \"code\", \"message\"}`; see /llms.txt.",
    ),
    paths(
        rest::account::get_account,
        rest::catalog::list_services,
        rest::catalog::list_countries,
        rest::catalog::list_service_countries,
        rest::pricing::list_pricing,
        rest::pricing::get_pricing,
        rest::pricing::check_inventory,
        rest::numbers::buy,
        rest::numbers::renew,
        rest::numbers::cancel,
        rest::numbers::list,
        rest::numbers::sms,
        rest::numbers::receive_sms,
    ),
    // The envelope's default `meta` types, which the generic envelopes
    // name but do not bring along.
    components(schemas(reply::Page, reply::NoMeta)),
    modifiers(&Security),
    security(("bearer" = []), ("x_api_key" = []), ("api_key" = [])),
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "x_api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("API-Key"))),
        );
    }
}

/// The document as JSON.
pub fn document() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes")
}

pub(crate) fn routes() -> Router<Gateway> {
    Router::new().route("/v1/openapi.json", get(serve))
}

async fn serve() -> impl IntoResponse {
    (
        [(http::header::CONTENT_TYPE, "application/json")],
        document(),
    )
}
