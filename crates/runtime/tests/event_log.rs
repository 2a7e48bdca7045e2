//! An account's event log: events recorded in a transaction read back in
//! order, and decoded with their subject loaded once per read.

use numhub_runtime::clock::Timestamp;
use numhub_runtime::event_log::{self, EventLog, NewEvent, Read};
use numhub_runtime::streams::Hub;
use numhub_testkit::{TestDb, backend_tests};
use sqlx::Row;

const LOG: EventLog = EventLog {
    accounts: "accounts",
    events: "events",
    subject: "job_id",
};

const SCHEMA: [&str; 3] = [
    "CREATE TABLE accounts (account_id TEXT PRIMARY KEY, last_seq BIGINT NOT NULL)",
    "CREATE TABLE events (account_id TEXT NOT NULL, seq BIGINT NOT NULL, job_id TEXT NOT NULL, \
     kind BIGINT NOT NULL, status BIGINT, message_id TEXT, at BIGINT NOT NULL, \
     PRIMARY KEY (account_id, seq))",
    "CREATE TABLE messages (id TEXT PRIMARY KEY, body TEXT NOT NULL)",
];

#[derive(Debug, PartialEq)]
enum Decoded {
    Change(i64, String),
    Message(String),
}

backend_tests! {
    async fn a_read_decodes_in_order_loading_the_subject_once(backend: Backend) {
        let db = TestDb::new(backend).await;
        for sql in SCHEMA {
            sqlx::query(sql).execute(db.db.writer()).await.unwrap();
        }
        sqlx::query("INSERT INTO messages VALUES ('m1', 'hello')")
            .execute(db.db.writer())
            .await
            .unwrap();
        let hub = Hub::default();
        let at = Timestamp::from_unix_micros(1);
        let mut tx = db.db.begin_write().await.unwrap();
        let seq = LOG.lock_account(&mut tx, "acc", 3).await.unwrap();
        let events = [NewEvent::change(1), NewEvent::message("m1"), NewEvent::change(2)];
        LOG.commit(tx, &hub, "acc", "x", seq, &events, at).await.unwrap();

        let stored = LOG
            .read(db.db.reader(), ("messages", "id, body"), "acc", Read::Subject("x"), 0, 10)
            .await
            .unwrap();
        let mut loads = 0;
        let load = |id: String| {
            loads += 1;
            let snapshot = format!("{id} now");
            Box::pin(async move { Ok::<_, sqlx::Error>(snapshot) }) as futures_util::future::BoxFuture<'_, _>
        };
        let decoded = event_log::decode(stored, load, |event, subject| {
            Ok(match subject {
                Some(now) => Decoded::Change(event.status.unwrap(), now),
                None => Decoded::Message(event.row.try_get("m_body")?),
            })
        })
        .await
        .unwrap();
        assert_eq!(
            decoded,
            [
                Decoded::Change(1, "x now".into()),
                Decoded::Message("hello".into()),
                Decoded::Change(2, "x now".into()),
            ]
        );
        assert_eq!(loads, 1, "one subject, loaded once");
    }
}
