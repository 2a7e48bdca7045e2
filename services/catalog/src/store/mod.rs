//! The catalog's SQL, one text for PostgreSQL and SQLite (with a row lock
//! clause added on PostgreSQL only).

pub mod inventory;
pub mod reference;
pub mod stock;

use numhub_runtime::clock::Timestamp;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::Error;
use crate::model::{NumberType, RentalDuration};

fn ts(row: &AnyRow, column: &str) -> Result<Timestamp, sqlx::Error> {
    Ok(Timestamp::from_unix_micros(row.try_get(column)?))
}

fn opt_ts(row: &AnyRow, column: &str) -> Result<Option<Timestamp>, sqlx::Error> {
    Ok(row
        .try_get::<Option<i64>, _>(column)?
        .map(Timestamp::from_unix_micros))
}

fn flag(row: &AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    Ok(row.try_get::<i64, _>(column)? != 0)
}

fn number_type(row: &AnyRow, column: &str) -> Result<NumberType, Error> {
    let value: i64 = row.try_get(column)?;
    NumberType::from_i64(value).ok_or_else(|| Error::corrupt(format!("number type {value}")))
}

fn duration(row: &AnyRow, column: &str) -> Result<RentalDuration, Error> {
    let value: i64 = row.try_get(column)?;
    RentalDuration::from_i64(value).ok_or_else(|| Error::corrupt(format!("duration {value}")))
}
