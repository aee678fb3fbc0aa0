//! The HTTP surface: router, one module per API area, the embedded UI.
//!
//! Every API route is declared once in [`api_routes`]; the router is built from that table
//! and a test checks that each entry is in the OpenAPI document.

pub mod admin;
pub mod auth;
pub mod authn;
pub mod client_ip;
pub mod cors;
pub mod crypto;
pub mod docs;
pub mod env;
pub mod error;
pub mod events;
pub mod headers;
pub mod keyset;
pub mod limits;
pub mod nip46;
pub mod node;
pub mod onboarding;
pub mod origin;
pub mod peers;
pub mod qr;
pub mod ratelimit;
pub mod recover;
pub mod request_id;
pub mod status;
pub mod ui;
pub mod user;

use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use axum::http::Method;
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, delete, get, post, put};

use crate::auth::{Access, Modes};
use crate::control::Control;
use error::ApiError;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

/// The control layer plus what only HTTP has. Field access reaches the control layer's
/// parts through [`Deref`] (`state.store`, `state.node`, `state.live`, …): handlers read
/// simple store data directly and call [`Control`] for lifecycle, keyset and crypto work.
pub struct AppInner {
    pub control: Control,
    pub tls_enabled: bool,
    /// Rate limits, login throttle, event-socket cap and origin policy (task GUARD).
    pub guard: Arc<ratelimit::Guard>,
    /// The NIP-46 remote signer (sessions, approvals, relays).
    pub nip46: crate::nip46::Service,
}

impl Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl Deref for AppInner {
    type Target = Control;
    fn deref(&self) -> &Control {
        &self.control
    }
}

impl AppState {
    pub fn new(inner: AppInner) -> Self {
        Self(Arc::new(inner))
    }
}

/// One API route: method and path as documented, its handler, who may call it (its class in
/// the access matrix, [`crate::auth::access`]) and in which modes it exists. Routes need any
/// signed-in user (API keys: scope `admin`) unless marked otherwise.
pub struct ApiRoute {
    pub method: Method,
    pub path: &'static str,
    pub handler: MethodRouter<AppState>,
    pub access: Access,
    pub modes: Modes,
}

impl ApiRoute {
    fn new(method: Method, path: &'static str, handler: MethodRouter<AppState>) -> Self {
        Self {
            method,
            path,
            handler,
            access: Access::User,
            modes: Modes::Both,
        }
    }
    fn get(path: &'static str, handler: MethodRouter<AppState>) -> Self {
        Self::new(Method::GET, path, handler)
    }
    fn post(path: &'static str, handler: MethodRouter<AppState>) -> Self {
        Self::new(Method::POST, path, handler)
    }
    fn put(path: &'static str, handler: MethodRouter<AppState>) -> Self {
        Self::new(Method::PUT, path, handler)
    }
    fn delete(path: &'static str, handler: MethodRouter<AppState>) -> Self {
        Self::new(Method::DELETE, path, handler)
    }
    fn access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }
    fn modes(mut self, modes: Modes) -> Self {
        self.modes = modes;
        self
    }
}

/// The table of API routes. Add new endpoints here (and annotate them for OpenAPI).
pub fn api_routes() -> Vec<ApiRoute> {
    let mut routes = vec![
        ApiRoute::get("/api/status", get(status::status)).access(Access::Public),
        ApiRoute::post("/api/sign", post(node::sign)).access(Access::Sign),
        ApiRoute::get("/api/peers", get(node::peers)).access(Access::Read),
        ApiRoute::post("/api/peers/ping", post(node::ping)).access(Access::Read),
        ApiRoute::get("/api/events", get(events::events)).access(Access::Read),
        ApiRoute::get("/api/peers/self", get(peers::self_key)).access(Access::Read),
        ApiRoute::get("/api/peers/group", get(peers::group)).access(Access::Read),
        ApiRoute::get("/api/peers/policies", get(peers::policies)).access(Access::Admin),
        ApiRoute::get("/api/peers/{pubkey}/policy", get(peers::get_policy)).access(Access::Admin),
        ApiRoute::put("/api/peers/{pubkey}/policy", put(peers::put_policy)).access(Access::Admin),
        ApiRoute::delete("/api/peers/{pubkey}/policy", delete(peers::delete_policy))
            .access(Access::Admin),
        ApiRoute::get("/api/sign/pending", get(node::pending_signs)).access(Access::Admin),
        ApiRoute::post("/api/sign/pending/{id}/approve", post(node::approve_sign))
            .access(Access::Admin),
        ApiRoute::post("/api/sign/pending/{id}/deny", post(node::deny_sign)).access(Access::Admin),
        ApiRoute::post("/api/nip44/encrypt", post(crypto::nip44_encrypt)).access(Access::Sign),
        ApiRoute::post("/api/nip44/decrypt", post(crypto::nip44_decrypt)).access(Access::Sign),
        ApiRoute::post("/api/nip04/encrypt", post(crypto::nip04_encrypt)).access(Access::Sign),
        ApiRoute::post("/api/nip04/decrypt", post(crypto::nip04_decrypt)).access(Access::Sign),
        ApiRoute::post("/api/recover", post(recover::recover)),
        ApiRoute::post("/api/recover/validate", post(recover::validate)),
        ApiRoute::post("/api/qr", post(qr::qr)),
        // ---- V2M: keyset migration and V2 credentials (owner only) ----
        ApiRoute::get("/api/keyset", get(keyset::get_keyset)).access(Access::Admin),
        ApiRoute::delete("/api/keyset", delete(keyset::delete_keyset)).access(Access::Admin),
        ApiRoute::post("/api/keyset/migrate", post(keyset::migrate_keyset)).access(Access::Admin),
        ApiRoute::post("/api/keyset/import", post(keyset::import_keyset)).access(Access::Admin),
        // ---- NIP-46 remote signer (owner only) ----
        ApiRoute::get("/api/nip46/sessions", get(nip46::list_sessions)).access(Access::Admin),
        ApiRoute::post("/api/nip46/sessions", post(nip46::create_session)).access(Access::Admin),
        ApiRoute::delete(
            "/api/nip46/sessions/{pubkey}",
            delete(nip46::delete_session),
        )
        .access(Access::Admin),
        ApiRoute::put(
            "/api/nip46/sessions/{pubkey}/policy",
            put(nip46::put_policy),
        )
        .access(Access::Admin),
        ApiRoute::put(
            "/api/nip46/sessions/{pubkey}/status",
            put(nip46::put_status),
        )
        .access(Access::Admin),
        ApiRoute::get("/api/nip46/history", get(nip46::history)).access(Access::Admin),
        ApiRoute::get("/api/nip46/requests", get(nip46::list_requests)).access(Access::Admin),
        ApiRoute::post("/api/nip46/requests", post(nip46::decide_request)).access(Access::Admin),
        ApiRoute::get("/api/nip46/relays", get(nip46::get_relays)).access(Access::Admin),
        ApiRoute::put("/api/nip46/relays", put(nip46::put_relays)).access(Access::Admin),
        ApiRoute::get("/api/nip46/transport", get(nip46::transport)).access(Access::Admin),
        ApiRoute::post("/api/nip46/connect", post(nip46::connect)).access(Access::Admin),
        ApiRoute::post("/api/nip46/bunker", post(nip46::bunker)).access(Access::Admin),
        ApiRoute::get("/api/docs/openapi.json", get(docs::openapi_json)).access(Access::Public),
        ApiRoute::get("/api/docs/openapi.yaml", get(docs::openapi_yaml)).access(Access::Public),
    ];
    routes.extend(auth_routes());
    routes
}

/// Onboarding, login, users, API keys, configuration and unlock (task AUTH).
fn auth_routes() -> Vec<ApiRoute> {
    use Access::{Admin, DbUser, Public};
    use Modes::{Database, Headless};
    vec![
        ApiRoute::post("/api/auth/login", post(auth::login)).access(Public),
        ApiRoute::post("/api/auth/logout", post(auth::logout)).access(Public),
        ApiRoute::get("/api/auth/status", get(auth::status)).access(Public),
        ApiRoute::post("/api/unlock", post(auth::unlock)).access(Public),
        ApiRoute::get("/api/onboarding/status", get(onboarding::status))
            .access(Public)
            .modes(Database),
        ApiRoute::post(
            "/api/onboarding/validate-admin",
            post(onboarding::validate_admin),
        )
        .access(Public)
        .modes(Database),
        ApiRoute::post("/api/onboarding/setup", post(onboarding::setup))
            .access(Public)
            .modes(Database),
        ApiRoute::get("/api/user/profile", get(user::profile))
            .access(DbUser)
            .modes(Database),
        ApiRoute::get("/api/user/credentials", get(user::get_credentials))
            .access(DbUser)
            .modes(Database),
        ApiRoute::post("/api/user/credentials", post(user::set_credentials))
            .access(DbUser)
            .modes(Database),
        ApiRoute::put("/api/user/credentials", put(user::set_credentials_put))
            .access(DbUser)
            .modes(Database),
        ApiRoute::delete("/api/user/credentials", delete(user::delete_credentials))
            .access(DbUser)
            .modes(Database),
        ApiRoute::get("/api/user/relays", get(user::get_relays))
            .access(DbUser)
            .modes(Database),
        ApiRoute::post("/api/user/relays", post(user::set_relays))
            .access(DbUser)
            .modes(Database),
        ApiRoute::put("/api/user/relays", put(user::set_relays_put))
            .access(DbUser)
            .modes(Database),
        ApiRoute::post("/api/user/password", post(user::change_password))
            .access(DbUser)
            .modes(Database),
        ApiRoute::get("/api/admin/whoami", get(admin::whoami))
            .access(Admin)
            .modes(Database),
        ApiRoute::get("/api/admin/status", get(admin::status))
            .access(Admin)
            .modes(Database),
        ApiRoute::get("/api/admin/users", get(admin::list_users))
            .access(Admin)
            .modes(Database),
        ApiRoute::post("/api/admin/users", post(admin::add_user))
            .access(Admin)
            .modes(Database),
        ApiRoute::post("/api/admin/users/delete", post(admin::delete_user))
            .access(Admin)
            .modes(Database),
        ApiRoute::get("/api/admin/api-keys", get(admin::list_api_keys))
            .access(Admin)
            .modes(Database),
        ApiRoute::post("/api/admin/api-keys", post(admin::create_api_key))
            .access(Admin)
            .modes(Database),
        ApiRoute::post("/api/admin/api-keys/revoke", post(admin::revoke_api_key))
            .access(Admin)
            .modes(Database),
        ApiRoute::post("/api/admin/passphrase", post(admin::set_passphrase))
            .access(Admin)
            .modes(Database),
        ApiRoute::get("/api/env", get(env::get_env)).access(Admin),
        ApiRoute::post("/api/env", post(env::post_env)).access(Admin),
        ApiRoute::post("/api/env/delete", post(env::delete_env)).access(Admin),
        ApiRoute::post("/api/env/admin-secret", post(env::reveal_admin_secret))
            .access(Admin)
            .modes(Database),
        ApiRoute::get("/api/env/shares", get(env::get_shares))
            .access(Admin)
            .modes(Headless),
        ApiRoute::post("/api/env/shares", post(env::post_shares))
            .access(Admin)
            .modes(Headless),
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
    let headless = state.config.headless;
    // Docs need a caller in production (reference §3.11).
    let protect_docs = state.config.is_production() && state.config.auth.enabled;
    let mut api = Router::new();
    for r in api_routes() {
        if !r.modes.includes(headless) {
            continue;
        }
        let access = if protect_docs && r.path.starts_with("/api/docs") {
            Access::User
        } else {
            r.access
        };
        let layer = axum::middleware::from_fn_with_state((state.clone(), access), authn::enforce);
        api = api.route(r.path, r.handler.route_layer(layer));
    }
    let mut swagger = docs::swagger_ui();
    if protect_docs {
        swagger = swagger.route_layer(axum::middleware::from_fn_with_state(
            (state.clone(), Access::User),
            authn::enforce,
        ));
    }
    Router::new()
        .merge(api)
        .merge(swagger)
        .route("/", get(root))
        .fallback(ui::serve)
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed().into_response() })
        // GUARD layers, innermost first: body limit, WebSocket origin, rate limits, CORS,
        // security headers, client address.
        .layer(axum::middleware::from_fn(events::handshake_credentials))
        .layer(axum::middleware::from_fn(limits::middleware))
        .layer(from_fn_with_state(state.clone(), origin::ws_middleware))
        .layer(from_fn_with_state(state.clone(), ratelimit::middleware))
        .layer(from_fn_with_state(state.clone(), cors::middleware))
        .layer(from_fn_with_state(state.clone(), headers::middleware))
        .layer(from_fn_with_state(state.clone(), client_ip::middleware))
        .layer(axum::middleware::map_response(limits::json_413))
        .layer(axum::middleware::from_fn(request_id::middleware))
        .with_state(state)
}
