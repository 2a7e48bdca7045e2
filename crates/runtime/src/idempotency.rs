//! Idempotency keys: request fingerprints, a digest of every field of a
//! request, so that a key reused with other fields is told apart from a
//! retry; and forgetting keys past their retention.

use sha2::{Digest, Sha256};
use sqlx::{AnyPool, AssertSqlSafe};

use crate::clock::Timestamp;

/// The most keys one purge statement deletes, so none runs long.
const PURGE_CHUNK: u32 = 10_000;

/// SHA-256 of the fields, each prefixed with its length so that no two
/// different lists digest alike; as lower-case hex.
pub fn fingerprint(fields: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for field in fields {
        hasher.update((field.len() as u64).to_le_bytes());
        hasher.update(field.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Forgets the keys of `table` recorded before `cutoff`, a chunk at a
/// time; returns how many. `table` holds a service's keys by `account_id`
/// and `request_id`, with `created_at` in unix microseconds. Any number of
/// replicas may purge at once.
pub async fn purge(db: &AnyPool, table: &str, cutoff: Timestamp) -> Result<u64, sqlx::Error> {
    purge_in_chunks(db, table, cutoff, PURGE_CHUNK).await
}

async fn purge_in_chunks(
    db: &AnyPool,
    table: &str,
    cutoff: Timestamp,
    chunk: u32,
) -> Result<u64, sqlx::Error> {
    let sql = format!(
        "DELETE FROM {table} WHERE (account_id, request_id) IN \
         (SELECT account_id, request_id FROM {table} WHERE created_at < $1 LIMIT $2)"
    );
    let mut total = 0;
    loop {
        let purged = sqlx::query(AssertSqlSafe(sql.clone()))
            .bind(cutoff.unix_micros())
            .bind(i64::from(chunk))
            .execute(db)
            .await?
            .rows_affected();
        total += purged;
        if purged < u64::from(chunk) {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_cannot_run_into_each_other() {
        assert_ne!(fingerprint(&["ab", "c"]), fingerprint(&["a", "bc"]));
        assert_eq!(fingerprint(&["a"]), fingerprint(&["a"]));
        assert_eq!(fingerprint(&["a"]).len(), 64);
    }

    #[tokio::test]
    async fn purges_forget_only_keys_older_than_the_cutoff_chunk_after_chunk() {
        let db = crate::db::Database::connect("sqlite::memory:", 1)
            .await
            .unwrap();
        let pool = db.writer();
        sqlx::query(
            "CREATE TABLE keys (account_id TEXT, request_id TEXT, created_at BIGINT, \
             PRIMARY KEY (account_id, request_id))",
        )
        .execute(pool)
        .await
        .unwrap();
        for (account, request, at) in [
            ("a", "1", 10),
            ("a", "2", 20),
            ("b", "1", 30),
            ("b", "2", 40),
        ] {
            sqlx::query("INSERT INTO keys VALUES ($1, $2, $3)")
                .bind(account)
                .bind(request)
                .bind(at)
                .execute(pool)
                .await
                .unwrap();
        }
        let at = Timestamp::from_unix_micros;
        assert_eq!(purge_in_chunks(pool, "keys", at(10), 2).await.unwrap(), 0);
        assert_eq!(purge_in_chunks(pool, "keys", at(31), 2).await.unwrap(), 3);
        let left: Vec<(String, String)> = sqlx::query_as("SELECT account_id, request_id FROM keys")
            .fetch_all(pool)
            .await
            .unwrap();
        assert_eq!(left, [("b".to_owned(), "2".to_owned())]);
        assert_eq!(purge(pool, "keys", at(41)).await.unwrap(), 1);
    }
}
