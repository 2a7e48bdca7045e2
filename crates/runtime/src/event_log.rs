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

use futures_util::future::BoxFuture;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, AssertSqlSafe, Executor, Row, Transaction};

use crate::clock::Timestamp;
use crate::streams::Hub;

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

/// The kind of an event that records a change of its subject's status.
pub const KIND_CHANGE: i64 = 1;
/// The kind of an event that records a message (`message_id`).
pub const KIND_MESSAGE: i64 = 2;

/// Which of an account's events a stream reads.
#[derive(Debug, Clone, Copy)]
pub enum Read<'a> {
    /// Every event of one subject: its changes and its messages.
    Subject(&'a str),
    /// The messages of every subject of the account.
    Messages,
}

/// An event as stored, with the row it was read in: the message it names
/// is in that row's columns `m_<column>`.
#[allow(missing_debug_implementations)] // AnyRow has no Debug
pub struct StoredEvent {
    pub seq: i64,
    pub subject: String,
    pub kind: i64,
    pub status: Option<i64>,
    pub row: AnyRow,
}

/// One event to append: its kind, and the status or the message it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewEvent<'a> {
    pub kind: i64,
    pub status: Option<i64>,
    pub message_id: Option<&'a str>,
}

impl<'a> NewEvent<'a> {
    /// The subject entered `status` (a service's status enum, as stored).
    pub fn change(status: i64) -> Self {
        Self {
            kind: KIND_CHANGE,
            status: Some(status),
            message_id: None,
        }
    }

    /// The subject received the message `id`.
    pub fn message(id: &'a str) -> Self {
        Self {
            kind: KIND_MESSAGE,
            status: None,
            message_id: Some(id),
        }
    }
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

    /// Records a change: appends `events` about `subject` (numbered from
    /// `first_seq`, reserved by [`EventLog::lock_account`] in `tx`), commits,
    /// and then wakes this process's streams of the account and the subject.
    /// On PostgreSQL the events table's trigger announces them to other
    /// processes with NOTIFY, delivered at commit.
    #[allow(clippy::too_many_arguments)] // one call records a whole change
    pub async fn commit(
        &self,
        mut tx: Transaction<'_, Any>,
        hub: &Hub,
        account_id: &str,
        subject: &str,
        first_seq: i64,
        events: &[NewEvent<'_>],
        at: Timestamp,
    ) -> Result<(), sqlx::Error> {
        self.append(&mut tx, account_id, subject, first_seq, events, at)
            .await?;
        tx.commit().await?;
        hub.wake(&[account_id, subject]);
        Ok(())
    }

    /// Up to `limit` of the account's events after `after` that `which`
    /// wants, in order, each with the row of `messages` (whose columns are
    /// `message_columns`) it names, if any.
    pub async fn read<'e>(
        &self,
        db: impl Executor<'e, Database = Any>,
        (messages, message_columns): (&str, &str),
        account_id: &str,
        which: Read<'_>,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, sqlx::Error> {
        let columns = message_columns
            .split(", ")
            .map(|c| format!("m.{c} AS m_{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let (condition, subject) = match which {
            Read::Subject(id) => (format!("e.{} = $4", self.subject), Some(id)),
            Read::Messages => (format!("e.kind = {KIND_MESSAGE}"), None),
        };
        let sql = format!(
            "SELECT e.seq, e.{subject} AS e_subject, e.kind, e.status AS e_status, {columns} \
             FROM {events} e LEFT JOIN {messages} m ON m.id = e.message_id \
             WHERE e.account_id = $1 AND e.seq > $2 AND {condition} ORDER BY e.seq LIMIT $3",
            subject = self.subject,
            events = self.events,
        );
        let mut query = sqlx::query(AssertSqlSafe(sql))
            .bind(account_id)
            .bind(after)
            .bind(limit);
        if let Some(id) = subject {
            query = query.bind(id);
        }
        query
            .fetch_all(db)
            .await?
            .into_iter()
            .map(|row| {
                Ok(StoredEvent {
                    seq: row.try_get("seq")?,
                    subject: row.try_get("e_subject")?,
                    kind: row.try_get("kind")?,
                    status: row.try_get("e_status")?,
                    row,
                })
            })
            .collect()
    }
}

/// Decodes events read by [`EventLog::read`], in order, with `decode`. A
/// change is handed its subject as it is now, which `load` reads once per
/// run of one subject's changes (a stream of one subject reads it once per
/// batch); a message is handed none.
pub async fn decode<'a, S: Clone, T, E>(
    stored: Vec<StoredEvent>,
    mut load: impl FnMut(String) -> BoxFuture<'a, Result<S, E>>,
    mut decode: impl FnMut(StoredEvent, Option<S>) -> Result<T, E>,
) -> Result<Vec<T>, E> {
    let mut events = Vec::with_capacity(stored.len());
    let mut current: Option<(String, S)> = None;
    for event in stored {
        let subject = if event.kind == KIND_MESSAGE {
            None
        } else {
            if current.as_ref().is_none_or(|(id, _)| *id != event.subject) {
                current = Some((event.subject.clone(), load(event.subject.clone()).await?));
            }
            current.as_ref().map(|(_, subject)| subject.clone())
        };
        events.push(decode(event, subject)?);
    }
    Ok(events)
}
