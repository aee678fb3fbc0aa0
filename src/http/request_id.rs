//! Every response carries `X-Request-ID`: the caller's own when it is sane, else a fresh one.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

pub const HEADER: &str = "x-request-id";

/// A caller-supplied id is kept only if it is short and made of safe characters, so it can
/// be logged and echoed without escaping.
fn acceptable(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_' || *c == b'.')
}

pub async fn middleware(mut req: Request, next: Next) -> Response {
    let id = match req.headers().get(HEADER) {
        Some(v) if acceptable(v) => v.clone(),
        // A v4 UUID from the thread-local CSPRNG: no system call per request.
        _ => HeaderValue::from_str(
            &uuid::Builder::from_random_bytes(rand::random())
                .into_uuid()
                .to_string(),
        )
        .unwrap_or_else(|_| HeaderValue::from_static("0")),
    };
    req.headers_mut().insert(HEADER, id.clone());
    let mut res = next.run(req).await;
    res.headers_mut().insert(HEADER, id);
    res
}
