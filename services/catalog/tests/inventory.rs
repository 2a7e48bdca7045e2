//! The inventory and its leases, over gRPC, on SQLite and PostgreSQL.

mod common;

use common::*;
use numhub_proto::catalog::v1 as pb;
use numhub_testkit::{Backend, backend_tests};
use tonic::Code;

backend_tests! {
    async fn an_activation_lease_takes_a_number_at_the_server_price(backend: Backend) {
        let mut h = start(backend).await;
        let report = h.import(us_numbers(0, 2, "", pb::NumberType::Voip)).await;
        assert_eq!(report.imported_count, 2);
        h.set_price("wa", "US", "", 45).await;
        let account = h.customer.account_id.clone();
        let lease = h.lease(h.activation(&account, "wa", "r1")).await.unwrap();
        assert_eq!(units(&lease.price), 45);
        assert_eq!(lease.state, pb::LeaseState::Active as i32);
        assert_eq!(lease.kind, pb::LeaseKind::Activation as i32);
        assert!(lease.phone_number.starts_with("+1555"));
        assert_eq!(h.stock("wa", "US").await, 1);
        h.assert_counters_match_inventory("wa").await;
    }
}
