//! The wallet's SQL, the same text for PostgreSQL and SQLite.
//!
//! Batch statements are built for the batch's size; each size is prepared
//! once per connection and then reused, as batches under steady load come in
//! few sizes.

use std::collections::HashMap;

use numhub_runtime::clock::Timestamp;
use numhub_runtime::db::{Backend, Database, placeholder_rows_from};
use numhub_runtime::db::{placeholder_list, placeholder_rows};
use numhub_runtime::error::RejectionKind as _;
use numhub_runtime::idempotency;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, AnyPool, Arguments, AssertSqlSafe, Encode, Row, Type};

use crate::error::{Error, Rejection};
use crate::model::{Balance, Entry, Kind};
use crate::rules::{AccountState, DebitState};

/// The first outcome recorded under an idempotency key.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub fingerprint: String,
    pub outcome: Result<String, Rejection>,
}

/// A key to record with its outcome.
#[derive(Debug)]
pub struct NewKey<'a> {
    pub account_id: &'a str,
    pub request_id: &'a str,
    pub fingerprint: &'a str,
    pub outcome: Result<&'a str, &'a Rejection>,
}

/// Identifies one request: (account, request_id).
pub type KeyId = (String, String);

const ENTRY_COLUMNS: &str = "e.entry_id, e.account_id, e.kind, e.amount, a.currency, \
    e.balance_after, e.reference, e.refund_of, e.request_id, e.created_at";

fn sql(text: String) -> AssertSqlSafe<String> {
    AssertSqlSafe(text)
}

/// Keys among `keys` that already have an outcome.
pub async fn existing_keys(
    pool: &AnyPool,
    keys: &[KeyId],
) -> Result<HashMap<KeyId, StoredKey>, Error> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let text = format!(
        "SELECT account_id, request_id, fingerprint, entry_id, reject_kind, reject_message \
         FROM idempotency_keys WHERE (account_id, request_id) IN (VALUES {})",
        placeholder_rows(keys.len(), 2)
    );
    let mut query = sqlx::query(sql(text));
    for (account_id, request_id) in keys {
        query = query.bind(account_id).bind(request_id);
    }
    let rows = query.fetch_all(pool).await?;
    rows.iter()
        .map(|row| {
            let key = (row.try_get("account_id")?, row.try_get("request_id")?);
            Ok((key, stored_key(row)?))
        })
        .collect()
}

/// The outcome recorded under one key, read outside any transaction.
pub async fn get_key(
    pool: &AnyPool,
    account_id: &str,
    request_id: &str,
) -> Result<Option<StoredKey>, Error> {
    let row = sqlx::query(
        "SELECT fingerprint, entry_id, reject_kind, reject_message FROM idempotency_keys \
         WHERE account_id = $1 AND request_id = $2",
    )
    .bind(account_id)
    .bind(request_id)
    .fetch_optional(pool)
    .await?;
    row.map(|row| stored_key(&row)).transpose()
}

fn stored_key(row: &AnyRow) -> Result<StoredKey, Error> {
    let entry_id: Option<String> = row.try_get("entry_id")?;
    let reject_kind: Option<String> = row.try_get("reject_kind")?;
    let outcome = match (entry_id, reject_kind) {
        (Some(entry_id), None) => Ok(entry_id),
        (None, Some(kind)) => {
            let message: Option<String> = row.try_get("reject_message")?;
            Err(Rejection::stored(&kind, message.unwrap_or_default())?)
        }
        _ => return Err(Error::corrupt("idempotency key without one outcome")),
    };
    Ok(StoredKey {
        fingerprint: row.try_get("fingerprint")?,
        outcome,
    })
}

/// The rows of `select`, which ends with the column to match: `… WHERE x`.
async fn fetch_where_in(pool: &AnyPool, select: &str, ids: &[&str]) -> Result<Vec<AnyRow>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let text = format!("{select} IN ({})", placeholder_list(ids.len(), 1));
    let mut query = sqlx::query(sql(text));
    for id in ids {
        query = query.bind(*id);
    }
    Ok(query.fetch_all(pool).await?)
}

/// Creates the accounts that do not exist yet, with the given currencies.
pub async fn create_missing_accounts(
    pool: &AnyPool,
    accounts: &[(&str, &str)],
    now: Timestamp,
) -> Result<(), Error> {
    if accounts.is_empty() {
        return Ok(());
    }
    let text = format!(
        "INSERT INTO accounts (account_id, currency, balance, version, created_at, updated_at) \
         VALUES {} ON CONFLICT (account_id) DO NOTHING",
        account_rows(accounts.len())
    );
    let mut query = sqlx::query(sql(text));
    for (account_id, currency) in accounts {
        query = query
            .bind(*account_id)
            .bind(*currency)
            .bind(now.unix_micros());
    }
    query.execute(pool).await?;
    Ok(())
}

fn account_rows(count: usize) -> String {
    (0..count)
        .map(|i| {
            format!(
                "(${}, ${}, 0, 0, ${t}, ${t})",
                3 * i + 1,
                3 * i + 2,
                t = 3 * i + 3
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The current state of the given accounts.
pub async fn load_accounts(
    pool: &AnyPool,
    ids: &[&str],
) -> Result<HashMap<String, AccountState>, Error> {
    let select = "SELECT account_id, currency, balance, version FROM accounts WHERE account_id";
    let rows = fetch_where_in(pool, select, ids).await?;
    rows.iter()
        .map(|row| {
            let state = AccountState {
                currency: row.try_get("currency")?,
                balance: row.try_get("balance")?,
                version: row.try_get("version")?,
            };
            Ok((row.try_get("account_id")?, state))
        })
        .collect()
}

/// The given debits with what has been refunded of each. (PostgreSQL sums
/// BIGINTs as NUMERIC, hence the cast.)
pub async fn load_debits(
    pool: &AnyPool,
    ids: &[&str],
) -> Result<HashMap<String, DebitState>, Error> {
    let select = "SELECT d.entry_id, d.account_id, d.amount, \
                CAST(COALESCE((SELECT SUM(r.amount) FROM ledger_entries r \
                               WHERE r.refund_of = d.entry_id), 0) AS BIGINT) AS refunded \
         FROM ledger_entries d WHERE d.kind = 'debit' AND d.entry_id";
    let rows = fetch_where_in(pool, select, ids).await?;
    rows.iter()
        .map(|row| {
            let amount: i64 = row.try_get("amount")?;
            let state = DebitState {
                account_id: row.try_get("account_id")?,
                amount: -amount,
                refunded: row.try_get("refunded")?,
            };
            Ok((row.try_get("entry_id")?, state))
        })
        .collect()
}

/// Everything one batch writes: the outcome under each new key, the new
/// ledger entries, and the new balances.
#[derive(Debug, Default)]
pub struct BatchWrite<'a> {
    pub keys: Vec<NewKey<'a>>,
    pub entries: Vec<Entry>,
    pub balances: Vec<BalanceUpdate<'a>>,
}

/// A new balance for an account, valid only if its version is unchanged.
#[derive(Debug)]
pub struct BalanceUpdate<'a> {
    pub account_id: &'a str,
    pub balance: i64,
    pub read_version: i64,
}

/// Writes a batch atomically, or not at all when a concurrent writer took one
/// of its keys or changed one of its accounts since they were read: then
/// `Ok(false)`, and the batch is to be read and decided again.
///
/// PostgreSQL gets one statement (data-modifying CTEs, committed on its own),
/// so no row lock is held across a network round trip. SQLite, in process,
/// gets one `BEGIN IMMEDIATE` transaction of the same statements.
pub async fn write_batch(
    db: &Database,
    batch: &BatchWrite<'_>,
    now: Timestamp,
) -> Result<bool, Error> {
    if batch.keys.is_empty() {
        return Ok(true);
    }
    let (keys, entries, balances) = (batch.keys.len(), batch.entries.len(), batch.balances.len());
    match db.backend() {
        Backend::Postgres => {
            let mut next = 1;
            let mut parts = vec![format!("k AS ({} RETURNING 1)", keys_sql(keys, &mut next))];
            let mut args = AnyArguments::default();
            add_keys(&mut args, &batch.keys, now)?;
            if entries > 0 {
                parts.push(format!("e AS ({})", entries_sql(entries, &mut next)));
                add_entries(&mut args, &batch.entries)?;
            }
            let mut applied = format!("(SELECT count(*) FROM k) = ${next}");
            add(&mut args, keys as i64)?;
            next += 1;
            if balances > 0 {
                parts.push(format!(
                    "u AS ({} RETURNING 1)",
                    balances_sql(balances, &mut next)
                ));
                add_balances(&mut args, &batch.balances, now)?;
                applied.push_str(&format!(" AND (SELECT count(*) FROM u) = ${next}"));
                add(&mut args, balances as i64)?;
            }
            let text = format!(
                "WITH {} SELECT wallet_batch_applied({applied})",
                parts.join(", ")
            );
            match sqlx::query_scalar_with::<_, bool, _>(sql(text), args)
                .fetch_one(db.writer())
                .await
            {
                Ok(_) => Ok(true),
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("40001") => Ok(false),
                Err(error) => Err(error.into()),
            }
        }
        Backend::Sqlite => {
            let mut tx = db.begin_write().await?;
            let mut args = AnyArguments::default();
            add_keys(&mut args, &batch.keys, now)?;
            let inserted = sqlx::query_with(sql(keys_sql(keys, &mut 1)), args)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if inserted != keys as u64 {
                return Ok(false);
            }
            if entries > 0 {
                let mut args = AnyArguments::default();
                add_entries(&mut args, &batch.entries)?;
                sqlx::query_with(sql(entries_sql(entries, &mut 1)), args)
                    .execute(&mut *tx)
                    .await?;
            }
            if balances > 0 {
                let mut args = AnyArguments::default();
                add_balances(&mut args, &batch.balances, now)?;
                let updated = sqlx::query_with(sql(balances_sql(balances, &mut 1)), args)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if updated != balances as u64 {
                    return Ok(false);
                }
            }
            tx.commit().await?;
            Ok(true)
        }
    }
}

/// Inserts keys, skipping any already taken. Its placeholders start at
/// `*next`, which moves past them.
fn keys_sql(count: usize, next: &mut usize) -> String {
    let rows = placeholder_rows_from(count, 7, *next);
    *next += count * 7;
    format!(
        "INSERT INTO idempotency_keys \
         (account_id, request_id, fingerprint, entry_id, reject_kind, reject_message, created_at) \
         VALUES {rows} ON CONFLICT (account_id, request_id) DO NOTHING"
    )
}

fn add_keys(args: &mut AnyArguments, keys: &[NewKey<'_>], now: Timestamp) -> Result<(), Error> {
    for key in keys {
        let (entry_id, kind, message) = match key.outcome {
            Ok(entry_id) => (Some(entry_id.to_owned()), None, None),
            Err(rejection) => (
                None,
                Some(rejection.kind.as_str().to_owned()),
                Some(rejection.message.clone()),
            ),
        };
        add(args, key.account_id.to_owned())?;
        add(args, key.request_id.to_owned())?;
        add(args, key.fingerprint.to_owned())?;
        add(args, entry_id)?;
        add(args, kind)?;
        add(args, message)?;
        add(args, now.unix_micros())?;
    }
    Ok(())
}

fn entries_sql(count: usize, next: &mut usize) -> String {
    let rows = placeholder_rows_from(count, 9, *next);
    *next += count * 9;
    format!(
        "INSERT INTO ledger_entries (entry_id, account_id, kind, amount, balance_after, \
         reference, refund_of, request_id, created_at) VALUES {rows}"
    )
}

fn add_entries(args: &mut AnyArguments, entries: &[Entry]) -> Result<(), Error> {
    for e in entries {
        add(args, e.id.clone())?;
        add(args, e.account_id.clone())?;
        add(args, e.kind.as_str().to_owned())?;
        add(args, e.amount)?;
        add(args, e.balance_after)?;
        add(args, e.reference.clone())?;
        add(args, e.refund_of.clone())?;
        add(args, e.request_id.clone())?;
        add(args, e.created_at.unix_micros())?;
    }
    Ok(())
}

/// Sets balances of accounts still at the version read.
fn balances_sql(count: usize, next: &mut usize) -> String {
    let rows = placeholder_rows_from(count, 4, *next);
    *next += count * 4;
    format!(
        "UPDATE accounts SET balance = v.column2, version = accounts.version + 1, \
                updated_at = v.column4 \
         FROM (VALUES {rows}) AS v \
         WHERE accounts.account_id = v.column1 AND accounts.version = v.column3"
    )
}

fn add_balances(
    args: &mut AnyArguments,
    balances: &[BalanceUpdate<'_>],
    now: Timestamp,
) -> Result<(), Error> {
    for b in balances {
        add(args, b.account_id.to_owned())?;
        add(args, b.balance)?;
        add(args, b.read_version)?;
        add(args, now.unix_micros())?;
    }
    Ok(())
}

fn add<T>(args: &mut AnyArguments, value: T) -> Result<(), Error>
where
    T: for<'t> Encode<'t, Any> + Type<Any>,
{
    args.add(value)
        .map_err(|e| Error::from(sqlx::Error::Encode(e)))
}

/// The account of the debit with this id, if there is such a debit.
pub async fn debit_account(pool: &AnyPool, debit_id: &str) -> Result<Option<String>, Error> {
    let account = sqlx::query_scalar(
        "SELECT account_id FROM ledger_entries WHERE entry_id = $1 AND kind = 'debit'",
    )
    .bind(debit_id)
    .fetch_optional(pool)
    .await?;
    Ok(account)
}

pub async fn get_entry(pool: &AnyPool, entry_id: &str) -> Result<Option<Entry>, Error> {
    let text = format!(
        "SELECT {ENTRY_COLUMNS} FROM ledger_entries e \
         JOIN accounts a ON a.account_id = e.account_id WHERE e.entry_id = $1"
    );
    let row = sqlx::query(sql(text))
        .bind(entry_id)
        .fetch_optional(pool)
        .await?;
    row.map(|row| entry(&row)).transpose()
}

/// Entries of an account, newest first, older than `before` when given.
pub async fn list_entries(
    pool: &AnyPool,
    account_id: &str,
    before: Option<&str>,
    limit: u32,
) -> Result<Vec<Entry>, Error> {
    let text = format!(
        "SELECT {ENTRY_COLUMNS} FROM ledger_entries e \
         JOIN accounts a ON a.account_id = e.account_id \
         WHERE e.account_id = $1 AND ($2 IS NULL OR e.entry_id < $2) \
         ORDER BY e.entry_id DESC LIMIT $3"
    );
    let rows = sqlx::query(sql(text))
        .bind(account_id)
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?;
    rows.iter().map(entry).collect()
}

pub async fn balance(pool: &AnyPool, account_id: &str) -> Result<Option<Balance>, Error> {
    let row = sqlx::query(
        "SELECT account_id, currency, balance, updated_at FROM accounts WHERE account_id = $1",
    )
    .bind(account_id)
    .fetch_optional(pool)
    .await?;
    row.map(|row| {
        Ok(Balance {
            account_id: row.try_get("account_id")?,
            currency: row.try_get("currency")?,
            available: row.try_get("balance")?,
            updated_at: Some(Timestamp::from_unix_micros(row.try_get("updated_at")?)),
        })
    })
    .transpose()
}

/// Forgets the idempotency keys recorded before `cutoff`; returns how many.
pub async fn purge_keys(pool: &AnyPool, cutoff: Timestamp) -> Result<u64, Error> {
    Ok(idempotency::purge(pool, "idempotency_keys", cutoff).await?)
}

fn entry(row: &AnyRow) -> Result<Entry, Error> {
    let kind: String = row.try_get("kind")?;
    Ok(Entry {
        id: row.try_get("entry_id")?,
        account_id: row.try_get("account_id")?,
        kind: Kind::parse(&kind).ok_or_else(|| Error::corrupt(format!("entry kind {kind:?}")))?,
        amount: row.try_get("amount")?,
        currency: row.try_get("currency")?,
        balance_after: row.try_get("balance_after")?,
        reference: row.try_get("reference")?,
        refund_of: row.try_get("refund_of")?,
        request_id: row.try_get("request_id")?,
        created_at: Timestamp::from_unix_micros(row.try_get("created_at")?),
    })
}
