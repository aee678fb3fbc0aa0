//! Who is calling: passwords, sessions, API keys, headless key and basic auth, and the one
//! middleware that enforces each route's [`Access`] level.
//!
//! Methods are tried in igloo-server's order (reference §6.1): API key (`X-API-Key` or
//! `Authorization: Bearer`), basic auth, then session (`X-Session-ID` or the `session`
//! cookie). Every secret comparison is constant-time; only hashes of session ids and API keys
//! are stored.

pub mod access;
pub mod middleware;
pub mod node_control;
pub mod password;
pub mod principal;
pub mod runtime;
pub mod session;
pub mod setup_code;
pub mod tokens;

pub use access::{Access, Decision, Modes};
pub use middleware::{authenticate, client_ip, enforce};
pub use principal::Principal;
