//! Node endpoints with igloo-server's shapes (reference §3.7, §3.9): `POST /api/sign`,
//! `GET /api/peers`, `POST /api/peers/ping`, and the approval queue of `SIGN_POLICY=approve`
//! (`GET /api/sign/pending`, `POST /api/sign/pending/{id}/approve|deny`).

use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use crate::frostr::transport::event::event_id;
use crate::node::peers::parse_peer_key;
use crate::node::v2::{AnyNode, V2Error};
use crate::node::{ApprovalError, NodeError};

/// A peer counts as online when a valid message from it arrived this recently.
const ONLINE_WINDOW: Duration = Duration::from_secs(120);
/// igloo-core's ping timeout.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// The running node of either protocol (sign, peers, ping work for v1 and V2).
pub(super) fn any_node(state: &AppState) -> Result<AnyNode, ApiError> {
    Ok(state.running_node()?)
}

pub(super) fn bad_request(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", msg)
}

/// An unsigned Nostr event whose NIP-01 id is to be signed.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct UnsignedEvent {
    /// 64-hex x-only author key; must be the group key (which it is when absent).
    /// igloo-server does not check it, and so signs events whose signature cannot verify.
    pub pubkey: Option<String>,
    pub kind: u16,
    pub created_at: u64,
    pub content: String,
    pub tags: Vec<Vec<String>>,
}

/// The complete signed event (NIP-01).
#[derive(Serialize, utoipa::ToSchema)]
pub struct SignedEvent {
    pub id: String,
    pub pubkey: String,
    pub created_at: u64,
    pub kind: u16,
    pub tags: Vec<Vec<String>>,
    pub content: String,
    pub sig: String,
}

/// Either `message` (64-hex, e.g. an event id) or `event`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct SignRequest {
    pub message: Option<String>,
    pub event: Option<UnsignedEvent>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SignResponse {
    /// The signed 32-byte message (the event id), hex.
    pub id: String,
    /// 64-byte BIP-340 signature under the group key, hex.
    pub signature: String,
    /// For an `event` request: the event with `id`, `pubkey` and `sig` filled in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<SignedEvent>,
}

fn parse_hex32(s: &str, what: &str) -> Result<[u8; 32], ApiError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s.trim().to_ascii_lowercase(), &mut out)
        .map_err(|_| bad_request(format!("{what} must be 64 hex characters")))?;
    Ok(out)
}

pub(super) fn sign_error(e: NodeError) -> ApiError {
    match e {
        NodeError::Timeout(_) => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "SIGN_TIMEOUT",
            "The peers did not answer in time",
        ),
        NodeError::Stopped | NodeError::NotPublished | NodeError::NotEnoughPeers { .. } => {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "NODE_UNAVAILABLE",
                e.to_string(),
            )
        }
        NodeError::V2(V2Error::NoncesExhausted { .. }) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "NODE_UNAVAILABLE",
            e.to_string(),
        ),
        NodeError::BadReply(_)
        | NodeError::Sign(_)
        | NodeError::V2(V2Error::Sign(_) | V2Error::Rejected { .. }) => {
            ApiError::new(StatusCode::BAD_GATEWAY, "SIGN_FAILED", e.to_string())
        }
        _ => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "SIGN_ERROR",
            e.to_string(),
        ),
    }
}

#[utoipa::path(
    post,
    path = "/api/sign",
    tag = "node",
    request_body = SignRequest,
    responses(
        (status = 200, description = "Threshold signature", body = SignResponse),
        (status = 400, description = "Bad request", body = super::error::ErrorBody),
        (status = 503, description = "No running node", body = super::error::ErrorBody),
        (status = 504, description = "Peers did not answer in time", body = super::error::ErrorBody)
    )
)]
pub async fn sign(State(state): State<AppState>, body: Bytes) -> Response {
    match sign_inner(&state, &body).await {
        Ok(r) => Json(r).into_response(),
        Err(e) => {
            let retry = e.code == "SIGN_TIMEOUT";
            let mut resp = e.into_response();
            if retry {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            resp
        }
    }
}

async fn sign_inner(state: &AppState, body: &[u8]) -> Result<SignResponse, ApiError> {
    let req: SignRequest = serde_json::from_slice(body)
        .map_err(|e| bad_request(format!("The body is not a valid sign request: {e}")))?;
    if req.message.is_some() == req.event.is_some() {
        return Err(bad_request("Give exactly one of `message` or `event`"));
    }
    let message = req
        .message
        .as_deref()
        .map(|m| parse_hex32(m, "message"))
        .transpose()?;
    let node = any_node(state)?;
    let (message, event) = match (message, req.event) {
        (Some(m), _) => (m, None),
        (None, Some(ev)) => {
            let group = hex::encode(node.group_xonly());
            if let Some(pk) = &ev.pubkey {
                let pk = parse_hex32(pk, "event.pubkey")?;
                if hex::encode(pk) != group {
                    return Err(bad_request(
                        "event.pubkey must be the group public key (or left out)",
                    ));
                }
            }
            let id = event_id(&group, ev.created_at, ev.kind, &ev.tags, &ev.content);
            (id, Some((group, ev)))
        }
        (None, None) => return Err(bad_request("Give exactly one of `message` or `event`")),
    };
    // Our own requests appear in the event stream next to the peers' ones (the UI's log).
    let sig = state
        .sign_for_owner(message, event.as_ref().map(|(_, ev)| ev.kind))
        .await?;
    let (id, signature) = (hex::encode(message), hex::encode(sig));
    Ok(SignResponse {
        event: event.map(|(pubkey, ev)| SignedEvent {
            id: id.clone(),
            pubkey,
            created_at: ev.created_at,
            kind: ev.kind,
            tags: ev.tags,
            content: ev.content,
            sig: signature.clone(),
        }),
        id,
        signature,
    })
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PeerView {
    /// 33-byte compressed share key, hex.
    pub pubkey: String,
    pub online: bool,
    /// ISO-8601 time of the last valid message from this peer.
    pub last_seen: Option<String>,
    /// Round-trip of the last ping, milliseconds.
    pub latency: Option<u64>,
    /// Partial signatures we issued to this peer, ever (the v1 share-leak audit).
    pub partials_issued: u64,
    /// Most partial signatures this peer may obtain; absent = no cap.
    pub partial_cap: Option<u64>,
    pub policy: super::peers::PeerPolicyView,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PeersResponse {
    pub peers: Vec<PeerView>,
    pub total: usize,
    pub online: usize,
}

/// Heard from within [`ONLINE_WINDOW`], and no request to it unanswered since.
pub(super) fn online(p: &crate::node::Peer, now: Instant) -> bool {
    p.is_online(now, ONLINE_WINDOW)
}

fn peer_view(p: &crate::node::Peer, now: Instant) -> PeerView {
    PeerView {
        pubkey: hex::encode(p.compressed),
        online: online(p, now),
        last_seen: p.last_seen.map(|(_, t)| crate::timefmt::iso8601(t)),
        latency: p.latency_ms,
        partials_issued: p.partials_issued,
        partial_cap: p.meta.partial_cap,
        policy: super::peers::policy_view(p, now, hex::encode(p.compressed)),
    }
}

#[utoipa::path(
    get,
    path = "/api/peers",
    tag = "node",
    responses(
        (status = 200, description = "The group's other members", body = PeersResponse),
        (status = 400, description = "No group credential configured", body = super::error::ErrorBody),
        (status = 503, description = "No running node", body = super::error::ErrorBody)
    )
)]
pub async fn peers(State(state): State<AppState>) -> Result<Json<PeersResponse>, ApiError> {
    // igloo-server (headless) answers 400 when there is no credential at all.
    // A node started from stored credentials (database mode) counts as having them.
    if !state.config.has_env_credentials() && state.node.current_any().is_none() {
        return Err(bad_request("No group credential available"));
    }
    let node = any_node(&state)?;
    let now = Instant::now();
    let peers: Vec<PeerView> = node.peers().iter().map(|p| peer_view(p, now)).collect();
    let online = peers.iter().filter(|p| p.online).count();
    Ok(Json(PeersResponse {
        total: peers.len(),
        online,
        peers,
    }))
}

/// `{target: "all"}` or `{target: <npub, 64-hex or 66-hex key>}`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct PingRequest {
    pub target: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PingResultView {
    /// 33-byte compressed share key, hex.
    pub pubkey: String,
    pub success: bool,
    pub latency: Option<u64>,
    pub error: Option<String>,
    /// `online` or `offline`.
    pub status: String,
}

/// The peer's status after a single-target ping, as igloo-server returns it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PingStatusView {
    /// The target as the request gave it.
    pub pubkey: String,
    pub online: bool,
    /// ISO-8601, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<u64>,
    /// ISO-8601, when it did not answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_ping_attempt: Option<String>,
}

/// `POST /api/peers/ping` for one target: igloo-server's shape, `pubkey` echoing the target.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PingOneView {
    pub pubkey: String,
    pub success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub status: PingStatusView,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PingAllResponse {
    pub results: Vec<PingResultView>,
}

async fn ping_one(node: &AnyNode, peer: &crate::node::Peer) -> PingResultView {
    let pubkey = hex::encode(peer.compressed);
    match node.ping(&peer.xonly, PING_TIMEOUT).await {
        Ok(r) => PingResultView {
            pubkey,
            success: true,
            latency: Some(r.latency_ms),
            error: None,
            status: "online".into(),
        },
        Err(e) => PingResultView {
            pubkey,
            success: false,
            latency: None,
            error: Some(e.to_string()),
            status: "offline".into(),
        },
    }
}

#[utoipa::path(
    post,
    path = "/api/peers/ping",
    tag = "node",
    request_body = PingRequest,
    responses(
        (status = 200, description = "One result (`pubkey` echoes the target; `status` is `{pubkey, online, lastSeen, latency}` or `{pubkey, online: false, lastPingAttempt}`), or `{results}` for target all", body = PingOneView),
        (status = 400, description = "Bad request or unknown peer", body = super::error::ErrorBody),
        (status = 503, description = "No running node", body = super::error::ErrorBody)
    )
)]
pub async fn ping(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let req: PingRequest = serde_json::from_slice(&body)
        .map_err(|e| bad_request(format!("The body must be {{\"target\": …}}: {e}")))?;
    let node = any_node(&state)?;
    let peers = node.peers();
    if req.target == "all" {
        let results =
            futures_util::future::join_all(peers.iter().map(|p| ping_one(&node, p))).await;
        return Ok(Json(PingAllResponse { results }).into_response());
    }
    let key = parse_peer_key(&req.target)
        .ok_or_else(|| bad_request("target must be \"all\", an npub or a hex public key"))?;
    let peer = peers
        .iter()
        .find(|p| p.xonly == key)
        .ok_or_else(|| bad_request("target is not a peer of this group"))?;
    let r = ping_one(&node, peer).await;
    let now = crate::timefmt::iso8601(std::time::SystemTime::now());
    let status = PingStatusView {
        pubkey: req.target.clone(),
        online: r.success,
        last_seen: r.success.then(|| now.clone()),
        latency: r.latency,
        last_ping_attempt: (!r.success).then_some(now),
    };
    Ok(Json(PingOneView {
        pubkey: req.target,
        success: r.success,
        latency: r.latency,
        error: r.error,
        status,
    })
    .into_response())
}

/// A sign request waiting for approval.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingSignView {
    /// Id to approve or deny it with.
    pub id: String,
    /// The requesting peer's 33-byte compressed share key, hex.
    pub peer: String,
    /// The messages to sign (v1 sessions with more than one are refused before queueing).
    pub sighashes: Vec<String>,
    /// Free text the requester attached to the session, if any (untrusted).
    pub content: Option<String>,
    /// ISO-8601 arrival time.
    pub received_at: String,
    /// ISO-8601 time the requester stops waiting (arrival + FROSTR_SIGN_TIMEOUT).
    pub expires_at: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PendingSignsResponse {
    /// `auto` or `approve` (SIGN_POLICY).
    pub policy: String,
    pub pending: Vec<PendingSignView>,
}

#[utoipa::path(
    get,
    path = "/api/sign/pending",
    tag = "node",
    responses(
        (status = 200, description = "Sign requests waiting for approval", body = PendingSignsResponse),
        (status = 503, description = "No running node", body = super::error::ErrorBody)
    )
)]
pub async fn pending_signs(
    State(state): State<AppState>,
) -> Result<Json<PendingSignsResponse>, ApiError> {
    let node = any_node(&state)?;
    let peers = node.peers();
    let pending = node
        .pending_signs()
        .into_iter()
        .map(|p| PendingSignView {
            peer: peers
                .iter()
                .find(|x| x.xonly == p.peer)
                .map(|x| hex::encode(x.compressed))
                .unwrap_or_else(|| hex::encode(p.peer)),
            sighashes: p.request.sighashes().iter().map(hex::encode).collect(),
            content: p.request.content(),
            received_at: crate::timefmt::iso8601(p.received_at),
            expires_at: crate::timefmt::iso8601(p.expires_at),
            id: p.id,
        })
        .collect();
    Ok(Json(PendingSignsResponse {
        policy: node.sign_policy().as_str().into(),
        pending,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovedResponse {
    pub approved: bool,
    pub id: String,
    /// The peer's partial-signature count after this one.
    pub partials_issued: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DeniedResponse {
    pub denied: bool,
    pub id: String,
}

fn approval_error(e: ApprovalError) -> ApiError {
    let (status, code) = match &e {
        ApprovalError::NotFound => (StatusCode::NOT_FOUND, "NOT_FOUND"),
        ApprovalError::Expired => (StatusCode::GONE, "EXPIRED"),
        ApprovalError::PolicyDenied => (StatusCode::CONFLICT, "POLICY_DENIED"),
        ApprovalError::CapReached(_) => (StatusCode::CONFLICT, "CAP_REACHED"),
        ApprovalError::NotRecorded(_) => (StatusCode::INTERNAL_SERVER_ERROR, "STORE_ERROR"),
        ApprovalError::Failed(_) => (StatusCode::BAD_GATEWAY, "SIGN_FAILED"),
    };
    ApiError::new(status, code, e.to_string())
}

#[utoipa::path(
    post,
    path = "/api/sign/pending/{id}/approve",
    tag = "node",
    params(("id" = String, Path, description = "Id from GET /api/sign/pending")),
    responses(
        (status = 200, description = "Partial signature computed and sent", body = ApprovedResponse),
        (status = 404, description = "No such pending request", body = super::error::ErrorBody),
        (status = 409, description = "Cap reached or policy no longer allows it", body = super::error::ErrorBody),
        (status = 410, description = "Expired", body = super::error::ErrorBody),
        (status = 503, description = "No running node", body = super::error::ErrorBody)
    )
)]
pub async fn approve_sign(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ApprovedResponse>, ApiError> {
    let node = any_node(&state)?;
    let partials_issued = node.approve_sign(&id).await.map_err(approval_error)?;
    Ok(Json(ApprovedResponse {
        approved: true,
        id,
        partials_issued,
    }))
}

#[utoipa::path(
    post,
    path = "/api/sign/pending/{id}/deny",
    tag = "node",
    params(("id" = String, Path, description = "Id from GET /api/sign/pending")),
    responses(
        (status = 200, description = "Dropped unanswered; the requester times out", body = DeniedResponse),
        (status = 404, description = "No such pending request", body = super::error::ErrorBody),
        (status = 410, description = "Expired", body = super::error::ErrorBody),
        (status = 503, description = "No running node", body = super::error::ErrorBody)
    )
)]
pub async fn deny_sign(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DeniedResponse>, ApiError> {
    let node = any_node(&state)?;
    node.deny_sign(&id).map_err(approval_error)?;
    Ok(Json(DeniedResponse { denied: true, id }))
}
