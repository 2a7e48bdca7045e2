//! Orders' SQL, one text for PostgreSQL and SQLite.
//!
//! Every transaction that changes an activation first locks its account's
//! row in `order_accounts` (`LOG.lock_account`): changes of one account are
//! serialised, so a transaction reads the activation, decides, and writes
//! without a concurrent change in between, and the events it appends commit
//! in sequence order.

use numhub_holding::{MessageTable, Store};
use numhub_runtime::claims;
use numhub_runtime::clock::Timestamp;
use numhub_runtime::db::{Backend, optional_timestamp, placeholder_list, timestamp};
use numhub_runtime::event_log::EventLog;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, AssertSqlSafe, Executor, Row};

use crate::error::Failure;
use crate::model::{Activation, Message, Settle, Status};

/// `numeric_id` first: an INSERT gives it [`Store::next_numeric_id`].
const ACTIVATION_COLUMNS: &str = "numeric_id, id, account_id, request_id, fingerprint, service_code, \
    country_code, operator, max_price, max_price_currency, reused_activation_id, status, phone_number, lease_id, \
    price, currency, debit_id, refunded, code, sms_count, failure_reason, failure_message, \
    created_at, expires_at, ended_at, settle";

/// The account's history: see [`numhub_runtime::event_log`].
pub const LOG: EventLog = Activations::LOG;

/// The `activations` table, as the shared core reads and writes it.
#[derive(Debug, Clone, Copy)]
pub struct Activations;

impl Store for Activations {
    type Held = Activation;

    const LOG: EventLog = EventLog {
        accounts: "order_accounts",
        events: "events",
        subject: "activation_id",
    };

    const MESSAGES: MessageTable = MessageTable {
        holder_column: "activation_id",
        service_code: false,
    };

    const TABLE: &'static str = "activations";
    const COLUMNS: &'static str = ACTIVATION_COLUMNS;

    fn from_row(row: &AnyRow) -> Result<Activation, Failure> {
        let status: i64 = row.try_get("status")?;
        let settle: i64 = row.try_get("settle")?;
        Ok(Activation {
            id: row.try_get("id")?,
            numeric_id: row.try_get("numeric_id")?,
            account_id: row.try_get("account_id")?,
            request_id: row.try_get("request_id")?,
            fingerprint: row.try_get("fingerprint")?,
            service_code: row.try_get("service_code")?,
            country_code: row.try_get("country_code")?,
            operator: row.try_get("operator")?,
            max_price: row.try_get("max_price")?,
            max_price_currency: row.try_get("max_price_currency")?,
            reused_activation_id: row.try_get("reused_activation_id")?,
            status: Status::from_i64(status)
                .ok_or_else(|| Failure::corrupt(format!("activation status {status}")))?,
            phone_number: row.try_get("phone_number")?,
            lease_id: row.try_get("lease_id")?,
            price: row.try_get("price")?,
            currency: row.try_get("currency")?,
            debit_id: row.try_get("debit_id")?,
            refunded: row.try_get("refunded")?,
            code: row.try_get("code")?,
            sms_count: row.try_get("sms_count")?,
            failure_reason: row.try_get("failure_reason")?,
            failure_message: row.try_get("failure_message")?,
            created_at: timestamp(row, "created_at")?,
            expires_at: timestamp(row, "expires_at")?,
            ended_at: optional_timestamp(row, "ended_at")?,
            settle: Settle::from_i64(settle)
                .ok_or_else(|| Failure::corrupt(format!("activation settle {settle}")))?,
        })
    }

    /// Writes every field an activation's life changes: status, number,
    /// money, messages, its end and what it still owes; and claims the row
    /// until `claimed_until` when given, keeping the claim as it is otherwise.
    /// The caller holds the account's lock and read the row in the same
    /// transaction.
    async fn update(
        conn: &mut AnyConnection,
        a: &Activation,
        claimed_until: Option<Timestamp>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE activations SET status = $1, phone_number = $2, operator = $3, lease_id = $4, \
             price = $5, currency = $6, debit_id = $7, refunded = $8, code = $9, sms_count = $10, \
             failure_reason = $11, failure_message = $12, expires_at = $13, ended_at = $14, \
             settle = $15, claimed_until = COALESCE($16, claimed_until) WHERE id = $17",
        )
        .bind(a.status as i64)
        .bind(&a.phone_number)
        .bind(&a.operator)
        .bind(a.lease_id.as_deref())
        .bind(a.price)
        .bind(&a.currency)
        .bind(a.debit_id.as_deref())
        .bind(a.refunded)
        .bind(&a.code)
        .bind(a.sms_count)
        .bind(&a.failure_reason)
        .bind(&a.failure_message)
        .bind(a.expires_at.unix_micros())
        .bind(a.ended_at.map(Timestamp::unix_micros))
        .bind(a.settle as i64)
        .bind(claimed_until.map(Timestamp::unix_micros))
        .bind(&a.id)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// Activations of the account that are not over: CREATING, WAITING or
/// RECEIVED.
pub async fn count_open(conn: &mut AnyConnection, account_id: &str) -> Result<i64, sqlx::Error> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM activations WHERE account_id = $1 AND status IN (1, 2, 3)",
    )
    .bind(account_id)
    .fetch_one(conn)
    .await?;
    row.try_get("n")
}

/// Inserts a new activation (its `numeric_id` is assigned here); its
/// numeric id, or `None` when the account already used its request id.
pub async fn insert_activation<'e>(
    db: impl Executor<'e, Database = Any>,
    backend: Backend,
    a: &Activation,
    claimed_until: Timestamp,
) -> Result<Option<i64>, sqlx::Error> {
    let inserted = sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO activations ({ACTIVATION_COLUMNS}, claimed_until) VALUES ({}, {}) \
         ON CONFLICT (account_id, request_id) DO NOTHING RETURNING numeric_id",
        Activations::next_numeric_id(backend),
        placeholder_list(26, 1)
    )))
    .bind(&a.id)
    .bind(&a.account_id)
    .bind(&a.request_id)
    .bind(&a.fingerprint)
    .bind(&a.service_code)
    .bind(&a.country_code)
    .bind(&a.operator)
    .bind(a.max_price)
    .bind(&a.max_price_currency)
    .bind(a.reused_activation_id.as_deref())
    .bind(a.status as i64)
    .bind(&a.phone_number)
    .bind(a.lease_id.as_deref())
    .bind(a.price)
    .bind(&a.currency)
    .bind(a.debit_id.as_deref())
    .bind(a.refunded)
    .bind(&a.code)
    .bind(a.sms_count)
    .bind(&a.failure_reason)
    .bind(&a.failure_message)
    .bind(a.created_at.unix_micros())
    .bind(a.expires_at.unix_micros())
    .bind(a.ended_at.map(Timestamp::unix_micros))
    .bind(a.settle as i64)
    .bind(claimed_until.unix_micros())
    .fetch_optional(db)
    .await?;
    inserted.map(|row| row.try_get("numeric_id")).transpose()
}

/// Marks an activation settled (nothing more owed), with what was refunded,
/// unless its settlement changed meanwhile.
pub async fn mark_settled<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
    was: Settle,
    refunded: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE activations SET settle = 0, refunded = $1 WHERE id = $2 AND settle = $3")
        .bind(refunded)
        .bind(id)
        .bind(was as i64)
        .execute(db)
        .await?;
    Ok(())
}

/// What a worker looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Open activations past their expiry.
    Expired,
    /// Purchases left half-done and unclaimed.
    Creating,
    /// Activations that still owe a refund or a release, unclaimed.
    Unsettled,
}

impl Due {
    /// The condition a row must still meet when it is claimed.
    pub fn condition(self) -> &'static str {
        match self {
            Self::Expired => "status IN (2, 3)",
            Self::Creating => "status = 1",
            Self::Unsettled => "settle <> 0",
        }
    }

    /// The column of the instant a row is due at: its expiry, or the end
    /// of the claim on it (recovery waits for the owner's time to pass).
    fn due_at(self) -> &'static str {
        match self {
            Self::Expired => "expires_at",
            Self::Creating | Self::Unsettled => "claimed_until",
        }
    }
}

/// Ids of up to `limit` activations that `due` finds at `now`.
pub async fn due<'e>(
    db: impl Executor<'e, Database = Any>,
    due: Due,
    now: Timestamp,
    limit: i64,
) -> Result<Vec<String>, sqlx::Error> {
    claims::due(db, "activations", due.condition(), due.due_at(), now, limit).await
}

/// Claims an activation for a worker until `until`, if nobody holds it now
/// and `due` still finds it; false when another replica was first.
pub async fn claim<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
    due: Due,
    now: Timestamp,
    until: Timestamp,
) -> Result<bool, sqlx::Error> {
    claims::claim(db, "activations", id, due.condition(), now, until).await
}

/// The account's activations newest first, before the id `before`, in
/// `statuses` (all when empty).
pub async fn list<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &str,
    statuses: &[Status],
    before: Option<&str>,
    limit: u32,
) -> Result<Vec<Activation>, Failure> {
    let mut sql = format!("SELECT {ACTIVATION_COLUMNS} FROM activations WHERE account_id = $1");
    let mut next = 2;
    if before.is_some() {
        sql.push_str(&format!(" AND id < ${next}"));
        next += 1;
    }
    if !statuses.is_empty() {
        sql.push_str(&format!(
            " AND status IN ({})",
            placeholder_list(statuses.len(), next)
        ));
        next += statuses.len();
    }
    sql.push_str(&format!(" ORDER BY id DESC LIMIT ${next}"));
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(account_id);
    if let Some(before) = before {
        query = query.bind(before);
    }
    for status in statuses {
        query = query.bind(*status as i64);
    }
    let rows = query.bind(i64::from(limit)).fetch_all(db).await?;
    rows.iter().map(Activations::from_row).collect()
}

/// An activation's messages, oldest first.
pub async fn messages_of<'e>(
    db: impl Executor<'e, Database = Any>,
    activation_id: &str,
) -> Result<Vec<Message>, sqlx::Error> {
    let messages = Activations::MESSAGES;
    let rest = "WHERE activation_id = $1 ORDER BY id";
    messages.fetch(db, rest, &[activation_id], None).await
}
