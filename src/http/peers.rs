//! Peer endpoints besides the list and ping (reference §3.7): our own share key, the group,
//! and per-peer policies (`GET|PUT|DELETE /api/peers/{pubkey}/policy`).
//!
//! PUT semantics: a direction left out keeps its current *effective* value (for a peer
//! without a policy, the default allow). igloo-server instead turns an omitted direction off
//! when the peer had no policy yet; we never change a direction the caller did not name.
//! API policies are persisted and win over `PEER_POLICIES`; DELETE removes the API policy
//! and the peer falls back to its `PEER_POLICIES` entry, else to the default.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;

use super::AppState;
use super::error::ApiError;
use super::node::{any_node, bad_request, online};
use crate::frostr::{GroupPackage, SharePackage};
use crate::node::peers::parse_peer_key;
use crate::node::{Peer, PolicyError, PolicySource, PolicyUpdate};

/// Longest accepted label / note, in characters.
const MAX_LABEL: usize = 200;
const MAX_NOTE: usize = 1000;

/// Our policy towards a peer (igloo-core's `NodePolicySummary` plus the leak guard).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PeerPolicyView {
    /// 33-byte compressed share key, hex.
    pub pubkey: String,
    /// x-only share key, hex.
    pub normalized_pubkey: String,
    /// We include this peer in our sign/ECDH requests.
    pub allow_send: bool,
    /// We answer this peer's requests.
    pub allow_receive: bool,
    /// `online`, `offline` or `unknown` (never heard from).
    pub status: String,
    pub label: Option<String>,
    pub note: Option<String>,
    /// `api`, `env` or `default`.
    pub source: String,
    /// ISO-8601 time of the last change; absent for the default.
    pub last_updated: Option<String>,
    pub effective_send: bool,
    pub effective_receive: bool,
    pub has_explicit_policy: bool,
    /// Partial signatures we issued to this peer, ever (persisted).
    pub partials_issued: u64,
    /// Most partial signatures this peer may obtain; absent = no cap.
    pub partial_cap: Option<u64>,
}

/// Our policy towards `p`. `pubkey` is the form igloo-server shows: the peer list passes the
/// group commit's compressed key, `/api/peers/policies` the x-only key, the single-policy
/// routes the key as the caller wrote it; `normalizedPubkey` is always x-only.
pub(super) fn policy_view(p: &Peer, now: Instant, pubkey: String) -> PeerPolicyView {
    let status = match p.last_seen {
        None => "unknown",
        Some(_) if online(p, now) => "online",
        Some(_) => "offline",
    };
    PeerPolicyView {
        pubkey,
        normalized_pubkey: hex::encode(p.xonly),
        allow_send: p.policy.send,
        allow_receive: p.policy.recv,
        status: status.into(),
        label: p.meta.label.clone(),
        note: p.meta.note.clone(),
        source: p.meta.source.as_str().into(),
        last_updated: p.meta.last_updated.map(|s| {
            crate::timefmt::iso8601(std::time::UNIX_EPOCH + std::time::Duration::from_secs(s))
        }),
        effective_send: p.policy.send,
        effective_receive: p.policy.recv,
        has_explicit_policy: p.meta.source != PolicySource::Default,
        partials_issued: p.partials_issued,
        partial_cap: p.meta.partial_cap,
    }
}

/// The group and share in use: the running node's, else the configured credentials.
fn credentials(state: &AppState) -> Result<(GroupPackage, Option<SharePackage>), ApiError> {
    if let Some(n) = state.node.current() {
        return Ok((n.group().clone(), None));
    }
    crate::node::credentials_from_config(&state.config)
        .map(|(g, s)| (g, Some(s)))
        .map_err(|e| bad_request(format!("No usable group credential: {e}")))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SelfResponse {
    /// Our share's 33-byte compressed key, hex.
    pub pubkey: String,
    pub warnings: Vec<String>,
}

#[utoipa::path(
    get,
    path = "/api/peers/self",
    tag = "node",
    responses(
        (status = 200, description = "This node's share key", body = SelfResponse),
        (status = 400, description = "No usable credentials", body = super::error::ErrorBody)
    )
)]
pub async fn self_key(State(state): State<AppState>) -> Result<Json<SelfResponse>, ApiError> {
    // x-only, as igloo-server returns it (igloo-core `extractSelfPubkeyFromCredentials`).
    if let Some(n) = state.node.current_any().filter(|n| n.as_v2().is_some()) {
        let pubkey = n
            .self_compressed()
            .and_then(|c| <[u8; 32]>::try_from(&c[1..]).ok())
            .ok_or_else(|| bad_request("Cannot extract our public key"))?;
        return Ok(Json(SelfResponse {
            pubkey: hex::encode(pubkey),
            warnings: Vec::new(),
        }));
    }
    let pubkey = match (state.node.current(), credentials(&state)?) {
        (Some(n), _) => Some(n.self_xonly()),
        (None, (_, Some(share))) => Some(crate::frostr::types::x_only(&share.public_key())),
        (None, (_, None)) => None,
    };
    let pubkey = pubkey.ok_or_else(|| bad_request("Cannot extract our public key"))?;
    Ok(Json(SelfResponse {
        pubkey: hex::encode(pubkey),
        warnings: Vec::new(),
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupResponse {
    /// x-only group key, hex.
    pub pubkey: String,
    pub threshold: u32,
    pub total_shares: usize,
}

#[utoipa::path(
    get,
    path = "/api/peers/group",
    tag = "node",
    responses(
        (status = 200, description = "The signing group", body = GroupResponse),
        (status = 400, description = "No usable credentials", body = super::error::ErrorBody)
    )
)]
pub async fn group(State(state): State<AppState>) -> Result<Json<GroupResponse>, ApiError> {
    if let Some(n) = state.node.current_any().filter(|n| n.as_v2().is_some()) {
        let (threshold, total_shares) = n.group_shape();
        return Ok(Json(GroupResponse {
            pubkey: hex::encode(n.group_xonly()),
            threshold,
            total_shares,
        }));
    }
    let (g, _) = credentials(&state)?;
    Ok(Json(GroupResponse {
        pubkey: hex::encode(g.pubkey_x_only()),
        threshold: g.threshold,
        total_shares: g.commits.len(),
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PoliciesResponse {
    pub policies: Vec<PeerPolicyView>,
}

#[utoipa::path(
    get,
    path = "/api/peers/policies",
    tag = "node",
    responses(
        (status = 200, description = "Our policy towards every peer", body = PoliciesResponse),
        (status = 503, description = "No running node", body = super::error::ErrorBody)
    )
)]
pub async fn policies(State(state): State<AppState>) -> Result<Json<PoliciesResponse>, ApiError> {
    let node = any_node(&state)?;
    let now = Instant::now();
    Ok(Json(PoliciesResponse {
        policies: node
            .peers()
            .iter()
            .map(|p| policy_view(p, now, hex::encode(p.xonly)))
            .collect(),
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PolicyResponse {
    pub policy: PeerPolicyView,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PolicyRemovedResponse {
    pub removed: bool,
    /// The policy in force now.
    pub policy: PeerPolicyView,
}

/// `{allowSend?, allowReceive?, label?, note?, partialCap?}`; `null` clears a detail.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // documents the body; parsing is by hand to tell null from absent
pub struct PolicyRequest {
    pub allow_send: Option<bool>,
    pub allow_receive: Option<bool>,
    pub label: Option<String>,
    pub note: Option<String>,
    pub partial_cap: Option<u64>,
}

fn peer_key(s: &str) -> Result<[u8; 32], ApiError> {
    parse_peer_key(s).ok_or_else(|| {
        bad_request("pubkey must be a 64-hex x-only, 66-hex compressed key or an npub")
    })
}

fn policy_error(e: PolicyError) -> ApiError {
    match e {
        PolicyError::UnknownPeer(_) => ApiError::not_found("Not a peer of this group"),
        PolicyError::NotFound => ApiError::not_found("Policy not found"),
        PolicyError::Store(e) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "STORE_ERROR",
            format!("The policy could not be saved: {e}"),
        ),
    }
}

fn opt_string(
    m: &serde_json::Map<String, serde_json::Value>,
    key: &str,
    max: usize,
) -> Result<Option<Option<String>>, ApiError> {
    match m.get(key) {
        None => Ok(None),
        Some(serde_json::Value::Null) => Ok(Some(None)),
        Some(serde_json::Value::String(s)) if s.chars().count() <= max => {
            Ok(Some(Some(s.clone()).filter(|s| !s.is_empty())))
        }
        Some(serde_json::Value::String(_)) => Err(bad_request(format!(
            "{key} must be at most {max} characters"
        ))),
        Some(_) => Err(bad_request(format!("{key} must be a string or null"))),
    }
}

fn parse_update(body: &[u8]) -> Result<PolicyUpdate, ApiError> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| bad_request(format!("The body is not valid JSON: {e}")))?;
    let serde_json::Value::Object(m) = v else {
        return Err(bad_request("The body must be a JSON object"));
    };
    const KNOWN: [&str; 5] = ["allowSend", "allowReceive", "label", "note", "partialCap"];
    if let Some(k) = m.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        // A misspelt direction must not be silently ignored.
        return Err(bad_request(format!("Unknown field {k:?}")));
    }
    let flag = |key: &str| match m.get(key) {
        None => Ok(None),
        Some(serde_json::Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(bad_request(format!("{key} must be true or false"))),
    };
    let partial_cap = match m.get("partialCap") {
        None => None,
        Some(serde_json::Value::Null) => Some(None),
        Some(v) => Some(Some(v.as_u64().ok_or_else(|| {
            bad_request("partialCap must be a non-negative integer or null")
        })?)),
    };
    Ok(PolicyUpdate {
        allow_send: flag("allowSend")?,
        allow_receive: flag("allowReceive")?,
        label: opt_string(&m, "label", MAX_LABEL)?,
        note: opt_string(&m, "note", MAX_NOTE)?,
        partial_cap,
    })
}

#[utoipa::path(
    get,
    path = "/api/peers/{pubkey}/policy",
    tag = "node",
    params(("pubkey" = String, Path, description = "Peer key: 64-hex, 66-hex or npub")),
    responses(
        (status = 200, description = "Our policy towards the peer", body = PolicyResponse),
        (status = 400, description = "Bad key", body = super::error::ErrorBody),
        (status = 404, description = "Not a peer of this group", body = super::error::ErrorBody),
        (status = 503, description = "No running node", body = super::error::ErrorBody)
    )
)]
pub async fn get_policy(
    State(state): State<AppState>,
    Path(pubkey): Path<String>,
) -> Result<Json<PolicyResponse>, ApiError> {
    let key = peer_key(&pubkey)?;
    let node = any_node(&state)?;
    let peer = node
        .peer(&key)
        .ok_or_else(|| ApiError::not_found("Not a peer of this group"))?;
    Ok(Json(PolicyResponse {
        policy: policy_view(&peer, Instant::now(), pubkey.clone()),
    }))
}

#[utoipa::path(
    put,
    path = "/api/peers/{pubkey}/policy",
    tag = "node",
    params(("pubkey" = String, Path, description = "Peer key: 64-hex, 66-hex or npub")),
    request_body = PolicyRequest,
    responses(
        (status = 200, description = "The policy now in force (saved)", body = PolicyResponse),
        (status = 400, description = "Bad key or body", body = super::error::ErrorBody),
        (status = 404, description = "Not a peer of this group", body = super::error::ErrorBody),
        (status = 503, description = "No running node", body = super::error::ErrorBody)
    )
)]
pub async fn put_policy(
    State(state): State<AppState>,
    Path(pubkey): Path<String>,
    body: Bytes,
) -> Result<Json<PolicyResponse>, ApiError> {
    let key = peer_key(&pubkey)?;
    let update = parse_update(&body)?;
    let node = any_node(&state)?;
    let peer = node
        .update_policy(&key, update)
        .await
        .map_err(policy_error)?;
    Ok(Json(PolicyResponse {
        policy: policy_view(&peer, Instant::now(), pubkey.clone()),
    }))
}

#[utoipa::path(
    delete,
    path = "/api/peers/{pubkey}/policy",
    tag = "node",
    params(("pubkey" = String, Path, description = "Peer key: 64-hex, 66-hex or npub")),
    responses(
        (status = 200, description = "Removed; the policy now in force", body = PolicyRemovedResponse),
        (status = 400, description = "Bad key", body = super::error::ErrorBody),
        (status = 404, description = "Not a peer, or no policy set through the API", body = super::error::ErrorBody),
        (status = 503, description = "No running node", body = super::error::ErrorBody)
    )
)]
pub async fn delete_policy(
    State(state): State<AppState>,
    Path(pubkey): Path<String>,
) -> Result<Json<PolicyRemovedResponse>, ApiError> {
    let key = peer_key(&pubkey)?;
    let node = any_node(&state)?;
    let peer = node.delete_policy(&key).await.map_err(policy_error)?;
    Ok(Json(PolicyRemovedResponse {
        removed: true,
        policy: policy_view(&peer, Instant::now(), pubkey.clone()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_tells_absent_from_null_and_rejects_typos() {
        let u = parse_update(br#"{"allowSend":false,"label":null,"partialCap":3}"#).expect("ok");
        assert_eq!(u.allow_send, Some(false));
        assert_eq!(u.allow_receive, None);
        assert_eq!(u.label, Some(None));
        assert_eq!(u.note, None);
        assert_eq!(u.partial_cap, Some(Some(3)));
        assert_eq!(
            parse_update(br#"{"partialCap":null}"#)
                .expect("ok")
                .partial_cap,
            Some(None)
        );
        for bad in [
            &br#"{"allowRecieve":false}"#[..],
            br#"{"allowSend":"no"}"#,
            br#"{"partialCap":-1}"#,
            br#"[]"#,
            b"{",
        ] {
            let e = parse_update(bad).expect_err("rejected");
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
        }
        let long = format!(r#"{{"label":"{}"}}"#, "x".repeat(MAX_LABEL + 1));
        assert!(parse_update(long.as_bytes()).is_err());
    }
}
