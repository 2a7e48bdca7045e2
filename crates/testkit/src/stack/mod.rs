//! numhub's services served together for tests and benchmarks: each on a
//! fresh database of its own and a gRPC server of its own, behind auth
//! layers that resolve keys through a real accounts service, on one clock.
//!
//! [`accounts`] is the accounts service every stack starts with; [`orders`]
//! is the whole buying stack (accounts, wallet, catalog and orders);
//! [`inbound`] adds inbound to it.

pub mod accounts;
pub mod inbound;
pub mod orders;

use numhub_proto::common::v1::Money;
use numhub_skeleton::Service;

pub use self::accounts::{Customer, Stack};
use crate::{Backend, TestDb};

/// A fresh database of `backend` with `S`'s schema.
pub async fn database<S: Service>(backend: Backend) -> TestDb {
    let db = TestDb::new(backend).await;
    let migrations = S::MIGRATIONS.unwrap_or_else(|| panic!("{} keeps no data", S::DEFAULTS.name));
    db.db
        .migrate(&migrations)
        .await
        .unwrap_or_else(|error| panic!("migrate {}: {error:#}", S::DEFAULTS.name));
    db
}

/// `minor_units` US cents.
pub fn usd(minor_units: i64) -> Option<Money> {
    Some(Money {
        currency_code: "USD".into(),
        minor_units,
    })
}
