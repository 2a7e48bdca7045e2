//! A service of held rows (orders, rentals): what it gives, and what it
//! gets for it.

use std::time::Duration;

use numhub_otp::Extraction;
use numhub_proto::catalog::v1 as catalog_pb;
use numhub_proto::wallet::v1 as wallet_pb;
use numhub_runtime::error::{Failure, error_chain};
use numhub_runtime::event_log::NewEvent;
use numhub_runtime::parse::HandedOn;
use numhub_runtime::streams::{self, Hub, ResponseStream};
use numhub_runtime::tokens::TokenScope;
use numhub_runtime::validate::Validator;
use numhub_runtime::workers::Workers;

use crate::core::{Core, EventStream, Watched};
use crate::events::EventBody;
use crate::held::{Held, HeldId};
use crate::messages::Message;
use crate::purchase::Bought;
use crate::store::Store;

/// The row a holder holds.
pub type Row<H> = <<H as Holder>::Store as Store>::Held;

/// A service of held rows. It gives its core, how it settles an ended row
/// and how it reads a lease refusal; it gets the purchase saga
/// ([`crate::purchase`]), reads, streams and settlement around them.
pub trait Holder: Send + Sync {
    type Store: Store<Held: Bought>;

    fn core(&self) -> &Core<Self::Store>;

    /// Pays what an ended row owes (refunds, the release of its number),
    /// each step idempotent, then clears the debt.
    fn settle(&self, row: &Row<Self>) -> impl Future<Output = Result<(), Failure>> + Send;

    /// A catalog refusal of a lease as this service tells it.
    fn lease_refused(&self, _row: &Row<Self>, failure: Failure) -> Failure {
        failure
    }

    /// Settles, logging a failure: the settlement worker will try again.
    fn settle_logged(&self, row: &Row<Self>) -> impl Future<Output = ()> + Send {
        async move {
            if let Err(error) = self.settle(row).await {
                tracing::warn!(
                    id = %row.id(),
                    kind = Row::<Self>::NOUN,
                    error = %error_chain(&error),
                    "cannot settle yet; the settlement worker will"
                );
            }
        }
    }

    /// After an end (`changed`, or found owing): settles at once, a failure
    /// left to the worker, and answers the row as it is then.
    fn after_end(
        &self,
        row: Row<Self>,
        changed: bool,
    ) -> impl Future<Output = Result<Row<Self>, Failure>> + Send {
        async move {
            if changed || row.owes() {
                self.settle_logged(&row).await;
                return self.get(row.account_id(), &HeldId::of(&row)).await;
            }
            Ok(row)
        }
    }

    /// Reads a row of the account, by either of its ids; NOT_FOUND for
    /// another's.
    fn get(
        &self,
        account_id: &str,
        id: &HeldId,
    ) -> impl Future<Output = Result<Row<Self>, Failure>> + Send {
        self.core().get(account_id, id)
    }

    /// The events of `watched` after `cursor` (0: from the start), then
    /// live ones.
    fn watch(&self, account_id: &str, watched: Watched, cursor: i64) -> EventStream<Row<Self>> {
        self.core().watch(account_id, watched, cursor)
    }

    /// A Watch RPC of the caller's row `id` (either of its ids: field
    /// `id`) from the cursor `after` (issued for `method` and that `id` as
    /// spelled, so it is checked before the row is read): NOT_FOUND up
    /// front for another account's id rather than an empty stream, then
    /// each event as `to_proto` makes it of its cursor and body.
    fn watch_one<P: Send + 'static>(
        &self,
        account_id: &str,
        method: &str,
        (id, after): (&str, &str),
        to_proto: impl Fn(String, EventBody<Row<Self>>) -> P + Send + 'static,
    ) -> impl Future<Output = Result<ResponseStream<P>, Failure>> + Send {
        let scope = TokenScope::new(method, account_id).filter("id", id);
        let tokens = self.core().tokens.clone();
        let mut v = Validator::new();
        let id = v.check("id", HeldId::parse(id));
        let after = v.check("after", streams::parse_cursor(&tokens, &scope, after));
        let watch = v
            .finish_with(|| Some((id?, after?)))
            .map_err(Failure::Invalid);
        let account_id = account_id.to_owned();
        async move {
            let (id, after) = watch?;
            let row = self.get(&account_id, &id).await?;
            let events = self.watch(&account_id, Watched::One(row.id().to_owned()), after);
            Ok(streams::respond(events, move |event| {
                let cursor = streams::encode_cursor(&tokens, &scope, event.seq);
                Some(to_proto(cursor, event.body))
            }))
        }
    }

    /// The message already stored for `inbound_id`, if any; one stored
    /// for another row than `holder_id` is a reused key.
    fn delivered(
        &self,
        inbound_id: &str,
        holder_id: &str,
    ) -> impl Future<Output = Result<Option<Message>, Failure>> + Send {
        async move {
            let messages = <Self::Store as Store>::MESSAGES;
            let Some(stored) = messages
                .by_inbound(self.core().db.writer(), inbound_id)
                .await?
            else {
                return Ok(None);
            };
            if stored.holder_id != holder_id {
                return Err(Failure::key_reused(inbound_id));
            }
            Ok(Some(stored))
        }
    }

    /// Stores an SMS handed on for one of the rows and wakes the row's
    /// streams. Idempotent by the inbound id: a redelivery, even a
    /// concurrent one, gets the stored message (and no row). Under the
    /// account's lock, `accept` sees the row, the SMS and what it says
    /// (its code, its brand), and refuses it, or takes it: it counts it on
    /// the row and says whether the row's status changed.
    fn store_delivery<F>(
        &self,
        delivery: &HandedOn,
        accept: F,
    ) -> impl Future<Output = Result<(Message, Option<Row<Self>>), Failure>> + Send
    where
        F: FnOnce(&mut Row<Self>, &HandedOn, &Extraction) -> Result<bool, Failure> + Send,
    {
        async move {
            let (inbound_id, holder_id) = (&delivery.inbound_id, &delivery.holder_id);
            if let Some(stored) = self.delivered(inbound_id, holder_id).await? {
                return Ok((stored, None));
            }
            let core = self.core();
            // The account never changes, so it is read before taking its lock.
            let account_id = <Self::Store as Store>::load(core.db.reader(), holder_id)
                .await?
                .ok_or_else(|| Failure::not_found(Row::<Self>::NOUN, holder_id))?
                .account_id()
                .to_owned();
            let sender = Some(delivery.sender.as_str()).filter(|s| !s.is_empty());
            let extraction = numhub_otp::extract(&delivery.body, sender);
            let now = core.now();

            let mut tx = core.db.begin_write().await?;
            // A message and maybe a status change: two sequence numbers.
            let seq = <Self::Store as Store>::LOG
                .lock_account(&mut tx, &account_id, 2)
                .await?;
            let mut row = <Self::Store as Store>::load(&mut *tx, holder_id)
                .await?
                .ok_or_else(|| Failure::corrupt(format!("a {} vanished", Row::<Self>::NOUN)))?;
            let changed = accept(&mut row, delivery, &extraction)?;
            let messages = <Self::Store as Store>::MESSAGES;
            let brand = extraction.brand.as_ref().map(|b| b.code);
            let message = Message {
                id: uuid::Uuid::now_v7().to_string(),
                holder_id: holder_id.clone(),
                account_id: account_id.clone(),
                inbound_id: inbound_id.clone(),
                phone_number: row.phone_number().to_owned(),
                sender: delivery.sender.clone(),
                body: delivery.body.clone(),
                code: extraction.code.clone().unwrap_or_default(),
                service_code: brand
                    .filter(|_| messages.service_code)
                    .unwrap_or_default()
                    .to_owned(),
                received_at: delivery.received_at,
            };
            if !messages.insert(&mut tx, &message, now).await? {
                // A concurrent redelivery stored it first.
                drop(tx);
                let stored = self.delivered(inbound_id, holder_id).await?;
                let stored =
                    stored.ok_or_else(|| Failure::corrupt("a stored inbound id has no message"))?;
                return Ok((stored, None));
            }
            let claim = row.owes().then(|| core.claim_until(now));
            <Self::Store as Store>::update(&mut tx, &row, claim).await?;
            let mut events = vec![NewEvent::message(&message.id)];
            if changed {
                events.push(NewEvent::change(row.status_number()));
            }
            <Self::Store as Store>::LOG
                .commit(tx, core.hub(), &account_id, holder_id, seq, &events, now)
                .await?;
            Ok((message, Some(row)))
        }
    }

    /// Starts the service's worker `pass` under `workers` every `interval`
    /// (10 ms at the least), pruning the stream hub before each, and, on
    /// PostgreSQL (`database_url`), the listener for other processes'
    /// notifications on `channel`. `names`: the listener's and the
    /// workers'.
    fn start_workers_every<P, Fut, Done>(
        &self,
        workers: &Workers,
        database_url: Option<String>,
        (channel, names): (&'static str, [&'static str; 2]),
        interval: Duration,
        pass: P,
    ) where
        Self: Clone + 'static,
        P: Fn(Self) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<Done, Failure>> + Send + 'static,
        Done: std::fmt::Debug + Default + PartialEq,
    {
        let [listener, worker] = names;
        self.core()
            .listen_for_others(workers, listener, database_url, channel);
        let holder = self.clone();
        let interval = interval.max(Duration::from_millis(10));
        workers.spawn_every(worker, interval, move || {
            let (holder, pass) = (holder.clone(), pass.clone());
            async move {
                holder.core().hub().prune();
                let done = pass(holder).await?;
                if done != Done::default() {
                    tracing::debug!(pass = ?done, "workers");
                }
                Ok::<_, Failure>(())
            }
        });
    }

    /// Ends every stream with UNAVAILABLE (resume elsewhere with the
    /// cursor): called when shutdown begins.
    fn close_streams(&self) {
        self.core().close_streams();
    }

    /// The process's wake-ups, for tests and metrics.
    fn hub(&self) -> &Hub {
        self.core().hub()
    }

    /// Refunds the debit `debit_id` in whole under the wallet's key `key`
    /// (a replay when it was already refunded); the refund's ledger entry.
    fn refund(
        &self,
        debit_id: &str,
        key: String,
        reason: String,
    ) -> impl Future<Output = Result<Option<wallet_pb::Transaction>, Failure>> + Send {
        let request = wallet_pb::RefundRequest {
            debit_transaction_id: debit_id.to_owned(),
            amount: None,
            request_id: key,
            reason,
        };
        let mut wallet = self.core().upstream.wallet.clone();
        async move {
            let response = wallet
                .refund(request)
                .await
                .map_err(|status| Failure::from_upstream("wallet", &status, &[]))?;
            Ok(response.into_inner().transaction)
        }
    }

    /// Gives a leased number back to the catalog (idempotent); `unused`
    /// when it was never paid for nor shown, so it skips quarantine.
    fn release(
        &self,
        lease_id: &str,
        unused: bool,
    ) -> impl Future<Output = Result<(), Failure>> + Send {
        let request = catalog_pb::ReleaseRequest {
            lease_id: lease_id.to_owned(),
            unused,
        };
        let mut catalog = self.core().upstream.catalog.clone();
        async move {
            catalog
                .release(request)
                .await
                .map_err(|status| Failure::from_upstream("catalog", &status, &[]))?;
            Ok(())
        }
    }
}
