//! Numbers, leases, LeaseNumber's idempotency records, usage and skips.

use numhub_runtime::clock::Timestamp;
use numhub_runtime::db::{Backend, placeholder_list, placeholder_rows};
use numhub_runtime::idempotency;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, AnyPool, AssertSqlSafe, Executor, Row};

use super::{number_type, opt_ts, ts};
use crate::error::Error;
use crate::model::{Lease, LeaseKind, NumberType, PhoneNumber, RentalDuration};

/// A number as LeaseNumber picks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: String,
    pub e164: String,
    pub country_code: String,
    pub operator: String,
    pub number_type: NumberType,
    pub counted_free: bool,
}

/// Which operators' numbers qualify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperatorFilter {
    Only(Vec<String>),
    AllExcept(Vec<String>),
}

/// What makes a number a candidate for a lease.
#[derive(Debug, Clone)]
pub struct Pick<'a> {
    pub country_code: &'a str,
    pub number_type: Option<NumberType>,
    pub operators: &'a OperatorFilter,
    /// For an activation: the service the number must never have served.
    pub fresh_for: Option<&'a str>,
    /// Only this number (E.164), which `account_id` first used for
    /// `fresh_for`: a reuse, which waives freshness for that account.
    pub only_number: Option<&'a str>,
    pub account_id: &'a str,
    pub now: Timestamp,
}

/// The least recently leased number that qualifies. With `lock` on
/// PostgreSQL, the row is locked and rows other transactions hold are
/// skipped, so concurrent leases each take a different number at once.
pub async fn pick(
    conn: &mut AnyConnection,
    backend: Backend,
    pick: &Pick<'_>,
    lock: bool,
) -> Result<Option<Candidate>, Error> {
    let mut sql = String::from(
        "SELECT n.id, n.e164, n.country_code, n.operator, n.number_type, n.counted_free \
         FROM numbers n WHERE n.country_code = $1 AND n.free_at <= $2 \
         AND NOT EXISTS (SELECT 1 FROM skipped_numbers k \
                         WHERE k.account_id = $3 AND k.number_id = n.id)",
    );
    let mut next = 4;
    if pick.number_type.is_some() {
        sql.push_str(&format!(" AND n.number_type = ${next}"));
        next += 1;
    }
    if pick.only_number.is_some() {
        sql.push_str(&format!(" AND n.e164 = ${next}"));
        next += 1;
        if pick.fresh_for.is_some() {
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM number_usage u WHERE u.number_id = n.id \
                              AND u.service_code = ${next} AND u.account_id = $3)"
            ));
            next += 1;
        }
    } else if pick.fresh_for.is_some() {
        sql.push_str(&format!(
            " AND NOT EXISTS (SELECT 1 FROM number_usage u \
                              WHERE u.number_id = n.id AND u.service_code = ${next})"
        ));
        next += 1;
    }
    let operators = match pick.operators {
        OperatorFilter::Only(list) if list.is_empty() => return Ok(None),
        OperatorFilter::Only(list) => {
            sql.push_str(&format!(
                " AND n.operator IN ({})",
                placeholder_list(list.len(), next)
            ));
            list
        }
        OperatorFilter::AllExcept(list) if list.is_empty() => list,
        OperatorFilter::AllExcept(list) => {
            sql.push_str(&format!(
                " AND n.operator NOT IN ({})",
                placeholder_list(list.len(), next)
            ));
            list
        }
    };
    sql.push_str(" ORDER BY n.last_leased_at, n.id LIMIT 1");
    if lock && backend == Backend::Postgres {
        sql.push_str(" FOR UPDATE SKIP LOCKED");
    }
    let mut query = sqlx::query(AssertSqlSafe(sql))
        .bind(pick.country_code)
        .bind(pick.now.unix_micros())
        .bind(pick.account_id);
    if let Some(number_type) = pick.number_type {
        query = query.bind(number_type as i64);
    }
    if let Some(number) = pick.only_number {
        query = query.bind(number);
    }
    if let Some(service) = pick.fresh_for {
        query = query.bind(service);
    }
    for operator in operators {
        query = query.bind(operator);
    }
    let row = query.fetch_optional(&mut *conn).await?;
    row.map(|row| {
        Ok(Candidate {
            id: row.try_get("id")?,
            e164: row.try_get("e164")?,
            country_code: row.try_get("country_code")?,
            operator: row.try_get("operator")?,
            number_type: number_type(&row, "number_type")?,
            counted_free: row.try_get::<i64, _>("counted_free")? != 0,
        })
    })
    .transpose()
}

/// Gives a free number to a lease; false if it is not free (any more).
pub async fn take(
    conn: &mut AnyConnection,
    number_id: &str,
    lease_id: &str,
    free_at: Timestamp,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE numbers SET free_at = $1, counted_free = 0, last_leased_at = $2, lease_id = $3 \
         WHERE id = $4 AND free_at <= $2",
    )
    .bind(free_at.unix_micros())
    .bind(now.unix_micros())
    .bind(lease_id)
    .bind(number_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves when a number held by `lease_id` is free again; false if another
/// lease holds it now.
pub async fn set_free_at(
    conn: &mut AnyConnection,
    number_id: &str,
    lease_id: &str,
    free_at: Timestamp,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE numbers SET free_at = $1 WHERE id = $2 AND lease_id = $3")
        .bind(free_at.unix_micros())
        .bind(number_id)
        .bind(lease_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks a number that is free by now as counted free; false if it is not
/// free or already counted.
pub async fn mark_counted_free(
    conn: &mut AnyConnection,
    number_id: &str,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE numbers SET counted_free = 1 \
         WHERE id = $1 AND counted_free = 0 AND free_at <= $2",
    )
    .bind(number_id)
    .bind(now.unix_micros())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A number whose free time has come but that the counters do not count yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uncounted {
    pub id: String,
    pub country_code: String,
    pub number_type: NumberType,
    pub operator: String,
}

/// Marks up to `limit` numbers that became free by `now` as counted, and
/// returns them. Replicas may run this at once: each row is counted once.
pub async fn count_newly_free(
    conn: &mut AnyConnection,
    backend: Backend,
    now: Timestamp,
    limit: u32,
) -> Result<Vec<Uncounted>, Error> {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "UPDATE numbers SET counted_free = 1 WHERE id IN \
         (SELECT id FROM numbers WHERE counted_free = 0 AND free_at <= $1 \
          ORDER BY free_at LIMIT $2{lock}) \
         AND counted_free = 0 AND free_at <= $1 \
         RETURNING id, country_code, number_type, operator"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(now.unix_micros())
        .bind(i64::from(limit))
        .fetch_all(conn)
        .await?
        .iter()
        .map(|row| {
            Ok(Uncounted {
                id: row.try_get("id")?,
                country_code: row.try_get("country_code")?,
                number_type: number_type(row, "number_type")?,
                operator: row.try_get("operator")?,
            })
        })
        .collect()
}

/// A number ready to insert.
#[derive(Debug, Clone)]
pub struct NewNumber {
    pub id: String,
    pub e164: String,
    pub country_code: String,
    pub operator: String,
    pub number_type: NumberType,
    pub source: String,
}

/// Inserts numbers, skipping those already in the inventory; returns the
/// E.164 strings of the rows inserted.
pub async fn insert_numbers(
    conn: &mut AnyConnection,
    numbers: &[NewNumber],
    now: Timestamp,
) -> Result<Vec<String>, sqlx::Error> {
    const COLUMNS: usize = 10;
    let sql = format!(
        "INSERT INTO numbers (id, e164, country_code, operator, number_type, source, free_at, \
         counted_free, last_leased_at, created_at) VALUES {} \
         ON CONFLICT (e164) DO NOTHING RETURNING e164",
        placeholder_rows(numbers.len(), COLUMNS)
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for n in numbers {
        query = query
            .bind(&n.id)
            .bind(&n.e164)
            .bind(&n.country_code)
            .bind(&n.operator)
            .bind(n.number_type as i64)
            .bind(&n.source)
            .bind(0_i64)
            .bind(1_i64)
            .bind(0_i64)
            .bind(now.unix_micros());
    }
    query
        .fetch_all(conn)
        .await?
        .iter()
        .map(|row| row.try_get("e164"))
        .collect()
}

pub async fn number_id<'e>(
    db: impl Executor<'e, Database = Any>,
    e164: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query("SELECT id FROM numbers WHERE e164 = $1")
        .bind(e164)
        .fetch_optional(db)
        .await?
        .map(|row| row.try_get("id"))
        .transpose()
}

/// Numbers newest first, before the id `before`, of one country or all.
pub async fn list_numbers<'e>(
    db: impl Executor<'e, Database = Any>,
    country: &str,
    before: Option<&str>,
    limit: u32,
) -> Result<Vec<PhoneNumber>, Error> {
    sqlx::query(
        "SELECT n.id, n.e164, n.country_code, n.operator, n.number_type, n.source, n.free_at, \
         n.created_at, l.ended_at FROM numbers n LEFT JOIN leases l ON l.id = n.lease_id \
         WHERE ($1 = '' OR n.country_code = $1) AND ($2 = '' OR n.id < $2) \
         ORDER BY n.id DESC LIMIT $3",
    )
    .bind(country)
    .bind(before.unwrap_or_default())
    .bind(i64::from(limit))
    .fetch_all(db)
    .await?
    .iter()
    .map(|row| {
        Ok(PhoneNumber {
            id: row.try_get("id")?,
            e164: row.try_get("e164")?,
            country_code: row.try_get("country_code")?,
            operator: row.try_get("operator")?,
            number_type: number_type(row, "number_type")?,
            source: row.try_get("source")?,
            free_at: ts(row, "free_at")?,
            lease_ends_at: opt_ts(row, "ended_at")?,
            created_at: ts(row, "created_at")?,
        })
    })
    .collect()
}

pub async fn insert_lease(conn: &mut AnyConnection, lease: &Lease) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO leases (id, kind, number_id, account_id, holder_id, service_code, \
         rental_duration, price, currency, started_at, expires_at, released_at, ended_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, $11)",
    )
    .bind(&lease.id)
    .bind(lease.kind as i64)
    .bind(&lease.number_id)
    .bind(&lease.account_id)
    .bind(&lease.holder_id)
    .bind(&lease.service_code)
    .bind(lease.rental_duration.map_or(0, |d| d as i64))
    .bind(lease.price)
    .bind(&lease.currency)
    .bind(lease.started_at.unix_micros())
    .bind(lease.expires_at.unix_micros())
    .execute(conn)
    .await?;
    Ok(())
}

const LEASE_COLUMNS: &str = "l.id, l.kind, l.number_id, n.e164, n.country_code, n.operator, \
     n.number_type, l.account_id, l.holder_id, l.service_code, l.rental_duration, l.price, \
     l.currency, l.started_at, l.expires_at, l.released_at";

fn lease_row(row: &AnyRow) -> Result<Lease, Error> {
    let kind: i64 = row.try_get("kind")?;
    let duration: i64 = row.try_get("rental_duration")?;
    Ok(Lease {
        id: row.try_get("id")?,
        kind: LeaseKind::from_i64(kind)
            .ok_or_else(|| Error::corrupt(format!("lease kind {kind}")))?,
        number_id: row.try_get("number_id")?,
        phone_number: row.try_get("e164")?,
        country_code: row.try_get("country_code")?,
        operator: row.try_get("operator")?,
        number_type: number_type(row, "number_type")?,
        account_id: row.try_get("account_id")?,
        holder_id: row.try_get("holder_id")?,
        service_code: row.try_get("service_code")?,
        rental_duration: RentalDuration::from_i64(duration),
        price: row.try_get("price")?,
        currency: row.try_get("currency")?,
        started_at: ts(row, "started_at")?,
        expires_at: ts(row, "expires_at")?,
        released_at: opt_ts(row, "released_at")?,
    })
}

pub async fn lease<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
) -> Result<Option<Lease>, Error> {
    let sql = format!(
        "SELECT {LEASE_COLUMNS} FROM leases l JOIN numbers n ON n.id = l.number_id WHERE l.id = $1"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(lease_row)
        .transpose()
}

/// Leases holding their number at `now`, after the id `after`, in id order.
pub async fn active_leases<'e>(
    db: impl Executor<'e, Database = Any>,
    after: &str,
    now: Timestamp,
    limit: u32,
) -> Result<Vec<Lease>, Error> {
    let sql = format!(
        "SELECT {LEASE_COLUMNS} FROM leases l JOIN numbers n ON n.id = l.number_id \
         WHERE l.id > $1 AND l.released_at IS NULL AND l.expires_at > $2 \
         ORDER BY l.id LIMIT $3"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(after)
        .bind(now.unix_micros())
        .bind(i64::from(limit))
        .fetch_all(db)
        .await?;
    rows.iter().map(lease_row).collect()
}

/// The lease that held `e164` at `at`.
pub async fn lease_at<'e>(
    db: impl Executor<'e, Database = Any>,
    e164: &str,
    at: Timestamp,
) -> Result<Option<Lease>, Error> {
    let sql = format!(
        "SELECT {LEASE_COLUMNS} FROM leases l JOIN numbers n ON n.id = l.number_id \
         WHERE n.e164 = $1 AND l.started_at <= $2 AND l.ended_at > $2 \
         ORDER BY l.started_at DESC LIMIT 1"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(e164)
        .bind(at.unix_micros())
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(lease_row)
        .transpose()
}

/// Ends an active lease at `now`; false if it had already ended.
pub async fn end_lease(
    conn: &mut AnyConnection,
    id: &str,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE leases SET released_at = $1, ended_at = $1 \
         WHERE id = $2 AND released_at IS NULL AND expires_at > $1",
    )
    .bind(now.unix_micros())
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves the end of an active lease to `until`, no earlier than its current
/// end; false if it had ended or `until` is earlier.
pub async fn extend_lease(
    conn: &mut AnyConnection,
    id: &str,
    until: Timestamp,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE leases SET expires_at = $1, ended_at = $1 \
         WHERE id = $2 AND released_at IS NULL AND expires_at > $3 AND expires_at <= $1",
    )
    .bind(until.unix_micros())
    .bind(id)
    .bind(now.unix_micros())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Claims a LeaseNumber idempotency key; false if it was claimed before
/// (on PostgreSQL this waits for a concurrent claim to commit).
pub async fn claim_request(
    conn: &mut AnyConnection,
    account_id: &str,
    request_id: &str,
    fingerprint: &str,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO lease_requests (account_id, request_id, fingerprint, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(account_id)
    .bind(request_id)
    .bind(fingerprint)
    .bind(now.unix_micros())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The outcome recorded under an idempotency key.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub fingerprint: String,
    pub lease_id: Option<String>,
    pub rejection: Option<(String, String)>,
}

pub async fn finish_request(
    conn: &mut AnyConnection,
    account_id: &str,
    request_id: &str,
    lease_id: Option<&str>,
    rejection: Option<(&str, &str)>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE lease_requests SET lease_id = $1, rejection = $2, message = $3 \
         WHERE account_id = $4 AND request_id = $5",
    )
    .bind(lease_id)
    .bind(rejection.map(|r| r.0))
    .bind(rejection.map(|r| r.1))
    .bind(account_id)
    .bind(request_id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn recorded_request<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &str,
    request_id: &str,
) -> Result<Option<RecordedRequest>, sqlx::Error> {
    sqlx::query(
        "SELECT fingerprint, lease_id, rejection, message FROM lease_requests \
         WHERE account_id = $1 AND request_id = $2",
    )
    .bind(account_id)
    .bind(request_id)
    .fetch_optional(db)
    .await?
    .map(|row| {
        let rejection: Option<String> = row.try_get("rejection")?;
        let message: Option<String> = row.try_get("message")?;
        Ok(RecordedRequest {
            fingerprint: row.try_get("fingerprint")?,
            lease_id: row.try_get("lease_id")?,
            rejection: rejection.map(|r| (r, message.unwrap_or_default())),
        })
    })
    .transpose()
}

/// Forgets the use of a number for a service that `lease` recorded, if
/// it recorded one (not a reuse's, whose use is older).
pub async fn forget_usage(conn: &mut AnyConnection, lease: &Lease) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM number_usage WHERE number_id = $1 AND service_code = $2 \
         AND account_id = $3 AND first_used_at = $4",
    )
    .bind(&lease.number_id)
    .bind(&lease.service_code)
    .bind(&lease.account_id)
    .bind(lease.started_at.unix_micros())
    .execute(conn)
    .await?;
    Ok(())
}

/// Records that a number served a service; the first use is kept.
pub async fn add_usage(
    conn: &mut AnyConnection,
    number_id: &str,
    service: &str,
    account_id: &str,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO number_usage (number_id, service_code, account_id, first_used_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(number_id)
    .bind(service)
    .bind(account_id)
    .bind(now.unix_micros())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn add_skip<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &str,
    number_id: &str,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO skipped_numbers (account_id, number_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(account_id)
    .bind(number_id)
    .bind(now.unix_micros())
    .execute(db)
    .await?;
    Ok(())
}

/// Forgets the LeaseNumber request ids recorded before `cutoff`; returns
/// how many. The leases themselves stay, as the history Resolve reads.
pub async fn purge_requests(db: &AnyPool, cutoff: Timestamp) -> Result<u64, sqlx::Error> {
    idempotency::purge(db, "lease_requests", cutoff).await
}
