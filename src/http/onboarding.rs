//! `/api/onboarding/*` (database mode, public; reference §3.2): the admin secret guards the
//! creation of the first user, who becomes an admin.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::{blocking, no_store, store_error};
use crate::auth::{password, tokens};
use crate::store::users::{CreateUser, Role};

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OnboardingStatus {
    pub initialized: bool,
    pub has_admin_secret: bool,
    pub headless_mode: bool,
    pub skip_admin_validation: bool,
}

fn skip_validation(state: &AppState) -> bool {
    let a = &state.config.auth;
    a.skip_admin_secret_validation && a.admin_secret.is_some()
}

/// Whether the request carries the admin secret as a bearer token (constant time).
fn has_admin_secret(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(secret) = &state.config.auth.admin_secret else {
        return false;
    };
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string());
    presented.is_some_and(|p| tokens::secret_eq(&p, secret.expose()))
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
    match blocking(move || store.user_count().map_err(store_error)).await {
        Ok(n) => no_store(
            StatusCode::OK,
            serde_json::to_value(OnboardingStatus {
                initialized: n > 0,
                has_admin_secret: state.config.auth.admin_secret.is_some(),
                headless_mode: false,
                skip_admin_validation: skip_validation(&state),
            })
            .unwrap_or_default(),
        ),
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(post, path = "/api/onboarding/validate-admin", tag = "onboarding",
    responses((status = 200, description = "The bearer token is the admin secret and no user exists yet"),
        (status = 401, description = "Wrong secret, or already initialized")))]
pub async fn validate_admin(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let ok = has_admin_secret(&state, &headers);
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
        (status = 401, description = "Admin secret missing or wrong, or already initialized"),
        (status = 409, description = "User name taken")))]
pub async fn setup(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if !skip_validation(&state) && !has_admin_secret(&state, &headers) {
        return auth_failed();
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
        store
            .create_user(&name, &hash, Role::Admin, true)
            .map_err(store_error)
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
