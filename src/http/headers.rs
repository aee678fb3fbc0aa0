//! Security headers (reference §3.11), in one place for the UI, Swagger UI and the API.
//!
//! Every response: `X-Content-Type-Options: nosniff`, and HSTS when served over TLS (browsers
//! ignore HSTS received over a connection with certificate errors, so a self-signed
//! certificate is not pinned by it). HTML responses also get a Content-Security-Policy,
//! `X-Frame-Options: DENY` and `Referrer-Policy: no-referrer`, in every `NODE_ENV`:
//! igloo-server sent them only in production, but nothing in the UI needs them off.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;

/// One year, subdomains included.
const HSTS: &str = "max-age=31536000; includeSubDomains";

/// The Content-Security-Policy of HTML pages. The UI loads only its own scripts and talks
/// only to its own origin: the API over `'self'` and the event stream over the matching
/// `ws:`/`wss:` URL of the same host (`host` is the request's Host header; one that is not a
/// plain host\[:port\] is left out, so `connect-src` is `'self'` alone).
pub fn csp(host: Option<&str>, tls: bool) -> String {
    let mut connect = String::from("'self'");
    if let Some(h) = host.filter(|h| {
        !h.is_empty()
            && h.len() <= 255
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
    }) {
        connect.push_str(if tls { " wss://" } else { " ws://" });
        connect.push_str(h);
    }
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src {connect}; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

/// Adds the headers above to `h` (existing values are kept).
pub fn apply(h: &mut HeaderMap, tls: bool, host: Option<&str>) {
    let html = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"));
    set_default(
        h,
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if tls {
        set_default(
            h,
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    if html {
        set_default(h, header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        set_default(
            h,
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        if let Ok(v) = HeaderValue::from_str(&csp(host, tls)) {
            set_default(h, header::CONTENT_SECURITY_POLICY, v);
        }
    }
}

fn set_default(h: &mut HeaderMap, name: header::HeaderName, value: HeaderValue) {
    h.entry(name).or_insert(value);
}

pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut res = next.run(req).await;
    apply(res.headers_mut(), state.tls_enabled, host.as_deref());
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn html() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        h
    }

    #[test]
    fn html_gets_the_full_set_and_hsts_only_under_tls() {
        let mut h = html();
        apply(&mut h, false, Some("127.0.0.1:8002"));
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("script-src 'self';"));
        assert!(
            csp.contains("connect-src 'self' ws://127.0.0.1:8002;"),
            "{csp}"
        );
        assert!(!csp.contains("wss:") && !csp.contains("ws: "));
        assert!(h.get(header::STRICT_TRANSPORT_SECURITY).is_none());
        let mut h = html();
        apply(&mut h, true, Some("igloo.local"));
        assert_eq!(h[header::STRICT_TRANSPORT_SECURITY], HSTS);
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            csp.contains("connect-src 'self' wss://igloo.local;"),
            "{csp}"
        );
        // A forged Host cannot inject a directive.
        let mut h = html();
        apply(&mut h, false, Some("x; script-src *"));
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("connect-src 'self';") && !csp.contains("script-src *"));
    }

    #[test]
    fn json_gets_nosniff_but_no_page_policy() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        apply(&mut h, false, None);
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(h.get(header::CONTENT_SECURITY_POLICY).is_none());
        assert!(h.get(header::X_FRAME_OPTIONS).is_none());
    }
}
