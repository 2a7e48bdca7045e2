//! What every numhub service stands on: configuration, telemetry, server
//! start-up, owned background workers, the database, an injectable clock,
//! error mapping and request validation. Services depend on this crate and
//! never on each other.

pub mod account_streams;
pub mod binary;
pub mod channel;
pub mod claims;
pub mod clock;
pub mod codes;
pub mod config;
pub mod db;
pub mod error;
pub mod event_log;
pub mod http_server;
pub mod idempotency;
pub mod money;
pub mod parse;
pub mod phone;
pub mod rental;
pub mod rpc_telemetry;
pub mod server;
pub mod sms;
pub mod stored;
pub mod streams;
pub mod telemetry;
pub mod tokens;
pub mod validate;
pub mod workers;
