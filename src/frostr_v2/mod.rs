//! FROSTR "V2": the bifrost-rs protocol (kind 20000, NIP-44 framing, ZF FROST-TR, one-time
//! nonce pools), per `protocol/bifrost-rs.md` §4.
//!
//! Pure and synchronous like [`crate::frostr`]: no I/O, no clocks, no globals. Time (`now`)
//! and randomness are passed in; anything that must be durable (spent nonce codes) is
//! returned to the caller as an explicit step.

pub mod cipher;
pub mod credentials;
pub mod ecdh;
pub mod envelope;
pub mod event;
pub mod hexser;
pub mod ids;
pub mod keyset;
pub mod nonces;
pub mod onboard;
pub mod receive;
pub mod sign;
pub mod types;

pub use types::{GroupPackage, Member, ShareSecret};
