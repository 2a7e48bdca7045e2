//! Workers' claims on rows. A row that a request or a worker is working on
//! carries `claimed_until`: until then nobody else takes it, and after it a
//! worker of any replica may (its owner died, or gave up). Claiming is one
//! guarded UPDATE, so two replicas never both win a row.

use sqlx::{Any, AnyPool, AssertSqlSafe, Executor, Row};

use crate::clock::Timestamp;

/// Ids of up to `limit` rows of `table` that meet `condition` and whose
/// instant `due_at` (a column) is at or before `now`, earliest first.
pub async fn due<'e>(
    db: impl Executor<'e, Database = Any>,
    table: &str,
    condition: &str,
    due_at: &str,
    now: Timestamp,
    limit: i64,
) -> Result<Vec<String>, sqlx::Error> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT id FROM {table} WHERE {condition} AND {due_at} <= $1 \
         ORDER BY {due_at} LIMIT $2"
    )))
    .bind(now.unix_micros())
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.iter().map(|row| row.try_get("id")).collect()
}

/// Claims a row of `table` for a worker until `until`, if nobody holds it
/// now and it still meets `condition`; false when another replica was
/// first.
pub async fn claim<'e>(
    db: impl Executor<'e, Database = Any>,
    table: &str,
    id: &str,
    condition: &str,
    now: Timestamp,
    until: Timestamp,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(AssertSqlSafe(format!(
        "UPDATE {table} SET claimed_until = $1 \
         WHERE id = $2 AND claimed_until <= $3 AND {condition}"
    )))
    .bind(until.unix_micros())
    .bind(id)
    .bind(now.unix_micros())
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Of `ids` (rows of `table` found due), those this worker claimed until
/// `until`, in order: the others another replica took first, or they no
/// longer meet `condition`.
pub async fn claim_each(
    db: &AnyPool,
    table: &str,
    condition: &str,
    ids: Vec<String>,
    now: Timestamp,
    until: Timestamp,
) -> Result<Vec<String>, sqlx::Error> {
    let mut claimed = Vec::with_capacity(ids.len());
    for id in ids {
        if claim(db, table, &id, condition, now, until).await? {
            claimed.push(id);
        }
    }
    Ok(claimed)
}

/// Ends a worker's claim on a row of `table` at `now`.
pub async fn release<'e>(
    db: impl Executor<'e, Database = Any>,
    table: &str,
    id: &str,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(AssertSqlSafe(format!(
        "UPDATE {table} SET claimed_until = $1 WHERE id = $2 AND claimed_until > $1"
    )))
    .bind(now.unix_micros())
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}
