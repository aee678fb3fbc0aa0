//! `/api/auth/login|logout|status` and `POST /api/unlock` (reference §3.1), plus the small
//! helpers the account routes share (JSON bodies that answer 400, blocking store calls).

use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::AppState;
use super::authn::{client_ip, with_auth};
use super::error::ApiError;
use crate::auth::authn::{check_api_key, check_basic, create_session};
use crate::auth::session::{clear_cookie, session_id, set_cookie};
use crate::auth::{Principal, password, tokens};
use crate::store::StoreError;
use crate::store::sessions::SessionOwner;

/// The caller's address (see [`client_ip`]).
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(ClientIp(client_ip(
            &parts.headers,
            peer,
            state.config.auth.trust_proxy,
        )))
    }
}

/// Parses a JSON body; malformed JSON or wrong types give 400 (never 422).
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "Invalid request body: expected a JSON object of the documented shape",
        )
    })
}

pub(crate) fn store_error(e: StoreError) -> ApiError {
    tracing::error!(error = %e, "store error");
    let message = if e.is_io() {
        "The store could not write to the disk (full or failing); nothing was changed. Free some space and try again: no restart is needed"
    } else {
        "The store is unavailable; try again"
    };
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "STORE_UNAVAILABLE",
        message,
    )
}

/// Runs blocking work (store, Argon2id) off the async thread.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f).await.map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "Unexpected server error",
        )
    })?
}

/// `Cache-Control: no-store` on a JSON answer (account and configuration routes).
pub(crate) fn no_store(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [
            (
                header::CACHE_CONTROL,
                "no-store, no-cache, must-revalidate, private",
            ),
            (header::PRAGMA, "no-cache"),
        ],
        Json(body),
    )
        .into_response()
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginRequest {
    pub username: Option<String>,
    pub password: Option<String>,
    pub api_key: Option<String>,
}

impl Drop for LoginRequest {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.password.zeroize();
        self.api_key.zeroize();
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginResponse {
    pub success: bool,
    pub session_id: String,
    /// Numeric user id, `api-user`, `api-key:<prefix>` or the basic user name.
    #[schema(value_type = Object)]
    pub user_id: serde_json::Value,
    /// Idle timeout in milliseconds (igloo-server's unit).
    pub expires_in: u64,
}

fn invalid_credentials() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(serde_json::json!({"success": false, "error": "Invalid credentials", "code": "INVALID_CREDENTIALS"})),
    )
        .into_response()
}

#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, description = "Logged in; sets the `session` cookie", body = LoginResponse),
        (status = 400, description = "Malformed body", body = super::error::ErrorBody),
        (status = 401, description = "Invalid credentials")))]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req: LoginRequest = match json_body(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    // Failed logins slow down per user name and per address (GUARD's throttle).
    let throttle_name = req
        .username
        .as_deref()
        .map(|u| u.trim().to_string())
        .unwrap_or_else(|| "api-key".to_string());
    let throttle_ip = ip.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    if let Err(retry) = state.guard.login.check(&throttle_name, throttle_ip) {
        return crate::http::ratelimit::too_many(retry);
    }
    let st = state.clone();
    let result = blocking(move || {
        let owner = if let Some(key) = req.api_key.as_deref().filter(|k| !k.is_empty()) {
            match with_auth(&st, |ctx| check_api_key(ctx, key, ip)).map_err(store_error)? {
                Some(Principal::EnvApiKey) => Some((SessionOwner::EnvApiKey, "api-user".into())),
                Some(Principal::ApiKey { id, prefix, .. }) => Some((
                    SessionOwner::ApiKey { id },
                    format!("api-key:{prefix}").into(),
                )),
                _ => None,
            }
        } else if let (Some(user), Some(pass)) = (req.username.as_deref(), req.password.as_deref())
        {
            let db_user = if st.config.headless {
                None
            } else {
                st.store.find_user(user.trim()).map_err(store_error)?
            };
            match db_user {
                Some(u) if password::verify(pass, &u.password_hash) => Some((
                    SessionOwner::User { id: u.id },
                    serde_json::Value::from(u.id),
                )),
                Some(_) => None,
                None => {
                    if !st.config.headless {
                        password::dummy_verify(pass);
                    }
                    match with_auth(&st, |ctx| check_basic(ctx, user, pass)) {
                        Some(Principal::Basic { username }) => Some((
                            SessionOwner::Basic {
                                username: username.clone(),
                            },
                            username.into(),
                        )),
                        _ => None,
                    }
                }
            }
        } else {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "Give {username, password} or {apiKey}",
            ));
        };
        let Some((owner, user_id)) = owner else {
            return Ok(None);
        };
        let sid = with_auth(&st, |ctx| create_session(ctx, owner, ip)).map_err(store_error)?;
        Ok(Some((sid, user_id)))
    })
    .await;
    match result {
        Err(e) => e.into_response(),
        Ok(None) => {
            tracing::info!(ip = ?ip, "login failed");
            state
                .guard
                .login
                .record_failure(&throttle_name, throttle_ip);
            invalid_credentials()
        }
        Ok(Some((sid, user_id))) => {
            state
                .guard
                .login
                .record_success(&throttle_name, throttle_ip);
            tracing::info!(user = %user_id, "login succeeded");
            let timeout = state.live.current().auth.session_timeout;
            let cookie = set_cookie(
                &sid,
                timeout.as_secs(),
                super::origin::request_is_https(&state, &headers),
            );
            let body = LoginResponse {
                success: true,
                session_id: sid.to_string(),
                user_id,
                expires_in: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            };
            (
                [
                    (header::SET_COOKIE, cookie),
                    (header::CACHE_CONTROL, "no-store".to_string()),
                ],
                Json(body),
            )
                .into_response()
        }
    }
}

#[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
    responses((status = 200, description = "The session (header or cookie) is revoked; the cookie is cleared")))]
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = session_id(&headers) {
        let id = Zeroizing::new(id);
        let hash = tokens::sha256_hex(&id);
        let store = state.store.clone();
        if let Err(e) = blocking(move || store.delete_session(&hash).map_err(store_error)).await {
            return e.into_response();
        }
    }
    (
        [(
            header::SET_COOKIE,
            clear_cookie(super::origin::request_is_https(&state, &headers)),
        )],
        Json(serde_json::json!({"success": true})),
    )
        .into_response()
}

#[utoipa::path(get, path = "/api/auth/status", tag = "auth",
    responses((status = 200, description = "`{enabled, methods, rateLimiting, sessionTimeout, authenticated, admin, dbUser}`: the last three describe the caller (a session cookie or key sent with this request), so a page can tell whether it is signed in without a refused request")))]
pub async fn status(
    State(state): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
) -> Response {
    let st = state.clone();
    match blocking(move || Ok(with_auth(&st, crate::auth::authn::auth_methods))).await {
        Ok(mut v) => {
            let p = principal.map(|axum::Extension(p)| p);
            v["authenticated"] = serde_json::json!(p.is_some());
            v["admin"] = serde_json::json!(
                p.as_ref()
                    .is_some_and(|p| p.is_admin(state.config.headless))
            );
            v["dbUser"] = serde_json::json!(p.as_ref().is_some_and(|p| p.db_user_id().is_some()));
            no_store(StatusCode::OK, v)
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct UnlockRequest {
    pub passphrase: String,
}

impl Drop for UnlockRequest {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.passphrase.zeroize();
    }
}

#[utoipa::path(post, path = "/api/unlock", tag = "auth", request_body = UnlockRequest,
    responses((status = 200, description = "Unlocked; the node starts from stored credentials"),
        (status = 400, description = "Malformed body or no passphrase set", body = super::error::ErrorBody),
        (status = 401, description = "Wrong passphrase", body = super::error::ErrorBody)))]
pub async fn unlock(State(state): State<AppState>, body: Bytes) -> Response {
    let mut req: UnlockRequest = match json_body(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let pass = Zeroizing::new(std::mem::take(&mut req.passphrase));
    drop(req);
    match state.control.unlock(pass).await {
        Ok(()) => {}
        Err(e @ crate::control::ControlError::NoPassphrase) => {
            return ApiError::from(e).into_response();
        }
        Err(e) => {
            tracing::warn!("unlock attempt with a wrong passphrase");
            return ApiError::from(e).into_response();
        }
    }
    Json(serde_json::json!({
        "success": true,
        "locked": false,
        "nodeActive": state.node_active(),
    }))
    .into_response()
}
