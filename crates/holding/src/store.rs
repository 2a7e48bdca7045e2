//! How a service reads and writes the rows it holds.

use numhub_runtime::clock::Timestamp;
use numhub_runtime::error::Failure;
use numhub_runtime::event_log::{EventLog, Read};
use sqlx::{AnyConnection, AnyPool};

use crate::held::Held;

/// A service's table of [`Held`] rows and its account event log.
pub trait Store: Send + Sync + 'static {
    type Held: Held;
    /// One entry of an account's history, as streams read it.
    type Event: Send + 'static;

    /// The account history every change is appended to.
    const LOG: EventLog;

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

    /// Up to `limit` of the account's events after `after` that `which`
    /// wants, in order.
    fn events_after(
        db: &AnyPool,
        account_id: &str,
        which: Read<'_>,
        after: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Self::Event>, Failure>> + Send;

    /// An event's sequence number: the cursor after it.
    fn seq(event: &Self::Event) -> i64;
}
