//! HTTP entry points: WebSocket upgrade and NIP-11 at `/`, and a listener of the relay's own.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::serve::ListenerExt;

use super::state::Relay;
use super::{connection, nip11};

const NOSTR_JSON: &str = "application/nostr+json";

/// Headroom above `max_message_bytes` before tungstenite itself refuses a frame (and closes
/// with 1009). Between the two limits we answer with a NIP-01 message and keep the connection.
const HARD_LIMIT_FACTOR: usize = 4;

/// Bytes of outgoing frames buffered before tungstenite flushes to the socket.
const WRITE_BUFFER: usize = 64 * 1024;

/// Bytes tungstenite reads per socket read (its default is 128 KiB). It zero-fills this much
/// before every read, which for NIP-01's sub-kilobyte messages was a 128 KiB memset per read
/// and 128 KiB of touched memory per connection; larger messages still arrive over several
/// reads.
const READ_BUFFER: usize = 16 * 1024;

/// True if the request is a WebSocket upgrade or asks for the NIP-11 document.
pub fn is_relay_request(headers: &HeaderMap) -> bool {
    is_upgrade(headers) || wants_nip11(headers)
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

fn wants_nip11(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|m| m.trim().starts_with(NOSTR_JSON)))
}

/// Serve `GET /` when [`is_relay_request`] holds: the WebSocket upgrade, else NIP-11.
/// `peer` is the client's address (axum `ConnectInfo<SocketAddr>`). Answers 404 when the relay
/// is disabled.
pub async fn serve_root(relay: Arc<Relay>, peer: SocketAddr, req: Request) -> Response {
    if !relay.config().enabled {
        return StatusCode::NOT_FOUND.into_response();
    }
    let (mut parts, _body) = req.into_parts();
    if !is_upgrade(&parts.headers) {
        return nip11_response(&relay);
    }
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(u) => u,
        Err(rejection) => return rejection.into_response(),
    };
    // Echo the first offered subprotocol, as igloo-server: a browser refuses a socket whose
    // answer names none of the protocols it offered.
    let first = parts
        .headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').map(str::trim).find(|p| !p.is_empty()))
        .map(str::to_string);
    let upgrade = match first {
        Some(p) => upgrade.protocols([p]),
        None => upgrade,
    };
    let max = relay.config().max_message_bytes;
    let hard = max.saturating_mul(HARD_LIMIT_FACTOR).max(64 * 1024);
    upgrade
        .max_message_size(hard)
        .max_frame_size(hard)
        // Bounded write buffer: writes wait (and time out) instead of growing memory.
        // tungstenite requires the maximum to exceed the flush threshold.
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(WRITE_BUFFER + hard.saturating_mul(2))
        .on_upgrade(move |socket| connection::serve(relay, socket, peer))
}

fn nip11_response(relay: &Relay) -> Response {
    let body = nip11::document(relay.config()).to_string();
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(NOSTR_JSON));
    // NIP-11: the document must be readable by web clients on other origins.
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, OPTIONS"),
    );
    res
}

/// The router of a relay-only listener: the relay at `/`, a short text page otherwise.
pub fn router(relay: Arc<Relay>) -> Router {
    Router::new().route("/", any(root)).with_state(relay)
}

async fn root(
    State(relay): State<Arc<Relay>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    if is_relay_request(req.headers()) {
        serve_root(relay, peer, req).await
    } else {
        "igloo relay: connect with a Nostr client over WebSocket.\n".into_response()
    }
}

/// Serve only the relay on `listener` until `shutdown` resolves; then every relay connection
/// is closed too.
pub async fn run(
    listener: tokio::net::TcpListener,
    relay: Arc<Relay>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(Arc::clone(&relay));
    let closer = Arc::clone(&relay);
    // Small NIP-01 frames must not wait for Nagle's algorithm (40 ms with delayed ACKs).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        closer.close_all();
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_relay_requests() {
        let mut h = HeaderMap::new();
        assert!(!is_relay_request(&h));
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/html, application/nostr+json"),
        );
        assert!(is_relay_request(&h));
        let mut h = HeaderMap::new();
        h.insert(header::UPGRADE, HeaderValue::from_static("WebSocket"));
        assert!(is_relay_request(&h));
    }
}
