//! FROSTR "bifrost v1", byte-compatible with `@frostr/bifrost` 1.0.7.
//!
//! Pure and synchronous: no I/O, no clocks, no globals. Randomness and time are passed in.
//! Nothing here depends on the rest of the crate.

pub mod bech32m;
pub mod credentials;
pub mod ecdh;
pub mod hash;
pub mod keyset;
pub mod nip19;
pub mod poly;
pub mod recovery;
pub mod session;
pub mod sign;
pub mod transport;
pub mod types;

pub use types::{Commit, GroupPackage, SecretScalar, SharePackage};
