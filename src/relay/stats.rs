//! Relay counters (atomics, updated without locks) and their serializable snapshot.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::Serialize;

/// Live counters. Gauges that the store and registry already know (stored events, bytes,
/// subscriptions) are read from them when a snapshot is taken instead of being duplicated.
#[derive(Debug, Default)]
pub struct Counters {
    pub connections: AtomicU64,
    pub connections_total: AtomicU64,
    pub events_in: AtomicU64,
    pub events_accepted: AtomicU64,
    pub events_out: AtomicU64,
    pub reqs: AtomicU64,
    pub evicted: AtomicU64,
    pub purged: AtomicU64,
    pub rejected: Rejections,
}

/// Rejections by reason.
#[derive(Debug, Default)]
pub struct Rejections {
    /// Bad id, bad signature, timestamp too far ahead, malformed message or filter.
    pub invalid: AtomicU64,
    /// Event already stored, or a newer version of it is.
    pub duplicate: AtomicU64,
    /// Message rate over the per-connection limit.
    pub rate_limited: AtomicU64,
    /// Message larger than the size limit.
    pub too_large: AtomicU64,
    /// Subscription refused: too many per connection or filters per REQ.
    pub subscription_limit: AtomicU64,
    /// Connection refused: too many in total or from one address.
    pub connection_limit: AtomicU64,
    /// Connection dropped because its send queue overflowed (client not reading).
    pub slow_consumer: AtomicU64,
    /// Verb the relay does not implement (AUTH, NEG-*), binary frames.
    pub unsupported: AtomicU64,
}

pub fn inc(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

pub fn add(c: &AtomicU64, n: usize) {
    c.fetch_add(n as u64, Relaxed);
}

pub fn dec(c: &AtomicU64) {
    c.fetch_sub(1, Relaxed);
}

/// Snapshot served in `/api/status` under `relay`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RelayStats {
    pub enabled: bool,
    /// Open WebSocket connections.
    pub connections: u64,
    /// Connections accepted since start.
    pub connections_total: u64,
    /// Open subscriptions over all connections.
    pub subscriptions: u64,
    /// Events stored now.
    pub stored_events: u64,
    /// Bytes charged against the store's byte cap now.
    pub stored_bytes: u64,
    /// EVENT messages received.
    pub events_in: u64,
    /// Events accepted (OK true, stored or ephemeral).
    pub events_accepted: u64,
    /// EVENT messages sent to subscribers (stored and live).
    pub events_out: u64,
    /// REQ messages served.
    pub reqs: u64,
    /// Stored events evicted by the count/byte caps.
    pub evicted: u64,
    /// Stored events expired by the purge.
    pub purged: u64,
    pub rejected: RejectionStats,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RejectionStats {
    pub invalid: u64,
    pub duplicate: u64,
    pub rate_limited: u64,
    pub too_large: u64,
    pub subscription_limit: u64,
    pub connection_limit: u64,
    pub slow_consumer: u64,
    pub unsupported: u64,
}

impl Counters {
    /// Counter part of the snapshot; the caller fills in the gauges.
    pub fn snapshot(&self) -> RelayStats {
        let r = &self.rejected;
        RelayStats {
            enabled: true,
            connections: self.connections.load(Relaxed),
            connections_total: self.connections_total.load(Relaxed),
            subscriptions: 0,
            stored_events: 0,
            stored_bytes: 0,
            events_in: self.events_in.load(Relaxed),
            events_accepted: self.events_accepted.load(Relaxed),
            events_out: self.events_out.load(Relaxed),
            reqs: self.reqs.load(Relaxed),
            evicted: self.evicted.load(Relaxed),
            purged: self.purged.load(Relaxed),
            rejected: RejectionStats {
                invalid: r.invalid.load(Relaxed),
                duplicate: r.duplicate.load(Relaxed),
                rate_limited: r.rate_limited.load(Relaxed),
                too_large: r.too_large.load(Relaxed),
                subscription_limit: r.subscription_limit.load(Relaxed),
                connection_limit: r.connection_limit.load(Relaxed),
                slow_consumer: r.slow_consumer.load(Relaxed),
                unsupported: r.unsupported.load(Relaxed),
            },
        }
    }
}
