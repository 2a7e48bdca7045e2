//! Inbound's SQL, one text for PostgreSQL and SQLite.

use numhub_runtime::claims;
use numhub_runtime::clock::Timestamp;
use numhub_runtime::db::timestamp;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Executor, Row};

use crate::error::Error;

/// Where a message is on its way; stored as its proto number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending = 1,
    Routed = 2,
    Unrouted = 3,
}

/// An SMS as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub upstream: String,
    pub upstream_id: String,
    pub to: String,
    pub sender: String,
    pub body: String,
    pub received_at: Timestamp,
    pub stored_at: Timestamp,
    pub state: State,
    pub holder_id: String,
    pub unrouted_reason: String,
    pub attempts: i64,
}

const COLUMNS: &str = "id, upstream, upstream_id, to_number, sender, body, received_at, \
    stored_at, state, holder_id, unrouted_reason, attempts";

/// The table of messages, as workers claim them.
const TABLE: &str = "inbound_messages";
/// A message still to route: the condition of a worker's claim.
const PENDING: &str = "state = 1";

fn from_row(row: &AnyRow) -> Result<Message, Error> {
    let state: i64 = row.try_get("state")?;
    Ok(Message {
        id: row.try_get("id")?,
        upstream: row.try_get("upstream")?,
        upstream_id: row.try_get("upstream_id")?,
        to: row.try_get("to_number")?,
        sender: row.try_get("sender")?,
        body: row.try_get("body")?,
        received_at: timestamp(row, "received_at")?,
        stored_at: timestamp(row, "stored_at")?,
        state: match state {
            1 => State::Pending,
            2 => State::Routed,
            3 => State::Unrouted,
            other => return Err(Error::corrupt(format!("message state {other}"))),
        },
        holder_id: row.try_get("holder_id")?,
        unrouted_reason: row.try_get("unrouted_reason")?,
        attempts: row.try_get("attempts")?,
    })
}

/// Stores a new PENDING message, due now; false when its upstream id is
/// already stored.
pub async fn insert<'e>(db: impl Executor<'e, Database = Any>, m: &Message) -> Result<bool, Error> {
    let done = sqlx::query(
        "INSERT INTO inbound_messages (id, upstream, upstream_id, to_number, sender, body, \
         received_at, stored_at, state, holder_id, unrouted_reason, attempts, next_attempt_at, \
         claimed_until) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, '', '', 0, $8, 0) \
         ON CONFLICT (upstream, upstream_id) DO NOTHING",
    )
    .bind(&m.id)
    .bind(&m.upstream)
    .bind(&m.upstream_id)
    .bind(&m.to)
    .bind(&m.sender)
    .bind(&m.body)
    .bind(m.received_at.unix_micros())
    .bind(m.stored_at.unix_micros())
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn by_upstream<'e>(
    db: impl Executor<'e, Database = Any>,
    upstream: &str,
    upstream_id: &str,
) -> Result<Option<Message>, Error> {
    let sql =
        format!("SELECT {COLUMNS} FROM inbound_messages WHERE upstream = $1 AND upstream_id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(upstream)
        .bind(upstream_id)
        .fetch_optional(db)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn by_id<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
) -> Result<Option<Message>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM inbound_messages WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Ids of up to `limit` PENDING messages due at `now` and unclaimed.
pub async fn due<'e>(
    db: impl Executor<'e, Database = Any>,
    now: Timestamp,
    limit: i64,
) -> Result<Vec<String>, Error> {
    // Unclaimed: a message being routed is not taken again until its
    // router's claim lapses.
    let condition = format!("{PENDING} AND claimed_until <= $1");
    Ok(claims::due(db, TABLE, &condition, "next_attempt_at", now, limit).await?)
}

/// Claims a PENDING message until `until`; false when another worker (of
/// this or another replica) holds it or it is no longer pending.
pub async fn claim<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
    now: Timestamp,
    until: Timestamp,
) -> Result<bool, Error> {
    Ok(claims::claim(db, TABLE, id, PENDING, now, until).await?)
}

/// Of `ids` found due, the PENDING messages this worker claimed until
/// `until`: see [`claims::claim_each`].
pub async fn claim_each(
    db: &AnyPool,
    ids: Vec<String>,
    now: Timestamp,
    until: Timestamp,
) -> Result<Vec<String>, Error> {
    Ok(claims::claim_each(db, TABLE, PENDING, ids, now, until).await?)
}

/// Records the end of routing: ROUTED to `holder_id`, or UNROUTED for
/// `reason`.
pub async fn finish<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
    state: State,
    holder_id: &str,
    reason: &str,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE inbound_messages SET state = $1, holder_id = $2, unrouted_reason = $3, \
         attempts = attempts + 1, claimed_until = 0 WHERE id = $4 AND state = 1",
    )
    .bind(state as i64)
    .bind(holder_id)
    .bind(reason)
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Leaves a message PENDING, to be tried again at `next_at`.
pub async fn retry_at<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
    next_at: Timestamp,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE inbound_messages SET attempts = attempts + 1, next_attempt_at = $1, \
         claimed_until = 0 WHERE id = $2 AND state = 1",
    )
    .bind(next_at.unix_micros())
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// An UNROUTED message back to PENDING, due now; false if it was not
/// unrouted.
pub async fn requeue<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
    now: Timestamp,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE inbound_messages SET state = 1, unrouted_reason = '', next_attempt_at = $1, \
         claimed_until = 0 WHERE id = $2 AND state = 3",
    )
    .bind(now.unix_micros())
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// UNROUTED messages newest first, before the id `before`.
pub async fn unrouted<'e>(
    db: impl Executor<'e, Database = Any>,
    before: Option<&str>,
    limit: u32,
) -> Result<Vec<Message>, Error> {
    let sql = match before {
        Some(_) => format!(
            "SELECT {COLUMNS} FROM inbound_messages WHERE state = 3 AND id < $2 \
             ORDER BY id DESC LIMIT $1"
        ),
        None => format!(
            "SELECT {COLUMNS} FROM inbound_messages WHERE state = 3 ORDER BY id DESC LIMIT $1"
        ),
    };
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(i64::from(limit));
    if let Some(before) = before {
        query = query.bind(before);
    }
    let rows = query.fetch_all(db).await?;
    rows.iter().map(from_row).collect()
}
