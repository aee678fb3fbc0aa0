//! `POST /api/nip44/{encrypt,decrypt}` and `POST /api/nip04/{encrypt,decrypt}` (reference
//! §3.9): `{peer_pubkey, content}` → `{result}`. The shared secret is the x-coordinate of the
//! threshold ECDH point with the peer; the ciphers follow NIP-44 v2 and NIP-04 exactly.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::AppState;
use super::error::ApiError;
use crate::events::EventKind;
use crate::frostr::ecdh::{parse_ecdh_pk, shared_x};
use crate::nips::ecdh_cache::EcdhCache;
use crate::nips::{CryptoError, nip04, nip44};
use crate::node::NodeError;
use crate::node::v2::AnyNode;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CryptoRequest {
    /// The other party's key: 64-hex x-only or 66-hex compressed (02/03).
    pub peer_pubkey: String,
    /// Plaintext (encrypt) or payload (decrypt).
    pub content: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CryptoResponse {
    pub result: String,
}

#[derive(Clone, Copy)]
enum Nip {
    Nip04,
    Nip44,
}

#[derive(Clone, Copy)]
enum Op {
    Encrypt,
    Decrypt,
}

fn bad_request(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", msg)
}

fn node(state: &AppState) -> Result<AnyNode, ApiError> {
    state.node.current_any().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "NODE_UNAVAILABLE",
            "The signing node is not running",
        )
    })
}

fn ecdh_error(e: NodeError) -> ApiError {
    match e {
        NodeError::Timeout(t) => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "ECDH_TIMEOUT",
            format!("ECDH timed out after {} ms", t.as_millis()),
        ),
        NodeError::Stopped | NodeError::NotPublished | NodeError::NotEnoughPeers { .. } => {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "NODE_UNAVAILABLE",
                e.to_string(),
            )
        }
        NodeError::BadReply(_)
        | NodeError::V2(
            crate::node::v2::V2Error::Ecdh(_) | crate::node::v2::V2Error::Rejected { .. },
        ) => ApiError::new(StatusCode::BAD_GATEWAY, "ECDH_FAILED", e.to_string()),
        _ => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ECDH_FAILED",
            e.to_string(),
        ),
    }
}

fn crypto_error(e: CryptoError) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "CRYPTO_ERROR",
        e.to_string(),
    )
}

/// The body, already read and capped at the route's limit by [`super::limits`] (413 there).
async fn read_body(req: Request) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(req.into_body(), super::limits::DEFAULT_LIMIT)
        .await
        .map_err(|_| bad_request("The request body could not be read"))
}

/// Shared x with `peer`, from the cache or a threshold ECDH round.
async fn shared_secret(
    cache: &EcdhCache,
    node: &AnyNode,
    peer: &[u8],
) -> Result<Zeroizing<[u8; 32]>, ApiError> {
    let pk = parse_ecdh_pk(peer).map_err(|e| bad_request(format!("Invalid peer_pubkey: {e}")))?;
    let peer_x = crate::frostr::types::x_only(&pk);
    let group = node.group_xonly();
    if let Some(x) = cache.get(&group, &peer_x) {
        return Ok(x);
    }
    let point = match node.ecdh(&pk).await {
        Ok(p) => p,
        Err(e) => {
            node.emit(
                EventKind::Ecdh,
                format!("ECDH with {} failed: {e}", hex::encode(peer_x)),
                None,
            );
            return Err(ecdh_error(e));
        }
    };
    let x = shared_x(&point);
    cache.put(&group, &peer_x, &x);
    // The peer key only; the shared secret never leaves this function unencrypted.
    node.emit(
        EventKind::Ecdh,
        format!("ECDH with {} completed", hex::encode(peer_x)),
        Some(serde_json::json!({ "peer": hex::encode(peer_x) })),
    );
    Ok(x)
}

async fn run(state: &AppState, req: Request, nip: Nip, op: Op) -> Result<CryptoResponse, ApiError> {
    let body = read_body(req).await?;
    let req: CryptoRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_JSON",
            format!("The body must be {{\"peer_pubkey\": …, \"content\": …}}: {e}"),
        )
    })?;
    let peer = hex::decode(req.peer_pubkey.trim().to_ascii_lowercase())
        .ok()
        .filter(|b| b.len() == 32 || b.len() == 33)
        .ok_or_else(|| {
            bad_request(
                "Invalid peer_pubkey: give 64 hex characters (x-only) or 66 (02/03 compressed)",
            )
        })?;
    // Reject input the cipher would refuse before spending a network round on ECDH.
    if matches!((nip, op), (Nip::Nip44, Op::Encrypt)) {
        if req.content.is_empty() {
            return Err(bad_request("content must not be empty for NIP-44"));
        }
        if req.content.len() > nip44::MAX_PLAINTEXT {
            return Err(bad_request(
                "content is longer than NIP-44 allows (65535 bytes)",
            ));
        }
    }
    let node = node(state)?;
    let x = shared_secret(&state.ecdh_cache, &node, &peer).await?;
    let result = match (nip, op) {
        (Nip::Nip44, Op::Encrypt) => nip44::encrypt(&x, &req.content),
        (Nip::Nip44, Op::Decrypt) => nip44::decrypt(&x, &req.content),
        (Nip::Nip04, Op::Encrypt) => nip04::encrypt(&x, &req.content),
        (Nip::Nip04, Op::Decrypt) => nip04::decrypt(&x, &req.content),
    }
    .map_err(crypto_error)?;
    Ok(CryptoResponse { result })
}

async fn handle(state: AppState, req: Request, nip: Nip, op: Op) -> Response {
    match run(&state, req, nip, op).await {
        Ok(r) => Json(r).into_response(),
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(post, path = "/api/nip44/encrypt", tag = "crypto", request_body = CryptoRequest,
    responses(
        (status = 200, description = "NIP-44 v2 payload (base64)", body = CryptoResponse),
        (status = 400, description = "Bad input", body = super::error::ErrorBody),
        (status = 413, description = "Body over 64 KB", body = super::error::ErrorBody),
        (status = 503, description = "No running node", body = super::error::ErrorBody),
        (status = 504, description = "Threshold ECDH timed out", body = super::error::ErrorBody),
        (status = 500, description = "Encryption failed", body = super::error::ErrorBody)))]
pub async fn nip44_encrypt(State(state): State<AppState>, req: Request) -> Response {
    handle(state, req, Nip::Nip44, Op::Encrypt).await
}

#[utoipa::path(post, path = "/api/nip44/decrypt", tag = "crypto", request_body = CryptoRequest,
    responses(
        (status = 200, description = "The plaintext", body = CryptoResponse),
        (status = 400, description = "Bad input", body = super::error::ErrorBody),
        (status = 413, description = "Body over 64 KB", body = super::error::ErrorBody),
        (status = 503, description = "No running node", body = super::error::ErrorBody),
        (status = 504, description = "Threshold ECDH timed out", body = super::error::ErrorBody),
        (status = 500, description = "Decryption failed (e.g. invalid MAC)", body = super::error::ErrorBody)))]
pub async fn nip44_decrypt(State(state): State<AppState>, req: Request) -> Response {
    handle(state, req, Nip::Nip44, Op::Decrypt).await
}

#[utoipa::path(post, path = "/api/nip04/encrypt", tag = "crypto", request_body = CryptoRequest,
    responses(
        (status = 200, description = "NIP-04 payload `base64?iv=base64`", body = CryptoResponse),
        (status = 400, description = "Bad input", body = super::error::ErrorBody),
        (status = 413, description = "Body over 64 KB", body = super::error::ErrorBody),
        (status = 503, description = "No running node", body = super::error::ErrorBody),
        (status = 504, description = "Threshold ECDH timed out", body = super::error::ErrorBody),
        (status = 500, description = "Encryption failed", body = super::error::ErrorBody)))]
pub async fn nip04_encrypt(State(state): State<AppState>, req: Request) -> Response {
    handle(state, req, Nip::Nip04, Op::Encrypt).await
}

#[utoipa::path(post, path = "/api/nip04/decrypt", tag = "crypto", request_body = CryptoRequest,
    responses(
        (status = 200, description = "The plaintext", body = CryptoResponse),
        (status = 400, description = "Bad input", body = super::error::ErrorBody),
        (status = 413, description = "Body over 64 KB", body = super::error::ErrorBody),
        (status = 503, description = "No running node", body = super::error::ErrorBody),
        (status = 504, description = "Threshold ECDH timed out", body = super::error::ErrorBody),
        (status = 500, description = "Decryption failed", body = super::error::ErrorBody)))]
pub async fn nip04_decrypt(State(state): State<AppState>, req: Request) -> Response {
    handle(state, req, Nip::Nip04, Op::Decrypt).await
}
