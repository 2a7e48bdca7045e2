//! An account's event history, as orders and rentals keep it: a table of
//! events numbered per account, and a table of each account's last number.
//!
//! Every transaction that changes something of an account begins by
//! upserting the account's row ([`EventLog::lock_account`]). That locks it
//! until commit, so one account's changes are serialised (read, decide,
//! write, with nothing changing in between) and its sequence numbers commit
//! in order: a reader that saw `seq = n` never later finds a smaller one,
//! which is what makes "resume after the cursor" lose nothing. A serial
//! column could not promise that: its numbers are handed out before commit,
//! not in commit order.

use sqlx::{AnyConnection, AssertSqlSafe, Row};

use crate::clock::Timestamp;

/// Where a service keeps its log: the table of accounts' last numbers, the
/// events table, and the column naming what an event is about.
#[derive(Debug, Clone, Copy)]
pub struct EventLog {
    /// Columns `account_id` (primary key) and `last_seq`.
    pub accounts: &'static str,
    /// Columns `account_id`, `seq`, the subject, `kind`, `status`,
    /// `message_id` and `at`.
    pub events: &'static str,
    /// The subject's column, e.g. `activation_id`.
    pub subject: &'static str,
}

/// One event to append: its kind, and the status or the message it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewEvent<'a> {
    pub kind: i64,
    pub status: Option<i64>,
    pub message_id: Option<&'a str>,
}

impl EventLog {
    /// Locks the account's row (creating it) until the transaction ends,
    /// and reserves `count` sequence numbers: the first is returned.
    /// Numbers reserved and not used leave a gap, which streams do not
    /// mind: they need order, not density.
    pub async fn lock_account(
        &self,
        conn: &mut AnyConnection,
        account_id: &str,
        count: i64,
    ) -> Result<i64, sqlx::Error> {
        let accounts = self.accounts;
        let row = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {accounts} (account_id, last_seq) VALUES ($1, $2) \
             ON CONFLICT (account_id) DO UPDATE SET last_seq = {accounts}.last_seq + $2 \
             RETURNING last_seq"
        )))
        .bind(account_id)
        .bind(count)
        .fetch_one(conn)
        .await?;
        let last: i64 = row.try_get("last_seq")?;
        Ok(last - count + 1)
    }

    /// Appends events about `subject` numbered from `first_seq` (reserved
    /// by [`EventLog::lock_account`] in the same transaction).
    pub async fn append(
        &self,
        conn: &mut AnyConnection,
        account_id: &str,
        subject: &str,
        first_seq: i64,
        events: &[NewEvent<'_>],
        at: Timestamp,
    ) -> Result<(), sqlx::Error> {
        let sql = format!(
            "INSERT INTO {} (account_id, seq, {}, kind, status, message_id, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            self.events, self.subject
        );
        for (offset, event) in events.iter().enumerate() {
            sqlx::query(AssertSqlSafe(sql.clone()))
                .bind(account_id)
                .bind(first_seq + offset as i64)
                .bind(subject)
                .bind(event.kind)
                .bind(event.status)
                .bind(event.message_id)
                .bind(at.unix_micros())
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}
