//! Which browser origins may talk to the API and open WebSockets (reference §6.5–6.6).
//!
//! `ALLOWED_ORIGINS` is a comma separated list of exact origins (`https://igloo.lan:8002`),
//! `*`, and `@self`. The decision, in order:
//! 1. No `Origin` header: not a browser (curl, a Nostr client, a FROSTR peer). WebSockets are
//!    allowed, as in igloo-server; CORS adds nothing.
//! 2. An `Origin` that does not parse (including `null`): refused.
//! 3. The same host as the request (port ignored, as igloo-server's `@self`): allowed. The
//!    host is the `Host` header, or the first `X-Forwarded-Host` behind a trusted proxy.
//!    igloo-server allowed *every* origin in development when the list was empty and needed
//!    `@self` spelled out once a list was set, which refused its own UI; here the box's own
//!    pages are always allowed and nothing else is unless listed. `@self` is still accepted.
//! 4. An exact entry of the list: allowed.
//! 5. `*`: any origin for CORS (without credentials); for WebSockets outside production only,
//!    as in igloo-server.
//! 6. Anything else: refused (403 on WebSocket upgrades and preflights).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use super::ratelimit::is_ws_upgrade;
use crate::config::Config;

/// How an origin is allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No `Origin` header: a non-browser client.
    NoOrigin,
    /// The server's own host.
    SameHost,
    /// Listed exactly in `ALLOWED_ORIGINS`.
    Listed,
    /// Allowed by a `*` entry.
    Wildcard,
    /// Refused.
    Refused,
}

impl Verdict {
    pub fn allowed(self) -> bool {
        self != Verdict::Refused
    }
}

/// The parsed `ALLOWED_ORIGINS` with what else the decision needs.
#[derive(Clone, Debug)]
pub struct OriginPolicy {
    exact: Vec<String>,
    wildcard: bool,
    production: bool,
    trust_proxy: bool,
}

impl OriginPolicy {
    pub fn from_config(cfg: &Config) -> Self {
        Self::new(
            &cfg.auth.allowed_origins,
            cfg.is_production(),
            cfg.auth.trust_proxy,
        )
    }

    pub fn new(list: &[String], production: bool, trust_proxy: bool) -> Self {
        let mut exact = Vec::new();
        let mut wildcard = false;
        for entry in list {
            match entry.trim() {
                "*" => wildcard = true,
                "@self" | "" => {}
                o => exact.push(normalize(o)),
            }
        }
        Self {
            exact,
            wildcard,
            production,
            trust_proxy,
        }
    }

    /// The verdict on a request for CORS purposes.
    pub fn cors(&self, headers: &HeaderMap) -> Verdict {
        self.judge(headers, true)
    }

    /// The verdict on a WebSocket upgrade.
    pub fn websocket(&self, headers: &HeaderMap) -> Verdict {
        self.judge(headers, !self.production)
    }

    fn judge(&self, headers: &HeaderMap, wildcard_ok: bool) -> Verdict {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Verdict::NoOrigin;
        };
        let Some(origin) = origin.to_str().ok().and_then(parse_origin) else {
            return Verdict::Refused;
        };
        if let Some(host) = self.request_host(headers) {
            if origin.host.eq_ignore_ascii_case(&host) {
                return Verdict::SameHost;
            }
        }
        if self.exact.contains(&origin.normalized) {
            return Verdict::Listed;
        }
        if self.wildcard && wildcard_ok {
            return Verdict::Wildcard;
        }
        Verdict::Refused
    }

    /// The host name the client addressed, without port.
    fn request_host(&self, headers: &HeaderMap) -> Option<String> {
        let forwarded = self
            .trust_proxy
            .then(|| headers.get("x-forwarded-host"))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty());
        let raw = forwarded.or_else(|| headers.get(header::HOST).and_then(|v| v.to_str().ok()))?;
        host_of_authority(raw)
    }
}

/// The origin policy in force, replaced whole when `ALLOWED_ORIGINS` changes through
/// `/api/env`.
#[derive(Debug)]
pub struct LiveOrigins(std::sync::RwLock<std::sync::Arc<OriginPolicy>>);

impl LiveOrigins {
    pub fn new(policy: OriginPolicy) -> Self {
        Self(std::sync::RwLock::new(std::sync::Arc::new(policy)))
    }

    pub fn set(&self, policy: OriginPolicy) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = std::sync::Arc::new(policy);
    }

    pub fn get(&self) -> std::sync::Arc<OriginPolicy> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// [`OriginPolicy::cors`] under the policy in force.
    pub fn cors(&self, headers: &HeaderMap) -> Verdict {
        self.get().cors(headers)
    }

    /// [`OriginPolicy::websocket`] under the policy in force.
    pub fn websocket(&self, headers: &HeaderMap) -> Verdict {
        self.get().websocket(headers)
    }
}

struct Origin {
    /// `scheme://host[:port]`, lower case.
    normalized: String,
    /// The host name alone (IPv6 without brackets).
    host: String,
}

fn normalize(o: &str) -> String {
    o.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// Parses `scheme://host[:port]`; `None` for `null`, paths, user info or other schemes.
fn parse_origin(raw: &str) -> Option<Origin> {
    let normalized = normalize(raw);
    let (scheme, authority) = normalized.split_once("://")?;
    if !matches!(scheme, "http" | "https") || authority.contains(['/', '@', '?', '#']) {
        return None;
    }
    let host = host_of_authority(authority)?;
    Some(Origin { normalized, host })
}

/// `host`, `host:port`, `[v6]` or `[v6]:port` → the host; `None` if malformed.
fn host_of_authority(a: &str) -> Option<String> {
    let a = a.trim();
    let host = if let Some(rest) = a.strip_prefix('[') {
        let (h, tail) = rest.split_once(']')?;
        if !(tail.is_empty() || tail.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        h
    } else {
        match a.rsplit_once(':') {
            Some((h, p)) if is_port(p) => h,
            Some(_) => return None,
            None => a,
        }
    };
    let ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'));
    ok.then(|| host.to_ascii_lowercase())
}

fn is_port(p: &str) -> bool {
    !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
}

/// Refuses WebSocket upgrades (relay at `/` and `/api/events`) from origins the policy does
/// not allow: 403 before any upgrade happens.
pub async fn ws_middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if is_ws_upgrade(req.headers()) && !state.guard.origins.websocket(req.headers()).allowed() {
        tracing::debug!(path = req.uri().path(), "WebSocket origin refused");
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "ORIGIN_NOT_ALLOWED",
            "This origin may not open a WebSocket here",
        )
        .into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&'static str>, host: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static(host));
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_static(o));
        }
        h
    }

    fn policy(list: &[&str], production: bool, trust_proxy: bool) -> OriginPolicy {
        let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        OriginPolicy::new(&list, production, trust_proxy)
    }

    #[test]
    fn own_host_and_non_browsers_pass_evil_origins_do_not() {
        let p = policy(&[], false, false);
        let h = headers(None, "igloo.lan:8002");
        assert_eq!(p.websocket(&h), Verdict::NoOrigin);
        let h = headers(Some("http://igloo.lan:5173"), "igloo.lan:8002");
        assert_eq!(p.websocket(&h), Verdict::SameHost);
        let h = headers(Some("https://evil.example"), "igloo.lan:8002");
        assert_eq!(p.websocket(&h), Verdict::Refused);
        assert_eq!(p.cors(&h), Verdict::Refused);
        for bad in [
            "null",
            "igloo.lan",
            "http://igloo.lan/x",
            "ftp://igloo.lan",
            "http://a@igloo.lan",
        ] {
            let mut h = headers(None, "igloo.lan");
            h.insert(header::ORIGIN, HeaderValue::from_str(bad).unwrap());
            assert_eq!(p.websocket(&h), Verdict::Refused, "{bad}");
        }
    }

    #[test]
    fn listed_and_wildcard_origins() {
        let p = policy(&["https://app.example/", "@self"], true, false);
        let h = headers(Some("HTTPS://app.example"), "igloo.lan");
        assert_eq!(p.cors(&h), Verdict::Listed);
        let h = headers(Some("https://app.example:444"), "igloo.lan");
        assert_eq!(p.cors(&h), Verdict::Refused);
        let star = policy(&["*"], true, false);
        let h = headers(Some("https://x.example"), "igloo.lan");
        assert_eq!(star.cors(&h), Verdict::Wildcard);
        assert_eq!(
            star.websocket(&h),
            Verdict::Refused,
            "no * for sockets in production"
        );
        let star_dev = policy(&["*"], false, false);
        assert_eq!(star_dev.websocket(&h), Verdict::Wildcard);
    }

    #[test]
    fn forwarded_host_only_behind_a_trusted_proxy() {
        let mut h = headers(Some("https://igloo.example.com"), "127.0.0.1:8002");
        h.insert(
            "x-forwarded-host",
            HeaderValue::from_static("igloo.example.com, inner"),
        );
        assert_eq!(policy(&[], true, false).websocket(&h), Verdict::Refused);
        assert_eq!(policy(&[], true, true).websocket(&h), Verdict::SameHost);
    }

    #[test]
    fn ipv6_hosts_compare_without_brackets_or_port() {
        let p = policy(&[], true, false);
        let h = headers(Some("http://[::1]:3000"), "[::1]:8002");
        assert_eq!(p.websocket(&h), Verdict::SameHost);
        assert_eq!(host_of_authority("[::1"), None);
        assert_eq!(host_of_authority("a:b"), None);
    }
}
