//! numhub's gRPC contracts, generated from `proto/` at build time.
//!
//! Each package of the contracts is a module here, e.g.
//! [`numhub::wallet::v1`]. [`FILE_DESCRIPTOR_SET`] feeds server reflection.

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
    pub mod wallet {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/numhub.wallet.v1.rs"));
        }
    }
}

pub use numhub::{common, wallet};
