//! Rentals' SQL, one text for PostgreSQL and SQLite.
//!
//! Every transaction that changes a rental first locks its account's row in
//! `rental_accounts` (`LOG.lock_account`): changes of one account are
//! serialised, so a transaction reads the rental, decides, and writes
//! without a concurrent change in between, and the events it appends commit
//! in sequence order.

use numhub_holding::{MessageTable, Store};
use numhub_runtime::claims;
use numhub_runtime::clock::Timestamp;
use numhub_runtime::db::{Backend, optional_timestamp, placeholder_list, timestamp};
use numhub_runtime::event_log::EventLog;
use numhub_runtime::rental::RentalDuration;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, AnyPool, AssertSqlSafe, Executor, Row};

use crate::error::Failure;
use crate::model::{Filter, Message, Renewal, RenewalState, Rental, Settle, Status};

/// `numeric_id` first: an INSERT gives it [`Store::next_numeric_id`].
const RENTAL_COLUMNS: &str = "numeric_id, id, account_id, request_id, fingerprint, country_code, \
    number_type, service_code, duration, renewal_duration, auto_renew, status, phone_number, \
    lease_id, price, currency, debit_id, balance_after, total_charged, refunded, \
    refund_balance_after, sms_count, renewals, auto_renew_failure, auto_renew_failed_at, \
    failure_reason, failure_message, created_at, expires_at, ended_at, settle, max_price, \
    max_price_currency";

const RENEWAL_COLUMNS: &str = "id, rental_id, account_id, key, fingerprint, period, duration, \
    price, currency, from_expiry, to_expiry, state, debit_id, balance_after, failure_reason, \
    failure_message, created_at";

fn duration(row: &AnyRow, column: &str) -> Result<RentalDuration, Failure> {
    let value: i64 = row.try_get(column)?;
    RentalDuration::from_i64(value).ok_or_else(|| Failure::corrupt(format!("duration {value}")))
}

fn renewal_from_row(row: &AnyRow) -> Result<Renewal, Failure> {
    let state: i64 = row.try_get("state")?;
    Ok(Renewal {
        id: row.try_get("id")?,
        rental_id: row.try_get("rental_id")?,
        account_id: row.try_get("account_id")?,
        key: row.try_get("key")?,
        fingerprint: row.try_get("fingerprint")?,
        period: row.try_get("period")?,
        duration: duration(row, "duration")?,
        price: row.try_get("price")?,
        currency: row.try_get("currency")?,
        from_expiry: timestamp(row, "from_expiry")?,
        to_expiry: timestamp(row, "to_expiry")?,
        state: RenewalState::from_i64(state)
            .ok_or_else(|| Failure::corrupt(format!("renewal state {state}")))?,
        debit_id: row.try_get("debit_id")?,
        balance_after: row.try_get("balance_after")?,
        failure_reason: row.try_get("failure_reason")?,
        failure_message: row.try_get("failure_message")?,
        created_at: timestamp(row, "created_at")?,
    })
}

/// The account's history: see [`numhub_runtime::event_log`].
pub const LOG: EventLog = RentalsTable::LOG;

/// The `rentals` table, as the shared core reads and writes it.
#[derive(Debug, Clone, Copy)]
pub struct RentalsTable;

impl Store for RentalsTable {
    type Held = Rental;

    const LOG: EventLog = EventLog {
        accounts: "rental_accounts",
        events: "events",
        subject: "rental_id",
    };

    const MESSAGES: MessageTable = MessageTable {
        holder_column: "rental_id",
        service_code: true,
    };

    const TABLE: &'static str = "rentals";
    const COLUMNS: &'static str = RENTAL_COLUMNS;

    fn from_row(row: &AnyRow) -> Result<Rental, Failure> {
        let status: i64 = row.try_get("status")?;
        let settle: i64 = row.try_get("settle")?;
        Ok(Rental {
            id: row.try_get("id")?,
            numeric_id: row.try_get("numeric_id")?,
            account_id: row.try_get("account_id")?,
            request_id: row.try_get("request_id")?,
            fingerprint: row.try_get("fingerprint")?,
            country_code: row.try_get("country_code")?,
            number_type: row.try_get("number_type")?,
            service_code: row.try_get("service_code")?,
            duration: duration(row, "duration")?,
            renewal_duration: duration(row, "renewal_duration")?,
            auto_renew: row.try_get::<i64, _>("auto_renew")? != 0,
            status: Status::from_i64(status)
                .ok_or_else(|| Failure::corrupt(format!("rental status {status}")))?,
            phone_number: row.try_get("phone_number")?,
            lease_id: row.try_get("lease_id")?,
            price: row.try_get("price")?,
            currency: row.try_get("currency")?,
            debit_id: row.try_get("debit_id")?,
            balance_after: row.try_get("balance_after")?,
            total_charged: row.try_get("total_charged")?,
            refunded: row.try_get("refunded")?,
            refund_balance_after: row.try_get("refund_balance_after")?,
            sms_count: row.try_get("sms_count")?,
            renewals: row.try_get("renewals")?,
            auto_renew_failure: row.try_get("auto_renew_failure")?,
            auto_renew_failed_at: optional_timestamp(row, "auto_renew_failed_at")?,
            failure_reason: row.try_get("failure_reason")?,
            failure_message: row.try_get("failure_message")?,
            created_at: timestamp(row, "created_at")?,
            expires_at: timestamp(row, "expires_at")?,
            ended_at: optional_timestamp(row, "ended_at")?,
            settle: Settle::from_i64(settle)
                .ok_or_else(|| Failure::corrupt(format!("rental settle {settle}")))?,
            max_price: row.try_get("max_price")?,
            max_price_currency: row.try_get("max_price_currency")?,
        })
    }

    /// Writes every field a rental's life changes, and claims the row until
    /// `claimed_until` when given (a request settling what the rental owes),
    /// keeping the claim as it is otherwise. The caller holds the account's
    /// lock and read the row in the same transaction.
    async fn update(
        conn: &mut AnyConnection,
        r: &Rental,
        claimed_until: Option<Timestamp>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE rentals SET renewal_duration = $1, auto_renew = $2, status = $3, \
             phone_number = $4, lease_id = $5, price = $6, currency = $7, debit_id = $8, \
             balance_after = $9, total_charged = $10, refunded = $11, sms_count = $12, \
             renewals = $13, auto_renew_failure = $14, auto_renew_failed_at = $15, \
             failure_reason = $16, failure_message = $17, expires_at = $18, ended_at = $19, \
             settle = $20, claimed_until = COALESCE($21, claimed_until) WHERE id = $22",
        )
        .bind(r.renewal_duration as i64)
        .bind(i64::from(r.auto_renew))
        .bind(r.status as i64)
        .bind(&r.phone_number)
        .bind(r.lease_id.as_deref())
        .bind(r.price)
        .bind(&r.currency)
        .bind(r.debit_id.as_deref())
        .bind(r.balance_after)
        .bind(r.total_charged)
        .bind(r.refunded)
        .bind(r.sms_count)
        .bind(r.renewals)
        .bind(&r.auto_renew_failure)
        .bind(r.auto_renew_failed_at.map(Timestamp::unix_micros))
        .bind(&r.failure_reason)
        .bind(&r.failure_message)
        .bind(r.expires_at.unix_micros())
        .bind(r.ended_at.map(Timestamp::unix_micros))
        .bind(r.settle as i64)
        .bind(claimed_until.map(Timestamp::unix_micros))
        .bind(&r.id)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// Inserts a new rental (its `numeric_id` is assigned here); its numeric
/// id, or `None` when the account already used its request id.
pub async fn insert_rental<'e>(
    db: impl Executor<'e, Database = Any>,
    backend: Backend,
    r: &Rental,
    claimed_until: Timestamp,
) -> Result<Option<i64>, sqlx::Error> {
    let inserted = sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO rentals ({RENTAL_COLUMNS}, claimed_until) VALUES ({}, {}) \
         ON CONFLICT (account_id, request_id) DO NOTHING RETURNING numeric_id",
        RentalsTable::next_numeric_id(backend),
        placeholder_list(33, 1)
    )))
    .bind(&r.id)
    .bind(&r.account_id)
    .bind(&r.request_id)
    .bind(&r.fingerprint)
    .bind(&r.country_code)
    .bind(r.number_type)
    .bind(&r.service_code)
    .bind(r.duration as i64)
    .bind(r.renewal_duration as i64)
    .bind(i64::from(r.auto_renew))
    .bind(r.status as i64)
    .bind(&r.phone_number)
    .bind(r.lease_id.as_deref())
    .bind(r.price)
    .bind(&r.currency)
    .bind(r.debit_id.as_deref())
    .bind(r.balance_after)
    .bind(r.total_charged)
    .bind(r.refunded)
    .bind(r.refund_balance_after)
    .bind(r.sms_count)
    .bind(r.renewals)
    .bind(&r.auto_renew_failure)
    .bind(r.auto_renew_failed_at.map(Timestamp::unix_micros))
    .bind(&r.failure_reason)
    .bind(&r.failure_message)
    .bind(r.created_at.unix_micros())
    .bind(r.expires_at.unix_micros())
    .bind(r.ended_at.map(Timestamp::unix_micros))
    .bind(r.settle as i64)
    .bind(r.max_price)
    .bind(&r.max_price_currency)
    .bind(claimed_until.unix_micros())
    .fetch_optional(db)
    .await?;
    inserted.map(|row| row.try_get("numeric_id")).transpose()
}

/// Marks a rental settled (nothing more owed), with the balance after its
/// refund, unless its settlement changed meanwhile.
pub async fn mark_settled<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
    was: Settle,
    refund_balance_after: Option<i64>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE rentals SET settle = 0, refund_balance_after = $1 WHERE id = $2 AND settle = $3",
    )
    .bind(refund_balance_after)
    .bind(id)
    .bind(was as i64)
    .execute(db)
    .await?;
    Ok(())
}

/// The tables workers claim rows of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Rentals,
    Renewals,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Self::Rentals => "rentals",
            Self::Renewals => "renewals",
        }
    }
}

/// What a worker looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// ACTIVE rentals past their expiry.
    Expired,
    /// Purchases left half-done and unclaimed.
    Creating,
    /// Rentals that still owe a refund or a release, unclaimed.
    Unsettled,
    /// ACTIVE rentals with auto-renew on, expiring within the lead, not
    /// failed within the retry pause, unclaimed.
    AutoRenew,
    /// Renewals left half-done (charging, or owing a refund) and unclaimed.
    Charging,
}

impl Due {
    /// The table the ids are of, and the condition a row must still meet
    /// when it is claimed.
    pub fn claim(self) -> (Table, &'static str) {
        match self {
            Self::Expired => (Table::Rentals, "status = 2"),
            Self::Creating => (Table::Rentals, "status = 1"),
            Self::Unsettled => (Table::Rentals, "settle <> 0"),
            Self::AutoRenew => (Table::Rentals, "status = 2 AND auto_renew = 1"),
            Self::Charging => (Table::Renewals, "state IN (1, 5)"),
        }
    }

    /// The column of the instant a row is due at: its expiry, or the end
    /// of the claim on it (recovery waits for the owner's time to pass).
    fn due_at(self) -> &'static str {
        match self {
            Self::Expired | Self::AutoRenew => "expires_at",
            Self::Creating | Self::Unsettled | Self::Charging => "claimed_until",
        }
    }
}

/// Ids of up to `limit` rows that `due` finds at `now`. For
/// [`Due::AutoRenew`], `lead` is how long before its expiry a rental is
/// renewed at the most, and `retry` the pause after a failed attempt.
pub async fn due<'e>(
    db: impl Executor<'e, Database = Any>,
    due: Due,
    now: Timestamp,
    (lead, retry): (std::time::Duration, std::time::Duration),
    limit: i64,
) -> Result<Vec<String>, sqlx::Error> {
    let (table, condition) = due.claim();
    if due != Due::AutoRenew {
        return claims::due(db, table.name(), condition, due.due_at(), now, limit).await;
    }
    let sql = format!(
        "SELECT id FROM rentals WHERE {condition} \
         AND expires_at > $1 AND expires_at <= $3 AND expires_at - $1 <= {} \
         AND claimed_until <= $1 \
         AND (auto_renew_failed_at IS NULL OR auto_renew_failed_at <= $4) \
         ORDER BY expires_at LIMIT $2",
        half_package_sql()
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(now.unix_micros())
        .bind(limit)
        .bind(now.plus(lead).unix_micros())
        .bind(now.minus(retry).unix_micros())
        .fetch_all(db)
        .await?;
    rows.iter().map(|row| row.try_get("id")).collect()
}

/// Of `ids` that `due` found, those a worker claimed until `until`: see
/// [`claims::claim_each`].
pub async fn claim_each(
    db: &AnyPool,
    due: Due,
    ids: Vec<String>,
    now: Timestamp,
    until: Timestamp,
) -> Result<Vec<String>, sqlx::Error> {
    let (table, condition) = due.claim();
    claims::claim_each(db, table.name(), condition, ids, now, until).await
}

/// Ends a worker's claim on a row of `table` at `now`.
pub async fn release<'e>(
    db: impl Executor<'e, Database = Any>,
    table: Table,
    id: &str,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    claims::release(db, table.name(), id, now).await
}

/// At least half the renewal package of a row, in microseconds, as SQL:
/// auto-renew never charges earlier than that before the expiry. Exact for
/// days; for months, half of the longest such span, so the worker's own
/// check (`Rentals::auto_renew_due`) has the last word.
fn half_package_sql() -> String {
    let start = Timestamp::from_unix_micros(0);
    let mut sql = String::from("CASE renewal_duration");
    for d in RentalDuration::ALL {
        let days_of_longest_months = match d {
            RentalDuration::OneMonth => Some(31),
            RentalDuration::ThreeMonths => Some(92),
            RentalDuration::SixMonths => Some(184),
            RentalDuration::OneYear => Some(366),
            _ => None,
        };
        let span = match days_of_longest_months {
            Some(days) => days * 86_400_000_000,
            None => d.end(start).unix_micros(),
        };
        sql.push_str(&format!(" WHEN {} THEN {}", d as i64, span / 2));
    }
    sql.push_str(" END");
    sql
}

/// The account's rentals newest first, before the id `before`, that
/// `filter` keeps at `now`.
pub async fn list<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &str,
    filter: Filter,
    now: Timestamp,
    before: Option<&str>,
    limit: u32,
) -> Result<Vec<Rental>, Failure> {
    // $2 is now, $3 the end of "expiring soon"; each filter uses what it
    // needs. An ACTIVE row past its expiry counts as EXPIRED.
    let condition = match filter {
        Filter::All => "",
        Filter::Active => " AND status = 2 AND expires_at > $2",
        Filter::ExpiringSoon => " AND status = 2 AND expires_at > $2 AND expires_at <= $3",
        Filter::Expired => " AND (status = 3 OR (status = 2 AND expires_at <= $2))",
        Filter::Cancelled => " AND status = 4",
    };
    let mut sql = format!(
        "SELECT {RENTAL_COLUMNS} FROM rentals WHERE account_id = $1 \
         AND $2 = $2 AND $3 = $3{condition}"
    );
    if before.is_some() {
        sql.push_str(" AND id < $5");
    }
    sql.push_str(" ORDER BY id DESC LIMIT $4");
    let mut query = sqlx::query(AssertSqlSafe(sql))
        .bind(account_id)
        .bind(now.unix_micros())
        .bind(now.plus(crate::model::EXPIRING_SOON).unix_micros())
        .bind(i64::from(limit));
    if let Some(before) = before {
        query = query.bind(before);
    }
    let rows = query.fetch_all(db).await?;
    rows.iter().map(RentalsTable::from_row).collect()
}

/// Inserts a renewal; false when the rental already has one with its key.
/// Fails on the unique index when another renewal of the rental is being
/// charged: see [`is_in_flight_conflict`].
pub async fn insert_renewal(
    conn: &mut AnyConnection,
    r: &Renewal,
    claimed_until: Timestamp,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO renewals ({RENEWAL_COLUMNS}, claimed_until) VALUES ({}) \
         ON CONFLICT (rental_id, key) DO NOTHING",
        placeholder_list(18, 1)
    )))
    .bind(&r.id)
    .bind(&r.rental_id)
    .bind(&r.account_id)
    .bind(&r.key)
    .bind(&r.fingerprint)
    .bind(r.period)
    .bind(r.duration as i64)
    .bind(r.price)
    .bind(&r.currency)
    .bind(r.from_expiry.unix_micros())
    .bind(r.to_expiry.unix_micros())
    .bind(r.state as i64)
    .bind(r.debit_id.as_deref())
    .bind(r.balance_after)
    .bind(&r.failure_reason)
    .bind(&r.failure_message)
    .bind(r.created_at.unix_micros())
    .bind(claimed_until.unix_micros())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The one renewal that `condition` (over `$1`, `$2`) names, if any.
async fn one_renewal<'e>(
    db: impl Executor<'e, Database = Any>,
    condition: &str,
    binds: &[&str],
) -> Result<Option<Renewal>, Failure> {
    let sql = format!("SELECT {RENEWAL_COLUMNS} FROM renewals WHERE {condition}");
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for value in binds {
        query = query.bind(*value);
    }
    let row = query.fetch_optional(db).await?;
    row.as_ref().map(renewal_from_row).transpose()
}

pub async fn renewal<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
) -> Result<Option<Renewal>, Failure> {
    one_renewal(db, "id = $1", &[id]).await
}

pub async fn renewal_by_key<'e>(
    db: impl Executor<'e, Database = Any>,
    rental_id: &str,
    key: &str,
) -> Result<Option<Renewal>, Failure> {
    one_renewal(db, "rental_id = $1 AND key = $2", &[rental_id, key]).await
}

/// The renewal of the rental being charged now, if any.
pub async fn renewal_in_flight<'e>(
    db: impl Executor<'e, Database = Any>,
    rental_id: &str,
) -> Result<Option<Renewal>, Failure> {
    one_renewal(db, "rental_id = $1 AND state = 1", &[rental_id]).await
}

/// The rental's renewals that were charged and applied, oldest first.
pub async fn applied_renewals<'e>(
    db: impl Executor<'e, Database = Any>,
    rental_id: &str,
) -> Result<Vec<Renewal>, Failure> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {RENEWAL_COLUMNS} FROM renewals WHERE rental_id = $1 AND state = 2 ORDER BY id"
    )))
    .bind(rental_id)
    .fetch_all(db)
    .await?;
    rows.iter().map(renewal_from_row).collect()
}

/// How many renewals of the rental were tried for `period`.
pub async fn attempts(
    conn: &mut AnyConnection,
    rental_id: &str,
    period: i64,
) -> Result<i64, sqlx::Error> {
    let row =
        sqlx::query("SELECT COUNT(*) AS n FROM renewals WHERE rental_id = $1 AND period = $2")
            .bind(rental_id)
            .bind(period)
            .fetch_one(conn)
            .await?;
    row.try_get("n")
}

/// Moves a renewal from `from` to `to`, with its charge and why it failed;
/// false when it is no longer in `from` (another driver moved it first).
pub async fn finish_renewal(
    conn: &mut AnyConnection,
    r: &Renewal,
    from: RenewalState,
    to: RenewalState,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE renewals SET state = $1, debit_id = $2, balance_after = $3, \
         failure_reason = $4, failure_message = $5 WHERE id = $6 AND state = $7",
    )
    .bind(to as i64)
    .bind(r.debit_id.as_deref())
    .bind(r.balance_after)
    .bind(&r.failure_reason)
    .bind(&r.failure_message)
    .bind(&r.id)
    .bind(from as i64)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A rental's newest messages, newest first.
pub async fn recent_messages<'e>(
    db: impl Executor<'e, Database = Any>,
    rental_id: &str,
    limit: i64,
) -> Result<Vec<Message>, sqlx::Error> {
    let rest = "WHERE rental_id = $1 ORDER BY id DESC LIMIT $2";
    RentalsTable::MESSAGES
        .fetch(db, rest, &[rental_id], Some(limit))
        .await
}

/// Messages of the account's rentals of a number after the id `after`,
/// oldest first.
pub async fn messages_of_number<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &str,
    phone_number: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Message>, sqlx::Error> {
    let rest = "WHERE account_id = $1 AND phone_number = $2 AND id > $3 ORDER BY id LIMIT $4";
    let after = after.unwrap_or_default();
    RentalsTable::MESSAGES
        .fetch(db, rest, &[account_id, phone_number, after], Some(limit))
        .await
}

/// Whether the account ever held a rental of the number.
pub async fn rented_number<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &str,
    phone_number: &str,
) -> Result<bool, sqlx::Error> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM rentals WHERE account_id = $1 AND phone_number = $2 \
         AND status IN (2, 3, 4)",
    )
    .bind(account_id)
    .bind(phone_number)
    .fetch_one(db)
    .await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}
