//! The web UI, embedded from `static/`, with igloo-server's caching (reference §3.11; the
//! security headers come from `headers.rs`) and an SPA fallback that does not swallow missing
//! files.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use super::AppState;
use super::error::ApiError;

#[derive(RustEmbed)]
#[folder = "static/"]
struct Assets;

/// Serves `GET /` and every non-API path.
pub async fn serve(State(state): State<AppState>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    if path == "/api" || path.starts_with("/api/") {
        return ApiError::not_found(format!("No API route {path}")).into_response();
    }
    if req.method() != axum::http::Method::GET && req.method() != axum::http::Method::HEAD {
        return ApiError::method_not_allowed().into_response();
    }
    if state.config.headless {
        return ApiError::not_found("Frontend disabled in headless mode").into_response();
    }
    let rel = path.trim_start_matches('/');
    if rel
        .split('/')
        .any(|seg| seg == ".." || seg.starts_with('.'))
    {
        return ApiError::not_found("Not found").into_response();
    }
    if !rel.is_empty() {
        if let Some(file) = Assets::get(rel) {
            return file_response(&state, rel, file.data.into_owned());
        }
        // A path that names a file (has an extension) and is missing is a 404, not the app:
        // igloo-server answered index.html here and broke its QR worker (reference §17.16).
        let last = rel.rsplit('/').next().unwrap_or("");
        if last.contains('.') {
            return ApiError::not_found(format!("No file {path}")).into_response();
        }
    }
    match Assets::get("index.html") {
        Some(file) => file_response(&state, "index.html", file.data.into_owned()),
        None => ApiError::not_found("UI not built into this binary").into_response(),
    }
}

fn file_response(state: &AppState, rel: &str, body: Vec<u8>) -> Response {
    let mime = mime_guess::from_path(rel).first_or_octet_stream();
    let mut res = Response::new(Body::from(body));
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(mime.as_ref()) {
        h.insert(header::CONTENT_TYPE, v);
    }
    let prod = state.config.is_production();
    let cache = if rel.starts_with("assets/") {
        if prod {
            "public, max-age=31536000, immutable"
        } else {
            "public, max-age=3600"
        }
    } else if rel.ends_with(".html") {
        "no-cache"
    } else {
        "no-cache, no-store, must-revalidate"
    };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    // nosniff, CSP, frame and referrer policy, HSTS: added for every page by `headers.rs`.
    *res.status_mut() = StatusCode::OK;
    res
}
