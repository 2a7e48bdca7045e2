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
use crate::model::{CountryOffer, NumberType};

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

/// Enabled countries after `after` in code order, at most `limit`, with
/// their stock read from the counters. For a service: only the countries
/// where it has a price, with the lowest one, the stock less the numbers
/// already used for it, and the average arrival time. One statement, so a
/// listing costs one round trip whatever the number of countries.
pub async fn offers<'e>(
    db: impl Executor<'e, Database = Any>,
    service: Option<&str>,
    after: &str,
    limit: u32,
) -> Result<Vec<CountryOffer>, Error> {
    const FREE: &str = "CAST(COALESCE((SELECT SUM(f.free) FROM stock_free f \
                        WHERE f.country_code = c.code), 0) AS BIGINT)";
    let sql = match service {
        Some(_) => format!(
            "SELECT c.code, c.name, c.dial_prefix, c.activate_id, c.disabled, \
             p.price, p.currency, {FREE} AS free, \
             CAST(COALESCE((SELECT SUM(u.free) FROM stock_used u \
                            WHERE u.service_code = $1 AND u.country_code = c.code), 0) AS BIGINT) \
             AS used, \
             (SELECT a.average_ms FROM arrival_stats a \
              WHERE a.service_code = $1 AND a.country_code = c.code) AS average_ms \
             FROM countries c JOIN \
             (SELECT country_code, MIN(price) AS price, MIN(currency) AS currency \
              FROM activation_prices WHERE service_code = $1 GROUP BY country_code) p \
             ON p.country_code = c.code \
             WHERE c.disabled = 0 AND c.code > $2 \
             AND EXISTS (SELECT 1 FROM services s WHERE s.code = $1 AND s.disabled = 0) \
             ORDER BY c.code LIMIT $3"
        ),
        None => format!(
            "SELECT c.code, c.name, c.dial_prefix, c.activate_id, c.disabled, \
             {FREE} AS free FROM countries c \
             WHERE c.disabled = 0 AND c.code > $1 ORDER BY c.code LIMIT $2"
        ),
    };
    let mut query = sqlx::query(AssertSqlSafe(sql));
    if let Some(service) = service {
        query = query.bind(service);
    }
    let rows = query
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(db)
        .await?;
    rows.iter()
        .map(|row| {
            let country = super::reference::country_row(row)?;
            let free: i64 = row.try_get("free")?;
            Ok(match service {
                None => CountryOffer {
                    country,
                    price: None,
                    stock: free.max(0),
                    average_arrival_ms: None,
                },
                Some(_) => {
                    let used: i64 = row.try_get("used")?;
                    CountryOffer {
                        country,
                        price: Some((row.try_get("price")?, row.try_get("currency")?)),
                        stock: (free - used).max(0),
                        average_arrival_ms: row.try_get("average_ms")?,
                    }
                }
            })
        })
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
