//! `GET /api/events`: the event stream as a WebSocket (reference §4.1).
//!
//! The first message is `{type:"system", message:"Connected to event stream", timestamp, id}`,
//! then every [`EventBus`] event as JSON. A client too slow to keep up gets a `warn` saying
//! how many events it missed. Client messages are ignored, but a client sending more than
//! [`RATE`] a second (burst [`BURST`]) is closed with 1008 (policy violation).
//!
//! The handler is a plain axum handler so authentication and origin layers can wrap it.

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use super::AppState;
use crate::events::{Event, EventBus, EventKind};

/// Client messages allowed per second, sustained.
pub const RATE: f64 = 20.0;
/// Client messages allowed in one burst.
pub const BURST: f64 = 40.0;
/// WebSocket close code "policy violation".
const POLICY_VIOLATION: u16 = 1008;

#[utoipa::path(
    get,
    path = "/api/events",
    tag = "events",
    responses(
        (status = 101, description = "WebSocket upgrade; then one JSON message per event: {type, message, data?, timestamp, id}"),
        (status = 400, description = "Not a WebSocket upgrade request")
    )
)]
pub async fn events(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    slot: Option<axum::Extension<crate::http::ratelimit::WsSlot>>,
) -> Response {
    let bus = state.events.clone();
    ws.on_upgrade(move |socket| async move {
        // The per-address socket slot (GUARD) lives as long as the socket.
        let _slot = slot;
        stream(socket, bus).await
    })
}

/// A token bucket over the client's messages.
#[derive(Debug, Clone)]
pub struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    pub fn new(now: Instant) -> Self {
        Self {
            tokens: BURST,
            at: now,
        }
    }

    /// Take one token; false when the client is over its allowance.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * RATE).min(BURST);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn frame(event: &Event) -> Option<Message> {
    serde_json::to_string(event)
        .ok()
        .map(|s| Message::Text(Utf8Bytes::from(s)))
}

async fn stream(socket: WebSocket, bus: EventBus) {
    // Subscribe before greeting so nothing published after the greeting is missed.
    let mut rx = bus.subscribe();
    let (mut tx, mut inbound) = socket.split();
    let hello = Event::new(EventKind::System, "Connected to event stream", None);
    if let Some(m) = frame(&hello) {
        if tx.send(m).await.is_err() {
            return;
        }
    }
    let mut bucket = Bucket::new(Instant::now());
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let out = match ev {
                    Ok(ev) => ev,
                    Err(RecvError::Lagged(n)) => Event::new(
                        EventKind::Warn,
                        format!("{n} events were skipped because this client read too slowly"),
                        Some(serde_json::json!({ "skipped": n })),
                    ),
                    Err(RecvError::Closed) => break,
                };
                let Some(m) = frame(&out) else { continue };
                if tx.send(m).await.is_err() {
                    break;
                }
            }
            msg = inbound.next() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {
                    if !bucket.take(Instant::now()) {
                        let close = CloseFrame {
                            code: POLICY_VIOLATION,
                            reason: Utf8Bytes::from_static("too many messages"),
                        };
                        let _ = tx.send(Message::Close(Some(close))).await;
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_allows_a_burst_of_40_then_20_per_second() {
        let t0 = Instant::now();
        let mut b = Bucket::new(t0);
        for i in 0..40 {
            assert!(b.take(t0), "message {i} of the burst");
        }
        assert!(!b.take(t0), "the 41st at once is over");
        // Half a second later, 10 more tokens.
        let t1 = t0 + Duration::from_millis(500);
        for _ in 0..10 {
            assert!(b.take(t1));
        }
        assert!(!b.take(t1));
        // A long pause refills only up to the burst.
        let t2 = t1 + Duration::from_secs(60);
        let allowed = (0..100).filter(|_| b.take(t2)).count();
        assert_eq!(allowed, 40);
    }
}
