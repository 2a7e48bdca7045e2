//! The inventory of numbers and their leases.
//!
//! A number is held by at most one lease at a time: its row says when it is
//! free again (`free_at`: the lease's end, plus the quarantine after a
//! rental), and LeaseNumber takes a number only where `free_at` has passed,
//! with a conditional update under the row's lock. Leases end by Release or
//! by time; their history answers Resolve.

use std::collections::HashSet;

use numhub_runtime::clock::Timestamp;
use numhub_runtime::error::RejectionKind as _;
use sqlx::AnyConnection;

use crate::error::{Error, Rejection, RejectionKind};
use crate::model::{
    ImportProblem, ImportReport, Lease, LeaseKind, LeaseSpec, NumberImport, PhoneNumber,
    RejectedNumber,
};
use crate::store::inventory::{self as store, Candidate, NewNumber, OperatorFilter, Pick};
use crate::store::{reference, stock};
use crate::{Catalog, phone};

/// The most rows one ImportNumbers call takes.
pub const MAX_IMPORT_ROWS: usize = 10_000;
/// Rows per INSERT statement: 10 values each stays far below every
/// engine's limit on bound values.
const IMPORT_CHUNK: usize = 1_000;
/// How long LeaseNumber remembers a request id: well past the 24 hours the
/// conventions promise, and past any lease's retries.
pub const REQUEST_RETENTION: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);
/// Numbers the sweeper counts per transaction.
const SWEEP_BATCH: u32 = 500;

/// How a lease is priced: the price of each operator's numbers.
#[derive(Debug)]
struct Pricing {
    /// Numbers that may be sold, whatever they cost.
    sellable: OperatorFilter,
    /// Numbers that may be sold within the maximum price.
    affordable: OperatorFilter,
    /// The price of any operator without one of its own.
    general: Option<i64>,
    /// Operators' own prices.
    own: Vec<(String, i64)>,
}

impl Pricing {
    fn price_of(&self, operator: &str) -> Option<i64> {
        self.own
            .iter()
            .find(|(o, _)| o == operator)
            .map(|(_, p)| *p)
            .or(self.general)
    }
}

impl Catalog {
    /// Adds numbers to the inventory; rows that cannot be added are
    /// reported, never fatal to the others.
    pub async fn import_numbers(&self, rows: Vec<NumberImport>) -> Result<ImportReport, Error> {
        let mut report = ImportReport::default();
        // (row index, the number as sent, the number to insert)
        let mut accepted: Vec<(usize, String, NewNumber)> = Vec::with_capacity(rows.len());
        let mut seen = HashSet::with_capacity(rows.len());
        let mut countries = std::collections::HashMap::new();
        let mut operators = std::collections::HashMap::new();
        for (index, row) in rows.into_iter().enumerate() {
            let reject = |problem, field, description: String| RejectedNumber {
                index,
                phone_number: row.phone_number.clone(),
                problem,
                field,
                description,
            };
            let e164 = match phone::normalize(&row.phone_number) {
                Ok(e164) => e164,
                Err(e) => {
                    report
                        .rejected
                        .push(reject(ImportProblem::Invalid, "phone_number", e));
                    continue;
                }
            };
            let Some(number_type) = row.number_type else {
                let e = "is required: VOIP or NON_VOIP".to_string();
                report
                    .rejected
                    .push(reject(ImportProblem::Invalid, "number_type", e));
                continue;
            };
            if let Err(e) = crate::codes::country(&row.country_code) {
                report
                    .rejected
                    .push(reject(ImportProblem::Invalid, "country_code", e));
                continue;
            }
            if !countries.contains_key(&row.country_code) {
                let country = reference::country(self.db.reader(), &row.country_code).await?;
                countries.insert(row.country_code.clone(), country);
            }
            let Some(country) = &countries[&row.country_code] else {
                let e = format!("country {:?} is not in the catalog", row.country_code);
                report
                    .rejected
                    .push(reject(ImportProblem::Unknown, "country_code", e));
                continue;
            };
            if !e164.starts_with(&country.dial_prefix) {
                let e = format!(
                    "does not start with {}, the dial prefix of {}",
                    country.dial_prefix, country.code
                );
                report
                    .rejected
                    .push(reject(ImportProblem::Invalid, "phone_number", e));
                continue;
            }
            if !row.operator.is_empty() {
                if let Err(e) = crate::codes::operator(&row.operator) {
                    report
                        .rejected
                        .push(reject(ImportProblem::Invalid, "operator", e));
                    continue;
                }
                let key = (row.country_code.clone(), row.operator.clone());
                if !operators.contains_key(&key) {
                    let known = reference::operator(self.db.reader(), &key.0, &key.1)
                        .await?
                        .is_some();
                    operators.insert(key.clone(), known);
                }
                if !operators[&key] {
                    let e = format!(
                        "{:?} is not an operator of {}",
                        row.operator, row.country_code
                    );
                    report
                        .rejected
                        .push(reject(ImportProblem::Unknown, "operator", e));
                    continue;
                }
            }
            if let Err(e) = numhub_runtime::validate::text(&row.source, 200) {
                report
                    .rejected
                    .push(reject(ImportProblem::Invalid, "source", e));
                continue;
            }
            if !seen.insert(e164.clone()) {
                let e = "appears earlier in this request".to_string();
                report
                    .rejected
                    .push(reject(ImportProblem::AlreadyExists, "phone_number", e));
                continue;
            }
            accepted.push((
                index,
                row.phone_number.clone(),
                NewNumber {
                    id: uuid::Uuid::now_v7().to_string(),
                    e164,
                    country_code: row.country_code,
                    operator: row.operator,
                    number_type,
                    source: row.source,
                },
            ));
        }

        let now = self.clock.now();
        let mut tx = self.db.begin_write().await?;
        let mut deltas = stock::FreeDeltas::new();
        for chunk in accepted.chunks(IMPORT_CHUNK) {
            let numbers: Vec<NewNumber> = chunk.iter().map(|(_, _, n)| n.clone()).collect();
            let inserted: HashSet<String> = store::insert_numbers(&mut tx, &numbers, now)
                .await?
                .into_iter()
                .collect();
            for (index, as_sent, number) in chunk {
                if inserted.contains(&number.e164) {
                    report.imported += 1;
                    let key = (
                        number.country_code.clone(),
                        number.number_type,
                        number.operator.clone(),
                    );
                    *deltas.entry(key).or_default() += 1;
                } else {
                    report.rejected.push(RejectedNumber {
                        index: *index,
                        phone_number: as_sent.clone(),
                        problem: ImportProblem::AlreadyExists,
                        field: "phone_number",
                        description: "is already in the inventory".into(),
                    });
                }
            }
        }
        stock::add_free(&mut tx, &deltas, stock::slot()).await?;
        tx.commit().await?;
        report.rejected.sort_by_key(|r| r.index);
        Ok(report)
    }

    /// Numbers newest first, before the id `before`.
    pub async fn list_numbers(
        &self,
        country: Option<&str>,
        before: Option<&str>,
        page_size: u32,
    ) -> Result<crate::listing::Page<PhoneNumber>, Error> {
        let rows = store::list_numbers(
            self.db.reader(),
            country.unwrap_or_default(),
            before,
            page_size + 1,
        )
        .await?;
        Ok(numhub_runtime::validate::page_token::split(
            rows,
            page_size,
            |n| n.id.clone(),
        ))
    }

    /// Leases a number, idempotently by (account, request id): a retry gets
    /// the same lease, or the same refusal.
    pub async fn lease(&self, spec: &LeaseSpec) -> Result<Lease, Error> {
        let now = self.clock.now();
        let fingerprint = spec.fingerprint();
        let mut tx = self.db.begin_write().await?;
        let claimed = store::claim_request(
            &mut tx,
            &spec.account_id,
            &spec.request_id,
            &fingerprint,
            now,
        )
        .await?;
        if !claimed {
            drop(tx);
            return self.replay(spec, &fingerprint).await;
        }
        // Checked after the claim, so that a retry of a request that once
        // succeeded replays its lease even when its expiry has passed.
        if spec.expires_at <= now {
            return Err(Error::invalid("expire_time", "must be in the future"));
        }
        match self.pick_and_take(&mut tx, spec, now).await {
            Ok(lease) => {
                store::finish_request(
                    &mut tx,
                    &spec.account_id,
                    &spec.request_id,
                    Some(&lease.id),
                    None,
                )
                .await?;
                tx.commit().await?;
                Ok(lease)
            }
            Err(Error::Rejected(rejection)) => {
                let recorded = (rejection.kind.as_str(), rejection.message.as_str());
                store::finish_request(
                    &mut tx,
                    &spec.account_id,
                    &spec.request_id,
                    None,
                    Some(recorded),
                )
                .await?;
                tx.commit().await?;
                Err(rejection.into())
            }
            Err(error) => Err(error),
        }
    }

    /// The recorded answer to a request id that was used before.
    async fn replay(&self, spec: &LeaseSpec, fingerprint: &str) -> Result<Lease, Error> {
        let recorded =
            store::recorded_request(self.db.writer(), &spec.account_id, &spec.request_id)
                .await?
                .ok_or_else(|| Error::corrupt("a claimed request id has no record"))?;
        if recorded.fingerprint != fingerprint {
            return Err(Error::key_reused(&spec.request_id));
        }
        if let Some(lease_id) = recorded.lease_id {
            return store::lease(self.db.writer(), &lease_id)
                .await?
                .ok_or_else(|| {
                    Error::corrupt(format!("lease {lease_id} is recorded but missing"))
                });
        }
        let (kind, message) = recorded
            .rejection
            .ok_or_else(|| Error::corrupt("a request id has neither lease nor refusal"))?;
        Err(Rejection::stored(&kind, message)?.into())
    }

    async fn pick_and_take(
        &self,
        conn: &mut AnyConnection,
        spec: &LeaseSpec,
        now: Timestamp,
    ) -> Result<Lease, Error> {
        let pricing = self.pricing(conn, spec).await?;
        let fresh_for = match spec.kind {
            LeaseKind::Activation => spec.service_code.as_deref(),
            LeaseKind::Rental => None,
        };
        let pick = |operators| Pick {
            country_code: &spec.country_code,
            number_type: spec.number_type,
            operators,
            fresh_for,
            only_number: spec.phone_number.as_deref(),
            account_id: &spec.account_id,
            now,
        };
        let backend = self.db.backend();
        let candidate = store::pick(conn, backend, &pick(&pricing.affordable), true).await?;
        let Some(candidate) = candidate else {
            let dearer_exist = pricing.affordable != pricing.sellable
                && store::pick(conn, backend, &pick(&pricing.sellable), false)
                    .await?
                    .is_some();
            return Err(if dearer_exist {
                Rejection::new(
                    RejectionKind::PriceAboveMax,
                    "every number that qualifies costs more than max_price",
                )
            } else {
                Rejection::new(
                    RejectionKind::NoNumbersAvailable,
                    format!("no number of {} is available right now", spec.country_code),
                )
            }
            .into());
        };
        let price = pricing
            .price_of(&candidate.operator)
            .ok_or_else(|| Error::corrupt("a picked number has no price"))?;
        self.take(conn, spec, candidate, price, now).await
    }

    /// Gives the candidate to a new lease and keeps the counters in step.
    async fn take(
        &self,
        conn: &mut AnyConnection,
        spec: &LeaseSpec,
        number: Candidate,
        price: i64,
        now: Timestamp,
    ) -> Result<Lease, Error> {
        let lease = Lease {
            id: uuid::Uuid::now_v7().to_string(),
            kind: spec.kind,
            number_id: number.id.clone(),
            phone_number: number.e164.clone(),
            country_code: number.country_code.clone(),
            operator: number.operator.clone(),
            number_type: number.number_type,
            account_id: spec.account_id.clone(),
            holder_id: spec.holder_id.clone(),
            service_code: spec.service_code.clone().unwrap_or_default(),
            rental_duration: spec.rental_duration,
            price,
            currency: self.currency().to_owned(),
            started_at: now,
            expires_at: spec.expires_at,
            released_at: None,
        };
        let free_at = self.free_at(lease.kind, lease.expires_at);
        if !store::take(conn, &number.id, &lease.id, free_at, now).await? {
            // The row was locked (PostgreSQL) or the writer held
            // (SQLite) from the pick on: nobody can have taken it.
            return Err(Error::corrupt(format!(
                "number {} was taken under its lock",
                number.id
            )));
        }
        if number.counted_free {
            let slot = stock::slot();
            let key = (
                number.country_code.clone(),
                number.number_type,
                number.operator.clone(),
            );
            stock::add_free(conn, &[(key, -1)].into_iter().collect(), slot).await?;
            stock::add_used(conn, std::slice::from_ref(&number.id), -1, slot).await?;
        }
        if !lease.service_code.is_empty() {
            store::add_usage(
                conn,
                &number.id,
                &lease.service_code,
                &lease.account_id,
                now,
            )
            .await?;
        }
        store::insert_lease(conn, &lease).await?;
        Ok(lease)
    }

    /// Which numbers may be sold for `spec`, and at what price.
    async fn pricing(&self, conn: &mut AnyConnection, spec: &LeaseSpec) -> Result<Pricing, Error> {
        let not_found = |what: &str, code: &str| {
            Rejection::new(
                RejectionKind::NotFound,
                format!("{what} {code:?} not found"),
            )
        };
        let rental = match spec.kind {
            LeaseKind::Activation => None,
            LeaseKind::Rental => Some(
                spec.number_type
                    .zip(spec.rental_duration)
                    .ok_or_else(|| Error::invalid("rental_duration", "is required for a rental"))?,
            ),
        };
        let service = spec.service_code.as_deref().unwrap_or_default();
        let terms = reference::lease_terms(&mut *conn, &spec.country_code, service, rental).await?;
        if terms.country_disabled != Some(false) {
            return Err(not_found("country", &spec.country_code).into());
        }
        if !service.is_empty() && terms.service_disabled != Some(false) {
            return Err(not_found("service", service).into());
        }
        let disabled = terms.disabled_operators;
        let (general, own) = match spec.kind {
            LeaseKind::Activation => {
                let general = terms
                    .prices
                    .iter()
                    .find(|(operator, _)| operator.is_empty())
                    .map(|(_, price)| *price);
                let own = terms
                    .prices
                    .into_iter()
                    .filter(|(operator, _)| !operator.is_empty())
                    .collect();
                (general, own)
            }
            LeaseKind::Rental => {
                // A service's own plan replaces the general one.
                let plan = terms
                    .prices
                    .iter()
                    .max_by_key(|(service, _)| !service.is_empty());
                (plan.map(|(_, price)| *price), Vec::new())
            }
        };
        if general.is_none() && own.is_empty() {
            return Err(Rejection::new(
                RejectionKind::NotOffered,
                format!("nothing of this kind is for sale in {}", spec.country_code),
            )
            .into());
        }
        let mut pricing = Pricing {
            sellable: OperatorFilter::AllExcept(Vec::new()),
            affordable: OperatorFilter::AllExcept(Vec::new()),
            general,
            own,
        };
        let within = |price: i64| spec.max_price.is_none_or(|max| price <= max);
        let usable = |operator: &str| !disabled.iter().any(|d| d == operator);
        if let Some(operator) = &spec.operator {
            let price = pricing.price_of(operator);
            let Some(price) = price else {
                return Err(Rejection::new(
                    RejectionKind::NotOffered,
                    format!("nothing of this kind is for sale from {operator}"),
                )
                .into());
            };
            let only =
                |ok: bool| OperatorFilter::Only(if ok { vec![operator.clone()] } else { vec![] });
            pricing.sellable = only(usable(operator));
            pricing.affordable = only(usable(operator) && within(price));
            return Ok(pricing);
        }
        let priced: Vec<&(String, i64)> = pricing.own.iter().filter(|(o, _)| usable(o)).collect();
        pricing.sellable = match general {
            Some(_) => OperatorFilter::AllExcept(disabled.clone()),
            None => OperatorFilter::Only(priced.iter().map(|(o, _)| o.clone()).collect()),
        };
        pricing.affordable = match general {
            Some(price) if within(price) => {
                let mut except = disabled.clone();
                except.extend(
                    priced
                        .iter()
                        .filter(|(_, p)| !within(*p))
                        .map(|(o, _)| o.clone()),
                );
                OperatorFilter::AllExcept(except)
            }
            _ => OperatorFilter::Only(
                priced
                    .iter()
                    .filter(|(_, p)| within(*p))
                    .map(|(o, _)| o.clone())
                    .collect(),
            ),
        };
        Ok(pricing)
    }

    /// When a number is free again after a lease that ends at `end`.
    fn free_at(&self, kind: LeaseKind, end: Timestamp) -> Timestamp {
        match kind {
            LeaseKind::Activation => end,
            LeaseKind::Rental => end.plus(self.settings.quarantine),
        }
    }

    pub async fn get_lease(&self, id: &str) -> Result<Lease, Error> {
        store::lease(self.db.reader(), id)
            .await?
            .ok_or_else(|| Error::not_found("lease", id))
    }

    /// Ends a lease now. An activation's number is free at once, a rental's
    /// after the quarantine. An ended lease is returned unchanged.
    pub async fn release(&self, id: &str, unused: bool) -> Result<Lease, Error> {
        let now = self.clock.now();
        let mut tx = self.db.begin_write().await?;
        let lease = store::lease(&mut *tx, id)
            .await?
            .ok_or_else(|| Error::not_found("lease", id))?;
        if !store::end_lease(&mut tx, id, now).await? {
            drop(tx);
            return self.get_lease(id).await;
        }
        // Before the counters below count the number's uses: a forgotten
        // use is not counted.
        if unused && lease.kind == LeaseKind::Activation {
            store::forget_usage(&mut tx, &lease).await?;
        }
        // A rental that never held the number for its customer (a failed
        // purchase) received no SMS: nothing to rest from.
        let free_at = if unused {
            now
        } else {
            self.free_at(lease.kind, now)
        };
        if store::set_free_at(&mut tx, &lease.number_id, id, free_at).await?
            && store::mark_counted_free(&mut tx, &lease.number_id, now).await?
        {
            let slot = stock::slot();
            let key = (
                lease.country_code.clone(),
                lease.number_type,
                lease.operator.clone(),
            );
            stock::add_free(&mut tx, &[(key, 1)].into_iter().collect(), slot).await?;
            stock::add_used(&mut tx, std::slice::from_ref(&lease.number_id), 1, slot).await?;
        }
        tx.commit().await?;
        Ok(Lease {
            released_at: Some(now),
            ..lease
        })
    }

    /// Leases holding their number now, after the id `after`, oldest first.
    pub async fn active_leases(&self, after: &str, limit: u32) -> Result<Vec<Lease>, Error> {
        store::active_leases(self.db.reader(), after, self.clock.now(), limit).await
    }

    /// Moves the end of an active lease later.
    pub async fn extend(&self, id: &str, until: Timestamp) -> Result<Lease, Error> {
        let now = self.clock.now();
        let mut tx = self.db.begin_write().await?;
        let lease = store::lease(&mut *tx, id)
            .await?
            .ok_or_else(|| Error::not_found("lease", id))?;
        if lease.released_at.is_some() || lease.expires_at <= now {
            return Err(Error::lease_ended(id));
        }
        if until < lease.expires_at {
            return Err(Error::invalid(
                "expire_time",
                "must not be before the lease's current end",
            ));
        }
        if until == lease.expires_at {
            return Ok(lease);
        }
        // Both updates are guarded: a concurrent Release, or a replica whose
        // clock already saw the lease expire and leased the number again,
        // makes this one fail instead of holding the number twice.
        let extended = store::extend_lease(&mut tx, id, until, now).await?
            && store::set_free_at(
                &mut tx,
                &lease.number_id,
                id,
                self.free_at(lease.kind, until),
            )
            .await?;
        if !extended {
            return Err(Error::lease_ended(id));
        }
        tx.commit().await?;
        Ok(Lease {
            expires_at: until,
            ..lease
        })
    }

    /// Records that an account never wants `e164` again.
    pub async fn mark_skipped(&self, account_id: &str, e164: &str) -> Result<(), Error> {
        let number = store::number_id(self.db.reader(), e164)
            .await?
            .ok_or_else(|| Error::not_found("phone number", e164))?;
        store::add_skip(self.db.writer(), account_id, &number, self.clock.now()).await?;
        Ok(())
    }

    /// The lease that held `e164` at `at`.
    pub async fn resolve(&self, e164: &str, at: Timestamp) -> Result<Lease, Error> {
        store::lease_at(self.db.reader(), e164, at)
            .await?
            .ok_or_else(|| Error::not_found("lease of phone number at that time", e164))
    }

    pub async fn record_arrival(
        &self,
        service: &str,
        country: &str,
        arrival_ms: i64,
    ) -> Result<(), Error> {
        self.known_service(service).await?;
        self.known_country(country).await?;
        stock::record_arrival(self.db.writer(), service, country, arrival_ms).await?;
        Ok(())
    }

    /// Forgets LeaseNumber idempotency keys older than `REQUEST_RETENTION`;
    /// returns how many.
    pub async fn purge_requests(&self) -> Result<u64, Error> {
        let cutoff = self.clock.now().minus(REQUEST_RETENTION);
        Ok(store::purge_requests(self.db.writer(), cutoff).await?)
    }

    /// Counts as free every number whose lease (or quarantine) ended by
    /// time; returns how many. The stock listings lag by at most one sweep.
    pub async fn sweep(&self) -> Result<usize, Error> {
        let mut total = 0;
        loop {
            let now = self.clock.now();
            let mut tx = self.db.begin_write().await?;
            let freed =
                store::count_newly_free(&mut tx, self.db.backend(), now, SWEEP_BATCH).await?;
            if freed.is_empty() {
                return Ok(total);
            }
            let mut deltas = stock::FreeDeltas::new();
            for n in &freed {
                *deltas
                    .entry((n.country_code.clone(), n.number_type, n.operator.clone()))
                    .or_default() += 1;
            }
            let ids: Vec<String> = freed.iter().map(|n| n.id.clone()).collect();
            let slot = stock::slot();
            stock::add_free(&mut tx, &deltas, slot).await?;
            stock::add_used(&mut tx, &ids, 1, slot).await?;
            tx.commit().await?;
            total += freed.len();
            if freed.len() < SWEEP_BATCH as usize {
                return Ok(total);
            }
        }
    }
}
