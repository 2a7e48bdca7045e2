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
        rest::activations::create,
        rest::activations::list,
        rest::activations::get,
        rest::activations::cancel,
        rest::activations::complete,
        rest::activations::request_another_sms,
        rest::activations::skip,
        rest::activations::reuse,
        rest::events::activation,
        rest::events::messages,
        rest::events::number,
        rest::wallet::list_transactions,
        rest::keys::list,
        rest::keys::create,
        rest::keys::revoke,
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
    // name but do not bring along, and every error's body.
    components(schemas(reply::Page, reply::NoMeta, reply::ErrorBody)),
    modifiers(&Security, &CommonErrors),
    security(("bearer" = []), ("x_api_key" = []), ("api_key" = [])),
)]
pub struct ApiDoc;

struct Security;

/// The answers any keyed route may give besides its own: a field at fault,
/// a missing or unknown key, the rate limit, a service down or slow.
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{RefOr, ResponseBuilder, content::ContentBuilder};
        let error = |description: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        };
        let common = [
            ("400", "A field at fault, named in `errors`."),
            ("401", "No API key, or one numhub does not know."),
            ("403", "The key lacks the scope this route needs."),
            (
                "404",
                "An id, service, country or package numhub does not know, or another account's id.",
            ),
            ("429", "The key's rate limit: wait `Retry-After` seconds."),
            (
                "503",
                "A service is unavailable: retry after `Retry-After` seconds.",
            ),
            ("504", "numhub did not answer in time: retry."),
        ];
        // A change may also clash with another call under the same
        // Idempotency-Key, or be refused by a rule.
        let changes = [
            (
                "409",
                "The Idempotency-Key was used with another body, or its first call is still running: retry.",
            ),
            (
                "422",
                "Refused by numhub's rules: the reason is `code` (`insufficient_balance`, `too_many_api_keys`, ...).",
            ),
        ];
        for item in openapi.paths.paths.values_mut() {
            let reads = item.get.iter_mut().map(|o| (o, &[][..]));
            let writes = [&mut item.post, &mut item.delete, &mut item.put]
                .into_iter()
                .flatten()
                .map(|o| (o, &changes[..]));
            for (operation, extra) in reads.chain(writes) {
                for (status, description) in common.iter().chain(extra) {
                    operation
                        .responses
                        .responses
                        .entry((*status).to_owned())
                        .or_insert_with(|| error(description));
                }
            }
        }
    }
}

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

/// How to integrate, for an AI coding assistant (as seed 000 offers one).
pub const LLMS_TXT: &str = include_str!("llms.txt");

pub(crate) fn routes() -> Router<Gateway> {
    Router::new()
        .route("/v1/openapi.json", get(serve))
        .route("/llms.txt", get(llms_txt))
}

async fn llms_txt() -> impl IntoResponse {
    (
        [(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        LLMS_TXT,
    )
}

async fn serve() -> impl IntoResponse {
    (
        [(http::header::CONTENT_TYPE, "application/json")],
        document(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llms_txt_names_every_route_of_the_document() {
        let document: serde_json::Value = serde_json::from_str(&document()).unwrap();
        for path in document["paths"].as_object().unwrap().keys() {
            assert!(
                LLMS_TXT.contains(path.as_str()),
                "llms.txt does not name {path}"
            );
        }
    }
}
