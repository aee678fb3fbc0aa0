//! The NIP-11 relay information document.

use serde_json::{Value, json};

use super::config::RelayConfig;

/// NIPs this relay implements: 1 (protocol), 11 (this document), 40 is not claimed because
/// expiration tags are not enforced, 45 (COUNT).
pub const SUPPORTED_NIPS: &[u16] = &[1, 11, 45];

/// The document served on `GET /` with `Accept: application/nostr+json`.
pub fn document(cfg: &RelayConfig) -> Value {
    json!({
        "name": "igloo relay",
        "description": "Ephemeral in-memory relay of an igloo FROSTR signing node. Events are kept for a short time only; not for archival data.",
        "software": "igloo",
        "version": env!("CARGO_PKG_VERSION"),
        "supported_nips": SUPPORTED_NIPS,
        "limitation": {
            "max_message_length": cfg.max_message_bytes,
            "max_subscriptions": cfg.max_subscriptions,
            "max_filters": cfg.max_filters,
            "max_limit": cfg.max_events,
            "max_subid_length": 64,
            "created_at_upper_limit": cfg.future_seconds,
            "auth_required": false,
            "payment_required": false,
            "restricted_writes": false,
        },
        "retention": [ { "time": cfg.purge_seconds, "count": cfg.max_events } ],
    })
}
