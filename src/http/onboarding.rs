//! `/api/onboarding/*` (database mode, public; reference §3.2): the admin secret or the
//! one-time setup code ([`crate::auth::setup_code`]), sent as `Authorization: Bearer`, guards the
//! creation of the first user, who becomes an admin.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::ClientIp;
use super::auth::{blocking, no_store, store_error};
use crate::auth::{password, setup_code, tokens};
use crate::store::users::{CreateUser, Role};

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OnboardingStatus {
    pub initialized: bool,
    pub has_admin_secret: bool,
    pub headless_mode: bool,
    pub skip_admin_validation: bool,
    /// A one-time setup code is pending (logged at start, or from `igloo setup-code`): the
    /// page should ask for it in place of the admin secret.
    pub setup_code: bool,
}

fn skip_validation(state: &AppState) -> bool {
    let a = &state.config.auth;
    a.skip_admin_secret_validation && a.admin_secret.is_some()
}

/// The throttle key shared by every attempt at the admin secret or the setup code: the login
/// throttle then slows them per address (5 free, doubling to 15 min) and for everybody
/// (10 free, doubling to 1 min), like password guessing.
const THROTTLE_NAME: &str = "\u{0}onboarding";

/// What the onboarding routes decided about the presented secret.
enum Presented {
    /// The admin secret or the current setup code.
    Valid,
    /// Nothing valid (or nothing at all).
    Invalid,
}

/// Checks `Authorization: Bearer <ADMIN_SECRET or setup code>` (constant time), throttled
/// like a login: `Err` is the 429 to answer. A wrong value counts as a failure.
async fn check_secret(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<std::net::IpAddr>,
) -> Result<Presented, Response> {
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| zeroize::Zeroizing::new(t.trim().to_string()))
        .filter(|t| !t.is_empty());
    let Some(presented) = presented else {
        return Ok(Presented::Invalid);
    };
    let throttle_ip = ip.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    if let Err(retry) = state.guard.login.check(THROTTLE_NAME, throttle_ip) {
        tracing::warn!(ip = ?ip, "onboarding secret attempts throttled");
        return Err(super::ratelimit::too_many(retry));
    }
    let by_secret = state
        .config
        .auth
        .admin_secret
        .as_ref()
        .is_some_and(|s| tokens::secret_eq(&presented, s.expose()));
    let file = state.store.path().to_path_buf();
    let by_code = blocking(move || Ok(setup_code::verify(&file, &presented)))
        .await
        .unwrap_or(false);
    if by_secret || by_code {
        state.guard.login.record_success(THROTTLE_NAME, throttle_ip);
        Ok(Presented::Valid)
    } else {
        tracing::info!(ip = ?ip, "onboarding: wrong admin secret or setup code");
        state.guard.login.record_failure(THROTTLE_NAME, throttle_ip);
        Ok(Presented::Invalid)
    }
}

fn auth_failed() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(
            serde_json::json!({"error": "Authentication failed", "code": "AUTHENTICATION_FAILED"}),
        ),
    )
        .into_response()
}

#[utoipa::path(get, path = "/api/onboarding/status", tag = "onboarding",
    responses((status = 200, description = "Whether the first user exists", body = OnboardingStatus)))]
pub async fn status(State(state): State<AppState>) -> Response {
    let store = state.store.clone();
    let counted = blocking(move || {
        let n = store.user_count().map_err(store_error)?;
        Ok((n, n == 0 && setup_code::exists(store.path())))
    });
    match counted.await {
        Ok((n, code)) => no_store(
            StatusCode::OK,
            serde_json::to_value(OnboardingStatus {
                initialized: n > 0,
                has_admin_secret: state.config.auth.admin_secret.is_some(),
                headless_mode: false,
                skip_admin_validation: skip_validation(&state),
                setup_code: code,
            })
            .unwrap_or_default(),
        ),
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(post, path = "/api/onboarding/validate-admin", tag = "onboarding",
    responses((status = 200, description = "The bearer token is the admin secret or the setup code, and no user exists yet"),
        (status = 401, description = "Wrong secret, or already initialized"),
        (status = 429, description = "Too many wrong secrets: wait `Retry-After` seconds")))]
pub async fn validate_admin(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> Response {
    let ok = match check_secret(&state, &headers, ip).await {
        Ok(p) => matches!(p, Presented::Valid),
        Err(res) => return res,
    };
    let store = state.store.clone();
    let count = match blocking(move || store.user_count().map_err(store_error)).await {
        Ok(n) => n,
        Err(e) => return e.into_response(),
    };
    if !ok || count > 0 {
        return auth_failed();
    }
    no_store(
        StatusCode::OK,
        serde_json::json!({"success": true, "message": "Admin secret validated"}),
    )
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SetupRequest {
    pub username: serde_json::Value,
    pub password: serde_json::Value,
}

impl Drop for SetupRequest {
    fn drop(&mut self) {
        if let serde_json::Value::String(s) = &mut self.password {
            zeroize::Zeroize::zeroize(s);
        }
    }
}

fn bad(code: &'static str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({"error": code, "code": code, "message": message})),
    )
        .into_response()
}

#[utoipa::path(post, path = "/api/onboarding/setup", tag = "onboarding", request_body = SetupRequest,
    responses((status = 200, description = "The first user (role admin) is created"),
        (status = 400, description = "`invalid_request`, `invalid_input`, `invalid_username` or `invalid_password`"),
        (status = 401, description = "Admin secret / setup code missing or wrong, or already initialized"),
        (status = 409, description = "User name taken")))]
pub async fn setup(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !skip_validation(&state) {
        match check_secret(&state, &headers, ip).await {
            Ok(Presented::Valid) => {}
            Ok(Presented::Invalid) => return auth_failed(),
            Err(res) => return res,
        }
    }
    let Ok(req) = serde_json::from_slice::<SetupRequest>(&body) else {
        return bad(
            "invalid_request",
            "Expected a JSON object {username, password}",
        );
    };
    let (Some(user), Some(pass)) = (req.username.as_str(), req.password.as_str()) else {
        return bad("invalid_input", "username and password must be strings");
    };
    let username = match password::validate_username(user) {
        Ok(u) => u,
        Err(e) => return bad(e.code, &e.message),
    };
    if let Err(e) = password::validate_password(pass, &username) {
        return bad(e.code, &e.message);
    }
    let pass = zeroize::Zeroizing::new(pass.to_string());
    let store = state.store.clone();
    let name = username.clone();
    let created = blocking(move || {
        let hash = password::hash(&pass).map_err(|_| {
            super::error::ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "HASH_FAILED",
                "Could not hash the password",
            )
        })?;
        let created = store
            .create_user(&name, &hash, Role::Admin, true)
            .map_err(store_error)?;
        if matches!(created, CreateUser::Created(_)) {
            // The setup code is spent with the first admin.
            if let Err(e) = setup_code::clear(store.path()) {
                tracing::warn!(error = %e, "could not remove the used setup code file");
            }
        }
        Ok(created)
    })
    .await;
    match created {
        Err(e) => e.into_response(),
        Ok(CreateUser::AlreadyInitialized) => auth_failed(),
        Ok(CreateUser::UsernameTaken) => (
            StatusCode::CONFLICT,
            Json(serde_json::json!({"error": "Username already exists", "code": "USERNAME_TAKEN"})),
        )
            .into_response(),
        Ok(CreateUser::Created(u)) => {
            tracing::info!(user = %u.username, id = u.id, "onboarding complete: first admin created");
            no_store(
                StatusCode::OK,
                serde_json::json!({"success": true, "message": "Setup complete", "userId": u.id}),
            )
        }
    }
}
