//! CORS for `/api/*` (reference §6.5), decided by [`OriginPolicy`](super::origin::OriginPolicy).
//!
//! - Preflight (`OPTIONS /api/...`): 204 with the allowed methods and headers when the origin
//!   is allowed, 403 JSON `ORIGIN_NOT_ALLOWED` when it is not. It is answered here, before
//!   authentication, as browsers send preflights without credentials.
//! - Other requests: an allowed origin is reflected (`*` for a wildcard entry) with
//!   `Vary: Origin`. Credentials are allowed for listed and same-host origins, never for `*`.
//! - A state-changing request (not GET/HEAD) from a refused browser origin gets 403: a
//!   cross-site form or fetch cannot make the box act even if it somehow holds a credential.

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

/// The CORS layer (for every path; acts on `/api/*` only).
pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
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
    if verdict == Verdict::Refused && !safe {
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
        (Verdict::Listed | Verdict::SameHost, Some(o)) => {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone());
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        _ => {}
    }
}
