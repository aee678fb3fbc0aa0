//! The HTTP surface: router, one module per API area, the embedded UI.
//!
//! Every API route is declared once in [`api_routes`]; the router is built from that table
//! and a test checks that each entry is in the OpenAPI document.

pub mod client_ip;
pub mod cors;
pub mod crypto;
pub mod docs;
pub mod error;
pub mod events;
pub mod headers;
pub mod limits;
pub mod node;
pub mod origin;
pub mod peers;
pub mod ratelimit;
pub mod recover;
pub mod request_id;
pub mod status;
pub mod ui;

use std::ops::Deref;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::http::Method;
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, delete, get, post, put};

use crate::config::Config;
use error::ApiError;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

pub struct AppInner {
    pub config: Arc<Config>,
    pub started: Instant,
    pub tls_enabled: bool,
    pub store: crate::store::Store,
    /// Health as the systemd watchdog sees it; the signing node feeds it.
    pub health: tokio::sync::watch::Sender<bool>,
    /// The built-in relay, when enabled.
    pub relay: Option<Arc<crate::relay::Relay>>,
    /// Owns the signing node (at most one; restarted when credentials or relays change).
    pub node: crate::node::Supervisor,
    /// What `/api/events` clients receive.
    pub events: crate::events::EventBus,
    /// Rate limits, login throttle, event-socket cap and origin policy (task GUARD).
    pub guard: Arc<ratelimit::Guard>,
}

impl Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl AppState {
    pub fn new(inner: AppInner) -> Self {
        Self(Arc::new(inner))
    }

    /// The built-in relay's counters for `/api/status`.
    pub fn relay_stats(&self) -> Option<serde_json::Value> {
        self.relay
            .as_ref()
            .and_then(|r| serde_json::to_value(r.stats()).ok())
    }
}

/// One API route: method and path as documented, and its handler.
pub struct ApiRoute {
    pub method: Method,
    pub path: &'static str,
    pub handler: MethodRouter<AppState>,
}

impl ApiRoute {
    fn get(path: &'static str, handler: MethodRouter<AppState>) -> Self {
        Self {
            method: Method::GET,
            path,
            handler,
        }
    }
    fn post(path: &'static str, handler: MethodRouter<AppState>) -> Self {
        Self {
            method: Method::POST,
            path,
            handler,
        }
    }
    fn put(path: &'static str, handler: MethodRouter<AppState>) -> Self {
        Self {
            method: Method::PUT,
            path,
            handler,
        }
    }
    fn delete(path: &'static str, handler: MethodRouter<AppState>) -> Self {
        Self {
            method: Method::DELETE,
            path,
            handler,
        }
    }
}

/// The table of API routes. Add new endpoints here (and annotate them for OpenAPI).
pub fn api_routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::get("/api/status", get(status::status)),
        ApiRoute::get("/api/events", get(events::events)),
        ApiRoute::post("/api/sign", post(node::sign)),
        ApiRoute::get("/api/peers", get(node::peers)),
        ApiRoute::post("/api/peers/ping", post(node::ping)),
        // ---- POLICY: peers, policies, approvals ----
        ApiRoute::get("/api/peers/self", get(peers::self_key)),
        ApiRoute::get("/api/peers/group", get(peers::group)),
        ApiRoute::get("/api/peers/policies", get(peers::policies)),
        ApiRoute::get("/api/peers/{pubkey}/policy", get(peers::get_policy)),
        ApiRoute::put("/api/peers/{pubkey}/policy", put(peers::put_policy)),
        ApiRoute::delete("/api/peers/{pubkey}/policy", delete(peers::delete_policy)),
        ApiRoute::get("/api/sign/pending", get(node::pending_signs)),
        ApiRoute::post("/api/sign/pending/{id}/approve", post(node::approve_sign)),
        ApiRoute::post("/api/sign/pending/{id}/deny", post(node::deny_sign)),
        // CRYPTO: NIP-04/44 through threshold ECDH, and recovery.
        ApiRoute::post("/api/nip44/encrypt", post(crypto::nip44_encrypt)),
        ApiRoute::post("/api/nip44/decrypt", post(crypto::nip44_decrypt)),
        ApiRoute::post("/api/nip04/encrypt", post(crypto::nip04_encrypt)),
        ApiRoute::post("/api/nip04/decrypt", post(crypto::nip04_decrypt)),
        ApiRoute::post("/api/recover", post(recover::recover)),
        ApiRoute::post("/api/recover/validate", post(recover::validate)),
        ApiRoute::get("/api/docs/openapi.json", get(docs::openapi_json)),
        ApiRoute::get("/api/docs/openapi.yaml", get(docs::openapi_yaml)),
    ]
}

/// `GET /`: the relay for WebSocket upgrades and NIP-11 requests, the UI for everything else.
async fn root(
    axum::extract::State(state): axum::extract::State<AppState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    req: axum::extract::Request,
) -> axum::response::Response {
    match &state.relay {
        Some(relay) if crate::relay::is_relay_request(req.headers()) => {
            crate::relay::serve_root(relay.clone(), peer, req).await
        }
        _ => ui::serve(axum::extract::State(state), req).await,
    }
}

/// The complete application router.
pub fn router(state: AppState) -> Router {
    let mut api = Router::new();
    for r in api_routes() {
        api = api.route(r.path, r.handler);
    }
    Router::new()
        .merge(api)
        .merge(docs::swagger_ui())
        .route("/", get(root))
        .fallback(ui::serve)
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed().into_response() })
        // GUARD layers, innermost first: body limit, WebSocket origin, rate limits, CORS,
        // security headers, client address.
        .layer(axum::middleware::from_fn(limits::middleware))
        .layer(from_fn_with_state(state.clone(), origin::ws_middleware))
        .layer(from_fn_with_state(state.clone(), ratelimit::middleware))
        .layer(from_fn_with_state(state.clone(), cors::middleware))
        .layer(from_fn_with_state(state.clone(), headers::middleware))
        .layer(from_fn_with_state(state.clone(), client_ip::middleware))
        .layer(axum::middleware::from_fn(request_id::middleware))
        .with_state(state)
}
