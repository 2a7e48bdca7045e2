//! How a service reads and writes the rows it holds.

use futures_util::future::BoxFuture;
use numhub_runtime::clock::Timestamp;
use numhub_runtime::db::Backend;
use numhub_runtime::error::Failure;
use numhub_runtime::event_log::EventLog;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, AssertSqlSafe, Executor};

use crate::held::{Held, HeldId};
use crate::messages::MessageTable;

/// A service's table of [`Held`] rows and its account event log.
pub trait Store: Send + Sync + 'static {
    type Held: Held;

    /// The table of the rows, and the columns [`Store::from_row`] reads.
    /// The table has a unique `numeric_id` (see [`HeldId`]).
    const TABLE: &'static str;
    const COLUMNS: &'static str;

    /// The account history every change is appended to.
    const LOG: EventLog;

    /// The SMS stored for the rows.
    const MESSAGES: MessageTable;

    /// A row from its [`Store::COLUMNS`].
    fn from_row(row: &AnyRow) -> Result<Self::Held, Failure>;

    /// The row `id`, if any.
    fn load<'a>(
        db: impl Executor<'a, Database = Any> + 'a,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Self::Held>, Failure>> {
        one_row::<Self>(db, "id = $1", vec![Key::Text(id)])
    }

    /// The row a request names by `id`, if any.
    fn find<'a>(
        db: impl Executor<'a, Database = Any> + 'a,
        id: &'a HeldId,
    ) -> BoxFuture<'a, Result<Option<Self::Held>, Failure>> {
        match id {
            HeldId::Uuid(id) => Self::load(db, id),
            HeldId::Numeric(n) => one_row::<Self>(db, "numeric_id = $1", vec![Key::Number(*n)]),
        }
    }

    /// The row the account bought under `request_id`, if any.
    fn by_request<'a>(
        db: impl Executor<'a, Database = Any> + 'a,
        account_id: &'a str,
        request_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Self::Held>, Failure>> {
        one_row::<Self>(
            db,
            "account_id = $1 AND request_id = $2",
            vec![Key::Text(account_id), Key::Text(request_id)],
        )
    }

    /// The value an INSERT gives a new row's `numeric_id`, once, with
    /// `RETURNING numeric_id` to learn it. A retry that finds the row
    /// inserted keeps the number the row got (a PostgreSQL sequence number
    /// it took is lost: the ids have gaps, never repeats).
    fn next_numeric_id(backend: Backend) -> String {
        match backend {
            // The column's identity sequence: concurrent inserts never
            // draw the same number, even from several processes.
            Backend::Postgres => "DEFAULT".into(),
            // SQLite has one writer at a time, and the INSERT reads the
            // highest under its write lock; rows are never deleted, so the
            // highest so far plus one was never given.
            Backend::Sqlite => format!(
                "(SELECT COALESCE(MAX(numeric_id), 0) + 1 FROM {})",
                Self::TABLE
            ),
        }
    }

    /// Writes every field a row's life changes, and claims it until
    /// `claimed_until` when given, keeping the claim as it is otherwise.
    /// The caller holds the account's lock and read the row in the same
    /// transaction.
    fn update(
        conn: &mut AnyConnection,
        row: &Self::Held,
        claimed_until: Option<Timestamp>,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
}

/// A value a row is looked up by.
enum Key<'a> {
    Text(&'a str),
    Number(i64),
}

/// The one row of `S` that `condition` (over `binds`) names, if any.
/// Boxed: an unboxed future generic over the executor is not provably
/// `Send` to the handlers that await it.
fn one_row<'a, S: Store + ?Sized>(
    db: impl Executor<'a, Database = Any> + 'a,
    condition: &str,
    binds: Vec<Key<'a>>,
) -> BoxFuture<'a, Result<Option<S::Held>, Failure>> {
    let sql = format!("SELECT {} FROM {} WHERE {condition}", S::COLUMNS, S::TABLE);
    Box::pin(async move {
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for value in binds {
            query = match value {
                Key::Text(value) => query.bind(value),
                Key::Number(value) => query.bind(value),
            };
        }
        let row = query.fetch_optional(db).await?;
        row.as_ref().map(S::from_row).transpose()
    })
}
