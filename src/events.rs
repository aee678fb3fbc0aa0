//! The event bus behind `/api/events`: the node and the server publish what happens (sign,
//! ECDH, peer status, warnings), every connected event-stream client receives it.
//!
//! A bounded broadcast channel: a slow client misses messages (it is told how many) instead of
//! growing memory. Nothing secret is ever published: callers pass summaries, never shares,
//! nonces or credentials.

use std::time::SystemTime;

use rand::Rng;
use serde::Serialize;
use tokio::sync::broadcast;

/// Messages kept for a slow subscriber before it starts missing some.
const CAPACITY: usize = 256;

/// What kind of thing happened; serialized as igloo-server's `type` strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    System,
    Info,
    Warn,
    Error,
    Ready,
    Bifrost,
    Sign,
    Ecdh,
    PeerStatus,
    PeerPing,
    /// NIP-46 remote signer: requests, approvals, sessions.
    Nip46,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::System => "system",
            EventKind::Info => "info",
            EventKind::Warn => "warn",
            EventKind::Error => "error",
            EventKind::Ready => "ready",
            EventKind::Bifrost => "bifrost",
            EventKind::Sign => "sign",
            EventKind::Ecdh => "ecdh",
            EventKind::PeerStatus => "peer-status-internal",
            EventKind::PeerPing => "peer-ping-internal",
            EventKind::Nip46 => "nip46",
        }
    }
}

impl Serialize for EventKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One event-stream message: `{type, message, data?, timestamp, id}`.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    /// ISO-8601 UTC (igloo-server sent a locale time string; ISO sorts and parses).
    pub timestamp: String,
    /// 9 random base-36 characters, as igloo-server.
    pub id: String,
}

impl Event {
    pub fn new(
        kind: EventKind,
        message: impl Into<String>,
        data: Option<serde_json::Value>,
    ) -> Self {
        Event {
            kind,
            message: message.into(),
            data,
            timestamp: crate::timefmt::iso8601(SystemTime::now()),
            id: random_id(),
        }
    }
}

fn random_id() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    (0..9)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

/// Cheap to clone; all clones publish to the same subscribers.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus")
            .field("subscribers", &self.tx.receiver_count())
            .finish()
    }
}

impl EventBus {
    pub fn new() -> Self {
        Self {
            tx: broadcast::channel(CAPACITY).0,
        }
    }

    /// Publish to every current subscriber; a no-op when nobody listens.
    pub fn emit(
        &self,
        kind: EventKind,
        message: impl Into<String>,
        data: Option<serde_json::Value>,
    ) {
        let _ = self.tx.send(Event::new(kind, message, data));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_receive_events_in_order_with_igloo_server_shape() {
        let bus = EventBus::new();
        let mut rx = bus.subscribe();
        bus.emit(EventKind::Sign, "signed", Some(serde_json::json!({"n": 1})));
        bus.emit(EventKind::PeerPing, "pong", None);
        let a = serde_json::to_value(rx.recv().await.expect("first")).expect("json");
        let b = serde_json::to_value(rx.recv().await.expect("second")).expect("json");
        assert_eq!(a["type"], "sign");
        assert_eq!(a["data"]["n"], 1);
        assert_eq!(b["type"], "peer-ping-internal");
        assert!(b.get("data").is_none());
        let id = a["id"].as_str().expect("id");
        assert_eq!(id.len(), 9);
        assert!(
            id.bytes()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
        );
        assert_ne!(a["id"], b["id"]);
    }
}
