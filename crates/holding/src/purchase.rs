//! Buying a row's number: a saga over the catalog and the wallet.
//!
//! 1. The service inserts the row as CREATING under the account's
//!    `request_id` (a retry finds it and drives the same saga).
//! 2. catalog.LeaseNumber, keyed `<noun>:<id>`, picks a number and says its
//!    price.
//! 3. wallet.Debit, keyed the same, charges the price.
//! 4. The row is bought (WAITING, ACTIVE), with its lease and its debit.
//!
//! Every step is idempotent by its key, so any driver (the request, its
//! retry, the recovery worker of any replica) may run the saga again from
//! the start and reach the same end. A refusal ends the row FAILED and
//! releases any number; nothing is ever charged without a recorded lease,
//! because the debit comes only after it.

use numhub_auth::internal::WalletClient;
use numhub_proto::catalog::v1 as catalog_pb;
use numhub_proto::common::v1::Money;
use numhub_proto::wallet::v1 as wallet_pb;
use numhub_runtime::error::{Failure, Refusal, reason};

use crate::held::{Held, HeldId, Lease, Stage};
use crate::holder::{Holder, Row};
use crate::store::Store;

/// The reason a purchase ends FAILED when it could not lease a number
/// before the row would have expired anyway.
pub const PURCHASE_TIMED_OUT: &str = "PURCHASE_TIMED_OUT";

/// The fields of a lease the catalog alone can judge, passed on from the
/// client unchecked: the price limit, in a currency only the catalog knows.
/// The catalog finding them invalid is the client's mistake.
const CLIENT_FIELDS: &[&str] = &["max_price"];

/// The points between the saga's steps where a test can make it fail as if
/// the process had died there ([`crate::Core::crash_at`]).
pub mod step {
    /// The row is stored as CREATING; nothing leased yet.
    pub const AFTER_INSERT: u8 = 1;
    /// The number is leased at the catalog; nothing charged yet.
    pub const AFTER_LEASE: u8 = 2;
    /// The price is charged; the row is still CREATING.
    pub const AFTER_DEBIT: u8 = 3;
}

/// A debit at the wallet: its ledger entry and the balance right after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub debit_id: String,
    pub balance_after: Option<i64>,
}

/// What a kind of row adds to the saga.
pub trait Bought: Held {
    /// Fills in what this kind of row asks the catalog for: the lease's
    /// kind, what is for sale, and any number asked for by name.
    fn lease_terms(&self, request: &mut catalog_pb::LeaseNumberRequest);

    /// The row is bought: paid by `charge`.
    fn bought(&mut self, charge: Charge);
}

/// The idempotency key of a row's lease and debit: `<noun>:<id>`.
pub fn saga_key<H: Held>(id: &str) -> String {
    format!("{}:{id}", H::NOUN)
}

/// The row an earlier request with the same id stored, when it asked for
/// the same; IDEMPOTENCY_KEY_REUSED when it asked for something else.
pub fn replay<H: Held>(existing: H, fingerprint: &str, request_id: &str) -> Result<H, Failure> {
    if existing.fingerprint() == fingerprint {
        Ok(existing)
    } else {
        Err(Failure::key_reused(request_id))
    }
}

/// Runs the saga from wherever the row is; idempotent.
pub async fn drive<B: Holder>(holder: &B, row: Row<B>) -> Result<Row<B>, Failure> {
    match row.stage() {
        Stage::Creating => {}
        Stage::Failed => return Err(failure_of(&row)),
        Stage::Bought => return Ok(row),
    }
    let core = holder.core();
    core.crash_point(step::AFTER_INSERT)?;
    // The lease is kept in memory only: a retry or the recovery asks the
    // catalog again with the same key and gets the same lease back.
    let mut leased = row.clone();
    match lease(holder, &row).await {
        Ok(lease) => leased.hold(lease),
        Err(Failure::Refused(refusal)) => return fail(holder, &row, refusal).await,
        // The catalog refused the request itself (a price limit in another
        // currency): recorded like a refusal, so every retry gets it, and
        // answered as the client's mistake.
        Err(Failure::Invalid(violations)) => {
            return fail(holder, &row, Refusal::invalid(&violations)).await;
        }
        Err(failure) => return Err(failure),
    }
    core.crash_point(step::AFTER_LEASE)?;
    let Some(bought) = leased.lease() else {
        return Err(Failure::corrupt("a leased row without its lease"));
    };
    let price = Money {
        currency_code: bought.currency,
        minor_units: bought.price,
    };
    let key = saga_key::<Row<B>>(leased.id());
    let charge = match debit(&holder.core().upstream.wallet, &leased, price, &key).await {
        Ok(charge) => charge,
        Err(Failure::Refused(refusal)) => return fail(holder, &leased, refusal).await,
        Err(failure) => return Err(failure),
    };
    core.crash_point(step::AFTER_DEBIT)?;
    let (row, _) = core
        .change(leased.account_id(), &HeldId::of(&leased), |row, _| {
            if row.stage() != Stage::Creating {
                return Ok(false);
            }
            copy_lease(row, &leased);
            row.bought(charge);
            Ok(true)
        })
        .await?;
    match row.stage() {
        Stage::Failed => Err(failure_of(&row)),
        _ => Ok(row),
    }
}

/// Drives a purchase left CREATING (the recovery worker); a refusal is its
/// end, not a failure of the worker.
pub async fn recover<B: Holder>(holder: &B, id: &str) -> Result<(), Failure> {
    let row = <B::Store as Store>::load(holder.core().db.writer(), id).await?;
    let Some(row) = row else {
        return Ok(());
    };
    match drive(holder, row).await {
        Ok(_) | Err(Failure::Refused(_)) => Ok(()),
        Err(failure) => Err(failure),
    }
}

/// Step 2: the catalog's lease for this row (a replay when it was already
/// made).
async fn lease<B: Holder>(holder: &B, row: &Row<B>) -> Result<Lease, Failure> {
    let mut request = catalog_pb::LeaseNumberRequest {
        account_id: row.account_id().to_owned(),
        holder_id: row.id().to_owned(),
        // The catalog checks the currency, and knows which is its own.
        max_price: row.max_price(),
        expire_time: Some(row.expires_at().to_proto()),
        request_id: saga_key::<Row<B>>(row.id()),
        ..Default::default()
    };
    row.lease_terms(&mut request);
    match holder
        .core()
        .upstream
        .catalog
        .clone()
        .lease_number(request)
        .await
    {
        Ok(lease) => {
            let lease = lease.into_inner();
            let price = lease
                .price
                .ok_or_else(|| Failure::corrupt("a lease without a price"))?;
            Ok(Lease {
                id: lease.id,
                phone_number: lease.phone_number,
                operator: lease.operator,
                price: price.minor_units,
                currency: price.currency_code,
            })
        }
        // Never leased (a replay would have answered the lease), and too
        // late to lease now: the purchase ends without a number. Only a
        // recovery long after the request meets this.
        Err(status)
            if status.code() == tonic::Code::InvalidArgument
                && row.expires_at() <= holder.core().now() =>
        {
            Err(Refusal::new(
                PURCHASE_TIMED_OUT,
                format!(
                    "the purchase could not finish before the {} would have ended",
                    Row::<B>::NOUN
                ),
            )
            .into())
        }
        Err(status) => Err(holder.lease_refused(
            row,
            Failure::from_upstream("catalog", &status, CLIENT_FIELDS),
        )),
    }
}

/// Charges `amount` to the row's account under the wallet's idempotency
/// key `key` (a replay when it was already charged), referring to the row.
pub async fn debit<H: Held>(
    wallet: &WalletClient,
    row: &H,
    amount: Money,
    key: &str,
) -> Result<Charge, Failure> {
    let request = wallet_pb::DebitRequest {
        account_id: row.account_id().to_owned(),
        amount: Some(amount),
        request_id: key.to_owned(),
        reference: saga_key::<H>(row.id()),
    };
    let response = wallet
        .clone()
        .debit(request)
        .await
        .map_err(|status| Failure::from_upstream("wallet", &status, &[]))?;
    let transaction = response
        .into_inner()
        .transaction
        .ok_or_else(|| Failure::corrupt("a debit without its transaction"))?;
    Ok(Charge {
        debit_id: transaction.id,
        balance_after: transaction.balance_after.map(|m| m.minor_units),
    })
}

/// Ends a purchase FAILED with `refusal`, releases any number it leased,
/// and answers the refusal.
async fn fail<B: Holder>(holder: &B, row: &Row<B>, refusal: Refusal) -> Result<Row<B>, Failure> {
    let (ended, _) = holder
        .core()
        .change(row.account_id(), &HeldId::of(row), |stored, now| {
            if stored.stage() != Stage::Creating {
                return Ok(false);
            }
            copy_lease(stored, row);
            stored.fail(&refusal, now);
            Ok(true)
        })
        .await?;
    if ended.owes() {
        holder.settle_logged(&ended).await;
    }
    match ended.stage() {
        Stage::Failed => Err(failure_of(&ended)),
        // Another driver finished it first.
        _ => Ok(ended),
    }
}

/// Copies the lease a driver holds in memory onto the stored row.
fn copy_lease<H: Held>(stored: &mut H, from: &H) {
    if let Some(lease) = from.lease() {
        stored.hold(lease);
    }
}

/// The answer a FAILED row gives every retry of its purchase.
pub fn failure_of<H: Held>(row: &H) -> Failure {
    let (reason, message) = row.failure();
    if let Some(violations) = Refusal::violations(reason, message) {
        return Failure::Invalid(violations);
    }
    let reason = if reason.is_empty() {
        reason::INTERNAL_ERROR
    } else {
        reason
    };
    Refusal::new(reason, message).into()
}

#[cfg(test)]
mod tests {
    use numhub_runtime::clock::Timestamp;
    use numhub_runtime::error::{Violation, reason};

    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Status {
        Creating,
        Active,
        Failed,
    }

    impl Status {
        fn is_terminal(self) -> bool {
            self == Self::Failed
        }

        fn from_i64(number: i64) -> Option<Self> {
            [Self::Creating, Self::Active, Self::Failed]
                .into_iter()
                .find(|s| *s as i64 == number)
        }
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Settle {
        Nothing,
        Release,
    }

    /// The fields `held_row!` reads, and nothing else.
    #[derive(Debug, Clone)]
    struct Row {
        id: String,
        account_id: String,
        fingerprint: String,
        status: Status,
        settle: Settle,
        expires_at: Timestamp,
        ended_at: Option<Timestamp>,
        max_price: Option<i64>,
        max_price_currency: String,
        lease_id: Option<String>,
        phone_number: String,
        price: i64,
        currency: String,
        failure_reason: String,
        failure_message: String,
    }

    crate::held_row!(Row, "thing");

    fn row() -> Row {
        Row {
            id: "r1".into(),
            account_id: "a1".into(),
            fingerprint: "f".into(),
            status: Status::Creating,
            settle: Settle::Nothing,
            expires_at: Timestamp::from_unix_micros(10),
            ended_at: None,
            max_price: None,
            max_price_currency: String::new(),
            lease_id: None,
            phone_number: String::new(),
            price: 0,
            currency: String::new(),
            failure_reason: String::new(),
            failure_message: String::new(),
        }
    }

    fn lease() -> Lease {
        Lease {
            id: "l1".into(),
            phone_number: "+15550100".into(),
            operator: "any".into(),
            price: 50,
            currency: "USD".into(),
        }
    }

    #[test]
    fn a_failure_releases_only_a_held_number() {
        let now = Timestamp::from_unix_micros(5);
        let refusal = Refusal::new("NO_NUMBERS_AVAILABLE", "none");
        let mut unleased = row();
        unleased.fail(&refusal, now);
        assert_eq!(unleased.stage(), Stage::Failed);
        assert_eq!(unleased.settle, Settle::Nothing);
        assert!(!unleased.owes());
        assert_eq!(unleased.ended_at, Some(now));

        let mut leased = row();
        leased.hold(lease());
        assert_eq!(
            leased.lease(),
            Some(Lease {
                operator: String::new(),
                ..lease()
            })
        );
        leased.fail(&refusal, now);
        assert_eq!(leased.settle, Settle::Release);
        assert!(leased.owes());
        assert_eq!(leased.failure(), ("NO_NUMBERS_AVAILABLE", "none"));
    }

    #[test]
    fn every_retry_of_a_failed_purchase_gets_its_refusal() {
        let mut failed = row();
        failed.fail(
            &Refusal::new("INSUFFICIENT_BALANCE", "short"),
            Timestamp::from_unix_micros(1),
        );
        let Failure::Refused(refusal) = failure_of(&failed) else {
            panic!("a refusal");
        };
        assert_eq!(refusal.reason, "INSUFFICIENT_BALANCE");

        // A client's mistake found by the catalog stays a field violation.
        let violations = vec![Violation::new("max_price", "is in another currency")];
        let mut invalid = row();
        invalid.fail(
            &Refusal::invalid(&violations),
            Timestamp::from_unix_micros(1),
        );
        assert!(matches!(failure_of(&invalid), Failure::Invalid(v) if v == violations));

        // A row failed without a reason is never answered as a success.
        let mut bare = row();
        bare.status = Status::Failed;
        let Failure::Refused(refusal) = failure_of(&bare) else {
            panic!("a refusal");
        };
        assert_eq!(refusal.reason, reason::INTERNAL_ERROR);
    }

    #[test]
    fn a_reused_request_id_is_told_from_a_retry() {
        assert_eq!(replay(row(), "f", "req").unwrap().id, "r1");
        assert!(matches!(
            replay(row(), "other", "req"),
            Err(Failure::KeyReused(_))
        ));
        assert_eq!(saga_key::<Row>("r1"), "thing:r1");
        let Some(limit) = Row {
            max_price: Some(7),
            ..row()
        }
        .max_price() else {
            panic!("a limit");
        };
        assert_eq!(limit.minor_units, 7);
        assert!(
            !Row {
                status: Status::Active,
                ..row()
            }
            .is_terminal()
        );
    }
}
