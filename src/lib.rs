//! igloo: an always-on FROSTR signing node for Nostr.
//!
//! See `ARCHITECTURE.md` for the map of modules and how data flows between them.
#![forbid(unsafe_code)]

pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod control;
pub mod daemon;
pub mod events;
pub mod frostr;
pub mod frostr_v2;
pub mod http;
pub mod keyset;
pub mod logging;
pub mod nip46;
pub mod nips;
pub mod node;
pub mod relay;
pub mod secrets;
pub mod server;
pub mod store;
pub mod systemd;
pub mod timefmt;
pub mod tls;
