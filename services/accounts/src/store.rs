//! The accounts service's SQL, one text for PostgreSQL and SQLite.

use numhub_auth::{RateLimits, Scopes};
use numhub_runtime::clock::Timestamp;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Executor, Row};

use crate::model::{Account, ApiKey, KeyRecord};

const ACCOUNT_COLUMNS: &str =
    "id, display_name, is_operator, requests_per_minute, money_requests_per_minute, created_at";
const KEY_COLUMNS: &str = "k.id, k.account_id, k.name, k.scopes, k.display_prefix, k.created_at, \
                           k.last_used_at, k.revoked_at";

/// A new account with its idempotency key and fingerprint.
pub struct NewAccount<'a> {
    pub account: &'a Account,
    pub request_id: &'a str,
    pub fingerprint: &'a str,
}

/// Inserts an account; a unique violation means the request id (or the
/// operator slot) is taken.
pub async fn insert_account<'e>(
    db: impl Executor<'e, Database = Any>,
    new: NewAccount<'_>,
) -> Result<(), sqlx::Error> {
    let a = new.account;
    sqlx::query(
        "INSERT INTO accounts (id, display_name, is_operator, requests_per_minute, \
         money_requests_per_minute, request_id, fingerprint, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&a.id)
    .bind(&a.display_name)
    .bind(i64::from(a.operator))
    .bind(i64::from(a.rate_limits.requests_per_minute))
    .bind(i64::from(a.rate_limits.money_requests_per_minute))
    .bind(new.request_id)
    .bind(new.fingerprint)
    .bind(a.created_at.unix_micros())
    .execute(db)
    .await?;
    Ok(())
}

/// The account created with `request_id`, and that request's fingerprint.
pub async fn account_by_request(
    db: &AnyPool,
    request_id: &str,
) -> Result<Option<(Account, String)>, sqlx::Error> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS}, fingerprint FROM accounts WHERE request_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(request_id)
        .fetch_optional(db)
        .await?;
    row.map(|r| Ok((account_row(&r)?, r.try_get("fingerprint")?)))
        .transpose()
}

pub async fn account<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
) -> Result<Option<Account>, sqlx::Error> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db)
        .await?;
    row.as_ref().map(account_row).transpose()
}

pub async fn operator_account(db: &AnyPool) -> Result<Option<Account>, sqlx::Error> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE is_operator = 1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_optional(db)
        .await?;
    row.as_ref().map(account_row).transpose()
}

/// Accounts newest first, those older than `before` if given.
pub async fn list_accounts(
    db: &AnyPool,
    before: Option<&str>,
    limit: u32,
) -> Result<Vec<Account>, sqlx::Error> {
    let sql = format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE ($1 IS NULL OR id < $1) \
         ORDER BY id DESC LIMIT $2"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(db)
        .await?;
    rows.iter().map(account_row).collect()
}

/// Takes the account's row lock (a no-op update) so that key creations of
/// one account run one at a time; the caller's transaction holds it.
pub async fn lock_account<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE accounts SET id = id WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn count_active_keys<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &str,
) -> Result<u32, sqlx::Error> {
    let count: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM api_keys WHERE account_id = $1 AND revoked_at IS NULL",
    )
    .bind(account_id)
    .fetch_one(db)
    .await?;
    Ok(u32::try_from(count).unwrap_or(u32::MAX))
}

/// A new key: the record, its selector and verifier, whether it is the
/// bootstrap key.
pub struct NewKey<'a> {
    pub key: &'a ApiKey,
    pub selector: &'a str,
    pub verifier: &'a str,
    pub bootstrap: bool,
}

pub async fn insert_key<'e>(
    db: impl Executor<'e, Database = Any>,
    new: NewKey<'_>,
) -> Result<(), sqlx::Error> {
    let k = new.key;
    sqlx::query(
        "INSERT INTO api_keys (id, account_id, name, scopes, selector, verifier, display_prefix, \
         bootstrap, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&k.id)
    .bind(&k.account_id)
    .bind(&k.name)
    .bind(k.scopes.names().join(","))
    .bind(new.selector)
    .bind(new.verifier)
    .bind(&k.display_prefix)
    .bind(i64::from(new.bootstrap))
    .bind(k.created_at.unix_micros())
    .execute(db)
    .await?;
    Ok(())
}

/// The key with `selector`, with its account's quotas.
pub async fn key_by_selector(
    db: &AnyPool,
    selector: &str,
) -> Result<Option<KeyRecord>, sqlx::Error> {
    let sql = format!(
        "SELECT {KEY_COLUMNS}, k.verifier, a.requests_per_minute, a.money_requests_per_minute \
         FROM api_keys k JOIN accounts a ON a.id = k.account_id WHERE k.selector = $1"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(selector)
        .fetch_optional(db)
        .await?;
    row.map(|r| {
        Ok(KeyRecord {
            key: key_row(&r)?,
            verifier: r.try_get("verifier")?,
            rate_limits: limits(&r)?,
        })
    })
    .transpose()
}

pub async fn key<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
) -> Result<Option<ApiKey>, sqlx::Error> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db)
        .await?;
    row.as_ref().map(key_row).transpose()
}

/// An account's keys newest first, older than `before` if given.
pub async fn list_keys(
    db: &AnyPool,
    account_id: &str,
    show_revoked: bool,
    before: Option<&str>,
    limit: u32,
) -> Result<Vec<ApiKey>, sqlx::Error> {
    let sql = format!(
        "SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.account_id = $1 \
         AND ($2 = 1 OR k.revoked_at IS NULL) AND ($3 IS NULL OR k.id < $3) \
         ORDER BY k.id DESC LIMIT $4"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(account_id)
        .bind(i64::from(show_revoked))
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(db)
        .await?;
    rows.iter().map(key_row).collect()
}

/// Revokes a key unless it already is; true if this call revoked it.
pub async fn revoke_key<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
    at: Timestamp,
) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(at.unix_micros())
            .execute(db)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes every active bootstrap key of the account but `keep`.
pub async fn revoke_other_bootstrap_keys<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &str,
    keep: &str,
    at: Timestamp,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE api_keys SET revoked_at = $3 WHERE account_id = $1 AND bootstrap = 1 \
         AND id <> $2 AND revoked_at IS NULL",
    )
    .bind(account_id)
    .bind(keep)
    .bind(at.unix_micros())
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Records a use, at most once a minute per key so authentication stays a
/// read most of the time.
pub async fn touch_key(db: &AnyPool, id: &str, at: Timestamp) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 \
         AND (last_used_at IS NULL OR last_used_at < $3)",
    )
    .bind(id)
    .bind(at.unix_micros())
    .bind(at.minus(std::time::Duration::from_secs(60)).unix_micros())
    .execute(db)
    .await?;
    Ok(())
}

fn account_row(row: &AnyRow) -> Result<Account, sqlx::Error> {
    Ok(Account {
        id: row.try_get("id")?,
        display_name: row.try_get("display_name")?,
        operator: row.try_get::<i64, _>("is_operator")? == 1,
        rate_limits: limits(row)?,
        created_at: Timestamp::from_unix_micros(row.try_get("created_at")?),
    })
}

fn limits(row: &AnyRow) -> Result<RateLimits, sqlx::Error> {
    let quota = |column: &str| -> Result<u32, sqlx::Error> {
        let value: i64 = row.try_get(column)?;
        u32::try_from(value).map_err(|e| sqlx::Error::Decode(Box::new(e)))
    };
    Ok(RateLimits {
        requests_per_minute: quota("requests_per_minute")?,
        money_requests_per_minute: quota("money_requests_per_minute")?,
    })
}

fn key_row(row: &AnyRow) -> Result<ApiKey, sqlx::Error> {
    let scopes: String = row.try_get("scopes")?;
    let micros = |column: &str| -> Result<Option<Timestamp>, sqlx::Error> {
        Ok(row
            .try_get::<Option<i64>, _>(column)?
            .map(Timestamp::from_unix_micros))
    };
    Ok(ApiKey {
        id: row.try_get("id")?,
        account_id: row.try_get("account_id")?,
        name: row.try_get("name")?,
        scopes: Scopes::from_names(scopes.split(',').filter(|s| !s.is_empty()))
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown scope in {scopes:?}").into()))?,
        display_prefix: row.try_get("display_prefix")?,
        created_at: Timestamp::from_unix_micros(row.try_get("created_at")?),
        last_used_at: micros("last_used_at")?,
        revoked_at: micros("revoked_at")?,
    })
}
