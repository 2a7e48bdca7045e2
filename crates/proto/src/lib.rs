//! numhub's gRPC contracts, generated from `proto/` at build time.
//!
//! Each package of the contracts is a module here, e.g.
//! [`numhub::wallet::v1`]. [`FILE_DESCRIPTOR_SET`] feeds server reflection,
//! and [`ACCESS_RULES`] says who may call each RPC.

pub mod decimal;

/// The encoded `FileDescriptorSet` of every numhub contract, for reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/numhub_descriptor.bin"));

#[allow(clippy::all, missing_docs)]
pub mod numhub {
    pub mod common {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/numhub.common.v1.rs"));
        }
    }
    pub mod accounts {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/numhub.accounts.v1.rs"));
        }
    }
    pub mod wallet {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/numhub.wallet.v1.rs"));
        }
    }
    pub mod catalog {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/numhub.catalog.v1.rs"));
        }
    }
    pub mod orders {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/numhub.orders.v1.rs"));
        }
    }
    pub mod inbound {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/numhub.inbound.v1.rs"));
        }
    }
    pub mod rentals {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/numhub.rentals.v1.rs"));
        }
    }
}

pub use numhub::{accounts, catalog, common, inbound, orders, rentals, wallet};

use common::v1::{Credential, Scope};

/// The access rule of one RPC: the `numhub.common.v1.access` option of its
/// method in the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodAccess {
    /// The RPC's HTTP/2 path, e.g. `/numhub.wallet.v1.WalletService/GetBalance`.
    pub path: &'static str,
    pub credential: Credential,
    /// The scope an API key needs; `Unspecified` for internal RPCs.
    pub scope: Scope,
    /// Whether the RPC also counts against the money quota.
    pub moves_money: bool,
    /// Whether the server answers with a stream: the auth layer keeps
    /// checking the key of a stream for as long as it is open.
    pub streams: bool,
}

/// The access rule of every numhub RPC, read from the contracts at build
/// time. The build fails if an RPC declares none.
pub const ACCESS_RULES: &[MethodAccess] = include!(concat!(env!("OUT_DIR"), "/access_rules.rs"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_surface_has_its_credential() {
        let rule = |path: &str| ACCESS_RULES.iter().find(|r| r.path == path).copied();
        let balance = rule("/numhub.wallet.v1.WalletService/GetBalance").unwrap();
        assert_eq!(balance.credential, Credential::ApiKey);
        assert_eq!(balance.scope, Scope::Read);
        let debit = rule("/numhub.wallet.v1.WalletInternalService/Debit").unwrap();
        assert_eq!(debit.credential, Credential::Service);
        let credit = rule("/numhub.wallet.v1.WalletAdminService/Credit").unwrap();
        assert_eq!(credit.scope, Scope::Admin);
        assert!(rule("/numhub.accounts.v1.AccountsInternalService/Authenticate").is_some());
        assert!(rule("/grpc.health.v1.Health/Check").is_none());
    }

    #[test]
    fn streams_are_marked_so_their_keys_are_watched() {
        let streams: Vec<_> = ACCESS_RULES
            .iter()
            .filter(|r| r.streams && r.credential == Credential::ApiKey)
            .map(|r| r.path)
            .collect();
        for path in [
            "/numhub.orders.v1.OrdersService/WatchActivation",
            "/numhub.orders.v1.OrdersService/WatchMessages",
            "/numhub.rentals.v1.RentalsService/WatchRental",
        ] {
            assert!(streams.contains(&path), "{path} is not marked as a stream");
        }
        let unary = ACCESS_RULES
            .iter()
            .find(|r| r.path == "/numhub.orders.v1.OrdersService/GetActivation")
            .unwrap();
        assert!(!unary.streams);
    }
}
