//! Each service's own database, because services never share tables.

use anyhow::Context as _;
use numhub_runtime::config::{DatabaseConfig, ServiceDefaults};
use numhub_runtime::db::{Backend, Database};

/// Where a process keeps its services' data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// One service: the configured database as it is, or its SQLite file
    /// under the data directory.
    Own,
    /// Several services in one process: each its own SQLite file under the
    /// data directory or, given a PostgreSQL URL, its own schema
    /// (`numhub_<service>`) in that database.
    Shared,
}

/// A service's database, opened (not yet migrated), and the URL it was
/// opened with.
pub(crate) async fn open(
    config: &DatabaseConfig,
    storage: Storage,
    service: &ServiceDefaults,
) -> anyhow::Result<(Database, String)> {
    let url = match (storage, &config.database_url) {
        (Storage::Own, _) | (Storage::Shared, None) => config.url(service),
        (Storage::Shared, Some(url)) if Backend::from_url(url).ok() == Some(Backend::Postgres) => {
            schema_url(url, service.name).await?
        }
        (Storage::Shared, Some(_)) => anyhow::bail!(
            "NUMHUB_DATABASE_URL: one process of several services takes a postgres:// URL (a \
             schema per service), or none: each service in its own SQLite file under \
             NUMHUB_DATA_DIR"
        ),
    };
    let db = Database::connect(&url, config.db_max_connections)
        .await
        .with_context(|| {
            format!(
                "NUMHUB_DATABASE_URL: cannot open the {} database",
                service.name
            )
        })?;
    Ok((db, url))
}

/// Creates the service's schema if it is missing, and the URL of the same
/// database with that schema first on the search path.
async fn schema_url(url: &str, service: &str) -> anyhow::Result<String> {
    use sqlx::Connection as _;
    let schema = format!("numhub_{service}");
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .context("NUMHUB_DATABASE_URL: cannot connect to PostgreSQL")?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}"
    )))
    .execute(&mut conn)
    .await
    .with_context(|| format!("cannot create the schema {schema}"))?;
    conn.close().await?;
    let separator = if url.contains('?') { '&' } else { '?' };
    Ok(format!(
        "{url}{separator}options=-c%20search_path%3D{schema}"
    ))
}
