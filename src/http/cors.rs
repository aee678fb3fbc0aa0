//! CORS for `/api/*` (reference §6.5), decided by [`OriginPolicy`](super::origin::OriginPolicy).
//!
//! - Preflight (`OPTIONS /api/...`): 204 with the allowed methods and headers when the origin
//!   is allowed, 403 JSON `ORIGIN_NOT_ALLOWED` when it is not. It is answered here, before
//!   authentication, as browsers send preflights without credentials.
//! - Other requests: an allowed origin is reflected (`*` for a wildcard entry) with
//!   `Vary: Origin`. Credentials are allowed for listed origins and the request's own origin,
//!   never for `*`.
//! - A request from a refused browser origin gets 403 when it changes state (not GET/HEAD) or
//!   carries any credential (the session cookie rides along to other ports of the same host:
//!   SameSite ignores ports). A cross-site page can neither make the box act nor read it.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use super::origin::Verdict;

const METHODS: &str = "GET, POST, PUT, DELETE, OPTIONS";
const HEADERS: &str = "Content-Type, Authorization, X-API-Key, X-Session-ID, X-Request-ID";
/// Seconds a browser may cache a preflight answer.
const MAX_AGE: &str = "600";

fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

fn refused() -> Response {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "ORIGIN_NOT_ALLOWED",
        "This origin is not allowed to use the API",
    )
    .into_response()
}

/// Whether a request presents a credential: the session cookie or an auth header.
fn carries_credentials(headers: &HeaderMap) -> bool {
    [
        "x-api-key",
        "x-session-id",
        "x-admin-secret",
        "authorization",
    ]
    .iter()
    .any(|h| headers.contains_key(*h))
        || crate::auth::session::session_id(headers).is_some()
}

/// HTTP/2 carries the authority in the URI, not in a `Host` header; the origin checks read
/// `Host`, so it is filled in from the URI when missing.
fn fill_host(req: &mut Request) {
    if req.headers().contains_key(header::HOST) {
        return;
    }
    let host = req
        .uri()
        .authority()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok());
    if let Some(h) = host {
        req.headers_mut().insert(header::HOST, h);
    }
}

/// The CORS layer (for every path; acts on `/api/*` only).
pub async fn middleware(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    fill_host(&mut req);
    if !is_api(req.uri().path()) {
        return next.run(req).await;
    }
    let verdict = state.guard.origins.cors(req.headers());
    let origin = req.headers().get(header::ORIGIN).cloned();
    if req.method() == Method::OPTIONS {
        if verdict == Verdict::Refused {
            return refused();
        }
        let mut res = Response::new(Body::empty());
        *res.status_mut() = StatusCode::NO_CONTENT;
        let h = res.headers_mut();
        allow_origin(h, verdict, origin.as_ref());
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(METHODS),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(HEADERS),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(MAX_AGE),
        );
        return res;
    }
    let safe = req.method() == Method::GET || req.method() == Method::HEAD;
    if verdict == Verdict::Refused && (!safe || carries_credentials(req.headers())) {
        return refused();
    }
    let mut res = next.run(req).await;
    allow_origin(res.headers_mut(), verdict, origin.as_ref());
    res
}

fn allow_origin(h: &mut HeaderMap, verdict: Verdict, origin: Option<&HeaderValue>) {
    // Answers differ by Origin, so caches must key on it, whatever the verdict.
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    match (verdict, origin) {
        (Verdict::Wildcard, Some(_)) => {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
        (Verdict::Listed | Verdict::SameOrigin, Some(o)) => {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone());
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        _ => {}
    }
}
