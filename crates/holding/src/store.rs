//! How a service reads and writes the rows it holds.

use numhub_runtime::clock::Timestamp;
use numhub_runtime::error::Failure;
use numhub_runtime::event_log::EventLog;
use sqlx::AnyConnection;

use crate::held::Held;
use crate::messages::MessageTable;

/// A service's table of [`Held`] rows and its account event log.
pub trait Store: Send + Sync + 'static {
    type Held: Held;

    /// The account history every change is appended to.
    const LOG: EventLog;

    /// The SMS stored for the rows.
    const MESSAGES: MessageTable;

    /// The row `id`, if any.
    fn load(
        conn: &mut AnyConnection,
        id: &str,
    ) -> impl Future<Output = Result<Option<Self::Held>, Failure>> + Send;

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
