//! Request body limits, enforced on the bytes actually read (reference §6.7).
//!
//! igloo-server compared only `Content-Length`, so a chunked body of any size went through
//! (§17). Here a declared length over the limit is refused at once, and every other body is
//! read here, before authentication and the handler, counting the bytes as they arrive: the
//! moment the count passes the limit the request is answered 413 JSON
//! `{error, code: "REQUEST_TOO_LARGE"}` with `Connection: close`, and the rest is never read.
//! At most `limit` bytes are ever held, and every route is covered whether or not its handler
//! reads a body. Real WebSocket handshakes on the WebSocket routes carry no body and pass
//! untouched; an `Upgrade` header anywhere else changes nothing.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use futures_util::StreamExt;

use super::error::ApiError;
use super::ratelimit::is_ws_upgrade;

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

/// The 413 answer; the connection is closed after it.
pub fn too_large(limit: usize) -> Response {
    let mut res = ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "REQUEST_TOO_LARGE",
        format!("Request body too large (at most {} KB)", limit / 1024),
    )
    .into_response();
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

/// Any 413 that did not come from [`too_large`] (an extractor's own limit, say) is answered
/// in the project's JSON shape too, never as `text/plain`.
pub async fn json_413(res: Response) -> Response {
    let json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if res.status() == StatusCode::PAYLOAD_TOO_LARGE && !json {
        let mut res = ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "REQUEST_TOO_LARGE",
            "Request body too large",
        )
        .into_response();
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return res;
    }
    res
}

pub async fn middleware(req: Request, next: Next) -> Response {
    let has_body = req.headers().contains_key(header::CONTENT_LENGTH)
        || req.headers().contains_key(header::TRANSFER_ENCODING);
    if !has_body && is_ws_upgrade(req.method(), req.uri().path(), req.headers()) {
        return next.run(req).await;
    }
    let limit = limit_for(req.uri().path());
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large(limit);
    }
    let (parts, body) = req.into_parts();
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) if buf.len().saturating_add(c.len()) > limit => return too_large(limit),
            Ok(c) => buf.extend_from_slice(&c),
            Err(_) => {
                return ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "BAD_REQUEST",
                    "The request body could not be read",
                )
                .into_response();
            }
        }
    }
    next.run(Request::from_parts(parts, Body::from(buf.freeze())))
        .await
}
