//! `GET /api/events`: the event stream as a WebSocket (reference §4.1).
//!
//! The first message is `{type:"system", message:"Connected to event stream", timestamp, id}`,
//! then every [`EventBus`] event as JSON. A client too slow to keep up gets a `warn` saying
//! how many events it missed. Client messages are ignored, but a client sending more than
//! [`RATE`] a second (burst [`BURST`]) is closed with 1008 (policy violation).
//!
//! The handler is a plain axum handler so authentication and origin layers can wrap it.
//!
//! Browsers cannot set headers on a WebSocket, so, as igloo-server, the handshake may carry
//! the credential as a `Sec-WebSocket-Protocol` token (`apikey.<key>`, `api-key.<key>`,
//! `bearer.<key>`, `session.<id>`) or, for compatibility, `?apiKey=` / `?sessionId=`
//! ([`handshake_credentials`]); the first offered protocol is echoed back, as igloo-server
//! does, so the browser accepts the socket. Nothing logs request URIs, so these never reach
//! the logs.
//!
//! The stream lives no longer than what authenticated it: every [`RECHECK`] the session (or
//! the API key) is looked up again, and once it has ended (logout, expiry, password change,
//! deleted user, revoked key) the server closes the socket with 1008.

use std::collections::HashMap;
use std::time::Duration;

use axum::Extension;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use super::AppState;
use crate::auth::Principal;
use crate::events::{Event, EventBus, EventKind};

/// Client messages allowed per second, sustained.
pub const RATE: f64 = 20.0;
/// Client messages allowed in one burst.
pub const BURST: f64 = 40.0;
/// WebSocket close code "policy violation".
const POLICY_VIOLATION: u16 = 1008;
/// How often an open stream checks that its session or API key is still in force.
pub const RECHECK: Duration = Duration::from_secs(1);

/// Moves igloo-server's header-less credentials of an `/api/events` handshake into the
/// headers authentication reads: `?apiKey=`/`?sessionId=` first, then protocol tokens (which
/// win, as in igloo-server). Runs before the route's authentication layer.
pub async fn handshake_credentials(mut req: Request, next: Next) -> Response {
    if req.uri().path() == "/api/events"
        && super::ratelimit::is_real_upgrade(req.method(), req.headers())
    {
        let found = credentials_of(&req);
        let h = req.headers_mut();
        for (name, value) in found {
            if let Ok(mut v) = HeaderValue::from_str(&value) {
                v.set_sensitive(true);
                h.insert(name, v);
            }
        }
    }
    next.run(req).await
}

/// The credential headers a handshake implies, in the order they apply.
fn credentials_of(req: &Request) -> Vec<(HeaderName, String)> {
    let mut out = Vec::new();
    let query = Query::<HashMap<String, String>>::try_from_uri(req.uri())
        .map(|q| q.0)
        .unwrap_or_default();
    let api_key = HeaderName::from_static("x-api-key");
    let session = HeaderName::from_static("x-session-id");
    if let Some(k) = query.get("apiKey").filter(|v| !v.is_empty()) {
        out.push((api_key.clone(), k.clone()));
    }
    if let Some(s) = query.get("sessionId").filter(|v| !v.is_empty()) {
        out.push((session.clone(), s.clone()));
    }
    for token in offered_protocols(req.headers()) {
        let Some((kind, value)) = token.split_once('.') else {
            continue;
        };
        if value.is_empty() {
            continue;
        }
        match kind.to_ascii_lowercase().as_str() {
            "apikey" | "api-key" => out.push((api_key.clone(), value.to_string())),
            "bearer" => out.push((header::AUTHORIZATION, format!("Bearer {value}"))),
            "session" => out.push((session.clone(), value.to_string())),
            _ => {}
        }
    }
    out
}

/// The subprotocols a client offers, in order.
fn offered_protocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// What keeps a stream authorized, looked up again every [`RECHECK`].
#[derive(Clone, Debug, PartialEq, Eq)]
enum Bound {
    /// A session (by id hash): ends with logout, expiry, password change or its owner.
    Session(String),
    /// A stored API key presented on the handshake: ends when revoked.
    ApiKey(u64),
    /// Configured credentials (admin secret, headless key, basic user) or no authentication.
    Static,
}

impl Bound {
    fn of(principal: Option<&Principal>, headers: &HeaderMap) -> Self {
        use crate::auth::authn::presented_api_key;
        let session = crate::auth::session::session_id(headers)
            .map(|id| Bound::Session(crate::auth::tokens::sha256_hex(&id)));
        // A header credential is tried before the session (see `authenticate`).
        let header_credential = presented_api_key(headers).is_some()
            || headers.contains_key(header::AUTHORIZATION)
            || headers.contains_key("x-admin-secret");
        match principal {
            Some(Principal::User { .. }) => session.unwrap_or(Bound::Static),
            Some(Principal::ApiKey { id, .. }) if header_credential => Bound::ApiKey(*id),
            Some(Principal::ApiKey { .. } | Principal::EnvApiKey | Principal::Basic { .. })
                if !header_credential =>
            {
                session.unwrap_or(Bound::Static)
            }
            _ => Bound::Static,
        }
    }

    /// Still in force? A store error counts as yes: a hiccup must not drop every stream.
    async fn alive(&self, state: &AppState) -> bool {
        let (state, bound) = (state.clone(), self.clone());
        let check = tokio::task::spawn_blocking(move || match bound {
            Bound::Session(hash) => {
                super::authn::with_auth(&state, |a| crate::auth::authn::session_alive(a, &hash))
            }
            Bound::ApiKey(id) => state
                .store
                .get_api_key(id)
                .map(|k| k.is_some_and(|k| k.revoked_at.is_none())),
            Bound::Static => Ok(true),
        });
        !matches!(check.await, Ok(Ok(false)))
    }
}

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
    principal: Option<Extension<Principal>>,
    headers: HeaderMap,
    slot: Option<Extension<crate::http::ratelimit::WsSlot>>,
) -> Response {
    let bound = Bound::of(principal.as_ref().map(|p| &p.0), &headers);
    // Echo the first offered subprotocol (igloo-server does; browsers require one of theirs).
    let ws = match offered_protocols(&headers).into_iter().next() {
        Some(p) => ws.protocols([p]),
        None => ws,
    };
    ws.on_upgrade(move |socket| async move {
        // The per-address socket slot (GUARD) lives as long as the socket.
        let _slot = slot;
        stream(socket, state, bound).await
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

async fn stream(socket: WebSocket, state: AppState, bound: Bound) {
    let bus: &EventBus = &state.events;
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
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = recheck.tick(), if bound != Bound::Static => {
                if !bound.alive(&state).await {
                    let close = CloseFrame {
                        code: POLICY_VIOLATION,
                        reason: Utf8Bytes::from_static("session ended"),
                    };
                    let _ = tx.send(Message::Close(Some(close))).await;
                    break;
                }
            }
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
