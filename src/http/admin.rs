//! `/api/admin/*` (database mode; an admin user's session or the admin secret; reference
//! §3.3): users, API keys, status, and the owner passphrase that locks the device key.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use super::AppState;
use super::auth::{blocking, json_body, no_store, store_error};
use super::error::ApiError;
use crate::auth::{Principal, password, tokens};
use crate::store::api_keys::{ApiKeyRecord, ApiKeyScope, RevokeApiKey};
use crate::store::users::{CreateUser, DeleteUser, Role};

fn iso(ms: u64) -> String {
    crate::timefmt::iso8601_millis(i64::try_from(ms).unwrap_or(0))
}

fn bad(code: &'static str, message: impl Into<String>) -> Response {
    ApiError::new(StatusCode::BAD_REQUEST, code, message).into_response()
}

#[utoipa::path(get, path = "/api/admin/whoami", tag = "admin",
    responses((status = 200, description = "`{admin: true, userId}`"), (status = 403, description = "Not an admin")))]
pub async fn whoami(Extension(p): Extension<Principal>) -> Response {
    no_store(
        StatusCode::OK,
        json!({"admin": true, "userId": p.db_user_id()}),
    )
}

#[utoipa::path(get, path = "/api/admin/status", tag = "admin",
    responses((status = 200, description = "`{initialized, userCount, hasAdminSecret, mode, locked, hasPassphrase}`")))]
pub async fn status(State(state): State<AppState>) -> Response {
    let store = state.store.clone();
    match blocking(move || store.user_count().map_err(store_error)).await {
        Err(e) => e.into_response(),
        Ok(n) => no_store(
            StatusCode::OK,
            json!({
                "initialized": n > 0,
                "userCount": n,
                "hasAdminSecret": state.config.auth.admin_secret.is_some(),
                "mode": "database",
                "locked": state.vault.is_locked(),
                "hasPassphrase": state.vault.has_passphrase(),
            }),
        ),
    }
}

#[utoipa::path(get, path = "/api/admin/users", tag = "admin",
    responses((status = 200, description = "`{users: [{id, username, role, createdAt, hasCredentials}]}`")))]
pub async fn list_users(State(state): State<AppState>) -> Response {
    let (store, vault) = (state.store.clone(), state.vault.clone());
    let res = blocking(move || {
        let users = store.list_users().map_err(store_error)?;
        Ok(users
            .into_iter()
            .map(|u| {
                json!({
                    "id": u.id,
                    "username": u.username,
                    "role": u.role,
                    "createdAt": iso(u.created_at),
                    "hasCredentials": super::user::has_credentials(&store, &vault, u.id),
                })
            })
            .collect::<Vec<_>>())
    })
    .await;
    match res {
        Ok(users) => no_store(StatusCode::OK, json!({"users": users})),
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(post, path = "/api/admin/users", tag = "admin",
    request_body(content = Object, description = "`{username, password, role?: \"admin\" | \"user\"}`"),
    responses((status = 201, description = "Created"), (status = 400, description = "Invalid user name, password or role"),
        (status = 409, description = "User name taken")))]
pub async fn add_user(State(state): State<AppState>, body: Bytes) -> Response {
    let map: Map<String, Value> = match json_body(&body) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    let (Some(user), Some(pass)) = (
        map.get("username").and_then(Value::as_str),
        map.get("password").and_then(Value::as_str),
    ) else {
        return bad("invalid_input", "username and password must be strings");
    };
    let role = match map.get("role").and_then(Value::as_str) {
        None | Some("user") => Role::User,
        Some("admin") => Role::Admin,
        Some(_) => return bad("invalid_role", "role must be \"admin\" or \"user\""),
    };
    let username = match password::validate_username(user) {
        Ok(u) => u,
        Err(e) => return bad(e.code, e.message),
    };
    if let Err(e) = password::validate_password(pass, &username) {
        return bad(e.code, e.message);
    }
    let pass = Zeroizing::new(pass.to_string());
    drop(map);
    let store = state.store.clone();
    let name = username.clone();
    let res = blocking(move || {
        let hash = password::hash(&pass).map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "HASH_FAILED",
                "Could not hash the password",
            )
        })?;
        store
            .create_user(&name, &hash, role, false)
            .map_err(store_error)
    })
    .await;
    match res {
        Err(e) => e.into_response(),
        Ok(CreateUser::Created(u)) => {
            tracing::info!(user = %u.username, id = u.id, role = ?u.role, "user added");
            no_store(
                StatusCode::CREATED,
                json!({"success": true, "user": {"id": u.id, "username": u.username, "role": u.role, "createdAt": iso(u.created_at)}}),
            )
        }
        Ok(_) => ApiError::new(
            StatusCode::CONFLICT,
            "USERNAME_TAKEN",
            "Username already exists",
        )
        .into_response(),
    }
}

fn int_field(map: &Map<String, Value>, field: &str) -> Option<u64> {
    match map.get(field)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[utoipa::path(post, path = "/api/admin/users/delete", tag = "admin",
    request_body(content = Object, description = "`{userId}`"),
    responses((status = 200, description = "Deleted with their sessions and credentials"),
        (status = 400, description = "Invalid id, or the last admin"), (status = 404, description = "No such user")))]
pub async fn delete_user(State(state): State<AppState>, body: Bytes) -> Response {
    let map: Map<String, Value> = match json_body(&body) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    let Some(id) = int_field(&map, "userId").filter(|&i| i > 0) else {
        return bad("INVALID_USER_ID", "userId must be a positive integer");
    };
    match state.control.delete_user(id).await {
        Err(e) => ApiError::from(e).into_response(),
        Ok(DeleteUser::NotFound) => ApiError::not_found("No such user").into_response(),
        Ok(DeleteUser::LastAdmin) => bad("LAST_ADMIN", "Cannot delete the last admin user"),
        Ok(DeleteUser::Deleted) => {
            tracing::info!(id, "user deleted");
            no_store(
                StatusCode::OK,
                json!({"success": true, "message": "User deleted"}),
            )
        }
    }
}

fn key_json(k: &ApiKeyRecord) -> Value {
    json!({
        "id": k.id,
        "prefix": k.prefix,
        "label": k.label,
        "createdAt": iso(k.created_at),
        "updatedAt": iso(k.updated_at),
        "lastUsedAt": k.last_used_at.map(iso),
        "lastUsedIp": k.last_used_ip,
        "revokedAt": k.revoked_at.map(iso),
        "revokedReason": k.revoked_reason,
        "createdByUserId": k.created_by_user_id,
        "createdByAdmin": k.created_by_admin,
        "scope": k.scope.as_str(),
    })
}

#[utoipa::path(get, path = "/api/admin/api-keys", tag = "admin",
    responses((status = 200, description = "`{apiKeys: [...]}`, active first, newest first (never the token)")))]
pub async fn list_api_keys(State(state): State<AppState>) -> Response {
    let store = state.store.clone();
    match blocking(move || store.list_api_keys().map_err(store_error)).await {
        Ok(keys) => no_store(
            StatusCode::OK,
            json!({"apiKeys": keys.iter().map(key_json).collect::<Vec<_>>()}),
        ),
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(post, path = "/api/admin/api-keys", tag = "admin",
    request_body(content = Object, description = "`{label?: string (≤128), scope?: \"sign\" (default) | \"read\" | \"admin\", userId?: int, createdByAdmin?: bool}`"),
    responses((status = 201, description = "`{apiKey: {id, token, prefix, label, scope, createdByUserId, createdByAdmin}}`; the token is shown only now"),
        (status = 400, description = "Invalid input")))]
pub async fn create_api_key(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    body: Bytes,
) -> Response {
    let map: Map<String, Value> = if body.is_empty() {
        Map::new()
    } else {
        match json_body(&body) {
            Ok(m) => m,
            Err(e) => return e.into_response(),
        }
    };
    let label = match map.get("label") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= 128 => Some(s.trim().to_string()),
        Some(_) => {
            return bad(
                "INVALID_LABEL",
                "label must be a string of at most 128 characters",
            );
        }
    };
    let scope = match map.get("scope") {
        None | Some(Value::Null) => ApiKeyScope::default(),
        Some(Value::String(s)) => match ApiKeyScope::parse(s.trim()) {
            Some(k) => k,
            None => {
                return bad(
                    "INVALID_SCOPE",
                    "scope must be \"sign\", \"read\" or \"admin\"",
                );
            }
        },
        Some(_) => {
            return bad(
                "INVALID_SCOPE",
                "scope must be \"sign\", \"read\" or \"admin\"",
            );
        }
    };
    let user = match map.get("userId") {
        None | Some(Value::Null) => p.db_user_id(),
        Some(_) => match int_field(&map, "userId") {
            Some(id) => Some(id),
            None => return bad("INVALID_USER_ID", "userId must be a positive integer"),
        },
    };
    let by_admin = match map.get("createdByAdmin") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return bad("INVALID_INPUT", "createdByAdmin must be a boolean"),
    };
    let store = state.store.clone();
    let res = blocking(move || {
        if let Some(id) = user {
            if store.get_user(id).map_err(store_error)?.is_none() {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "INVALID_USER_ID",
                    "No such user",
                ));
            }
        }
        // A prefix collision (1 in 2^48) just draws another token.
        for _ in 0..4 {
            let token = tokens::random_token();
            let rec = ApiKeyRecord {
                id: 0,
                prefix: token[..tokens::API_KEY_PREFIX_LEN].to_string(),
                key_hash: tokens::sha256_hex(&token),
                label: label.clone(),
                created_by_user_id: user,
                created_by_admin: by_admin,
                created_at: 0,
                updated_at: 0,
                last_used_at: None,
                last_used_ip: None,
                revoked_at: None,
                revoked_reason: None,
                scope,
            };
            if let Some(rec) = store.create_api_key(rec).map_err(store_error)? {
                return Ok((rec, token));
            }
        }
        Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "KEY_FAILED",
            "Could not create a key",
        ))
    })
    .await;
    match res {
        Err(e) => e.into_response(),
        Ok((rec, token)) => {
            tracing::info!(id = rec.id, prefix = %rec.prefix, scope = rec.scope.as_str(), "API key created");
            no_store(
                StatusCode::CREATED,
                json!({"apiKey": {
                    "id": rec.id,
                    "token": token.as_str(),
                    "prefix": rec.prefix,
                    "label": rec.label,
                    "scope": rec.scope.as_str(),
                    "createdByUserId": rec.created_by_user_id,
                    "createdByAdmin": rec.created_by_admin,
                }}),
            )
        }
    }
}

#[utoipa::path(post, path = "/api/admin/api-keys/revoke", tag = "admin",
    request_body(content = Object, description = "`{apiKeyId: int, reason?: string (≤256)}`"),
    responses((status = 200, description = "Revoked; its sessions end too"), (status = 400, description = "Invalid input"),
        (status = 404, description = "No such key"), (status = 409, description = "Already revoked")))]
pub async fn revoke_api_key(State(state): State<AppState>, body: Bytes) -> Response {
    let map: Map<String, Value> = match json_body(&body) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    let Some(id) = int_field(&map, "apiKeyId").filter(|&i| i > 0) else {
        return bad("INVALID_API_KEY_ID", "apiKeyId must be a positive integer");
    };
    let reason = match map.get("reason") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= 256 => Some(s.trim().to_string()),
        Some(_) => {
            return bad(
                "INVALID_REASON",
                "reason must be a string of at most 256 characters",
            );
        }
    };
    let store = state.store.clone();
    match blocking(move || {
        store
            .revoke_api_key(id, reason.as_deref())
            .map_err(store_error)
    })
    .await
    {
        Err(e) => e.into_response(),
        Ok(RevokeApiKey::Revoked) => {
            tracing::info!(id, "API key revoked");
            no_store(StatusCode::OK, json!({"success": true}))
        }
        Ok(RevokeApiKey::NotFound) => ApiError::not_found("No such API key").into_response(),
        Ok(RevokeApiKey::AlreadyRevoked) => ApiError::new(
            StatusCode::CONFLICT,
            "ALREADY_REVOKED",
            "API key already revoked",
        )
        .into_response(),
    }
}

#[utoipa::path(post, path = "/api/admin/passphrase", tag = "admin",
    request_body(content = Object, description = "`{passphrase: string | null}`: set (8+ characters) or remove the owner passphrase"),
    responses((status = 200, description = "`{success, hasPassphrase}`; with a passphrase the node waits for POST /api/unlock after each restart"),
        (status = 400, description = "Too short"), (status = 423, description = "Secrets locked")))]
pub async fn set_passphrase(State(state): State<AppState>, body: Bytes) -> Response {
    let map: Map<String, Value> = match json_body(&body) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    let pass = match map.get("passphrase") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(Zeroizing::new(s.clone())),
        Some(_) => return bad("INVALID_INPUT", "passphrase must be a string or null"),
    };
    drop(map);
    match state.control.set_passphrase(pass).await {
        Err(e) => ApiError::from(e).into_response(),
        Ok(has) => no_store(
            StatusCode::OK,
            json!({"success": true, "hasPassphrase": has}),
        ),
    }
}
