//! Request body limits, enforced on the bytes actually read (reference §6.7).
//!
//! igloo-server compared only `Content-Length`, so a chunked body of any size went through
//! (§17). Here a declared length over the limit is refused before the handler runs, and every
//! body is also wrapped in a counter that fails the read as soon as the limit is passed, so a
//! chunked upload is stopped after `limit` bytes, never buffered whole. The answer is
//! 413 JSON `{error, code: "PAYLOAD_TOO_LARGE"}` with `Connection: close` (the rest of the
//! body is not read), whatever the handler made of the failed read.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use super::error::ApiError;

/// `/api/sign` carries a whole event to sign.
pub const SIGN_LIMIT: usize = 100 * 1024;
/// Every other route: login, onboarding, configuration, recovery, crypto, admin.
pub const DEFAULT_LIMIT: usize = 64 * 1024;

/// The body limit of a path.
pub fn limit_for(path: &str) -> usize {
    match path {
        "/api/sign" => SIGN_LIMIT,
        _ => DEFAULT_LIMIT,
    }
}

/// The read that crossed the limit; handlers see it as a body error.
#[derive(Debug, thiserror::Error)]
#[error("request body larger than {0} bytes")]
pub struct TooLarge(pub usize);

pub fn too_large(limit: usize) -> Response {
    let mut res = ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        format!("Request body too large (at most {} KB)", limit / 1024),
    )
    .into_response();
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

pub async fn middleware(req: Request, next: Next) -> Response {
    let limit = limit_for(req.uri().path());
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large(limit);
    }
    let tripped = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&tripped);
    let (parts, body) = req.into_parts();
    let mut seen = 0usize;
    let counted = body.into_data_stream().map(move |chunk| {
        let chunk = chunk?;
        seen = seen.saturating_add(chunk.len());
        if seen > limit {
            flag.store(true, Ordering::Relaxed);
            return Err(axum::Error::new(TooLarge(limit)));
        }
        Ok(chunk)
    });
    let req = Request::from_parts(parts, Body::from_stream(counted));
    let res = next.run(req).await;
    if tripped.load(Ordering::Relaxed) {
        return too_large(limit);
    }
    res
}
