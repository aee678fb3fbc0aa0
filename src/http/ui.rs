//! The web UI, embedded from `static/`, served with versioned URLs and gzip (the security
//! headers come from `headers.rs`), and an SPA fallback that does not swallow missing files.
//!
//! At the first request every embedded file is prepared once: a version (the first 12 hex
//! digits of SHA-256 over all files) is appended as `?v=…` to every reference to an embedded
//! file in `index.html` and to every relative `import … from "./…js"` in the modules, so one
//! change anywhere gives every URL a new version. Text files are gzipped once and kept.
//! Caching: `index.html` is `no-cache`; a file requested with the current `?v=` is
//! `public, max-age=31536000, immutable`; the same file without it is `no-cache`.

use std::collections::HashMap;
use std::io::Write;
use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::ApiError;

#[derive(RustEmbed)]
#[folder = "static/"]
struct Assets;

/// One prepared file: its bytes as served, gzipped when that is smaller, and its type.
struct Prepared {
    raw: Vec<u8>,
    gzip: Option<Vec<u8>>,
    mime: String,
}

struct Bundle {
    version: String,
    files: HashMap<String, Prepared>,
}

static BUNDLE: OnceLock<Bundle> = OnceLock::new();

fn gzip(data: &[u8]) -> Option<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data).ok()?;
    enc.finish().ok().filter(|z| z.len() < data.len())
}

/// Appends `?v=version` to relative module imports (`from "./x.js"`, `import "./x.js"`).
fn version_imports(js: &str, version: &str) -> String {
    let mut out = String::with_capacity(js.len() + 256);
    for line in js.split_inclusive('\n') {
        let t = line.trim_start();
        if t.starts_with("import ") || t.starts_with("} from ") || t.starts_with("export * from ") {
            out.push_str(&line.replace(".js\"", &format!(".js?v={version}\"")));
        } else {
            out.push_str(line);
        }
    }
    out
}

fn bundle() -> &'static Bundle {
    BUNDLE.get_or_init(|| {
        let mut names: Vec<String> = Assets::iter().map(|n| n.into_owned()).collect();
        names.sort();
        let mut hasher = Sha256::new();
        let mut sources = Vec::new();
        for n in &names {
            if let Some(f) = Assets::get(n) {
                hasher.update(n.as_bytes());
                hasher.update([0]);
                hasher.update(&f.data);
                sources.push((n.clone(), f.data.into_owned()));
            }
        }
        let version = hex::encode(hasher.finalize())[..12].to_string();
        let mut files = HashMap::new();
        for (name, data) in sources {
            let mut raw = data;
            if name == "index.html" {
                let mut html = String::from_utf8_lossy(&raw).into_owned();
                for other in names.iter().filter(|n| *n != "index.html") {
                    html = html.replace(
                        &format!("\"/{other}\""),
                        &format!("\"/{other}?v={version}\""),
                    );
                }
                raw = html.into_bytes();
            } else if name.ends_with(".js") {
                raw = version_imports(&String::from_utf8_lossy(&raw), &version).into_bytes();
            }
            let mime = mime_guess::from_path(&name).first_or_octet_stream();
            let text = mime.type_() == "text"
                || mime.subtype() == "javascript"
                || mime.subtype() == "json"
                || mime.suffix().is_some_and(|s| s == "xml")
                || mime.subtype() == "svg";
            let gzip = if text { gzip(&raw) } else { None };
            files.insert(
                name,
                Prepared {
                    raw,
                    gzip,
                    mime: mime.to_string(),
                },
            );
        }
        Bundle { version, files }
    })
}

/// The version appended to asset URLs (exposed for tests and the README).
pub fn asset_version() -> &'static str {
    &bundle().version
}

/// The embedded UI's total size in bytes: (as served, gzipped).
pub fn ui_size() -> (usize, usize) {
    bundle().files.values().fold((0, 0), |(r, z), f| {
        (
            r + f.raw.len(),
            z + f.gzip.as_ref().map_or(f.raw.len(), Vec::len),
        )
    })
}

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
    let b = bundle();
    let versioned = req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == format!("v={}", b.version)));
    if !rel.is_empty() && rel != "index.html" {
        if let Some(file) = b.files.get(rel) {
            let cache = if versioned {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            };
            return file_response(file, cache, req.headers());
        }
        // A path that names a file (has an extension) and is missing is a 404, not the app:
        // igloo-server answered index.html here and broke its QR worker (reference §17.16).
        let last = rel.rsplit('/').next().unwrap_or("");
        if last.contains('.') {
            return ApiError::not_found(format!("No file {path}")).into_response();
        }
    }
    match b.files.get("index.html") {
        Some(file) => file_response(file, "no-cache", req.headers()),
        None => ApiError::not_found("UI not built into this binary").into_response(),
    }
}

fn accepts_gzip(h: &HeaderMap) -> bool {
    h.get_all(header::ACCEPT_ENCODING).iter().any(|v| {
        v.to_str().is_ok_and(|s| {
            s.split(',').any(|e| {
                let mut parts = e.split(';');
                let name = parts.next().unwrap_or("").trim();
                let refused = parts.any(|p| {
                    let p = p.trim();
                    p == "q=0" || p == "q=0.0" || p == "q=0.00" || p == "q=0.000"
                });
                (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
            })
        })
    })
}

fn file_response(file: &Prepared, cache: &'static str, req: &HeaderMap) -> Response {
    let (body, gz) = match &file.gzip {
        Some(z) if accepts_gzip(req) => (z.clone(), true),
        _ => (file.raw.clone(), false),
    };
    let mut res = Response::new(Body::from(body));
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&file.mime) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if gz {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    if file.gzip.is_some() {
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    // nosniff, CSP, frame and referrer policy, HSTS: added for every page by `headers.rs`.
    *res.status_mut() = StatusCode::OK;
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_get_the_version_and_other_lines_do_not() {
        let js = "import { a } from \"./js/api.js\";\nimport {\n  b,\n} from \"./b.js\";\nconst s = \"x.js\";\n";
        let out = version_imports(js, "abc");
        assert!(out.contains("\"./js/api.js?v=abc\""));
        assert!(out.contains("} from \"./b.js?v=abc\""));
        assert!(out.contains("const s = \"x.js\";"));
    }

    #[test]
    fn gzip_is_chosen_only_when_offered() {
        let mut h = HeaderMap::new();
        assert!(!accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip;q=0.8"),
        );
        assert!(accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip;q=0, br"),
        );
        assert!(!accepts_gzip(&h));
    }

    #[test]
    fn the_ui_stays_within_its_budget() {
        let (raw, gz) = ui_size();
        assert!(raw <= 150 * 1024, "UI is {raw} bytes");
        assert!(gz < raw);
        assert!(
            String::from_utf8_lossy(&bundle().files["index.html"].raw)
                .contains(&format!("/app.js?v={}", asset_version()))
        );
    }
}
