//! The token key in a service's database: made once, shared by every
//! process on that database, and the same after a restart.

use numhub_runtime::db::Database;
use numhub_runtime::tokens::{PageTokens, TokenScope};
use numhub_testkit::{TestDb, backend_tests};

fn scope() -> TokenScope {
    TokenScope::new("numhub.wallet.v1.WalletService/ListTransactions", "a")
}

backend_tests! {
    async fn replicas_starting_at_once_share_one_key(backend: Backend) {
        let db = TestDb::new(backend).await;
        // Processes of their own: separate pools on one database, racing
        // to create the table and the key.
        let mut starts = Vec::new();
        for _ in 0..6 {
            let url = db.url.clone();
            starts.push(tokio::spawn(async move {
                let own = Database::connect(&url, 2).await.expect("connect");
                PageTokens::load(&own).await.expect("load the key")
            }));
        }
        let mut all = Vec::new();
        for start in starts {
            all.push(start.await.unwrap());
        }
        let token = all[0].encode(&scope(), "cursor");
        for tokens in &all {
            assert_eq!(tokens.decode(&scope(), &token), Ok(Some("cursor".into())));
        }
        // A restart reads the same key.
        let again = PageTokens::load(&db.db).await.expect("load again");
        assert_eq!(again.decode(&scope(), &token), Ok(Some("cursor".into())));
    }

    async fn another_database_has_another_key(backend: Backend) {
        let one = TestDb::new(backend).await;
        let other = TestDb::new(backend).await;
        let token = PageTokens::load(&one.db).await.unwrap().encode(&scope(), "cursor");
        let foreign = PageTokens::load(&other.db).await.unwrap();
        assert!(foreign.decode(&scope(), &token).is_err());
    }
}
