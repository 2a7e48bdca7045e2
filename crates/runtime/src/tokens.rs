//! Page tokens and stream cursors: opaque to clients, signed, and bound to
//! the request that issued them.
//!
//! A token is `base64url(version || cursor || tag)`, where the tag is the
//! first 16 bytes of an HMAC-SHA256, keyed with the service's own key, over
//! the [`TokenScope`] (method, account, the filters that shape the list) and
//! the cursor. So a token works only for the method, account and filters it
//! was issued for, and cannot be made up or altered. The key lives in the
//! service's database, so every replica and every restart accepts the tokens
//! of the others (clients resume streams with their cursors).

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use crate::db::Database;

/// The first byte of every token this version issues. Version 1 tokens
/// were unsigned text starting `v1:`.
const VERSION: u8 = 2;
/// How many bytes of the HMAC a token carries: 128 bits cannot be guessed.
const TAG_LEN: usize = 16;
const KEY_LEN: usize = 32;
/// The name of the key in the table `numhub_token_keys`.
const KEY_NAME: &str = "page_tokens";

/// What a token or cursor is not, said one way for every failure so a
/// client learns nothing about which check failed.
pub const INVALID: &str = "is not a token issued by this method for this request";
/// What a token of an earlier version is.
pub const OUTDATED: &str = "is a token from an earlier version of numhub, no longer accepted; \
     send the request again without it (a list restarts at its first page, a stream at its start)";

/// What a token is bound to: the full gRPC method name, the account (empty
/// where the list is not one account's), and every filter of the request
/// that shapes the list, by name. Every part is length-prefixed, so no two
/// scopes sign the same bytes.
#[derive(Debug, Clone)]
pub struct TokenScope {
    bytes: Vec<u8>,
}

impl TokenScope {
    /// `method` as gRPC names it, e.g.
    /// `numhub.orders.v1.OrdersService/ListActivations`.
    pub fn new(method: &str, account_id: &str) -> Self {
        let mut scope = Self { bytes: Vec::new() };
        scope.push(method.as_bytes());
        scope.push(account_id.as_bytes());
        scope
    }

    /// Binds a filter of the request, as the client sent it.
    pub fn filter(mut self, name: &str, value: impl AsRef<str>) -> Self {
        self.push(name.as_bytes());
        self.push(value.as_ref().as_bytes());
        self
    }

    fn push(&mut self, part: &[u8]) {
        self.bytes
            .extend_from_slice(&(part.len() as u64).to_be_bytes());
        self.bytes.extend_from_slice(part);
    }
}

/// A service's token key: issues and checks its tokens. Cheap to clone.
#[derive(Clone)]
pub struct PageTokens {
    key: Arc<[u8; KEY_LEN]>,
}

impl std::fmt::Debug for PageTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageTokens(<key>)")
    }
}

impl PageTokens {
    /// The service's key from its database, made (32 random bytes) by the
    /// first process to ask. Call it once at start, after the migrations.
    pub async fn load(db: &Database) -> Result<Self, sqlx::Error> {
        match load_key(db).await {
            Ok(key) => Ok(Self::with_key(key)),
            // Two PostgreSQL replicas creating the table at once: one fails
            // on the catalog's unique index, and the table is there now.
            Err(_) => load_key(db).await.map(Self::with_key),
        }
    }

    /// Tokens under a given key (tests; services use [`PageTokens::load`]).
    pub fn with_key(key: [u8; KEY_LEN]) -> Self {
        Self { key: Arc::new(key) }
    }

    /// The token for `cursor` (never empty) in `scope`.
    pub fn encode(&self, scope: &TokenScope, cursor: &str) -> String {
        let mut bytes = Vec::with_capacity(1 + cursor.len() + TAG_LEN);
        bytes.push(VERSION);
        bytes.extend_from_slice(cursor.as_bytes());
        bytes.extend_from_slice(&self.tag(scope, cursor.as_bytes()));
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// A list's `next_page_token`: the token for the next page's cursor,
    /// empty after the last page.
    pub fn next_page(&self, scope: &TokenScope, cursor: Option<String>) -> String {
        cursor
            .map(|cursor| self.encode(scope, &cursor))
            .unwrap_or_default()
    }

    /// The cursor inside `token`, if this service issued it in `scope`;
    /// `None` for an empty token (the first page, or a stream's start).
    pub fn decode(&self, scope: &TokenScope, token: &str) -> Result<Option<String>, String> {
        if token.is_empty() {
            return Ok(None);
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| INVALID)?;
        if bytes.starts_with(b"v1:") {
            return Err(OUTDATED.into());
        }
        let [VERSION, rest @ ..] = bytes.as_slice() else {
            return Err(INVALID.into());
        };
        if rest.len() <= TAG_LEN {
            return Err(INVALID.into());
        }
        let (cursor, tag) = rest.split_at(rest.len() - TAG_LEN);
        if !bool::from(self.tag(scope, cursor).ct_eq(tag)) {
            return Err(INVALID.into());
        }
        let cursor = String::from_utf8(cursor.to_vec()).map_err(|_| INVALID)?;
        Ok(Some(cursor))
    }

    /// [`PageTokens::decode`] for a list ordered by UUIDv7 ids, whose cursor
    /// is the id of the last item of the previous page.
    pub fn decode_uuid(&self, scope: &TokenScope, token: &str) -> Result<Option<String>, String> {
        let cursor = self.decode(scope, token)?;
        if let Some(cursor) = &cursor {
            uuid::Uuid::try_parse(cursor).map_err(|_| INVALID)?;
        }
        Ok(cursor)
    }

    fn tag(&self, scope: &TokenScope, cursor: &[u8]) -> [u8; TAG_LEN] {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.key.as_slice()).expect("HMAC takes any key length");
        mac.update(&scope.bytes);
        mac.update(&(cursor.len() as u64).to_be_bytes());
        mac.update(cursor);
        let full = mac.finalize().into_bytes();
        let mut tag = [0; TAG_LEN];
        tag.copy_from_slice(&full[..TAG_LEN]);
        tag
    }
}

/// Creates the key table and the key if missing, then reads the key: the
/// first process's insert wins and every other reads what it wrote.
async fn load_key(db: &Database) -> Result<[u8; KEY_LEN], sqlx::Error> {
    let pool = db.writer();
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS numhub_token_keys (name TEXT PRIMARY KEY, key TEXT NOT NULL)",
    )
    .execute(pool)
    .await?;
    let fresh: [u8; KEY_LEN] = rand::random();
    sqlx::query(
        "INSERT INTO numhub_token_keys (name, key) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(KEY_NAME)
    .bind(URL_SAFE_NO_PAD.encode(fresh))
    .execute(pool)
    .await?;
    let stored: String = sqlx::query_scalar("SELECT key FROM numhub_token_keys WHERE name = $1")
        .bind(KEY_NAME)
        .fetch_one(pool)
        .await?;
    URL_SAFE_NO_PAD
        .decode(stored)
        .ok()
        .and_then(|key| <[u8; KEY_LEN]>::try_from(key).ok())
        .ok_or_else(|| sqlx::Error::Protocol("numhub_token_keys holds a malformed key".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const METHOD: &str = "numhub.orders.v1.OrdersService/ListActivations";

    fn tokens() -> PageTokens {
        PageTokens::with_key([7; KEY_LEN])
    }

    fn scope() -> TokenScope {
        TokenScope::new(METHOD, "account-a").filter("statuses", "1,2")
    }

    #[test]
    fn round_trip() {
        let token = tokens().encode(&scope(), "0192-abc");
        assert_eq!(
            tokens().decode(&scope(), &token),
            Ok(Some("0192-abc".into()))
        );
        assert_eq!(tokens().decode(&scope(), ""), Ok(None));
        assert!(!token.contains("0192"), "the cursor is not plain text");
    }

    #[test]
    fn another_method_account_or_filter_is_refused() {
        let token = tokens().encode(&scope(), "c");
        let others = [
            TokenScope::new("numhub.rentals.v1.RentalsService/ListRentals", "account-a")
                .filter("statuses", "1,2"),
            TokenScope::new(METHOD, "account-b").filter("statuses", "1,2"),
            TokenScope::new(METHOD, "account-a").filter("statuses", "1"),
            TokenScope::new(METHOD, "account-a").filter("status", "1,2"),
            TokenScope::new(METHOD, "account-a"),
            // Parts shifted between fields still differ.
            TokenScope::new(METHOD, "account-astatuses").filter("", "1,2"),
        ];
        for other in others {
            assert_eq!(tokens().decode(&other, &token), Err(INVALID.into()));
        }
    }

    #[test]
    fn tampered_truncated_and_foreign_tokens_are_refused() {
        let token = tokens().encode(&scope(), "cursor");
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        for i in 0..bytes.len() {
            bytes[i] ^= 1;
            let tampered = URL_SAFE_NO_PAD.encode(&bytes);
            assert!(tokens().decode(&scope(), &tampered).is_err(), "byte {i}");
            bytes[i] ^= 1;
        }
        let mut short = bytes.clone();
        short.pop();
        assert!(
            tokens()
                .decode(&scope(), &URL_SAFE_NO_PAD.encode(&short))
                .is_err()
        );
        let bare = URL_SAFE_NO_PAD.encode([&[VERSION][..], &[0; TAG_LEN]].concat());
        assert!(tokens().decode(&scope(), &bare).is_err());
        assert!(tokens().decode(&scope(), "not base64!").is_err());
        let other_key = PageTokens::with_key([8; KEY_LEN]);
        assert_eq!(other_key.decode(&scope(), &token), Err(INVALID.into()));
    }

    #[test]
    fn version_1_tokens_are_told_to_start_again() {
        let old = URL_SAFE_NO_PAD.encode(format!("v1:{}", uuid::Uuid::now_v7()));
        assert_eq!(tokens().decode(&scope(), &old), Err(OUTDATED.into()));
        assert_eq!(
            tokens().decode(&scope(), &URL_SAFE_NO_PAD.encode("v1:42")),
            Err(OUTDATED.into())
        );
    }

    #[test]
    fn uuid_cursors() {
        let id = uuid::Uuid::now_v7().to_string();
        let token = tokens().encode(&scope(), &id);
        assert_eq!(tokens().decode_uuid(&scope(), &token), Ok(Some(id)));
        let token = tokens().encode(&scope(), "not-a-uuid");
        assert_eq!(tokens().decode_uuid(&scope(), &token), Err(INVALID.into()));
    }

    #[test]
    fn the_key_is_not_printed() {
        assert_eq!(format!("{:?}", tokens()), "PageTokens(<key>)");
    }
}
