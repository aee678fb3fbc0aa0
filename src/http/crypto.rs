//! `POST /api/nip44/{encrypt,decrypt}` and `POST /api/nip04/{encrypt,decrypt}` (reference
//! §3.9): `{peer_pubkey, content}` → `{result}`. Parsing and answers only: the threshold ECDH
//! and the ciphers are the control layer's ([`crate::control::crypto`]).

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use crate::control::crypto::{Nip, Op};

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

fn bad_request(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", msg)
}

/// The body, already read and capped at the route's limit by [`super::limits`] (413 there).
async fn read_body(req: Request) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(req.into_body(), super::limits::DEFAULT_LIMIT)
        .await
        .map_err(|_| bad_request("The request body could not be read"))
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
    let result = state
        .control
        .nip_crypto(nip, op, &peer, &req.content)
        .await?;
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
