//! Who is calling and may they: passwords, sessions, API keys, headless key and basic auth,
//! and the [`Access`] level each route declares. Store-backed; never imports the HTTP layer
//! (its axum layer, [`crate::http::authn`], calls in here).
//!
//! Methods are tried in igloo-server's order (reference §6.1): API key (`X-API-Key` or
//! `Authorization: Bearer`), basic auth, then session (`X-Session-ID` or the `session`
//! cookie). Every secret comparison is constant-time; only hashes of session ids and API keys
//! are stored.

pub mod access;
pub mod authn;
pub mod password;
pub mod principal;
pub mod session;
pub mod setup_code;
pub mod tokens;

pub use access::{Access, Decision, Modes};
pub use authn::{AuthCtx, authenticate};
pub use principal::Principal;
