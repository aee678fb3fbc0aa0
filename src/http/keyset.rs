//! `GET|DELETE /api/keyset`, `POST /api/keyset/migrate`, `POST /api/keyset/import`
//! (issue 7): which protocol the node runs, moving a v1 keyset to V2 with the same npub, and
//! importing V2 credentials. The owner only (admin session; headless: API key or basic user).
//!
//! Parsing and answers only; the work is the control layer's ([`crate::control::keyset`]).
//! Secrets in: v1 shares, an nsec, package passwords (wiped after use, never logged).

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::{Zeroize, Zeroizing};

use super::AppState;
use super::auth::{json_body, no_store};
use super::error::ApiError;
use crate::auth::Principal;
use crate::control::keyset::MigrateRequest as Migration;
use crate::keyset::V2Credentials;
use crate::store::users::now_ms;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct MigrateRequest {
    /// v1 `bfgroup1…` (with `shares`).
    pub group: Option<String>,
    /// At least t v1 `bfshare1…` of `group`.
    pub shares: Option<Vec<String>>,
    /// Or the `nsec1…` itself (instead of `group` + `shares`).
    pub nsec: Option<String>,
    /// Relays for the V2 node and the `bfonboard` packages [default: the configured RELAYS].
    pub relays: Option<Vec<String>>,
    /// Password protecting every `bfonboard` (at least 8 characters).
    pub password: Option<String>,
    /// New threshold [default: the v1 group's, or 2 for an nsec].
    pub threshold: Option<u16>,
    /// New member count [default: the v1 group's, or 3 for an nsec].
    pub members: Option<u16>,
    /// Group name in the V2 group package [default: GROUP_NAME or "igloo"].
    pub name: Option<String>,
}

impl Drop for MigrateRequest {
    fn drop(&mut self) {
        self.shares.iter_mut().flatten().for_each(Zeroize::zeroize);
        self.nsec.zeroize();
        self.password.zeroize();
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OnboardPackageView {
    /// Member index in the V2 group.
    pub idx: u16,
    /// `bfonboard1…`, sealed with the request's password; hand it to that member's device.
    pub bfonboard: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MigrateResponse {
    pub success: bool,
    /// Unchanged by the migration.
    pub npub: String,
    /// Always `"v2"`.
    pub protocol: String,
    /// This node's member index (it provisions the others).
    pub idx: u16,
    pub threshold: u16,
    pub members: usize,
    /// The public V2 group package (JSON object).
    #[schema(value_type = Object)]
    pub group_package: serde_json::Value,
    pub onboard: Vec<OnboardPackageView>,
    /// Plain words: the old v1 shares stay valid until every one is destroyed.
    pub warning: String,
    pub node_active: bool,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ImportRequest {
    /// `bfshare1…`, `bfonboard1…` or `bfprofile1…` (or use the field of that name).
    pub package: Option<String>,
    pub bfshare: Option<String>,
    pub bfonboard: Option<String>,
    pub bfprofile: Option<String>,
    pub password: Option<String>,
    /// V2 group package (JSON object or string); required with a `bfshare`.
    #[schema(value_type = Object)]
    pub group: Option<serde_json::Value>,
}

impl Drop for ImportRequest {
    fn drop(&mut self) {
        for s in [
            &mut self.package,
            &mut self.bfshare,
            &mut self.bfonboard,
            &mut self.bfprofile,
            &mut self.password,
        ] {
            s.zeroize();
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct V2View {
    /// `migrate`, `bfshare`, `bfonboard` or `bfprofile`.
    pub source: String,
    pub npub: Option<String>,
    pub group_name: Option<String>,
    pub idx: Option<u16>,
    pub threshold: Option<u16>,
    pub members: Option<usize>,
    pub relays: Vec<String>,
    /// Share, group and membership are all known: a V2 node can run.
    pub complete: bool,
    /// A `bfonboard` waiting for its group from the provisioning peer (`peerPk`).
    pub pending_onboard: bool,
    pub peer_pk: Option<String>,
    pub saved_at: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeysetResponse {
    /// `v1`, `v2` or `none`: what the node is set to run.
    pub protocol: String,
    pub v1_configured: bool,
    pub v2: Option<V2View>,
    pub node_active: bool,
}

fn bad(code: &'static str, msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, msg)
}

fn view(c: &V2Credentials, saved_at: u64) -> V2View {
    let share = c.share();
    V2View {
        source: c.source.as_str().to_owned(),
        npub: c.npub(),
        group_name: c.group.as_ref().map(|g| g.group_name.clone()),
        idx: share.as_ref().map(|s| s.idx),
        threshold: c.group.as_ref().map(|g| g.threshold),
        members: c.group.as_ref().map(|g| g.members.len()),
        relays: c.relays.clone(),
        complete: share.is_some(),
        pending_onboard: c.needs_onboard(),
        peer_pk: c.peer_pk.map(hex::encode),
        saved_at,
    }
}

#[utoipa::path(get, path = "/api/keyset", tag = "keyset",
    responses((status = 200, description = "Which protocol and keyset are configured (no secrets)", body = KeysetResponse),
        (status = 401, description = "Not authenticated"), (status = 423, description = "Secrets locked")))]
pub async fn get_keyset(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
) -> Response {
    match get_inner(&state, &p).await {
        Ok(r) => no_store(StatusCode::OK, json!(r)),
        Err(e) => e.into_response(),
    }
}

async fn get_inner(state: &AppState, p: &Principal) -> Result<KeysetResponse, ApiError> {
    let k = state.control.keyset_state(p.db_user_id()).await?;
    Ok(KeysetResponse {
        protocol: k.protocol.into(),
        v1_configured: k.v1_configured,
        v2: k.v2.map(|(c, saved_at)| view(&c, saved_at)),
        node_active: k.node_active,
    })
}

#[utoipa::path(delete, path = "/api/keyset", tag = "keyset",
    responses((status = 200, description = "V2 credentials removed; the node goes back to the stored v1 credentials, if any"),
        (status = 401, description = "Not authenticated")))]
pub async fn delete_keyset(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
) -> Response {
    match state.control.delete_keyset(p.db_user_id()).await {
        Ok(removed) => no_store(
            StatusCode::OK,
            json!({"success": true, "removed": removed, "nodeActive": state.node_active()}),
        ),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[utoipa::path(post, path = "/api/keyset/migrate", tag = "keyset",
    request_body = MigrateRequest,
    responses((status = 200, description = "V2 keyset with the same npub; this node keeps member 1 and is switched to V2", body = MigrateResponse),
        (status = 400, description = "Bad shares, nsec, relays, shape or password"),
        (status = 401, description = "Not authenticated"), (status = 403, description = "Not the owner"),
        (status = 423, description = "Secrets locked")))]
pub async fn migrate_keyset(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    body: Bytes,
) -> Response {
    match migrate_inner(&state, &p, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn migrate_inner(
    state: &AppState,
    p: &Principal,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let mut req: MigrateRequest = json_body(body)?;
    let migration = Migration {
        group: req.group.take(),
        shares: Zeroizing::new(req.shares.take().unwrap_or_default()),
        nsec: Zeroizing::new(req.nsec.take().unwrap_or_default()),
        password: Zeroizing::new(req.password.take().unwrap_or_default()),
        relays: req.relays.clone(),
        threshold: req.threshold,
        members: req.members,
        name: req.name.clone(),
    };
    let done = state
        .control
        .migrate_keyset(p.db_user_id(), migration)
        .await?;
    let (m, node_active, warning) = (done.migration, done.node_active, done.warning);
    let resp = MigrateResponse {
        success: true,
        npub: m.npub.clone(),
        protocol: "v2".into(),
        idx: m.own.idx,
        threshold: m.group.threshold,
        members: m.group.members.len(),
        group_package: serde_json::to_value(&m.group).unwrap_or_default(),
        onboard: m
            .onboard
            .iter()
            .map(|o| OnboardPackageView {
                idx: o.idx,
                bfonboard: o.bfonboard.to_string(),
            })
            .collect(),
        warning,
        node_active,
    };
    Ok(no_store(StatusCode::OK, json!(resp)))
}

#[utoipa::path(post, path = "/api/keyset/import", tag = "keyset",
    request_body = ImportRequest,
    responses((status = 200, description = "V2 credentials stored (sealed); the node is switched to V2 when they are complete or a bfonboard awaits onboarding"),
        (status = 400, description = "Unknown package, wrong password, or a share outside the group"),
        (status = 401, description = "Not authenticated"), (status = 423, description = "Secrets locked")))]
pub async fn import_keyset(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    body: Bytes,
) -> Response {
    match import_inner(&state, &p, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn import_inner(state: &AppState, p: &Principal, body: &Bytes) -> Result<Response, ApiError> {
    let mut req: ImportRequest = json_body(body)?;
    let given: Vec<String> = [
        req.package.take(),
        req.bfshare.take(),
        req.bfonboard.take(),
        req.bfprofile.take(),
    ]
    .into_iter()
    .flatten()
    .filter(|s| !s.trim().is_empty())
    .collect();
    let mut given = Zeroizing::new(given);
    if given.len() != 1 {
        return Err(bad(
            "INVALID_REQUEST",
            "give exactly one of package, bfshare, bfonboard or bfprofile",
        ));
    }
    let package = Zeroizing::new(given.pop().unwrap_or_default());
    let password = Zeroizing::new(req.password.take().unwrap_or_default());
    let group = match req.group.take() {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(v) => Some(v.to_string()),
    };
    let done = state
        .control
        .import_keyset(p.db_user_id(), package, password, group)
        .await?;
    let (creds, switch, node_active) = (done.creds, done.switched, done.node_active);
    let message = if creds.needs_onboard() {
        "Stored. The V2 node fetches the group from the provisioning peer (onboard request) when it starts."
    } else if creds.is_complete() {
        "Stored; the node is set to run these V2 credentials."
    } else {
        "Stored, but incomplete: import the group package too."
    };
    Ok(no_store(
        StatusCode::OK,
        json!({
            "success": true,
            "protocol": if switch { "v2" } else { "unchanged" },
            "credentials": view(&creds, now_ms()),
            "nodeActive": node_active,
            "message": message,
        }),
    ))
}
