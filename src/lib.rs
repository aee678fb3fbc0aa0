//! igloo: an always-on FROSTR signing node for Nostr.
//!
//! See `ARCHITECTURE.md` for the map of modules and how data flows between them.
#![forbid(unsafe_code)]

pub mod cli;
pub mod frostr;
pub mod logging;
pub mod relay;
pub mod store;
pub mod systemd;
