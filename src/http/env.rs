//! `GET|POST /api/env`, `POST /api/env/delete`, `GET|POST /api/env/shares` (reference §3.5):
//! igloo-server's configuration surface, persisted in the store instead of `.env`.
//!
//! Node keys (`GROUP_CRED`, `SHARE_CRED`, `RELAYS`, `GROUP_NAME`) are headless-only and go
//! into the sealed `env` credentials record; changing them restarts (or stops) the node. The
//! other allowed keys are settings ([`crate::control::live`]): validated with the flag's rules,
//! stored as `env.<key>`, laid over the start-up configuration and applied at once where the
//! daemon can (session timeout, sign timeout, rate limits, allowed origins, peer policies);
//! the answer lists which keys took effect and which wait for the next start.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::AppState;
use super::auth::{blocking, json_body, no_store, store_error};
use super::error::ApiError;
use super::user::{credentials_error, opt_relays};
use crate::auth::Principal;
use crate::control::lifecycle::decode_pair;
use crate::control::live::{Effect, Setting, effect_of, setting_key};
use crate::control::settings::Change;
use crate::store::credentials::NodeCredentials;
use crate::store::users::now_ms;

/// Keys `POST /api/env` accepts (igloo-server's allow-list).
/// Credential and node keys, then every runtime setting ([`SETTING_KEYS`], one list).
const NODE_ENV_KEYS: &[&str] = &[
    "SHARE_CRED",
    "GROUP_CRED",
    "RELAYS",
    "GROUP_NAME",
    "CREDENTIALS_SAVED_AT",
];

fn allowed_keys() -> impl Iterator<Item = &'static str> {
    NODE_ENV_KEYS
        .iter()
        .chain(crate::control::live::SETTING_KEYS)
        .copied()
}

fn is_allowed(key: &str) -> bool {
    allowed_keys().any(|k| k == key)
}
const SECRET_KEYS: &[&str] = &["SHARE_CRED", "GROUP_CRED"];
/// Kept in the sealed node record (headless only).
const NODE_KEYS: &[&str] = &[
    "SHARE_CRED",
    "GROUP_CRED",
    "RELAYS",
    "GROUP_NAME",
    "CREDENTIALS_SAVED_AT",
];

/// The configured (start-up) value of a public key, as igloo-server shows it.
fn config_value(state: &AppState, key: &str) -> Option<String> {
    let c = &state.live.current();
    Some(match key {
        "RELAYS" => serde_json::to_string(&c.relays).unwrap_or_default(),
        "GROUP_NAME" => c.group_name.clone()?,
        "SESSION_TIMEOUT" => c.auth.session_timeout.as_secs().to_string(),
        "FROSTR_SIGN_TIMEOUT" => c.sign_timeout.as_millis().to_string(),
        "RATE_LIMIT_ENABLED" => c.rate_limits.enabled.to_string(),
        "RATE_LIMIT_WINDOW" => c.rate_limits.window.as_secs().to_string(),
        "RATE_LIMIT_MAX" => c.rate_limits.max.to_string(),
        "NODE_RESTART_DELAY" => c.restart.initial.as_millis().to_string(),
        "NODE_MAX_RETRIES" => c.restart.max_attempts.to_string(),
        "NODE_BACKOFF_MULTIPLIER" => c.restart.multiplier.to_string(),
        "NODE_MAX_RETRY_DELAY" => c.restart.max_delay.as_millis().to_string(),
        "CONNECTIVITY_PING_TIMEOUT_MS" => c.ping_timeout.as_millis().to_string(),
        "ALLOWED_ORIGINS" => c.auth.allowed_origins.join(","),
        _ => return None,
    })
}

async fn env_record(state: &AppState) -> Result<Option<NodeCredentials>, ApiError> {
    Ok(state.control.env_record().await?)
}

/// The public configuration map: stored values over start-up values; never credentials.
async fn public_map(state: &AppState) -> Result<Map<String, Value>, ApiError> {
    let store = state.store.clone();
    let stored = blocking(move || {
        let mut out = Vec::new();
        for k in allowed_keys().filter(|k| !SECRET_KEYS.contains(k)) {
            if let Some(v) = store.get_setting(&setting_key(k)).map_err(store_error)? {
                out.push((k.to_string(), String::from_utf8_lossy(&v).into_owned()));
            }
        }
        Ok(out)
    })
    .await?;
    let mut map = Map::new();
    for k in allowed_keys().filter(|k| !SECRET_KEYS.contains(k)) {
        if let Some(v) = config_value(state, k) {
            map.insert(k.to_string(), Value::String(v));
        }
    }
    for (k, v) in stored {
        map.insert(k, Value::String(v));
    }
    if state.config.headless {
        if let Some(rec) = env_record(state).await? {
            if let Some(r) = &rec.relays {
                map.insert(
                    "RELAYS".into(),
                    Value::String(serde_json::to_string(r).unwrap_or_default()),
                );
            }
            if let Some(n) = &rec.group_name {
                map.insert("GROUP_NAME".into(), Value::String(n.clone()));
            }
            if let Some(t) = rec.saved_at {
                map.insert(
                    "CREDENTIALS_SAVED_AT".into(),
                    Value::String(crate::timefmt::iso8601_millis(
                        i64::try_from(t).unwrap_or(0),
                    )),
                );
            }
        }
    }
    Ok(map)
}

#[utoipa::path(get, path = "/api/env", tag = "env",
    responses((status = 200, description = "Public configuration (never credentials) as in force, `adminSecretAvailable`, and `restartRequiredKeys`: saved settings that apply at the next start; database mode adds the user's GROUP_NAME, RELAYS and hasCredentials")))]
pub async fn get_env(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
) -> Response {
    let run = async {
        let mut map = public_map(&state).await?;
        let mut admin_secret_available = false;
        if let Principal::User { id, role, .. } = &p {
            let id = *id;
            let (store, vault) = (state.store.clone(), state.vault.clone());
            let rec = blocking(move || {
                store
                    .get_credentials(&vault, &crate::store::credentials::user_owner(id))
                    .map_err(credentials_error)
            })
            .await?;
            let relays = rec
                .as_ref()
                .and_then(|r| r.relays.clone())
                .unwrap_or_else(|| state.config.relays.clone());
            map.insert("RELAYS".into(), json!(relays));
            map.insert(
                "GROUP_NAME".into(),
                json!(rec.as_ref().and_then(|r| r.group_name.clone())),
            );
            map.insert(
                "hasCredentials".into(),
                json!(rec.as_ref().is_some_and(|r| r.has_credentials())),
            );
            admin_secret_available = *role == crate::store::users::Role::Admin
                && state.config.auth.admin_secret.is_some();
        }
        map.insert("adminSecretAvailable".into(), json!(admin_secret_available));
        // Saved values the running daemon does not use yet (they apply at the next start).
        map.insert(
            "restartRequiredKeys".into(),
            json!(crate::control::live::pending_restart(
                &state.config,
                &state.live.current()
            )),
        );
        Ok::<_, ApiError>(no_store(StatusCode::OK, Value::Object(map)))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

/// `ALLOWED_ORIGINS` may come as a JSON array of origins, as the UI keeps it.
fn setting_string(key: &str, v: &Value) -> Option<String> {
    match (key, v) {
        ("ALLOWED_ORIGINS", Value::Array(a)) => a
            .iter()
            .map(|o| o.as_str().map(str::trim))
            .collect::<Option<Vec<_>>>()
            .map(|v| v.join(",")),
        _ => value_string(v),
    }
}

fn value_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(_) => serde_json::to_string(v).ok(),
        _ => None,
    }
}

#[utoipa::path(post, path = "/api/env", tag = "env",
    request_body(content = Object, description = "A map of allowed keys to values"),
    responses((status = 200, description = "`{success, message, nodeActive, appliedKeys, restartRequiredKeys, unusedKeys, rejectedKeys?}`: \
appliedKeys took effect at once (SESSION_TIMEOUT, FROSTR_SIGN_TIMEOUT and PEER_POLICIES restart a running node, RATE_LIMIT_*, ALLOWED_ORIGINS); \
restartRequiredKeys (NODE_RESTART_DELAY, NODE_MAX_RETRIES, NODE_BACKOFF_MULTIPLIER, NODE_MAX_RETRY_DELAY, CONNECTIVITY_PING_TIMEOUT_MS) \
apply from the next start; unusedKeys (INITIAL_CONNECTIVITY_DELAY) are stored only. Credential or relay changes restart the node"),
        (status = 400, description = "Invalid relays, credentials or setting value (code INVALID_SETTING; nothing is stored)"), (status = 403, description = "Not the owner")))]
pub async fn post_env(State(state): State<AppState>, body: Bytes) -> Response {
    let run = async {
        let map: Map<String, Value> = json_body(&body)?;
        let headless = state.config.headless;
        let mut rejected = Vec::new();
        let mut node_changes: Map<String, Value> = Map::new();
        let mut settings: Vec<(String, String)> = Vec::new();
        for (k, v) in &map {
            let allowed = is_allowed(k.as_str()) && (headless || !NODE_KEYS.contains(&k.as_str()));
            let Some(s) = setting_string(k, v)
                .filter(|s| allowed && s.len() <= 65_536 && !s.chars().any(char::is_control))
            else {
                rejected.push(k.clone());
                continue;
            };
            if NODE_KEYS.contains(&k.as_str()) {
                node_changes.insert(k.clone(), v.clone());
            } else {
                settings.push((k.clone(), s));
            }
        }
        drop(map);
        // Every value is checked before anything is stored: a bad one changes nothing. An
        // empty value (a cleared form field) removes the saved one: the start-up value returns.
        let invalid: Vec<String> = settings
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .filter_map(|(k, v)| Setting::parse(k, v).err())
            .collect();
        if !invalid.is_empty() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_SETTING",
                invalid.join("; "),
            ));
        }
        let setting_keys: Vec<String> = settings.iter().map(|(k, _)| k.clone()).collect();
        let mut reload = false;
        if !node_changes.is_empty() {
            let relays = opt_relays(&node_changes, "RELAYS")?;
            let text = |k: &str| {
                node_changes
                    .get(k)
                    .and_then(value_string)
                    .filter(|s| !s.is_empty())
            };
            let (g, s, n) = (text("GROUP_CRED"), text("SHARE_CRED"), text("GROUP_NAME"));
            reload = state
                .control
                .update_env_record(|rec| {
                    let cred_change = g.is_some() || s.is_some();
                    if g.is_some() {
                        rec.group_cred = g;
                    }
                    if s.is_some() {
                        rec.share_cred = s;
                    }
                    if let Some(r) = relays {
                        rec.relays = r;
                    }
                    if n.is_some() {
                        rec.group_name = n;
                    }
                    if cred_change {
                        rec.saved_at = Some(now_ms());
                    }
                    true
                })
                .await?;
        }
        let change = state.control.save_settings(settings).await?;
        let node_changed = apply_live(&state, &change, reload).await;
        tracing::info!(
            rejected = rejected.len(),
            node_changed,
            "configuration updated"
        );
        let mut out = effects_answer(&setting_keys, "Configuration updated");
        out["nodeActive"] = json!(state.node_active());
        if !rejected.is_empty() {
            out["rejectedKeys"] = json!(rejected);
        }
        Ok::<_, ApiError>(no_store(StatusCode::OK, out))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

#[utoipa::path(post, path = "/api/env/delete", tag = "env",
    request_body(content = Object, description = "`{keys: [..]}`"),
    responses((status = 200, description = "`{success, message, deletedKeys, appliedKeys, restartRequiredKeys, unusedKeys, rejectedKeys?}`: a removed setting returns to its start-up value the same way; removing a credential stops the node"),
        (status = 400, description = "keys is not an array of strings")))]
pub async fn delete_env(State(state): State<AppState>, body: Bytes) -> Response {
    let run = async {
        let map: Map<String, Value> = json_body(&body)?;
        let keys: Option<Vec<String>> = map
            .get("keys")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(|v| v.as_str().map(String::from)).collect());
        let keys = keys.ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_INPUT",
                "keys must be an array of strings",
            )
        })?;
        let headless = state.config.headless;
        let (mut deleted, mut rejected, mut node_keys, mut settings) =
            (vec![], vec![], vec![], vec![]);
        for k in keys {
            if !is_allowed(k.as_str()) || (!headless && NODE_KEYS.contains(&k.as_str())) {
                rejected.push(k);
            } else if NODE_KEYS.contains(&k.as_str()) {
                node_keys.push(k);
            } else {
                settings.push(k);
            }
        }
        let mut reload = false;
        if !node_keys.is_empty() {
            let nk = node_keys.clone();
            reload = state
                .control
                .update_env_record(move |rec| {
                    for k in &nk {
                        match k.as_str() {
                            "GROUP_CRED" => rec.group_cred = None,
                            "SHARE_CRED" => rec.share_cred = None,
                            "RELAYS" => rec.relays = None,
                            "GROUP_NAME" => rec.group_name = None,
                            _ => rec.saved_at = None,
                        }
                    }
                    true
                })
                .await?;
            deleted.extend(node_keys);
        }
        // An empty value removes the saved one.
        let removals = settings
            .iter()
            .map(|k| (k.clone(), String::new()))
            .collect();
        let change = state.control.save_settings(removals).await?;
        apply_live(&state, &change, reload).await;
        let removed = settings;
        let mut out = effects_answer(&removed, "Keys deleted");
        deleted.extend(removed);
        out["deletedKeys"] = json!(deleted);
        if !rejected.is_empty() {
            out["rejectedKeys"] = json!(rejected);
        }
        Ok::<_, ApiError>(no_store(StatusCode::OK, out))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

/// Pushes a changed configuration to the parts that read it while running: the guard (HTTP's
/// own), then the node (the control layer's; it restarts when it must or when
/// `credentials_changed`). Returns whether the node was reloaded.
async fn apply_live(state: &AppState, change: &Change, credentials_changed: bool) -> bool {
    state.guard.reconfigure(&change.next);
    state
        .control
        .apply_change(change, credentials_changed)
        .await
}

/// `{success, message, appliedKeys, restartRequiredKeys, unusedKeys}` for changed settings.
fn effects_answer(keys: &[String], message: &str) -> Value {
    let of =
        |e: Effect| -> Vec<&String> { keys.iter().filter(|k| effect_of(k) == Some(e)).collect() };
    let restart = of(Effect::Restart);
    let message = if restart.is_empty() {
        message.to_string()
    } else {
        let names: Vec<&str> = restart.iter().map(|k| k.as_str()).collect();
        format!(
            "{message}; {} take effect when igloo restarts",
            names.join(", ")
        )
    };
    json!({
        "success": true,
        "message": message,
        "appliedKeys": of(Effect::Live),
        "restartRequiredKeys": restart,
        "unusedKeys": of(Effect::Unused),
    })
}

#[utoipa::path(get, path = "/api/env/shares", tag = "env",
    responses((status = 200, description = "Headless: `[{hasShareCredential, hasGroupCredential, isValid, savedAt, id, source}]` (never the credentials)")))]
pub async fn get_shares(State(state): State<AppState>) -> Response {
    let run = async {
        let rec = env_record(&state).await?;
        let cfg = &state.config;
        let (g, s, saved) = match &rec {
            Some(r) if r.group_cred.is_some() || r.share_cred.is_some() => {
                (r.group_cred.clone(), r.share_cred.clone(), r.saved_at)
            }
            _ => (
                cfg.group_cred.as_ref().map(|c| c.expose().to_string()),
                cfg.share_cred.as_ref().map(|c| c.expose().to_string()),
                None,
            ),
        };
        let g = g.map(zeroize::Zeroizing::new);
        let s = s.map(zeroize::Zeroizing::new);
        if g.is_none() && s.is_none() {
            return Ok::<_, ApiError>(no_store(StatusCode::OK, json!([])));
        }
        let valid = matches!((&g, &s), (Some(g), Some(s)) if decode_pair(g, s).is_ok());
        Ok(no_store(
            StatusCode::OK,
            json!([{
                "hasShareCredential": s.is_some(),
                "hasGroupCredential": g.is_some(),
                "isValid": valid,
                "savedAt": saved.map(|t| crate::timefmt::iso8601_millis(i64::try_from(t).unwrap_or(0))),
                "id": "env-stored-share",
                "source": "environment",
            }]),
        ))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

#[utoipa::path(post, path = "/api/env/shares", tag = "env",
    request_body(content = Object, description = "`{shareCredential, groupCredential}`"),
    responses((status = 200, description = "`{success, message: 'Share saved successfully'}`; the node restarts with it"),
        (status = 400, description = "Missing, undecodable or mismatched credentials")))]
pub async fn post_shares(State(state): State<AppState>, body: Bytes) -> Response {
    let run = async {
        let map: Map<String, Value> = json_body(&body)?;
        let (Some(share), Some(group)) = (
            map.get("shareCredential")
                .and_then(Value::as_str)
                .map(|s| zeroize::Zeroizing::new(s.trim().to_string())),
            map.get("groupCredential")
                .and_then(Value::as_str)
                .map(|s| zeroize::Zeroizing::new(s.trim().to_string())),
        ) else {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_INPUT",
                "shareCredential and groupCredential must be strings",
            ));
        };
        drop(map);
        state.control.save_env_share(&group, &share).await?;
        Ok(no_store(
            StatusCode::OK,
            json!({"success": true, "message": "Share saved successfully", "nodeActive": state.node_active()}),
        ))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

#[utoipa::path(post, path = "/api/env/admin-secret", tag = "env",
    request_body(content = Object, description = "`{confirm: true}` (or `confirmReveal: true`)"),
    responses((status = 200, description = "`{adminSecret}`: the explicit reveal, for an admin user's session only"),
        (status = 400, description = "Not confirmed"), (status = 403, description = "Not an admin user"),
        (status = 404, description = "No ADMIN_SECRET configured")))]
pub async fn reveal_admin_secret(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    body: Bytes,
) -> Response {
    // A role-admin user only: not the secret itself, not an API key.
    let Principal::User { role, id, .. } = &p else {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "An admin user's session is required",
        )
        .into_response();
    };
    if *role != crate::store::users::Role::Admin {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "An admin user's session is required",
        )
        .into_response();
    }
    let map: Map<String, Value> = match json_body(&body) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    let confirmed =
        [map.get("confirm"), map.get("confirmReveal")].contains(&Some(&Value::Bool(true)));
    if !confirmed {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "NOT_CONFIRMED",
            "Send {\"confirm\": true} to reveal the admin secret",
        )
        .into_response();
    }
    let Some(secret) = &state.config.auth.admin_secret else {
        return ApiError::not_found("No ADMIN_SECRET is configured").into_response();
    };
    tracing::warn!(user = id, "admin secret revealed");
    no_store(StatusCode::OK, json!({"adminSecret": secret.expose()}))
}
