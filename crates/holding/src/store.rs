//! How a service reads and writes the rows it holds.

use futures_util::future::BoxFuture;
use numhub_runtime::clock::Timestamp;
use numhub_runtime::error::Failure;
use numhub_runtime::event_log::EventLog;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, AssertSqlSafe, Executor};

use crate::held::Held;
use crate::messages::MessageTable;

/// A service's table of [`Held`] rows and its account event log.
pub trait Store: Send + Sync + 'static {
    type Held: Held;

    /// The table of the rows, and the columns [`Store::from_row`] reads.
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
        one_row::<Self>(db, "id = $1", vec![id])
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
            vec![account_id, request_id],
        )
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

/// The one row of `S` that `condition` (over `binds`) names, if any.
/// Boxed: an unboxed future generic over the executor is not provably
/// `Send` to the handlers that await it.
fn one_row<'a, S: Store + ?Sized>(
    db: impl Executor<'a, Database = Any> + 'a,
    condition: &str,
    binds: Vec<&'a str>,
) -> BoxFuture<'a, Result<Option<S::Held>, Failure>> {
    let sql = format!("SELECT {} FROM {} WHERE {condition}", S::COLUMNS, S::TABLE);
    Box::pin(async move {
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for value in binds {
            query = query.bind(value);
        }
        let row = query.fetch_optional(db).await?;
        row.as_ref().map(S::from_row).transpose()
    })
}
