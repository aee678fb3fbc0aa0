//! The ephemeral NIP-01 relay served on the daemon's port.
//!
//! A correct, bounded, in-memory relay: NIP-01 (with NIP-11 and NIP-45 COUNT), events kept
//! for `RELAY_PURGE_SECONDS`, every queue and cache capped. It knows nothing of the signing
//! node; the daemon mounts [`serve_root`] at `/` and may also [`run`] it on its own port.
//!
//! Flow: `connection` (one task per socket) parses client messages, [`Relay`]
//! verifies and stores events in `store` and fans them out through `subscription` into
//! each connection's bounded queue.
//!
//! For the daemon: create one [`Relay`] and call [`Relay::spawn_maintenance`] before the
//! signing node starts; on `GET /` hand requests for which [`is_relay_request`] holds to
//! [`serve_root`] (needs `ConnectInfo<SocketAddr>`); set `TCP_NODELAY` on accepted sockets
//! (`axum::serve::ListenerExt::tap_io`), or small frames wait up to 40 ms for Nagle; serve
//! [`Relay::stats`] under `relay` in `/api/status`. With `RELAY_PORT`, also [`run`] it.
//!
//! Overflow policy: a connection whose live queue (`RELAY_SEND_QUEUE`) is full is
//! disconnected (close 1008) rather than silently losing events.

// The relay settings are configuration (plain data, in `crate::config`); `config` stays the
// name the relay's modules use.
use crate::config::relay as config;
mod connection;
mod entry;
mod filter;
mod id;
mod nip11;
mod ratelimit;
mod serve;
mod state;
mod stats;
mod store;
mod subscription;
mod verify;

pub use config::RelayConfig;
pub use serve::{is_relay_request, router, run, serve_root};
pub use state::{Ack, Relay};
pub use stats::{RejectionStats, RelayStats};
