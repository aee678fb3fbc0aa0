//! NIP-46 remote signer ("Nostr Connect"): ordinary Nostr apps sign with the group key
//! through this node without ever seeing a key.
//!
//! * Pure parts: [`uri`] (`bunker://`, `nostrconnect://`), [`message`] (request/response
//!   JSON with caps), [`perms`] (permissions and policy), [`transport`] (the per-installation
//!   remote-signer key, NIP-44 v2 / NIP-04 content, kind-24133 events).
//! * [`service`]: the long-running task started by the daemon: relays, sessions, approvals,
//!   rate limits; it signs and runs ECDH through [`backend::Backend`] (the running node).
//!
//! An adapter like `http`: it calls the node and the store, nothing calls into it but the
//! daemon and the `/api/nip46/*` routes.

pub mod backend;
pub mod message;
pub mod perms;
pub mod service;
pub mod transport;
pub mod uri;

pub use service::Service;
