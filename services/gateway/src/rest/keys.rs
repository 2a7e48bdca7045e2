//! `/v1/keys`: the caller's API keys, as a dashboard's "API Access" page
//! manages them (seed 000): list, create (the secret shown once), revoke.

use axum::extract::{Path, State};
use http::StatusCode;
use numhub_proto::accounts::v1 as pb;
use numhub_proto::common::v1::Scope;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{Answer as _, PageParams, paged};
use crate::Gateway;
use crate::caller::ApiKey;
use crate::input::{JsonBody, Params};
use crate::reply::{self, ApiError, ErrorBody, Many, One, Reply};

/// An API key, never its secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Key {
    /// Its id, for `DELETE /v1/keys/{id}`.
    pub id: String,
    pub name: String,
    /// `read`, `write` (and `admin` for the operator's).
    pub scopes: Vec<String>,
    /// The secret's first characters, to recognise it; never enough to use.
    pub prefix: String,
    /// `active` or `revoked`.
    pub state: String,
    pub created_at: Option<String>,
    /// When it was last used, to within a minute.
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// A new key and its secret, shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewKey {
    #[serde(flatten)]
    pub key: Key,
    /// The key itself: store it now, numhub never shows it again.
    pub secret: String,
}

impl From<pb::ApiKey> for Key {
    fn from(k: pb::ApiKey) -> Self {
        let state = match pb::ApiKeyState::try_from(k.state) {
            Ok(pb::ApiKeyState::Active) => "active",
            Ok(pb::ApiKeyState::Revoked) => "revoked",
            _ => "unknown",
        };
        Key {
            id: k.id,
            name: k.name,
            scopes: k
                .scopes
                .into_iter()
                .filter_map(|s| Scope::try_from(s).ok())
                .map(|s| {
                    s.as_str_name()
                        .trim_start_matches("SCOPE_")
                        .to_ascii_lowercase()
                })
                .collect(),
            prefix: k.prefix,
            state: state.to_owned(),
            created_at: reply::time(k.create_time.as_ref()),
            last_used_at: reply::time(k.last_use_time.as_ref()),
            revoked_at: reply::time(k.revoke_time.as_ref()),
        }
    }
}

/// A key to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyBody {
    /// A name for people, e.g. `production server`.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// What it may do: `read` and/or `write`, at least one (as for a key
    /// created over gRPC).
    #[schema(min_items = 1)]
    pub scopes: Vec<String>,
}

/// Which keys to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyListParams {
    /// List revoked keys too.
    #[serde(default)]
    pub revoked: bool,
    /// Page size, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The opaque cursor from a previous page's `meta.nextCursor`.
    pub cursor: Option<String>,
}

/// The caller's keys, newest first.
#[utoipa::path(
    get, path = "/v1/keys", tag = "keys", params(KeyListParams),
    responses((status = 200, body = Many<Key>), (status = 400, body = ErrorBody))
)]
pub async fn list(
    State(gateway): State<Gateway>,
    key: ApiKey,
    Params(params): Params<KeyListParams>,
) -> Result<Reply, ApiError> {
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    };
    let (page_size, page_token) = page.page()?;
    let (listed, quota) = gateway
        .upstream()
        .accounts
        .clone()
        .list_api_keys(key.request(pb::ListApiKeysRequest {
            page_size,
            page_token,
            show_revoked: params.revoked,
        }))
        .await
        .answer()?;
    let (keys, next) = (listed.api_keys, listed.next_page_token);
    Ok(paged(keys, Key::from, next, page_size, quota))
}

/// A new key for the caller's account, its secret shown this once; it may
/// hold no scope the calling key does not.
#[utoipa::path(
    post, path = "/v1/keys", tag = "keys", request_body = KeyBody,
    responses((status = 201, body = One<NewKey>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody))
)]
pub async fn create(
    State(gateway): State<Gateway>,
    key: ApiKey,
    JsonBody(body): JsonBody<KeyBody>,
) -> Result<Reply, ApiError> {
    if body.scopes.is_empty() {
        return Err(ApiError::invalid("scopes", "must name at least one scope"));
    }
    let mut scopes = Vec::with_capacity(body.scopes.len());
    for name in &body.scopes {
        let scope = match name.as_str() {
            "read" => Scope::Read,
            "write" => Scope::Write,
            _ => {
                return Err(ApiError::invalid(
                    "scopes",
                    "each must be `read` or `write`",
                ));
            }
        };
        scopes.push(scope as i32);
    }
    let (created, quota) = gateway
        .upstream()
        .accounts
        .clone()
        .create_api_key(key.request(pb::CreateApiKeyRequest {
            name: body.name,
            scopes,
        }))
        .await
        .answer()?;
    let new = NewKey {
        key: Key::from(created.api_key.unwrap_or_default()),
        secret: created.secret,
    };
    Ok(Reply::with_status(
        StatusCode::CREATED,
        &One::new(new),
        quota,
    ))
}

/// A key's id in a path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct KeyId {
    /// The key's id, from `GET /v1/keys`.
    #[param(pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    pub id: String,
}

/// Revokes one of the caller's keys: it never works again.
#[utoipa::path(
    delete, path = "/v1/keys/{id}", tag = "keys", params(KeyId),
    responses((status = 200, body = One<Key>), (status = 404, body = ErrorBody))
)]
pub async fn revoke(
    State(gateway): State<Gateway>,
    key: ApiKey,
    Path(KeyId { id }): Path<KeyId>,
) -> Result<Reply, ApiError> {
    let (revoked, quota) = gateway
        .upstream()
        .accounts
        .clone()
        .revoke_api_key(key.request(pb::RevokeApiKeyRequest { api_key_id: id }))
        .await
        .answer_with(|f| match f {
            "api_key_id" => "id".into(),
            other => super::rest_field(other),
        })?;
    Ok(Reply::ok(&One::new(Key::from(revoked)), quota))
}
