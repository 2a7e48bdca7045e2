//! Services, countries, operators, activation prices and rental plans.

use numhub_runtime::clock::Timestamp;
use sqlx::any::AnyRow;
use sqlx::{Any, AssertSqlSafe, Executor, Row};

use super::{duration, flag, number_type, ts};
use crate::error::Error;
use crate::model::{
    ActivationPrice, Country, NumberType, Operator, RentalDuration, RentalPlan, Service,
};

/// Whether an upsert replaces an existing row or leaves it alone (the seed
/// never overwrites an operator's edits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    Replace,
    Keep,
}

pub async fn put_service<'e>(
    db: impl Executor<'e, Database = Any>,
    s: &Service,
    now: Timestamp,
    on_conflict: OnConflict,
) -> Result<(), sqlx::Error> {
    let conflict = match on_conflict {
        OnConflict::Replace => {
            "DO UPDATE SET name = excluded.name, domain = excluded.domain, \
             disabled = excluded.disabled, updated_at = excluded.updated_at"
        }
        OnConflict::Keep => "DO NOTHING",
    };
    let sql = format!(
        "INSERT INTO services (code, name, domain, disabled, updated_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (code) {conflict}"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(&s.code)
        .bind(&s.name)
        .bind(&s.domain)
        .bind(i64::from(s.disabled))
        .bind(now.unix_micros())
        .execute(db)
        .await?;
    Ok(())
}

pub async fn put_country<'e>(
    db: impl Executor<'e, Database = Any>,
    c: &Country,
    now: Timestamp,
    on_conflict: OnConflict,
) -> Result<(), sqlx::Error> {
    let conflict = match on_conflict {
        OnConflict::Replace => {
            "ON CONFLICT (code) DO UPDATE SET name = excluded.name, \
             dial_prefix = excluded.dial_prefix, activate_id = excluded.activate_id, \
             disabled = excluded.disabled, updated_at = excluded.updated_at"
        }
        // Neither the code nor the activate id of an existing row.
        OnConflict::Keep => "ON CONFLICT DO NOTHING",
    };
    let sql = format!(
        "INSERT INTO countries (code, name, dial_prefix, activate_id, disabled, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) {conflict}"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(&c.code)
        .bind(&c.name)
        .bind(&c.dial_prefix)
        .bind(i64::from(c.activate_id))
        .bind(i64::from(c.disabled))
        .bind(now.unix_micros())
        .execute(db)
        .await?;
    Ok(())
}

pub async fn put_operator<'e>(
    db: impl Executor<'e, Database = Any>,
    o: &Operator,
    now: Timestamp,
    on_conflict: OnConflict,
) -> Result<(), sqlx::Error> {
    let conflict = match on_conflict {
        OnConflict::Replace => {
            "DO UPDATE SET name = excluded.name, disabled = excluded.disabled, \
             updated_at = excluded.updated_at"
        }
        OnConflict::Keep => "DO NOTHING",
    };
    let sql = format!(
        "INSERT INTO operators (country_code, code, name, disabled, updated_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (country_code, code) {conflict}"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(&o.country_code)
        .bind(&o.code)
        .bind(&o.name)
        .bind(i64::from(o.disabled))
        .bind(now.unix_micros())
        .execute(db)
        .await?;
    Ok(())
}

fn service_row(row: &AnyRow) -> Result<Service, sqlx::Error> {
    Ok(Service {
        code: row.try_get("code")?,
        name: row.try_get("name")?,
        domain: row.try_get("domain")?,
        disabled: flag(row, "disabled")?,
    })
}

const COUNTRY_COLUMNS: &str = "c.code, c.name, c.dial_prefix, c.activate_id, c.disabled";

pub(super) fn country_row(row: &AnyRow) -> Result<Country, Error> {
    let activate_id: i64 = row.try_get("activate_id")?;
    Ok(Country {
        code: row.try_get("code")?,
        name: row.try_get("name")?,
        dial_prefix: row.try_get("dial_prefix")?,
        activate_id: i32::try_from(activate_id)
            .map_err(|_| Error::corrupt(format!("activate_id {activate_id}")))?,
        disabled: flag(row, "disabled")?,
    })
}

fn operator_row(row: &AnyRow) -> Result<Operator, sqlx::Error> {
    Ok(Operator {
        country_code: row.try_get("country_code")?,
        code: row.try_get("code")?,
        name: row.try_get("name")?,
        disabled: flag(row, "disabled")?,
    })
}

pub async fn service<'e>(
    db: impl Executor<'e, Database = Any>,
    code: &str,
) -> Result<Option<Service>, sqlx::Error> {
    sqlx::query("SELECT code, name, domain, disabled FROM services WHERE code = $1")
        .bind(code)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(service_row)
        .transpose()
}

/// Enabled services after `after` in code order.
pub async fn list_services<'e>(
    db: impl Executor<'e, Database = Any>,
    after: &str,
    limit: u32,
) -> Result<Vec<Service>, sqlx::Error> {
    sqlx::query(
        "SELECT code, name, domain, disabled FROM services \
         WHERE disabled = 0 AND code > $1 ORDER BY code LIMIT $2",
    )
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(db)
    .await?
    .iter()
    .map(service_row)
    .collect()
}

pub async fn country<'e>(
    db: impl Executor<'e, Database = Any>,
    code: &str,
) -> Result<Option<Country>, Error> {
    let sql = format!("SELECT {COUNTRY_COLUMNS} FROM countries c WHERE c.code = $1");
    sqlx::query(AssertSqlSafe(sql))
        .bind(code)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(country_row)
        .transpose()
}

/// The country holding `activate_id`, if any.
pub async fn country_by_activate_id<'e>(
    db: impl Executor<'e, Database = Any>,
    activate_id: i32,
) -> Result<Option<Country>, Error> {
    let sql = format!("SELECT {COUNTRY_COLUMNS} FROM countries c WHERE c.activate_id = $1");
    sqlx::query(AssertSqlSafe(sql))
        .bind(i64::from(activate_id))
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(country_row)
        .transpose()
}

/// Enabled countries after `after` with at least one rental plan.
pub async fn countries_with_plans<'e>(
    db: impl Executor<'e, Database = Any>,
    after: &str,
    limit: u32,
) -> Result<Vec<Country>, Error> {
    let sql = format!(
        "SELECT {COUNTRY_COLUMNS} FROM countries c \
         WHERE c.disabled = 0 AND c.code > $1 \
         AND EXISTS (SELECT 1 FROM rental_plans r WHERE r.country_code = c.code) \
         ORDER BY c.code LIMIT $2"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(db)
        .await?
        .iter()
        .map(country_row)
        .collect()
}

pub async fn operator<'e>(
    db: impl Executor<'e, Database = Any>,
    country: &str,
    code: &str,
) -> Result<Option<Operator>, sqlx::Error> {
    sqlx::query(
        "SELECT country_code, code, name, disabled FROM operators \
         WHERE country_code = $1 AND code = $2",
    )
    .bind(country)
    .bind(code)
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(operator_row)
    .transpose()
}

/// Every operator of a country, disabled ones too, in code order.
pub async fn operators<'e>(
    db: impl Executor<'e, Database = Any>,
    country: &str,
) -> Result<Vec<Operator>, sqlx::Error> {
    sqlx::query(
        "SELECT country_code, code, name, disabled FROM operators \
         WHERE country_code = $1 ORDER BY code",
    )
    .bind(country)
    .fetch_all(db)
    .await?
    .iter()
    .map(operator_row)
    .collect()
}

const PRICE_COLUMNS: &str =
    "p.service_code, p.country_code, p.operator, p.price, p.currency, p.updated_at";

fn price_row(row: &AnyRow) -> Result<ActivationPrice, sqlx::Error> {
    Ok(ActivationPrice {
        service_code: row.try_get("service_code")?,
        country_code: row.try_get("country_code")?,
        operator: row.try_get("operator")?,
        price: row.try_get("price")?,
        currency: row.try_get("currency")?,
        updated_at: ts(row, "updated_at")?,
    })
}

pub async fn set_activation_price<'e>(
    db: impl Executor<'e, Database = Any>,
    p: &ActivationPrice,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO activation_prices \
         (service_code, country_code, operator, price, currency, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (service_code, country_code, operator) DO UPDATE SET \
         price = excluded.price, currency = excluded.currency, updated_at = excluded.updated_at",
    )
    .bind(&p.service_code)
    .bind(&p.country_code)
    .bind(&p.operator)
    .bind(p.price)
    .bind(&p.currency)
    .bind(p.updated_at.unix_micros())
    .execute(db)
    .await?;
    Ok(())
}

pub async fn delete_activation_price<'e>(
    db: impl Executor<'e, Database = Any>,
    service: &str,
    country: &str,
    operator: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM activation_prices \
         WHERE service_code = $1 AND country_code = $2 AND operator = $3",
    )
    .bind(service)
    .bind(country)
    .bind(operator)
    .execute(db)
    .await?;
    Ok(())
}

/// Prices of enabled services and countries after the key `after`
/// (service, country, operator), optionally of one service or country.
pub async fn list_prices<'e>(
    db: impl Executor<'e, Database = Any>,
    service: &str,
    country: &str,
    after: (&str, &str, &str),
    limit: u32,
) -> Result<Vec<ActivationPrice>, sqlx::Error> {
    let sql = format!(
        "SELECT {PRICE_COLUMNS} FROM activation_prices p \
         JOIN services s ON s.code = p.service_code \
         JOIN countries c ON c.code = p.country_code \
         WHERE s.disabled = 0 AND c.disabled = 0 \
         AND ($1 = '' OR p.service_code = $1) AND ($2 = '' OR p.country_code = $2) \
         AND (p.service_code, p.country_code, p.operator) > ($3, $4, $5) \
         ORDER BY p.service_code, p.country_code, p.operator LIMIT $6"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(service)
        .bind(country)
        .bind(after.0)
        .bind(after.1)
        .bind(after.2)
        .bind(i64::from(limit))
        .fetch_all(db)
        .await?
        .iter()
        .map(price_row)
        .collect()
}

fn plan_row(row: &AnyRow) -> Result<RentalPlan, Error> {
    Ok(RentalPlan {
        country_code: row.try_get("country_code")?,
        number_type: number_type(row, "number_type")?,
        service_code: row.try_get("service_code")?,
        duration: duration(row, "duration")?,
        price: row.try_get("price")?,
        original_price: row.try_get("original_price")?,
        currency: row.try_get("currency")?,
        updated_at: ts(row, "updated_at")?,
    })
}

pub async fn set_rental_plan<'e>(
    db: impl Executor<'e, Database = Any>,
    p: &RentalPlan,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO rental_plans (country_code, number_type, service_code, duration, price, \
         original_price, currency, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (country_code, number_type, service_code, duration) DO UPDATE SET \
         price = excluded.price, original_price = excluded.original_price, \
         currency = excluded.currency, updated_at = excluded.updated_at",
    )
    .bind(&p.country_code)
    .bind(p.number_type as i64)
    .bind(&p.service_code)
    .bind(p.duration as i64)
    .bind(p.price)
    .bind(p.original_price)
    .bind(&p.currency)
    .bind(p.updated_at.unix_micros())
    .execute(db)
    .await?;
    Ok(())
}

pub async fn delete_rental_plan<'e>(
    db: impl Executor<'e, Database = Any>,
    country: &str,
    number_type: NumberType,
    service: &str,
    duration: RentalDuration,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM rental_plans WHERE country_code = $1 AND number_type = $2 \
         AND service_code = $3 AND duration = $4",
    )
    .bind(country)
    .bind(number_type as i64)
    .bind(service)
    .bind(duration as i64)
    .execute(db)
    .await?;
    Ok(())
}

/// A country's plans: the general ones, and `service`'s own if it is not
/// empty.
pub async fn rental_plans<'e>(
    db: impl Executor<'e, Database = Any>,
    country: &str,
    service: &str,
) -> Result<Vec<RentalPlan>, Error> {
    sqlx::query(
        "SELECT country_code, number_type, service_code, duration, price, original_price, \
         currency, updated_at FROM rental_plans \
         WHERE country_code = $1 AND (service_code = '' OR service_code = $2) \
         ORDER BY number_type, duration, service_code",
    )
    .bind(country)
    .bind(service)
    .fetch_all(db)
    .await?
    .iter()
    .map(plan_row)
    .collect()
}

/// What LeaseNumber needs to know of the reference data, read at once.
#[derive(Debug, Default)]
pub struct LeaseTerms {
    /// `Some(disabled)` when the country exists.
    pub country_disabled: Option<bool>,
    /// `Some(disabled)` when the service exists.
    pub service_disabled: Option<bool>,
    pub disabled_operators: Vec<String>,
    /// For an activation, (operator, price) of every price of the service
    /// in the country; for a rental, (service, price) of the plans of the
    /// number type and duration, general ('') and the service's own.
    pub prices: Vec<(String, i64)>,
}

/// The country, the service, the disabled operators and the prices of a
/// lease, in one round trip: a lease holds its number's lock meanwhile.
pub async fn lease_terms<'e>(
    db: impl Executor<'e, Database = Any>,
    country: &str,
    service: &str,
    rental: Option<(NumberType, RentalDuration)>,
) -> Result<LeaseTerms, sqlx::Error> {
    let prices = match rental {
        None => {
            "SELECT 'price' AS kind, operator AS code, price AS value FROM activation_prices \
             WHERE service_code = $2 AND country_code = $1"
        }
        Some(_) => {
            "SELECT 'price' AS kind, service_code AS code, price AS value FROM rental_plans \
             WHERE country_code = $1 AND number_type = $3 AND duration = $4 \
             AND (service_code = '' OR service_code = $2)"
        }
    };
    let sql = format!(
        "SELECT 'country' AS kind, code, disabled AS value FROM countries WHERE code = $1 \
         UNION ALL SELECT 'service', code, disabled FROM services WHERE code = $2 \
         UNION ALL SELECT 'operator', code, disabled FROM operators \
                   WHERE country_code = $1 AND disabled = 1 \
         UNION ALL {prices}"
    );
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(country).bind(service);
    if let Some((number_type, duration)) = rental {
        query = query.bind(number_type as i64).bind(duration as i64);
    }
    let mut terms = LeaseTerms::default();
    for row in query.fetch_all(db).await? {
        let kind: String = row.try_get("kind")?;
        let code: String = row.try_get("code")?;
        let value: i64 = row.try_get("value")?;
        match kind.as_str() {
            "country" => terms.country_disabled = Some(value != 0),
            "service" => terms.service_disabled = Some(value != 0),
            "operator" => terms.disabled_operators.push(code),
            _ => terms.prices.push((code, value)),
        }
    }
    Ok(terms)
}
