//! Workers' claims on rows: one replica wins a row until its claim lapses
//! or is released, and only rows still meeting the condition are taken.

use numhub_runtime::claims;
use numhub_runtime::clock::Timestamp;
use numhub_runtime::db::Database;
use numhub_testkit::{TestDb, backend_tests};

const TABLE: &str = "jobs";
const PENDING: &str = "state = 1";

fn at(micros: i64) -> Timestamp {
    Timestamp::from_unix_micros(micros)
}

/// A table of jobs: `(id, state, next_at, claimed_until)`.
async fn jobs(db: &Database, rows: &[(&str, i64, i64, i64)]) {
    sqlx::query(
        "CREATE TABLE jobs (id TEXT PRIMARY KEY, state BIGINT NOT NULL, \
         next_at BIGINT NOT NULL, claimed_until BIGINT NOT NULL)",
    )
    .execute(db.writer())
    .await
    .unwrap();
    for (id, state, next_at, claimed_until) in rows {
        sqlx::query("INSERT INTO jobs VALUES ($1, $2, $3, $4)")
            .bind(*id)
            .bind(*state)
            .bind(*next_at)
            .bind(*claimed_until)
            .execute(db.writer())
            .await
            .unwrap();
    }
}

backend_tests! {
    async fn due_rows_come_earliest_first_and_only_when_due(backend: Backend) {
        let db = TestDb::new(backend).await;
        jobs(&db.db, &[("late", 1, 30, 0), ("early", 1, 10, 0), ("done", 2, 5, 0), ("later", 1, 99, 0)]).await;
        let due = claims::due(db.db.reader(), TABLE, PENDING, "next_at", at(30), 10).await.unwrap();
        assert_eq!(due, ["early", "late"]);
        let first = claims::due(db.db.reader(), TABLE, PENDING, "next_at", at(30), 1).await.unwrap();
        assert_eq!(first, ["early"]);
    }

    async fn one_claim_wins_until_it_lapses_or_is_released(backend: Backend) {
        let db = TestDb::new(backend).await;
        jobs(&db.db, &[("a", 1, 0, 0), ("done", 2, 0, 0)]).await;
        let w = db.db.writer();
        assert!(claims::claim(w, TABLE, "a", PENDING, at(10), at(100)).await.unwrap());
        // Another replica, before the claim lapses: nothing.
        assert!(!claims::claim(w, TABLE, "a", PENDING, at(50), at(150)).await.unwrap());
        // Once it lapsed, the row is anyone's again.
        assert!(claims::claim(w, TABLE, "a", PENDING, at(100), at(200)).await.unwrap());
        // Released early, it is free at once.
        claims::release(w, TABLE, "a", at(120)).await.unwrap();
        assert!(claims::claim(w, TABLE, "a", PENDING, at(120), at(300)).await.unwrap());
        // A row that no longer meets the condition is never claimed.
        assert!(!claims::claim(w, TABLE, "done", PENDING, at(10), at(100)).await.unwrap());
    }

    async fn claiming_found_rows_keeps_those_won(backend: Backend) {
        let db = TestDb::new(backend).await;
        jobs(&db.db, &[("a", 1, 0, 0), ("held", 1, 0, 500), ("done", 2, 0, 0), ("b", 1, 0, 0)]).await;
        let found = ["a", "held", "done", "b", "gone"].map(String::from).to_vec();
        let claimed = claims::claim_each(db.db.writer(), TABLE, PENDING, found, at(10), at(100))
            .await
            .unwrap();
        assert_eq!(claimed, ["a", "b"]);
    }
}
