//! Which browser origins may talk to the API and open WebSockets (reference §6.5–6.6).
//!
//! `ALLOWED_ORIGINS` is a comma separated list of exact origins (`https://igloo.lan:8002`),
//! `*`, and `@self`. The decision, in order:
//! 1. No `Origin` header: not a browser (curl, a Nostr client, a FROSTR peer). WebSockets are
//!    allowed, as in igloo-server; CORS adds nothing.
//! 2. An `Origin` that does not parse (including `null`): refused.
//! 3. Exactly the origin the browser used for this request: allowed. That is the scheme (https
//!    when igloo terminates TLS), the `Host` header's host and port; behind a trusted proxy
//!    (`TRUST_PROXY`) the first `X-Forwarded-Proto` and `X-Forwarded-Host` instead. Default
//!    ports (80, 443) compare equal to no port. Another port or scheme of the same host is
//!    another site: on an Umbrel or StartOS box every other app is one, and the session cookie
//!    (SameSite ignores ports) would ride along. `@self` means exactly this origin.
//! 4. An exact entry of the list: allowed.
//! 5. `*`: any origin for CORS (without credentials); for WebSockets outside production only,
//!    as in igloo-server.
//! 6. Anything else: refused (403 on WebSocket upgrades, preflights and credentialed calls).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use super::ratelimit::{asks_for_websocket, is_real_upgrade, is_ws_route};
use crate::config::{Config, TlsMode};

/// How an origin is allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No `Origin` header: a non-browser client.
    NoOrigin,
    /// Exactly the origin the browser used for this request (scheme, host and port).
    SameOrigin,
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
    /// igloo terminates TLS itself: requests arrive over https.
    tls: bool,
}

impl OriginPolicy {
    pub fn from_config(cfg: &Config) -> Self {
        Self::new(
            &cfg.auth.allowed_origins,
            cfg.is_production(),
            cfg.auth.trust_proxy,
        )
        .with_tls(cfg.tls != TlsMode::Off)
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
            tls: false,
        }
    }

    /// The same policy for a server that terminates TLS itself.
    pub fn with_tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
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
        if self
            .own_origin(headers)
            .is_some_and(|own| own == origin.normalized)
        {
            return Verdict::SameOrigin;
        }
        if self.exact.contains(&origin.normalized) {
            return Verdict::Listed;
        }
        if self.wildcard && wildcard_ok {
            return Verdict::Wildcard;
        }
        Verdict::Refused
    }

    /// Whether the browser reached us over https: igloo's own TLS, or a trusted proxy's
    /// `X-Forwarded-Proto: https`.
    pub fn is_https(&self, headers: &HeaderMap) -> bool {
        self.scheme(headers) == "https"
    }

    fn scheme(&self, headers: &HeaderMap) -> &'static str {
        let forwarded = self
            .trust_proxy
            .then(|| first_value(headers, "x-forwarded-proto"))
            .flatten();
        match forwarded {
            Some(p) if p.eq_ignore_ascii_case("https") => "https",
            Some(p) if p.eq_ignore_ascii_case("http") => "http",
            _ if self.tls => "https",
            _ => "http",
        }
    }

    /// `scheme://host[:port]` as the browser addressed this request, normalized like an
    /// `Origin` (lower case, default port dropped); `None` without a usable host.
    pub fn own_origin(&self, headers: &HeaderMap) -> Option<String> {
        let forwarded = self
            .trust_proxy
            .then(|| first_value(headers, "x-forwarded-host"))
            .flatten();
        let raw = forwarded.or_else(|| headers.get(header::HOST).and_then(|v| v.to_str().ok()))?;
        let scheme = self.scheme(headers);
        let authority = raw.trim().to_ascii_lowercase();
        host_of_authority(&authority)?;
        Some(without_default_port(scheme, &authority))
    }
}

/// The first entry of a comma separated header (what the client-facing proxy wrote).
fn first_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// `scheme://authority` with `:80` (http) or `:443` (https) removed, as browsers write origins.
fn without_default_port(scheme: &str, authority: &str) -> String {
    let default = if scheme == "https" { ":443" } else { ":80" };
    let a = authority.strip_suffix(default).unwrap_or(authority);
    format!("{scheme}://{a}")
}

/// Whether the browser is on https for this request: igloo's own TLS, or `TRUST_PROXY` with
/// `X-Forwarded-Proto: https` from a TLS-terminating proxy. Cookies get `Secure` then.
pub fn request_is_https(state: &AppState, headers: &HeaderMap) -> bool {
    state.tls_enabled || state.guard.origins.get().is_https(headers)
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
    /// `scheme://host[:port]`, lower case, default port dropped.
    normalized: String,
}

fn normalize(o: &str) -> String {
    let o = o.trim().trim_end_matches('/').to_ascii_lowercase();
    match o.split_once("://") {
        Some((scheme, authority)) => without_default_port(scheme, authority),
        None => o,
    }
}

/// Parses `scheme://host[:port]`; `None` for `null`, paths, user info or other schemes.
fn parse_origin(raw: &str) -> Option<Origin> {
    let normalized = normalize(raw);
    let (scheme, authority) = normalized.split_once("://")?;
    if !matches!(scheme, "http" | "https") || authority.contains(['/', '@', '?', '#']) {
        return None;
    }
    host_of_authority(authority)?;
    Some(Origin { normalized })
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

/// On the WebSocket routes (relay at `/` and `/api/events`): a request asking for a
/// WebSocket without a complete handshake gets 400, and a real upgrade from an origin the
/// policy does not allow gets 403, before any upgrade happens. Both sockets follow the same
/// rule as the API.
pub async fn ws_middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if is_ws_route(req.uri().path()) && asks_for_websocket(req.headers()) {
        if !is_real_upgrade(req.method(), req.headers()) {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "BAD_UPGRADE",
                "Incomplete WebSocket handshake",
            )
            .into_response();
        }
        if !state.guard.origins.websocket(req.headers()).allowed() {
            tracing::debug!(path = req.uri().path(), "WebSocket origin refused");
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "ORIGIN_NOT_ALLOWED",
                "This origin may not open a WebSocket here",
            )
            .into_response();
        }
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
    fn own_origin_and_non_browsers_pass_evil_origins_do_not() {
        let p = policy(&[], false, false);
        let h = headers(None, "igloo.lan:8002");
        assert_eq!(p.websocket(&h), Verdict::NoOrigin);
        let h = headers(Some("http://igloo.lan:8002"), "igloo.lan:8002");
        assert_eq!(p.websocket(&h), Verdict::SameOrigin);
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
    fn another_port_or_scheme_of_the_same_host_is_another_origin() {
        let p = policy(&[], false, false);
        for other in [
            "http://igloo.lan:5173",
            "http://igloo.lan",
            "https://igloo.lan:8002",
        ] {
            let h = headers(Some(other), "igloo.lan:8002");
            assert_eq!(p.cors(&h), Verdict::Refused, "{other}");
            assert_eq!(p.websocket(&h), Verdict::Refused, "{other}");
        }
        // Under igloo's own TLS the page is https and only https matches.
        let tls = policy(&[], false, false).with_tls(true);
        let h = headers(Some("https://igloo.lan:8002"), "igloo.lan:8002");
        assert_eq!(tls.cors(&h), Verdict::SameOrigin);
        let h = headers(Some("http://igloo.lan:8002"), "igloo.lan:8002");
        assert_eq!(tls.cors(&h), Verdict::Refused);
        // Default ports are the same as none.
        let h = headers(Some("http://igloo.lan"), "igloo.lan:80");
        assert_eq!(p.cors(&h), Verdict::SameOrigin);
        let h = headers(Some("https://igloo.lan:443"), "igloo.lan");
        assert_eq!(tls.cors(&h), Verdict::SameOrigin);
    }

    #[test]
    fn listed_and_wildcard_origins() {
        let p = policy(&["https://app.example/", "@self"], true, false);
        let h = headers(Some("HTTPS://app.example"), "igloo.lan");
        assert_eq!(p.cors(&h), Verdict::Listed);
        let h = headers(Some("https://app.example:444"), "igloo.lan");
        assert_eq!(p.cors(&h), Verdict::Refused);
        let h = headers(Some("https://app.example:443"), "igloo.lan");
        assert_eq!(p.cors(&h), Verdict::Listed);
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
    fn forwarded_host_and_proto_only_behind_a_trusted_proxy() {
        let mut h = headers(Some("https://igloo.example.com"), "127.0.0.1:8002");
        h.insert(
            "x-forwarded-host",
            HeaderValue::from_static("igloo.example.com, inner"),
        );
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert_eq!(policy(&[], true, false).websocket(&h), Verdict::Refused);
        assert!(!policy(&[], true, false).is_https(&h));
        let trusted = policy(&[], true, true);
        assert_eq!(trusted.websocket(&h), Verdict::SameOrigin);
        assert!(trusted.is_https(&h));
        // The proxy says http: the https page of the same host is another origin.
        h.insert("x-forwarded-proto", HeaderValue::from_static("http"));
        assert_eq!(trusted.websocket(&h), Verdict::Refused);
    }

    #[test]
    fn ipv6_hosts_compare_with_their_port() {
        let p = policy(&[], true, false);
        let h = headers(Some("http://[::1]:8002"), "[::1]:8002");
        assert_eq!(p.websocket(&h), Verdict::SameOrigin);
        let h = headers(Some("http://[::1]:3000"), "[::1]:8002");
        assert_eq!(p.websocket(&h), Verdict::Refused);
        assert_eq!(host_of_authority("[::1"), None);
        assert_eq!(host_of_authority("a:b"), None);
    }
}
