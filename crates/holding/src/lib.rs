//! What orders and rentals share: a number an account holds for a while
//! (an activation, a rental), stored as one row of the service's own
//! table.
//!
//! - [`Held`] (written by [`held_row!`]) and [`Store`]: what every row is,
//!   and how a service reads and writes its rows; it keeps its own SQL.
//!   [`HeldId`]: a row as a request names it, by its UUID or its numeric
//!   id.
//! - [`Core`]: every change of a row under its account's lock, with its
//!   event appended and streams woken after commit; reads of one row; live
//!   streams of the account's events; the fault-injection points of tests.
//! - [`Holder`]: the service over its core; it says how it settles an
//!   ended row and gets reads, streams (one row's Watch RPC included), the
//!   settlement calls and redelivery checks.
//! - [`purchase`]: the saga that buys a row's number from the catalog and
//!   charges it at the wallet, driven again from the start by any retry or
//!   recovery.
//! - [`Message`] and [`MessageTable`], [`Event`]: the SMS stored for the
//!   rows, and the account's history as streams read it.

mod core;
mod events;
mod held;
mod holder;
mod messages;
pub mod purchase;
mod store;

pub use crate::core::{Core, CoreSettings, EventStream, Upstream, Watched};
pub use crate::events::{Event, EventBody};
pub use crate::held::{Held, HeldId, Lease, Stage};
pub use crate::holder::{Holder, Row};
pub use crate::messages::{Message, MessageTable};
pub use crate::store::Store;

/// What [`held_row!`] names, whatever the calling crate depends on.
#[doc(hidden)]
pub mod __private {
    pub use numhub_proto::common::v1::Money;
    pub use numhub_runtime::clock::Timestamp;
    pub use numhub_runtime::error::Refusal;
}
