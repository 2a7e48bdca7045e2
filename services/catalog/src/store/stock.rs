//! Stock counters and arrival averages: what listings read instead of
//! scanning the inventory.
//!
//! `stock_free` counts the numbers whose `counted_free` is 1, per country,
//! type and operator; `stock_used` counts those of them already used for a
//! service. Every change of `counted_free` changes both in the same
//! transaction. Each counter is spread over [`SLOTS`] rows, one picked at
//! random per transaction, so concurrent leases rarely wait on each other.

use std::collections::{BTreeMap, HashMap};

use numhub_runtime::db::placeholder_list;
use sqlx::{Any, AnyConnection, AssertSqlSafe, Executor, Row};

use crate::error::Error;
use crate::model::NumberType;

/// Rows per counter.
pub const SLOTS: u32 = 16;

/// A random slot, one per transaction.
pub fn slot() -> i64 {
    (uuid::Uuid::now_v7().as_u128() % u128::from(SLOTS)) as i64
}

/// Free counts to add, by (country, type, operator).
pub type FreeDeltas = BTreeMap<(String, NumberType, String), i64>;

/// Adds to the free counters, in key order so that concurrent writers lock
/// rows in the same order.
pub async fn add_free(
    conn: &mut AnyConnection,
    deltas: &FreeDeltas,
    slot: i64,
) -> Result<(), sqlx::Error> {
    for ((country, number_type, operator), delta) in deltas {
        if *delta == 0 {
            continue;
        }
        sqlx::query(
            "INSERT INTO stock_free (country_code, number_type, operator, slot, free) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (country_code, number_type, operator, slot) \
             DO UPDATE SET free = stock_free.free + excluded.free",
        )
        .bind(country)
        .bind(*number_type as i64)
        .bind(operator)
        .bind(slot)
        .bind(*delta)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Adds `delta` to the used-for-service counters of every service the
/// numbers `number_ids` served.
pub async fn add_used(
    conn: &mut AnyConnection,
    number_ids: &[String],
    delta: i64,
    slot: i64,
) -> Result<(), sqlx::Error> {
    if number_ids.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO stock_used (service_code, country_code, slot, free) \
         SELECT u.service_code, n.country_code, $1, $2 * COUNT(*) \
         FROM number_usage u JOIN numbers n ON n.id = u.number_id \
         WHERE u.number_id IN ({}) \
         GROUP BY u.service_code, n.country_code ORDER BY u.service_code, n.country_code \
         ON CONFLICT (service_code, country_code, slot) \
         DO UPDATE SET free = stock_used.free + excluded.free",
        placeholder_list(number_ids.len(), 3)
    );
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(slot).bind(delta);
    for id in number_ids {
        query = query.bind(id);
    }
    query.execute(conn).await?;
    Ok(())
}

/// Free numbers per country, over every type and operator.
pub async fn free_by_country<'e>(
    db: impl Executor<'e, Database = Any>,
    countries: &[String],
) -> Result<HashMap<String, i64>, sqlx::Error> {
    if countries.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT country_code, CAST(SUM(free) AS BIGINT) AS free FROM stock_free \
         WHERE country_code IN ({}) GROUP BY country_code",
        placeholder_list(countries.len(), 1)
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for country in countries {
        query = query.bind(country);
    }
    sum_rows(query.fetch_all(db).await?)
}

/// Free numbers already used for `service`, per country.
pub async fn used_by_country<'e>(
    db: impl Executor<'e, Database = Any>,
    service: &str,
    countries: &[String],
) -> Result<HashMap<String, i64>, sqlx::Error> {
    if countries.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT country_code, CAST(SUM(free) AS BIGINT) AS free FROM stock_used \
         WHERE service_code = $1 AND country_code IN ({}) GROUP BY country_code",
        placeholder_list(countries.len(), 2)
    );
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(service);
    for country in countries {
        query = query.bind(country);
    }
    sum_rows(query.fetch_all(db).await?)
}

fn sum_rows(rows: Vec<sqlx::any::AnyRow>) -> Result<HashMap<String, i64>, sqlx::Error> {
    rows.iter()
        .map(|row| Ok((row.try_get("country_code")?, row.try_get("free")?)))
        .collect()
}

/// Free numbers of a country per type.
pub async fn free_by_type<'e>(
    db: impl Executor<'e, Database = Any>,
    country: &str,
) -> Result<HashMap<NumberType, i64>, Error> {
    let rows = sqlx::query(
        "SELECT number_type, CAST(SUM(free) AS BIGINT) AS free FROM stock_free \
         WHERE country_code = $1 GROUP BY number_type",
    )
    .bind(country)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                super::number_type(row, "number_type")?,
                row.try_get("free")?,
            ))
        })
        .collect()
}

/// Folds one arrival into the moving average of its service and country:
/// a plain mean over the first hundred, then each new one weighs 1/100.
pub async fn record_arrival<'e>(
    db: impl Executor<'e, Database = Any>,
    service: &str,
    country: &str,
    arrival_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO arrival_stats (service_code, country_code, samples, average_ms) \
         VALUES ($1, $2, 1, $3) ON CONFLICT (service_code, country_code) DO UPDATE SET \
         samples = arrival_stats.samples + 1, \
         average_ms = arrival_stats.average_ms + (excluded.average_ms - arrival_stats.average_ms) \
                      / (CASE WHEN arrival_stats.samples + 1 < 100 \
                              THEN arrival_stats.samples + 1 ELSE 100 END)",
    )
    .bind(service)
    .bind(country)
    .bind(arrival_ms)
    .execute(db)
    .await?;
    Ok(())
}

/// Average arrival times of `service`, per country.
pub async fn arrival_averages<'e>(
    db: impl Executor<'e, Database = Any>,
    service: &str,
    countries: &[String],
) -> Result<HashMap<String, i64>, sqlx::Error> {
    if countries.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT country_code, average_ms FROM arrival_stats \
         WHERE service_code = $1 AND country_code IN ({})",
        placeholder_list(countries.len(), 2)
    );
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(service);
    for country in countries {
        query = query.bind(country);
    }
    query
        .fetch_all(db)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("country_code")?, row.try_get("average_ms")?)))
        .collect()
}
