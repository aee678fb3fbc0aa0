//! The client's address, as every per-address limit must see it.
//!
//! By default this is the TCP peer address. Forwarding headers are honoured only when the
//! owner says a proxy of their own sits in front (`TRUST_PROXY=true`); otherwise anyone could
//! pick their own rate-limit identity. igloo-server keyed everybody as `unknown` when no
//! header was present (reference §17.5); here there is always a real address.
//!
//! Behind a trusted proxy the order is:
//! 1. `X-Forwarded-For`, its **right-most** valid address: the hop our own proxy appended.
//!    Entries to its left were written by the client and can be forged, so taking the first
//!    one (as igloo-server did) lets a client choose its bucket. Behind a chain of proxies
//!    (e.g. Cloudflare then nginx) the right-most entry is the outer proxy; clients then share
//!    that proxy's buckets, which is safe, merely coarse.
//! 2. `X-Real-IP` (nginx's `proxy_set_header X-Real-IP $remote_addr`).
//! 3. `CF-Connecting-IP` (Cloudflare).
//! 4. The peer address.
//!
//! IPv4-mapped IPv6 addresses are folded to IPv4 so one client has one identity.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;

/// The resolved client address, placed in the request extensions by [`middleware`].
/// Handlers read it with the extractor (`ClientIp(ip): ClientIp`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientIp(pub IpAddr);

/// The address a request counts as, from its peer address and headers.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trust_proxy: bool) -> IpAddr {
    if trust_proxy {
        if let Some(ip) = forwarded_for(headers)
            .or_else(|| single(headers, "x-real-ip"))
            .or_else(|| single(headers, "cf-connecting-ip"))
        {
            return ip.to_canonical();
        }
    }
    peer.to_canonical()
}

/// The right-most parsable address of all `X-Forwarded-For` headers (later headers count as
/// appended after earlier ones).
fn forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(parse_hop)
        .next_back()
}

fn single(headers: &HeaderMap, name: &str) -> Option<IpAddr> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_hop)
}

/// One hop: a bare address, `[v6]`, `[v6]:port` or `v4:port`.
fn parse_hop(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    s.strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|r| r.parse().ok())
}

/// Resolves the client address once per request and stores it as [`ClientIp`].
pub async fn middleware(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let ip = client_ip_of(&req, state.config.auth.trust_proxy);
    req.extensions_mut().insert(ClientIp(ip));
    next.run(req).await
}

fn client_ip_of(req: &Request, trust_proxy: bool) -> IpAddr {
    // Every listener of the daemon inserts ConnectInfo. Without one the request did not come
    // over a socket (an in-process call), which is local by definition.
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    resolve(peer, req.headers(), trust_proxy)
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(ip) = parts.extensions.get::<ClientIp>() {
            return Ok(*ip);
        }
        // Outside the middleware (should not happen in the router): the bare peer address.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        Ok(ClientIp(peer.to_canonical()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, HeaderValue::from_static(v));
        }
        m
    }

    const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));

    #[test]
    fn headers_ignored_without_trust_proxy() {
        let hs = h(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-real-ip", "5.6.7.8"),
            ("cf-connecting-ip", "9.9.9.9"),
        ]);
        assert_eq!(resolve(PEER, &hs, false), PEER);
    }

    #[test]
    fn right_most_forwarded_hop_wins() {
        let hs = h(&[("x-forwarded-for", "6.6.6.6, 1.2.3.4")]);
        assert_eq!(
            resolve(PEER, &hs, true),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        // Two header lines: the second was appended last.
        let hs = h(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "[2001:db8::1]:443, junk"),
        ]);
        assert_eq!(
            resolve(PEER, &hs, true),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn fallbacks_in_order_and_mapped_addresses_fold() {
        let hs = h(&[("x-real-ip", "5.6.7.8"), ("cf-connecting-ip", "9.9.9.9")]);
        assert_eq!(
            resolve(PEER, &hs, true),
            "5.6.7.8".parse::<IpAddr>().unwrap()
        );
        let hs = h(&[("cf-connecting-ip", "::ffff:9.9.9.9")]);
        assert_eq!(
            resolve(PEER, &hs, true),
            "9.9.9.9".parse::<IpAddr>().unwrap()
        );
        let hs = h(&[("x-forwarded-for", "not an address")]);
        assert_eq!(resolve(PEER, &hs, true), PEER);
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(
            resolve(mapped, &HeaderMap::new(), false),
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
    }
}
