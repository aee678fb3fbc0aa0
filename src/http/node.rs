//! Node endpoints with igloo-server's shapes (reference §3.7, §3.9): `POST /api/sign`,
//! `GET /api/peers`, `POST /api/peers/ping`.

use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use crate::frostr::nip19;
use crate::frostr::transport::event::event_id;
use crate::node::{NodeError, NodeHandle};

/// A peer counts as online when a valid message from it arrived this recently.
const ONLINE_WINDOW: Duration = Duration::from_secs(120);
/// igloo-core's ping timeout.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

fn node(state: &AppState) -> Result<NodeHandle, ApiError> {
    match state.node.current() {
        Some(n) => Ok(n),
        _ if !state.config.has_env_credentials() => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "NODE_UNAVAILABLE",
            "No signing node: no group and share credentials are configured",
        )),
        _ => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "NODE_UNAVAILABLE",
            "The signing node is not running",
        )),
    }
}

fn bad_request(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", msg)
}

/// An unsigned Nostr event whose NIP-01 id is to be signed.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct UnsignedEvent {
    /// 64-hex x-only author key (not checked against the group key, as in igloo-server).
    pub pubkey: String,
    pub kind: u16,
    pub created_at: u64,
    pub content: String,
    pub tags: Vec<Vec<String>>,
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
}

fn parse_hex32(s: &str, what: &str) -> Result<[u8; 32], ApiError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s.trim().to_ascii_lowercase(), &mut out)
        .map_err(|_| bad_request(format!("{what} must be 64 hex characters")))?;
    Ok(out)
}

fn sign_error(e: NodeError) -> ApiError {
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
        NodeError::BadReply(_) | NodeError::Sign(_) => {
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
    let message = match (req.message, req.event) {
        (Some(m), None) => parse_hex32(&m, "message")?,
        (None, Some(ev)) => {
            parse_hex32(&ev.pubkey, "event.pubkey")?;
            event_id(
                &ev.pubkey.to_ascii_lowercase(),
                ev.created_at,
                ev.kind,
                &ev.tags,
                &ev.content,
            )
        }
        _ => return Err(bad_request("Give exactly one of `message` or `event`")),
    };
    let node = node(state)?;
    let sig = node.sign(message).await.map_err(sign_error)?;
    Ok(SignResponse {
        id: hex::encode(message),
        signature: hex::encode(sig),
    })
}

/// Our policy towards a peer.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PeerPolicyView {
    pub pubkey: String,
    pub allow_send: bool,
    pub allow_receive: bool,
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
    pub policy: PeerPolicyView,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PeersResponse {
    pub peers: Vec<PeerView>,
    pub total: usize,
    pub online: usize,
}

fn peer_view(p: &crate::node::Peer, now: Instant) -> PeerView {
    let pubkey = hex::encode(p.compressed);
    PeerView {
        online: p
            .last_seen
            .is_some_and(|(at, _)| now.duration_since(at) < ONLINE_WINDOW),
        last_seen: p.last_seen.map(|(_, t)| crate::timefmt::iso8601(t)),
        latency: p.latency_ms,
        policy: PeerPolicyView {
            pubkey: pubkey.clone(),
            allow_send: p.policy.send,
            allow_receive: p.policy.recv,
        },
        pubkey,
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
    if !state.config.has_env_credentials() {
        return Err(bad_request("No group credential available"));
    }
    let node = node(&state)?;
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

#[derive(Serialize, utoipa::ToSchema)]
pub struct PingAllResponse {
    pub results: Vec<PingResultView>,
}

/// Normalise a peer key given as npub, 64-hex or 66-hex to x-only.
fn parse_peer_key(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.starts_with("npub1") {
        return nip19::decode_npub(s).ok();
    }
    let b = hex::decode(s.to_ascii_lowercase()).ok()?;
    match b.len() {
        32 => b.try_into().ok(),
        33 if matches!(b.first(), Some(2 | 3)) => b.get(1..)?.try_into().ok(),
        _ => None,
    }
}

async fn ping_one(node: &NodeHandle, peer: &crate::node::Peer) -> PingResultView {
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
        (status = 200, description = "One result, or `{results}` for target all", body = PingResultView),
        (status = 400, description = "Bad request or unknown peer", body = super::error::ErrorBody),
        (status = 503, description = "No running node", body = super::error::ErrorBody)
    )
)]
pub async fn ping(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let req: PingRequest = serde_json::from_slice(&body)
        .map_err(|e| bad_request(format!("The body must be {{\"target\": …}}: {e}")))?;
    let node = node(&state)?;
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
    Ok(Json(ping_one(&node, peer).await).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_keys_in_every_accepted_form() {
        // x of the generator: a valid key, which npub decoding checks.
        let mut x = [0u8; 32];
        hex::decode_to_slice(
            "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
            &mut x,
        )
        .expect("hex");
        assert_eq!(parse_peer_key(&hex::encode(x)), Some(x));
        let mut c = vec![3u8];
        c.extend_from_slice(&x);
        assert_eq!(parse_peer_key(&hex::encode(&c)), Some(x));
        c[0] = 4;
        assert_eq!(parse_peer_key(&hex::encode(&c)), None);
        assert_eq!(parse_peer_key(&nip19::encode_npub(&x)), Some(x));
        assert_eq!(parse_peer_key("zz"), None);
    }
}
