//! `/api/nip46/*`: the NIP-46 remote signer's sessions, approval queue, relays and pairing,
//! with igloo-server's paths and JSON shapes (admin only). New here: `POST /api/nip46/bunker`
//! (a fresh single-use `bunker://` URI). `GET /api/nip46/transport` shows the transport
//! public key, never its secret (igloo-server returns the secret key).

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use crate::nip46::perms::Policy;
use crate::nip46::service::{RequestRecord, RequestStatus, ServiceError, TransportInfo};
use crate::store::nip46::{HistoryEntry, Profile, SessionRecord, SessionStatus};

fn api_error(e: ServiceError) -> ApiError {
    match e {
        ServiceError::BadRequest(m) => ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", m),
        ServiceError::NotFound(m) => ApiError::not_found(m),
        ServiceError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "CONFLICT", m),
        ServiceError::Locked => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "LOCKED",
            "The device key is locked: unlock first",
        ),
        ServiceError::Store(m) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "STORE_ERROR", m)
        }
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", msg)
}

fn json<T: serde::de::DeserializeOwned>(body: &[u8], shape: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_JSON",
            format!("The body must be {shape}: {e}"),
        )
    })
}

/// Runs a (blocking, store-touching) service call off the async workers.
async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(crate::nip46::Service) -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ApiError> {
    let svc = state.nip46.clone();
    tokio::task::spawn_blocking(move || f(svc))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "TASK_FAILED",
                e.to_string(),
            )
        })?
        .map_err(api_error)
}

fn iso(secs: u64) -> String {
    crate::timefmt::iso8601(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// A paired app.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionView {
    /// The app's (client) public key, hex.
    pub pubkey: String,
    pub status: SessionStatus,
    pub profile: Profile,
    pub relays: Vec<String>,
    pub policy: Policy,
    pub created_at: String,
    pub updated_at: String,
    pub last_active_at: Option<String>,
}

impl From<SessionRecord> for SessionView {
    fn from(r: SessionRecord) -> Self {
        Self {
            pubkey: r.pubkey,
            status: r.status,
            profile: r.profile,
            relays: r.relays,
            policy: r.policy,
            created_at: iso(r.created_at),
            updated_at: iso(r.updated_at),
            last_active_at: r.last_active_at.map(iso),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionsResponse {
    pub sessions: Vec<SessionView>,
}

/// A malformed query string gets the JSON `{error, code}` 400 like every other bad input
/// (axum's own rejection is text/plain).
fn query_error(e: QueryRejection) -> ApiError {
    bad(e.body_text())
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct SessionsQuery {
    /// Also list revoked sessions (they stay revoked).
    pub include_revoked: Option<bool>,
}

#[utoipa::path(get, path = "/api/nip46/sessions", tag = "nip46", params(SessionsQuery),
    responses((status = 200, description = "Paired apps, newest first", body = SessionsResponse)))]
pub async fn list_sessions(
    State(state): State<AppState>,
    q: Result<Query<SessionsQuery>, QueryRejection>,
) -> Result<Json<SessionsResponse>, ApiError> {
    let Query(q) = q.map_err(query_error)?;
    let all = q.include_revoked.unwrap_or(false);
    let sessions = blocking(&state, move |s| s.sessions(all)).await?;
    Ok(Json(SessionsResponse {
        sessions: sessions.into_iter().map(SessionView::from).collect(),
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateSessionRequest {
    /// The app's public key (64 hex).
    pub pubkey: String,
    #[serde(default)]
    pub profile: Option<Profile>,
    #[serde(default)]
    pub relays: Option<Vec<String>>,
    #[serde(default)]
    pub policy: Option<Policy>,
    /// `active` (the default); `pending` is taken as `active`.
    #[serde(default)]
    pub status: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionResponse {
    pub ok: bool,
    pub session: SessionView,
}

#[utoipa::path(post, path = "/api/nip46/sessions", tag = "nip46", request_body = CreateSessionRequest,
    responses((status = 200, description = "The session (created or updated)", body = SessionResponse),
        (status = 400, description = "Bad input", body = ErrorBody),
        (status = 409, description = "The session is revoked", body = ErrorBody)))]
pub async fn create_session(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<SessionResponse>, ApiError> {
    let req: CreateSessionRequest = json(
        &body,
        "{\"pubkey\": …, \"profile\"?, \"relays\"?, \"policy\"?}",
    )?;
    if let Some(s) = req.status.as_deref() {
        if !matches!(s, "active" | "pending") {
            return Err(bad("status must be active (or pending)"));
        }
    }
    let session = blocking(&state, move |s| {
        s.create_session(
            &req.pubkey,
            req.profile.unwrap_or_default(),
            req.relays.unwrap_or_default(),
            req.policy.unwrap_or_default(),
        )
    })
    .await?;
    Ok(Json(SessionResponse {
        ok: true,
        session: session.into(),
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OkResponse {
    pub ok: bool,
}

#[utoipa::path(delete, path = "/api/nip46/sessions/{pubkey}", tag = "nip46",
    params(("pubkey" = String, Path, description = "The app's public key (64 hex)")),
    responses((status = 200, description = "Revoked for good (`ok: false`: no such session)", body = OkResponse),
        (status = 400, description = "Bad key", body = ErrorBody)))]
pub async fn delete_session(
    State(state): State<AppState>,
    Path(pubkey): Path<String>,
) -> Result<Json<OkResponse>, ApiError> {
    let ok = blocking(&state, move |s| s.revoke(&pubkey)).await?;
    Ok(Json(OkResponse { ok }))
}

#[utoipa::path(put, path = "/api/nip46/sessions/{pubkey}/policy", tag = "nip46",
    params(("pubkey" = String, Path, description = "The app's public key (64 hex)")),
    request_body = Policy,
    responses((status = 200, description = "Merged: `true` grants, `false` removes", body = SessionResponse),
        (status = 400, description = "Bad key or body", body = ErrorBody),
        (status = 404, description = "No such session", body = ErrorBody),
        (status = 409, description = "The session is revoked", body = ErrorBody)))]
pub async fn put_policy(
    State(state): State<AppState>,
    Path(pubkey): Path<String>,
    body: Bytes,
) -> Result<Json<SessionResponse>, ApiError> {
    #[derive(Deserialize)]
    struct Patch {
        methods: Option<BTreeMap<String, bool>>,
        kinds: Option<BTreeMap<String, bool>>,
    }
    let p: Patch = json(
        &body,
        "{\"methods\"?: {name: bool}, \"kinds\"?: {kind: bool}}",
    )?;
    if p.methods.is_none() && p.kinds.is_none() {
        return Err(bad("No policy changes provided"));
    }
    let patch = Policy {
        methods: p.methods.unwrap_or_default(),
        kinds: p.kinds.unwrap_or_default(),
    };
    patch.validate().map_err(|e| bad(e.to_string()))?;
    let session = blocking(&state, move |s| s.update_policy(&pubkey, &patch)).await?;
    Ok(Json(SessionResponse {
        ok: true,
        session: session.into(),
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct StatusRequest {
    /// `active` or `revoked` (final).
    pub status: String,
}

#[utoipa::path(put, path = "/api/nip46/sessions/{pubkey}/status", tag = "nip46",
    params(("pubkey" = String, Path, description = "The app's public key (64 hex)")),
    request_body = StatusRequest,
    responses((status = 200, description = "Status set", body = OkResponse),
        (status = 400, description = "Bad key or status", body = ErrorBody),
        (status = 404, description = "No such session", body = ErrorBody),
        (status = 409, description = "A revoked session cannot become active", body = ErrorBody)))]
pub async fn put_status(
    State(state): State<AppState>,
    Path(pubkey): Path<String>,
    body: Bytes,
) -> Result<Json<OkResponse>, ApiError> {
    let r: StatusRequest = json(&body, "{\"status\": \"active\" | \"revoked\"}")?;
    let status = match r.status.as_str() {
        "active" | "pending" => SessionStatus::Active,
        "revoked" => SessionStatus::Revoked,
        _ => return Err(bad("Invalid status: use active or revoked")),
    };
    let ok = blocking(&state, move |s| s.set_status(&pubkey, status)).await?;
    Ok(Json(OkResponse { ok }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionHistory {
    pub pubkey: String,
    pub status: SessionStatus,
    pub last_active_at: Option<String>,
    pub profile: Profile,
    /// Latest distinct kinds signed (up to 5).
    pub recent_kinds: Vec<u16>,
    /// Latest distinct methods answered (up to 5).
    pub recent_methods: Vec<String>,
    /// The session's history, newest first (bounded).
    pub history: Vec<HistoryEntry>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct HistoryResponse {
    pub sessions: Vec<SessionHistory>,
}

#[utoipa::path(get, path = "/api/nip46/history", tag = "nip46",
    responses((status = 200, description = "Recent activity per session", body = HistoryResponse)))]
pub async fn history(State(state): State<AppState>) -> Result<Json<HistoryResponse>, ApiError> {
    let sessions = blocking(&state, |s| {
        let mut out = Vec::new();
        for r in s.sessions(true)? {
            let mut h = s.history(&r.pubkey)?;
            h.reverse();
            let mut kinds = Vec::new();
            let mut methods: Vec<String> = Vec::new();
            for e in h
                .iter()
                .filter(|e| matches!(e.outcome.as_str(), "ok" | "approved"))
            {
                if let Some(k) = e.kind {
                    if !kinds.contains(&k) && kinds.len() < 5 {
                        kinds.push(k);
                    }
                }
                if !methods.contains(&e.method) && methods.len() < 5 {
                    methods.push(e.method.clone());
                }
            }
            out.push(SessionHistory {
                pubkey: r.pubkey,
                status: r.status,
                last_active_at: r.last_active_at.map(iso),
                profile: r.profile,
                recent_kinds: kinds,
                recent_methods: methods,
                history: h,
            });
        }
        Ok(out)
    })
    .await?;
    Ok(Json(HistoryResponse { sessions }))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct RequestsQuery {
    /// Comma-separated: pending, approved, denied, completed, failed, expired.
    pub status: Option<String>,
    /// 1–500 (default 100).
    pub limit: Option<usize>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RequestsResponse {
    pub requests: Vec<RequestRecord>,
}

#[utoipa::path(get, path = "/api/nip46/requests", tag = "nip46", params(RequestsQuery),
    responses((status = 200, description = "Requests that needed approval, newest first", body = RequestsResponse),
        (status = 400, description = "Unknown status", body = ErrorBody)))]
pub async fn list_requests(
    State(state): State<AppState>,
    q: Result<Query<RequestsQuery>, QueryRejection>,
) -> Result<Json<RequestsResponse>, ApiError> {
    let Query(q) = q.map_err(query_error)?;
    let statuses = match q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            s.split(',')
                .map(|p| {
                    RequestStatus::parse(&p.trim().to_ascii_lowercase())
                        .ok_or_else(|| bad(format!("Unknown status {:?}", p.trim())))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    Ok(Json(RequestsResponse {
        requests: state.nip46.requests(statuses.as_deref(), limit),
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct DecideRequest {
    pub id: String,
    /// `approve` or `deny`.
    pub action: String,
    /// With `approve`: also grant this to the session from now on.
    #[serde(default)]
    pub policy: Option<Policy>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DecideResponse {
    pub request: RequestRecord,
}

#[utoipa::path(post, path = "/api/nip46/requests", tag = "nip46", request_body = DecideRequest,
    responses((status = 200, description = "Decided; the app gets the result or an error", body = DecideResponse),
        (status = 400, description = "Bad input", body = ErrorBody),
        (status = 404, description = "No such pending request", body = ErrorBody),
        (status = 409, description = "Already decided", body = ErrorBody)))]
pub async fn decide_request(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<DecideResponse>, ApiError> {
    let r: DecideRequest = json(&body, "{\"id\": …, \"action\": \"approve\" | \"deny\"}")?;
    let approve = match r.action.trim().to_ascii_lowercase().as_str() {
        "approve" => true,
        "deny" => false,
        _ => return Err(bad("Unsupported action. Use approve or deny.")),
    };
    if let Some(p) = &r.policy {
        p.validate().map_err(|e| bad(e.to_string()))?;
    }
    let id = r.id.trim().to_owned();
    let request = blocking(&state, move |s| s.decide(&id, approve, r.policy.as_ref())).await?;
    Ok(Json(DecideResponse { request }))
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct RelaysBody {
    /// ws:// or wss:// URLs; `null` or `[]` goes back to the default (the node's relays and the
    /// built-in relay).
    pub relays: Option<Vec<String>>,
}

#[utoipa::path(get, path = "/api/nip46/relays", tag = "nip46",
    responses((status = 200, description = "Relays the signer listens on", body = RelaysBody)))]
pub async fn get_relays(State(state): State<AppState>) -> Result<Json<RelaysBody>, ApiError> {
    let relays = blocking(&state, |s| Ok(s.relays())).await?;
    Ok(Json(RelaysBody {
        relays: Some(relays),
    }))
}

#[utoipa::path(put, path = "/api/nip46/relays", tag = "nip46", request_body = RelaysBody,
    responses((status = 200, description = "Saved; the signer reconnects", body = RelaysBody),
        (status = 400, description = "Bad URL", body = ErrorBody)))]
pub async fn put_relays(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<RelaysBody>, ApiError> {
    let v: serde_json::Value = json(&body, "{\"relays\": [url, …] | null}")?;
    let relays = match v.get("relays") {
        None => return Err(bad("Field \"relays\" must be an array (or null to clear)")),
        Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Array(a)) => Some(
            a.iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| bad("relays must be strings"))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err(bad("Field \"relays\" must be an array (or null to clear)")),
    };
    let relays = blocking(&state, move |s| s.set_relays(relays)).await?;
    Ok(Json(RelaysBody {
        relays: Some(relays),
    }))
}

#[utoipa::path(get, path = "/api/nip46/transport", tag = "nip46",
    responses((status = 200, description = "The remote-signer key (public part) and its relays", body = TransportInfo),
        (status = 503, description = "Device key locked", body = ErrorBody)))]
pub async fn transport(State(state): State<AppState>) -> Result<Json<TransportInfo>, ApiError> {
    blocking(&state, |s| s.transport_pubkey()).await?;
    Ok(Json(blocking(&state, |s| Ok(s.transport_info())).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ConnectRequest {
    /// A `nostrconnect://` URI from the app.
    pub uri: String,
}

#[utoipa::path(post, path = "/api/nip46/connect", tag = "nip46", request_body = ConnectRequest,
    responses((status = 200, description = "Paired; the app got the connect response", body = SessionResponse),
        (status = 400, description = "Bad URI", body = ErrorBody),
        (status = 409, description = "Revoked before, or the app's relays are unreachable", body = ErrorBody)))]
pub async fn connect(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<SessionResponse>, ApiError> {
    let r: ConnectRequest = json(&body, "{\"uri\": \"nostrconnect://…\"}")?;
    let uri = zeroize::Zeroizing::new(r.uri);
    if !uri
        .trim()
        .to_ascii_lowercase()
        .starts_with("nostrconnect://")
    {
        return Err(bad("Field \"uri\" must be a nostrconnect:// URL"));
    }
    let session = state.nip46.connect_uri(&uri).await.map_err(api_error)?;
    Ok(Json(SessionResponse {
        ok: true,
        session: session.into(),
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct BunkerResponse {
    /// `bunker://<signer pubkey>?relay=…&secret=…`: give it to one app; the secret works once.
    pub uri: String,
    pub pubkey: String,
    pub relays: Vec<String>,
    pub expires_at: String,
}

#[utoipa::path(post, path = "/api/nip46/bunker", tag = "nip46",
    responses((status = 200, description = "A fresh single-use bunker:// URI", body = BunkerResponse),
        (status = 409, description = "Too many unused URIs, or no relays", body = ErrorBody),
        (status = 503, description = "Device key locked", body = ErrorBody)))]
pub async fn bunker(State(state): State<AppState>) -> Result<Json<BunkerResponse>, ApiError> {
    let (uri, expires, pubkey, relays) = blocking(&state, |s| {
        let (uri, expires) = s.new_bunker_uri()?;
        Ok((uri, expires, s.transport_pubkey()?, s.relays()))
    })
    .await?;
    // An idle service starts listening now; the URI is handed out once a relay is connected,
    // so an app that connects at once is heard (failing that, the app's own retry is).
    state
        .nip46
        .listen_now(std::time::Duration::from_secs(5))
        .await;
    Ok(Json(BunkerResponse {
        uri: uri.to_string(),
        pubkey,
        relays,
        expires_at: iso(expires),
    }))
}
