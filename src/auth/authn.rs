//! Authentication of a request from its headers against the configuration and the store
//! (the access levels routes declare are in [`super::access`]). The axum layer that applies them per route is
//! [`crate::http::authn`] (auth never depends on the HTTP layer).

use std::net::IpAddr;

use axum::http::HeaderMap;
use base64::Engine;
use zeroize::Zeroizing;

use super::principal::Principal;
use super::session::session_id;
use super::tokens::{API_KEY_PREFIX_LEN, digest_eq, random_token, secret_eq, sha256_hex};
use crate::config::Config;
use crate::store::sessions::{SessionOwner, SessionRecord};
use crate::store::users::now_ms;
use crate::store::{Store, StoreError};

/// What authentication reads: the start-up configuration (credentials, mode), the one in
/// force (session timeout, rate limiting) and the store (users, sessions, API keys).
#[derive(Clone, Copy)]
pub struct AuthCtx<'a> {
    pub config: &'a Config,
    pub live: &'a Config,
    pub store: &'a Store,
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

fn basic(headers: &HeaderMap) -> Option<(String, Zeroizing<String>)> {
    let v = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, b64) = v.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()?,
    );
    let s = std::str::from_utf8(&raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), Zeroizing::new(p.to_string())))
}

/// The presented API key: `X-API-Key`, else a bearer token.
pub(crate) fn presented_api_key(headers: &HeaderMap) -> Option<Zeroizing<String>> {
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .or_else(|| bearer(headers))
        .map(Zeroizing::new)
}

/// Checks an API key: the headless `API_KEY` or a stored, unrevoked key. Records the use of
/// a stored key. (`ADMIN_SECRET` is no API key: only onboarding accepts it.)
pub(crate) fn check_api_key(
    state: &AuthCtx<'_>,
    token: &str,
    ip: Option<IpAddr>,
) -> Result<Option<Principal>, StoreError> {
    let auth = &state.config.auth;
    if let Some(k) = &auth.api_key {
        if secret_eq(token, k.expose()) {
            return Ok(Some(Principal::EnvApiKey));
        }
    }
    if state.config.headless {
        return Ok(None);
    }
    if token.len() != 64 || !token.is_ascii() {
        return Ok(None);
    }
    let prefix = &token[..API_KEY_PREFIX_LEN];
    let Some(rec) = state.store.find_api_key_by_prefix(prefix)? else {
        return Ok(None);
    };
    if rec.revoked_at.is_some() || !digest_eq(&sha256_hex(token), &rec.key_hash) {
        return Ok(None);
    }
    let now = now_ms();
    let ip_s = ip.map(|i| i.to_string());
    // One write a minute per key at most: every use is an fsync otherwise.
    if rec.last_used_ip != ip_s
        || rec
            .last_used_at
            .is_none_or(|t| now.saturating_sub(t) > 60_000)
    {
        state
            .store
            .record_api_key_use(rec.id, now, ip_s.as_deref())?;
    }
    Ok(Some(Principal::ApiKey {
        id: rec.id,
        prefix: rec.prefix,
        scope: rec.scope,
    }))
}

/// Checks the basic-auth user against `BASIC_AUTH_USER/PASS` (constant time, any length).
pub(crate) fn check_basic(state: &AuthCtx<'_>, user: &str, pass: &str) -> Option<Principal> {
    let auth = &state.config.auth;
    let (Some(u), Some(p)) = (&auth.basic_user, &auth.basic_pass) else {
        return None;
    };
    // Both comparisons always run, so timing says nothing about which part was wrong.
    let ok = secret_eq(user, u) & secret_eq(pass, p.expose());
    ok.then(|| Principal::Basic {
        username: u.clone(),
    })
}

/// Resolves a session id to its principal; expired sessions and sessions whose owner is gone
/// (deleted user, revoked key, removed env credential) are deleted and give `None`.
pub(crate) fn check_session(
    state: &AuthCtx<'_>,
    id: &str,
) -> Result<Option<Principal>, StoreError> {
    let hash = sha256_hex(id);
    let Some(rec) = state.store.get_session(&hash)? else {
        return Ok(None);
    };
    let now = now_ms();
    let timeout = u64::try_from(state.live.auth.session_timeout.as_millis()).unwrap_or(u64::MAX);
    let idle = now.saturating_sub(rec.last_access);
    let principal = if idle > timeout {
        None
    } else {
        owner_principal(state, &rec.owner)?
    };
    let Some(principal) = principal else {
        state.store.delete_session(&hash)?;
        return Ok(None);
    };
    // Sliding expiry, written at most every quarter timeout (and at least every minute).
    if idle > (timeout / 4).min(60_000) {
        state.store.touch_session(&hash, now)?;
    }
    Ok(Some(principal))
}

/// Whether the session with this id hash is still in force, without touching it: stored,
/// not idle past the timeout, its owner still there. The event stream asks this every
/// second and ends when it turns false (logout, expiry, password change, deleted user or key).
pub(crate) fn session_alive(state: &AuthCtx<'_>, hash: &str) -> Result<bool, StoreError> {
    let Some(rec) = state.store.get_session(hash)? else {
        return Ok(false);
    };
    let timeout = u64::try_from(state.live.auth.session_timeout.as_millis()).unwrap_or(u64::MAX);
    if now_ms().saturating_sub(rec.last_access) > timeout {
        return Ok(false);
    }
    Ok(owner_principal(state, &rec.owner)?.is_some())
}

fn owner_principal(
    state: &AuthCtx<'_>,
    owner: &SessionOwner,
) -> Result<Option<Principal>, StoreError> {
    let auth = &state.config.auth;
    Ok(match owner {
        SessionOwner::User { id } => state.store.get_user(*id)?.map(|u| Principal::User {
            id: u.id,
            username: u.username,
            role: u.role,
        }),
        SessionOwner::ApiKey { id } => state
            .store
            .get_api_key(*id)?
            .filter(|k| k.revoked_at.is_none())
            .map(|k| Principal::ApiKey {
                id: k.id,
                prefix: k.prefix,
                scope: k.scope,
            }),
        SessionOwner::EnvApiKey => auth.api_key.as_ref().map(|_| Principal::EnvApiKey),
        SessionOwner::Basic { username } => auth
            .basic_user
            .as_ref()
            .filter(|u| secret_eq(u, username))
            .map(|u| Principal::Basic {
                username: u.clone(),
            }),
    })
}

/// Authenticates a request from its headers: API key, basic auth, then session. Blocking
/// (store reads): call through [`crate::store::Store::run_blocking`] or a blocking task.
pub fn authenticate(
    state: &AuthCtx<'_>,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
) -> Result<Option<Principal>, StoreError> {
    if let Some(key) = presented_api_key(headers) {
        if let Some(p) = check_api_key(state, &key, ip)? {
            return Ok(Some(p));
        }
    }
    if let Some((u, p)) = basic(headers) {
        if let Some(p) = check_basic(state, &u, &p) {
            return Ok(Some(p));
        }
    }
    if let Some(id) = session_id(headers) {
        return check_session(state, &id);
    }
    Ok(None)
}

/// Creates a session for `owner` and returns its id (shown to the caller once).
pub(crate) fn create_session(
    state: &AuthCtx<'_>,
    owner: SessionOwner,
    ip: Option<IpAddr>,
) -> Result<Zeroizing<String>, StoreError> {
    let id = random_token();
    let now = now_ms();
    state.store.put_session(
        &sha256_hex(&id),
        &SessionRecord {
            owner,
            created_at: now,
            last_access: now,
            ip: ip.map(|i| i.to_string()),
        },
    )?;
    Ok(id)
}

/// The methods `/api/auth/status` and 401 bodies list.
pub(crate) fn auth_methods(state: &AuthCtx<'_>) -> serde_json::Value {
    let auth = &state.config.auth;
    let mut methods = Vec::new();
    let db_keys = !state.config.headless && state.store.has_active_api_keys().unwrap_or(false);
    if auth.api_key.is_some() || db_keys {
        methods.push("api-key");
    }
    if auth.basic_user.is_some() && auth.basic_pass.is_some() {
        methods.push("basic-auth");
    }
    methods.push("session");
    let live = state.live;
    serde_json::json!({
        "enabled": auth.enabled,
        "methods": methods,
        "rateLimiting": live.rate_limits.enabled,
        "sessionTimeout": live.auth.session_timeout.as_secs(),
    })
}

/// Whether a request presents any credential (key, basic, bearer, session header or cookie).
pub fn carries_credentials(headers: &HeaderMap) -> bool {
    [
        "x-api-key",
        "x-session-id",
        "x-admin-secret",
        "authorization",
    ]
    .iter()
    .any(|h| headers.contains_key(*h))
        || session_id(headers).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_recognised_in_headers() {
        let mut h = HeaderMap::new();
        assert!(!carries_credentials(&h));
        h.insert("cookie", "theme=dark".parse().unwrap());
        assert!(!carries_credentials(&h));
        h.insert("cookie", "session=abc".parse().unwrap());
        assert!(carries_credentials(&h));
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            "Basic b3duZXI6cGE1NXdvcmQ=".parse().unwrap(),
        );
        let (u, p) = basic(&h).unwrap();
        assert_eq!((u.as_str(), p.as_str()), ("owner", "pa55word"));
        assert!(bearer(&h).is_none());
        h.insert("authorization", "Bearer tok".parse().unwrap());
        assert_eq!(bearer(&h).as_deref(), Some("tok"));
        assert_eq!(
            presented_api_key(&h).as_deref().map(String::as_str),
            Some("tok")
        );
        h.insert("x-api-key", "key".parse().unwrap());
        assert_eq!(
            presented_api_key(&h).as_deref().map(String::as_str),
            Some("key")
        );
    }
}
