//! `GET|DELETE /api/keyset`, `POST /api/keyset/migrate`, `POST /api/keyset/import`
//! (issue 7): which protocol the node runs, moving a v1 keyset to V2 with the same npub, and
//! importing V2 credentials. The owner only (admin session; headless: API key or basic user).
//!
//! Secrets in: v1 shares, an nsec, package passwords (wiped after use, never logged).
//! Secrets out: only the `bfonboard` packages a migration was asked to make. The V2
//! credentials themselves are sealed in the store ([`crate::store::credentials`]).

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::{Zeroize, Zeroizing};

use super::AppState;
use super::auth::{blocking, json_body, no_store, store_error};
use super::error::ApiError;
use super::user::credentials_error;
use crate::auth::Principal;
use crate::frostr_v2::credentials::{KdfParams, PackageError};
use crate::keyset::migrate::{MigrateOptions, MigrationInput};
use crate::keyset::record::{from_record, to_record};
use crate::keyset::{
    ImportError, MigrateError, V1_WARNING, V2Credentials, import_package, migrate,
};
use crate::store::credentials::{ENV_OWNER, user_owner};
use crate::store::users::now_ms;

/// Argon2id cost of the `bfonboard` packages made here: the main line's default.
pub const PACKAGE_KDF: KdfParams = KdfParams::DEFAULT;

/// One package derivation job at a time: each Argon2id run takes 256 MiB, and a small
/// appliance must not be pushed into swap by parallel migrations or imports.
static HEAVY: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

async fn heavy_slot() -> Result<tokio::sync::SemaphorePermit<'static>, ApiError> {
    HEAVY.acquire().await.map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "BUSY",
            "The server is shutting down",
        )
    })
}

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

fn migrate_error(e: MigrateError) -> ApiError {
    let code = match &e {
        MigrateError::Source => "INVALID_REQUEST",
        MigrateError::Password => "WEAK_PASSWORD",
        MigrateError::Relays(_) => "INVALID_RELAYS",
        MigrateError::Keyset(_) | MigrateError::TooManyMembers(_) => "INVALID_SHAPE",
        MigrateError::Package(_) => {
            tracing::error!(error = %e, "sealing an onboarding package failed");
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "Could not seal the onboarding packages",
            );
        }
        _ => "INVALID_CREDENTIALS",
    };
    bad(code, e.to_string())
}

fn import_error(e: ImportError) -> ApiError {
    match e {
        ImportError::Package(PackageError::Decrypt) => bad("DECRYPT_FAILED", e.to_string()),
        ImportError::Password => bad("INVALID_REQUEST", e.to_string()),
        e => bad("INVALID_PACKAGE", e.to_string()),
    }
}

/// Whose credentials a caller manages: the headless record, the admin's own, or (admin
/// secret, auth off) the node's current owner.
async fn owner_of(state: &AppState, p: &Principal) -> Result<String, ApiError> {
    if state.config.headless {
        return Ok(ENV_OWNER.to_owned());
    }
    if let Some(id) = p.db_user_id() {
        return Ok(user_owner(id));
    }
    let store = state.store.clone();
    blocking(move || {
        Ok(store
            .node_owner()
            .map_err(store_error)?
            .unwrap_or_else(|| ENV_OWNER.to_owned()))
    })
    .await
}

/// Seals `creds` as `owner`'s V2 credentials and makes them the node's.
async fn save_v2(state: &AppState, owner: &str, creds: &V2Credentials) -> Result<(), ApiError> {
    let rec = to_record(creds, now_ms());
    let (store, vault, owner) = (state.store.clone(), state.vault.clone(), owner.to_owned());
    blocking(move || {
        store
            .put_v2_credentials(&vault, &owner, &rec)
            .map_err(credentials_error)
    })
    .await
}

/// A `bfprofile`'s policy overrides become the stored peer policies (an API-set one stays);
/// the node loads them when it (re)starts on the switch below.
async fn apply_profile_policies(state: &AppState, creds: &V2Credentials) -> Result<(), ApiError> {
    let (store, creds) = (state.store.clone(), creds.clone());
    blocking(move || {
        crate::node::v2::apply_profile_policies(&store, &creds)
            .map(|n| {
                if n > 0 {
                    tracing::info!(
                        policies = n,
                        "peer policies taken from the imported profile"
                    );
                }
            })
            .map_err(store_error)
    })
    .await
}

/// THE switch of the node to V2: records that `owner`'s V2 credentials are the node's and
/// stops the v1 node (a restart does not bring v1 back: `node_control::load` checks the
/// switch). Returns whether a node is running afterwards.
pub async fn switch_node_to_v2(state: &AppState, owner: &str) -> Result<bool, ApiError> {
    let (store, owner) = (state.store.clone(), owner.to_owned());
    blocking(move || {
        store.set_node_owner(Some(&owner)).map_err(store_error)?;
        store.set_node_v2(true).map_err(store_error)
    })
    .await?;
    // Stop the v1 node: its shares must not keep answering for this key from here.
    let _ = state
        .node
        .apply(None, Vec::new(), state.config.sign_timeout);
    crate::auth::node_control::reload(state).await;
    Ok(state.node.current_any().is_some())
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
    let owner = owner_of(state, p).await?;
    let env_creds = state.config.headless && state.config.has_env_credentials();
    let (store, vault) = (state.store.clone(), state.vault.clone());
    let (v1, v2, runs_v2) = blocking(move || {
        let v1 = store
            .get_credentials(&vault, &owner)
            .map_err(credentials_error)?
            .is_some_and(|c| c.has_credentials());
        let v2 = match store
            .get_v2_credentials(&vault, &owner)
            .map_err(credentials_error)?
        {
            Some(r) => {
                let c = from_record(&r).map_err(|e| {
                    ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "CREDENTIALS_UNREADABLE",
                        e.to_string(),
                    )
                })?;
                Some(view(&c, r.saved_at))
            }
            None => None,
        };
        let runs_v2 = store.node_runs_v2().map_err(store_error)?;
        Ok((v1, v2, runs_v2))
    })
    .await?;
    let v1_configured = v1 || env_creds;
    // V2 credentials from the environment (SHARE_CRED + SHARE_PASSWORD) run a V2 node without
    // anything stored; a running node says what it speaks.
    let env_v2 = state.config.headless && state.config.v2_credentials.is_some();
    let running = state.node.current_any().map(|n| n.protocol());
    let protocol = if running == Some(crate::node::v2::Protocol::V2)
        || (running.is_none() && (env_v2 || (runs_v2 && v2.is_some())))
    {
        "v2"
    } else if running == Some(crate::node::v2::Protocol::V1) {
        "v1"
    } else if runs_v2 && v2.is_some() {
        "v2"
    } else if v1_configured {
        "v1"
    } else {
        "none"
    };
    Ok(KeysetResponse {
        protocol: protocol.into(),
        v1_configured,
        v2,
        node_active: state.node.current_any().is_some(),
    })
}

#[utoipa::path(delete, path = "/api/keyset", tag = "keyset",
    responses((status = 200, description = "V2 credentials removed; the node goes back to the stored v1 credentials, if any"),
        (status = 401, description = "Not authenticated")))]
pub async fn delete_keyset(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
) -> Response {
    let owner = match owner_of(&state, &p).await {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    let store = state.store.clone();
    let removed = blocking(move || {
        let removed = store.delete_v2_credentials(&owner).map_err(store_error)?;
        store.set_node_v2(false).map_err(store_error)?;
        Ok(removed)
    })
    .await;
    let removed = match removed {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    crate::auth::node_control::reload(&state).await;
    no_store(
        StatusCode::OK,
        json!({"success": true, "removed": removed, "nodeActive": state.node.current_any().is_some()}),
    )
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
    let password = Zeroizing::new(req.password.take().unwrap_or_default());
    let group = req.group.take().filter(|g| !g.trim().is_empty());
    let shares = Zeroizing::new(req.shares.take().unwrap_or_default());
    let nsec = Zeroizing::new(req.nsec.take().unwrap_or_default());
    let opts = MigrateOptions {
        threshold: req.threshold,
        members: req.members,
        name: req
            .name
            .clone()
            .or_else(|| state.config.group_name.clone())
            .unwrap_or_default(),
        relays: req
            .relays
            .clone()
            .unwrap_or_else(|| state.config.relays.clone()),
        kdf: PACKAGE_KDF,
    };
    let by_shares = group.is_some() || !shares.is_empty();
    let by_nsec = !nsec.trim().is_empty();
    if by_shares == by_nsec {
        return Err(migrate_error(MigrateError::Source));
    }
    let group = group.unwrap_or_default();
    let slot = heavy_slot().await?;
    let m = blocking(move || {
        let input = if by_nsec {
            MigrationInput::Nsec(&nsec)
        } else {
            MigrationInput::V1Shares {
                group: &group,
                shares: &shares,
            }
        };
        migrate(input, &opts, &password, &mut rand::rngs::OsRng).map_err(migrate_error)
    })
    .await?;
    drop(slot);
    let owner = owner_of(state, p).await?;
    save_v2(state, &owner, &V2Credentials::from_migration(&m)).await?;
    let node_active = switch_node_to_v2(state, &owner).await?;
    tracing::info!(npub = %m.npub, members = m.group.members.len(), "keyset migrated to V2");
    let mut warning = V1_WARNING.to_owned();
    if state.config.has_env_credentials() {
        warning.push_str(
            " GROUP_CRED and SHARE_CRED are still set in this server's environment: remove them, \
             or the v1 node starts again on the next restart.",
        );
    }
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
    let slot = heavy_slot().await?;
    let creds = blocking(move || {
        import_package(&package, &password, group.as_deref()).map_err(import_error)
    })
    .await?;
    drop(slot);
    let owner = owner_of(state, p).await?;
    save_v2(state, &owner, &creds).await?;
    apply_profile_policies(state, &creds).await?;
    let switch = creds.is_complete() || creds.needs_onboard();
    let node_active = if switch {
        switch_node_to_v2(state, &owner).await?
    } else {
        state.node.current_any().is_some()
    };
    let message = if creds.needs_onboard() {
        "Stored. The V2 node fetches the group from the provisioning peer (onboard request) when it starts."
    } else if creds.is_complete() {
        "Stored; the node is set to run these V2 credentials."
    } else {
        "Stored, but incomplete: import the group package too."
    };
    tracing::info!(
        source = creds.source.as_str(),
        switch,
        "V2 credentials imported"
    );
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
