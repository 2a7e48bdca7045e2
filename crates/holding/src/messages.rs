//! The SMS a service stored for its rows, in its `messages` table.

use numhub_runtime::clock::Timestamp;
use numhub_runtime::db::{placeholder_list, timestamp};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, AssertSqlSafe, Executor, Row};

/// An SMS stored for a held row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    /// The row it was delivered to: an activation, a rental.
    pub holder_id: String,
    pub account_id: String,
    /// Inbound's id of the SMS: a redelivery finds the stored message.
    pub inbound_id: String,
    pub phone_number: String,
    pub sender: String,
    pub body: String,
    /// The verification code found in the body; empty for none.
    pub code: String,
    /// The service the SMS is recognisably from, where the table keeps it
    /// (rentals'); empty otherwise.
    pub service_code: String,
    pub received_at: Timestamp,
}

/// A service's `messages` table: the column naming the holder row, and
/// whether it keeps the service an SMS is from.
#[derive(Debug, Clone, Copy)]
pub struct MessageTable {
    pub holder_column: &'static str,
    pub service_code: bool,
}

impl MessageTable {
    /// Its columns, in the order of [`Message`]'s fields.
    pub fn columns(&self) -> String {
        let service_code = if self.service_code {
            "service_code, "
        } else {
            ""
        };
        format!(
            "id, {}, account_id, inbound_id, phone_number, sender, body, code, \
             {service_code}received_at",
            self.holder_column
        )
    }

    /// `SELECT` of whole messages, then `rest` (a `WHERE` and an order).
    pub fn select(&self, rest: &str) -> String {
        format!("SELECT {} FROM messages {rest}", self.columns())
    }

    /// A message from `row`, whose columns carry `prefix` (empty for none).
    pub fn from_row(&self, row: &AnyRow, prefix: &str) -> Result<Message, sqlx::Error> {
        let get = |name: &str| row.try_get::<String, _>(format!("{prefix}{name}").as_str());
        Ok(Message {
            id: get("id")?,
            holder_id: get(self.holder_column)?,
            account_id: get("account_id")?,
            inbound_id: get("inbound_id")?,
            phone_number: get("phone_number")?,
            sender: get("sender")?,
            body: get("body")?,
            code: get("code")?,
            service_code: if self.service_code {
                get("service_code")?
            } else {
                String::new()
            },
            received_at: timestamp(row, &format!("{prefix}received_at"))?,
        })
    }

    /// Whole messages that `rest` selects.
    pub async fn fetch<'e>(
        &self,
        db: impl Executor<'e, Database = Any>,
        rest: &str,
        binds: &[&str],
        limit: Option<i64>,
    ) -> Result<Vec<Message>, sqlx::Error> {
        let sql = self.select(rest);
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for value in binds {
            query = query.bind(*value);
        }
        if let Some(limit) = limit {
            query = query.bind(limit);
        }
        let rows = query.fetch_all(db).await?;
        rows.iter().map(|row| self.from_row(row, "")).collect()
    }

    /// Stores a message; false when its inbound id is already stored.
    pub async fn insert(
        &self,
        conn: &mut AnyConnection,
        m: &Message,
        now: Timestamp,
    ) -> Result<bool, sqlx::Error> {
        let count = if self.service_code { 11 } else { 10 };
        let sql = format!(
            "INSERT INTO messages ({}, stored_at) VALUES ({}) \
             ON CONFLICT (inbound_id) DO NOTHING",
            self.columns(),
            placeholder_list(count, 1)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql))
            .bind(&m.id)
            .bind(&m.holder_id)
            .bind(&m.account_id)
            .bind(&m.inbound_id)
            .bind(&m.phone_number)
            .bind(&m.sender)
            .bind(&m.body)
            .bind(&m.code);
        if self.service_code {
            query = query.bind(&m.service_code);
        }
        let done = query
            .bind(m.received_at.unix_micros())
            .bind(now.unix_micros())
            .execute(conn)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The message stored for an inbound id, if any.
    pub async fn by_inbound<'e>(
        &self,
        db: impl Executor<'e, Database = Any>,
        inbound_id: &str,
    ) -> Result<Option<Message>, sqlx::Error> {
        let messages = self
            .fetch(db, "WHERE inbound_id = $1", &[inbound_id], None)
            .await?;
        Ok(messages.into_iter().next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_follow_the_fields_and_the_table() {
        let orders = MessageTable {
            holder_column: "activation_id",
            service_code: false,
        };
        let rentals = MessageTable {
            holder_column: "rental_id",
            service_code: true,
        };
        assert_eq!(
            orders.columns(),
            "id, activation_id, account_id, inbound_id, phone_number, sender, body, code, \
             received_at"
        );
        assert_eq!(
            rentals.columns().split(", ").collect::<Vec<_>>()[8..],
            ["service_code", "received_at"]
        );
        assert_eq!(
            rentals.select("WHERE id = $1"),
            format!("SELECT {} FROM messages WHERE id = $1", rentals.columns())
        );
    }
}
