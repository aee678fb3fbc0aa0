//! `/api/user/*` (database mode, a user's own session; reference §3.4): profile, node
//! credentials (sealed in the store; never returned), relays, password change.
//!
//! Saving a complete credential pair makes this user's credentials the node's and restarts
//! the node; deleting them stops it.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use super::AppState;
use super::auth::{blocking, json_body, no_store, store_error};
use super::error::ApiError;
use crate::auth::{Principal, password};
use crate::control::credentials::CredentialsEdit;
use crate::secrets::SecretsError;
use crate::store::credentials::CredentialsError;

pub(crate) fn credentials_error(e: CredentialsError) -> ApiError {
    match e {
        CredentialsError::Store(e) => store_error(e),
        CredentialsError::Secrets(SecretsError::Locked) => ApiError::new(
            StatusCode::LOCKED,
            "LOCKED",
            "The secrets are locked: unlock with the owner passphrase (POST /api/unlock)",
        ),
        e => {
            tracing::error!(error = %e, "stored credentials unreadable");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "CREDENTIALS_UNREADABLE",
                e.to_string(),
            )
        }
    }
}

fn user_id(p: &Principal) -> u64 {
    // The DbUser access level guarantees a database user.
    p.db_user_id().unwrap_or(0)
}

pub(crate) use crate::control::credentials::has_credentials;

#[utoipa::path(get, path = "/api/user/profile", tag = "user",
    responses((status = 200, description = "`{id, username, role, createdAt, hasCredentials}`"),
        (status = 401, description = "Not a database user's session")))]
pub async fn profile(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
) -> Response {
    let id = user_id(&p);
    let (store, vault) = (state.store.clone(), state.vault.clone());
    let res = blocking(move || {
        let u = store.get_user(id).map_err(store_error)?;
        Ok(u.map(|u| (u, has_credentials(&store, &vault, id))))
    })
    .await;
    match res {
        Err(e) => e.into_response(),
        Ok(None) => ApiError::not_found("No such user").into_response(),
        Ok(Some((u, has))) => no_store(
            StatusCode::OK,
            json!({
                "id": u.id,
                "username": u.username,
                "role": u.role,
                "createdAt": crate::timefmt::iso8601_millis(i64::try_from(u.created_at).unwrap_or(0)),
                "hasCredentials": has,
            }),
        ),
    }
}

async fn load(
    state: &AppState,
    id: u64,
) -> Result<Option<crate::store::credentials::NodeCredentials>, ApiError> {
    Ok(state.control.user_credentials(id).await?)
}

#[utoipa::path(get, path = "/api/user/credentials", tag = "user",
    responses((status = 200, description = "What is stored (never the credentials themselves): `{hasGroupCredential, hasShareCredential, relays, group_name, savedAt}`"),
        (status = 404, description = "Nothing stored"), (status = 423, description = "Secrets locked")))]
pub async fn get_credentials(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
) -> Response {
    match load(&state, user_id(&p)).await {
        Err(e) => e.into_response(),
        Ok(None) => ApiError::not_found("No credentials stored").into_response(),
        Ok(Some(c)) => no_store(
            StatusCode::OK,
            json!({
                "hasGroupCredential": c.group_cred.is_some(),
                "hasShareCredential": c.share_cred.is_some(),
                "relays": c.relays,
                "group_name": c.group_name,
                "savedAt": c.saved_at.map(|t| crate::timefmt::iso8601_millis(i64::try_from(t).unwrap_or(0))),
            }),
        ),
    }
}

fn type_error(field: &str, what: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "INVALID_INPUT",
        format!("{field} must be {what}"),
    )
}

/// Reads an optional string field: absent → None, null → Some(None), string → Some(Some).
fn opt_string(body: &Map<String, Value>, field: &str) -> Result<Option<Option<String>>, ApiError> {
    match body.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.trim().to_string()))),
        Some(_) => Err(type_error(field, "a string or null")),
    }
}

/// Reads an optional relay list: absent → None, null → Some(None), array → checked URLs.
pub(crate) fn opt_relays(
    body: &Map<String, Value>,
    field: &str,
) -> Result<Option<Option<Vec<String>>>, ApiError> {
    match body.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::Array(items)) if items.is_empty() => Ok(Some(None)),
        Some(Value::Array(items)) => {
            let urls: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
            let urls = urls.ok_or_else(|| type_error(field, "an array of ws:// or wss:// URLs"))?;
            let joined = serde_json::to_string(&urls).unwrap_or_default();
            crate::config::parse_relays(&joined)
                .map(|r| Some(Some(r)))
                .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "INVALID_RELAYS", e))
        }
        Some(Value::String(s)) => crate::config::parse_relays(s)
            .map(|r| Some(Some(r)))
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "INVALID_RELAYS", e)),
        Some(_) => Err(type_error(
            field,
            "an array of ws:// or wss:// URLs or null",
        )),
    }
}

#[utoipa::path(post, path = "/api/user/credentials", tag = "user",
    request_body(content = Object, description = "Any of `{group_cred, share_cred, relays, group_name}` (string/array or null)"),
    responses((status = 200, description = "Saved (sealed with the device key); the node restarts when the pair is complete"),
        (status = 400, description = "Type error or credentials that do not decode or belong together"),
        (status = 423, description = "Secrets locked")))]
pub async fn set_credentials(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    body: Bytes,
) -> Response {
    let admin = p.is_admin(false);
    match set_credentials_inner(&state, user_id(&p), admin, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn set_credentials_inner(
    state: &AppState,
    id: u64,
    admin: bool,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let map: Map<String, Value> = json_body(body)?;
    let group = opt_string(&map, "group_cred")?;
    let share = opt_string(&map, "share_cred")?;
    let relays = opt_relays(&map, "relays")?;
    let name = opt_string(&map, "group_name")?;
    drop(map);
    let saved = state
        .control
        .update_user_credentials(
            id,
            admin,
            CredentialsEdit {
                group_cred: group,
                share_cred: share,
                relays,
                group_name: name,
            },
        )
        .await?;
    let (complete, node_owner) = (saved.complete, saved.node_owner);
    let message = if complete && !node_owner {
        "Credentials saved; the node keeps running another user's credentials (an admin can switch it)"
    } else {
        "Credentials saved"
    };
    Ok(no_store(
        StatusCode::OK,
        json!({"success": true, "message": message, "nodeOwner": node_owner, "nodeActive": state.node_active()}),
    ))
}

#[utoipa::path(delete, path = "/api/user/credentials", tag = "user",
    responses((status = 200, description = "Credentials, relays and group name removed; the node stops if it was this user's")))]
pub async fn delete_credentials(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
) -> Response {
    let id = user_id(&p);
    if let Err(e) = state.control.delete_user_credentials(id).await {
        return ApiError::from(e).into_response();
    }
    no_store(
        StatusCode::OK,
        json!({"success": true, "message": "Credentials deleted"}),
    )
}

#[utoipa::path(get, path = "/api/user/relays", tag = "user",
    responses((status = 200, description = "`{relays}`: this user's relays, else the configured default")))]
pub async fn get_relays(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
) -> Response {
    match load(&state, user_id(&p)).await {
        Err(e) => e.into_response(),
        Ok(c) => {
            let relays = c
                .as_ref()
                .and_then(|c| c.relays.clone())
                .unwrap_or_else(|| state.config.relays.clone());
            no_store(StatusCode::OK, json!({"relays": relays}))
        }
    }
}

#[utoipa::path(post, path = "/api/user/relays", tag = "user",
    request_body(content = Object, description = "`{relays: string[] | null}`"),
    responses((status = 200, description = "Saved; a running node of this user restarts with them"),
        (status = 400, description = "Not ws:// or wss:// URLs")))]
pub async fn set_relays(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    body: Bytes,
) -> Response {
    let id = user_id(&p);
    let run = async {
        let map: Map<String, Value> = json_body(&body)?;
        let Some(relays) = opt_relays(&map, "relays")? else {
            return Err(type_error("relays", "given"));
        };
        let shown = state.control.set_user_relays(id, relays).await?;
        Ok(no_store(
            StatusCode::OK,
            json!({"success": true, "relays": shown}),
        ))
    };
    match run.await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(post, path = "/api/user/password", tag = "user",
    request_body(content = Object, description = "`{currentPassword, newPassword}`"),
    responses((status = 200, description = "Changed; every session of this user is revoked"),
        (status = 400, description = "Missing fields or a new password that breaks the rules"),
        (status = 401, description = "Current password wrong")))]
pub async fn change_password(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let id = user_id(&p);
    let Principal::User { username, .. } = &p else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "Database user required",
        )
        .into_response();
    };
    let map: Map<String, Value> = match json_body(&body) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    let (Some(current), Some(new)) = (
        map.get("currentPassword").and_then(Value::as_str),
        map.get("newPassword").and_then(Value::as_str),
    ) else {
        return type_error("currentPassword and newPassword", "strings").into_response();
    };
    if let Err(e) = password::validate_password(new, username) {
        return ApiError::new(StatusCode::BAD_REQUEST, e.code, e.message).into_response();
    }
    let (current, new) = (
        Zeroizing::new(current.to_string()),
        Zeroizing::new(new.to_string()),
    );
    drop(map);
    let store = state.store.clone();
    let res = blocking(move || {
        let Some(u) = store.get_user(id).map_err(store_error)? else {
            return Ok(false);
        };
        if !password::verify(&current, &u.password_hash) {
            return Ok(false);
        }
        let hash = password::hash(&new).map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "HASH_FAILED",
                "Could not hash the password",
            )
        })?;
        store.set_password(id, &hash).map_err(store_error)
    })
    .await;
    match res {
        Err(e) => e.into_response(),
        Ok(false) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "WRONG_PASSWORD",
            "Current password is incorrect",
        )
        .into_response(),
        Ok(true) => {
            tracing::info!(user = id, "password changed; sessions revoked");
            (
                [(
                    header::SET_COOKIE,
                    crate::auth::session::clear_cookie(super::origin::request_is_https(
                        &state, &headers,
                    )),
                )],
                no_store(
                    StatusCode::OK,
                    json!({"success": true, "message": "Password changed; log in again"}),
                ),
            )
                .into_response()
        }
    }
}

/// `PUT /api/user/credentials`: the same as POST (igloo-server accepts both).
#[utoipa::path(put, path = "/api/user/credentials", tag = "user",
    request_body(content = Object, description = "As POST"),
    responses((status = 200, description = "As POST")))]
pub async fn set_credentials_put(
    state: State<AppState>,
    p: Extension<Principal>,
    body: Bytes,
) -> Response {
    set_credentials(state, p, body).await
}

/// `PUT /api/user/relays`: the same as POST.
#[utoipa::path(put, path = "/api/user/relays", tag = "user",
    request_body(content = Object, description = "As POST"),
    responses((status = 200, description = "As POST")))]
pub async fn set_relays_put(
    state: State<AppState>,
    p: Extension<Principal>,
    body: Bytes,
) -> Response {
    set_relays(state, p, body).await
}
