//! Per-address rate limits (reference §6.4), the login-failure throttle and the per-address
//! cap on concurrent event-stream sockets.
//!
//! Counters live in memory only: a restart forgives everybody, unlike igloo-server whose
//! counters sat in SQLite and kept the owner locked out after a reboot (§17.5). Every map is
//! bounded: stale keys are swept, and at the cap the oldest key is dropped, so a flood of
//! addresses costs at most a fixed amount of memory. IPv6 clients are keyed by their /64,
//! the block one subscriber usually owns, so rotating addresses inside it gains nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::AppState;
use super::client_ip::ClientIp;
use super::error::ApiError;
use crate::config::RateLimits;

/// Most keys any one map holds.
const MAX_KEYS: usize = 65_536;
/// How often expired keys are swept even when no map is full.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// How long a caller must wait, for `Retry-After`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds, rounded up, at least 1 (the header's unit).
    pub fn secs(&self) -> u64 {
        let s = self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0);
        s.max(1)
    }
}

/// The named rate-limit buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// Every other API call: `RATE_LIMIT_MAX` per `RATE_LIMIT_WINDOW`.
    Auth,
    /// `POST /api/auth/login` and `POST /api/unlock`: `RATE_LIMIT_MAX` per window, counted
    /// apart from `Auth` so ordinary API use cannot lock the login out.
    Login,
    /// Onboarding's admin-secret checks: 5 per minute, as igloo-server's `onboarding_admin`.
    Onboarding,
    /// `/api/sign`: `RATE_LIMIT_MAX` per window.
    Sign,
    /// ECDH, NIP-04 and NIP-44: `RATE_LIMIT_MAX` per window.
    Crypto,
    /// `/api/recover*`: `RATE_LIMIT_RECOVERY_MAX` per its window.
    Recovery,
    /// Configuration writes under `/api/env`: `RATE_LIMIT_ENV_WRITE_MAX` per its window.
    EnvWrite,
    /// WebSocket upgrades (relay and event stream): `RATE_LIMIT_WS_UPGRADE_MAX` per its window.
    WsUpgrade,
}

const BUCKETS: usize = 8;

impl Bucket {
    pub fn name(self) -> &'static str {
        match self {
            Bucket::Auth => "auth",
            Bucket::Login => "login",
            Bucket::Onboarding => "onboarding_admin",
            Bucket::Sign => "sign",
            Bucket::Crypto => "crypto",
            Bucket::Recovery => "recovery",
            Bucket::EnvWrite => "env-write",
            Bucket::WsUpgrade => "ws-upgrade",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The paths that serve WebSockets: the relay at `/` and the event stream.
pub fn is_ws_route(path: &str) -> bool {
    path == "/" || path == "/api/events"
}

/// Whether a comma-separated header holds `token` (case-insensitive), in any of its values.
fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Whether the request says it wants a WebSocket (`Upgrade: websocket`), real or not.
pub fn asks_for_websocket(headers: &HeaderMap) -> bool {
    header_has_token(headers, header::UPGRADE, "websocket")
}

/// A complete RFC 6455 handshake request: GET, `Connection: upgrade`, `Upgrade: websocket`,
/// a `Sec-WebSocket-Key` that is base64 of 16 bytes and `Sec-WebSocket-Version: 13`.
pub fn is_real_upgrade(method: &Method, headers: &HeaderMap) -> bool {
    use base64::Engine;
    let key_ok = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            base64::engine::general_purpose::STANDARD
                .decode(v.trim())
                .ok()
        })
        .is_some_and(|k| k.len() == 16);
    let version_ok = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v.as_bytes() == b"13");
    method == Method::GET
        && header_has_token(headers, header::CONNECTION, "upgrade")
        && asks_for_websocket(headers)
        && key_ok
        && version_ok
}

/// True only for a real WebSocket handshake on a WebSocket route. The header alone proves
/// nothing: any other request keeps its own body limit and rate-limit bucket.
pub fn is_ws_upgrade(method: &Method, path: &str, headers: &HeaderMap) -> bool {
    is_ws_route(path) && is_real_upgrade(method, headers)
}

/// The bucket a request counts against, by method and path; `None` for the UI's files.
pub fn bucket_for(method: &Method, path: &str, ws_upgrade: bool) -> Option<Bucket> {
    if ws_upgrade {
        return Some(Bucket::WsUpgrade);
    }
    let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    if path != "/api" && !path.starts_with("/api/") {
        return None;
    }
    let write = method != Method::GET && method != Method::HEAD;
    Some(match path {
        "/api/auth/login" | "/api/unlock" => Bucket::Login,
        "/api/onboarding/validate-admin" | "/api/onboarding/setup" => Bucket::Onboarding,
        "/api/sign" => Bucket::Sign,
        _ if under("/api/nip04") || under("/api/nip44") || under("/api/ecdh") => Bucket::Crypto,
        _ if path.starts_with("/api/recover") => Bucket::Recovery,
        _ if write && under("/api/env") => Bucket::EnvWrite,
        _ => Bucket::Auth,
    })
}

/// The key of a per-address counter: IPv4 as is, IPv6 by its /64.
fn addr_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let mut seg = v6.segments();
            seg[4..].fill(0);
            IpAddr::V6(seg.into())
        }
        v4 => v4,
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves plain counters; keep using them.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Clone, Copy)]
struct Window {
    start: Instant,
    count: u32,
}

struct Windows {
    map: HashMap<(Bucket, IpAddr), Window>,
    last_sweep: Instant,
    /// Limit and window per bucket; `POST /api/env` may change them while running.
    rules: [(u32, Duration); BUCKETS],
}

/// Fixed-window counters per (bucket, address), as igloo-server's limiter, in memory.
pub struct RateLimiter {
    enabled: AtomicBool,
    state: Mutex<Windows>,
}

fn rules_of(cfg: &RateLimits) -> [(u32, Duration); BUCKETS] {
    let general = (cfg.max, cfg.window);
    let mut rules = [general; BUCKETS];
    rules[Bucket::Onboarding.index()] = (5, Duration::from_secs(60));
    rules[Bucket::Recovery.index()] = cfg.recovery;
    rules[Bucket::EnvWrite.index()] = cfg.env_write;
    rules[Bucket::WsUpgrade.index()] = cfg.ws_upgrade;
    rules
}

impl RateLimiter {
    pub fn new(cfg: &RateLimits) -> Self {
        Self {
            enabled: AtomicBool::new(cfg.enabled),
            state: Mutex::new(Windows {
                map: HashMap::new(),
                last_sweep: Instant::now(),
                rules: rules_of(cfg),
            }),
        }
    }

    /// New limits from now on (configuration changed through `/api/env`). Open windows keep
    /// their counts and are judged by the new limit and window.
    pub fn reconfigure(&self, cfg: &RateLimits) {
        lock(&self.state).rules = rules_of(cfg);
        self.enabled.store(cfg.enabled, Ordering::Relaxed);
    }

    /// The limit and window of `bucket`.
    pub fn rule(&self, bucket: Bucket) -> (u32, Duration) {
        lock(&self.state).rules[bucket.index()]
    }

    /// Counts one request of `ip` against `bucket`; `Err` once the window's limit is spent.
    pub fn check(&self, bucket: Bucket, ip: IpAddr) -> Result<(), RetryAfter> {
        self.check_at(bucket, ip, Instant::now())
    }

    /// [`check`](Self::check) at a given time (tests drive the clock).
    pub fn check_at(&self, bucket: Bucket, ip: IpAddr, now: Instant) -> Result<(), RetryAfter> {
        if !self.enabled.load(Ordering::Relaxed) {
            return Ok(());
        }
        let key = (bucket, addr_key(ip));
        let mut st = lock(&self.state);
        let (max, window) = st.rules[bucket.index()];
        if now.saturating_duration_since(st.last_sweep) >= SWEEP_EVERY
            || (st.map.len() >= MAX_KEYS && !st.map.contains_key(&key))
        {
            self.sweep(&mut st, now);
        }
        let w = st.map.entry(key).or_insert(Window {
            start: now,
            count: 0,
        });
        if now.saturating_duration_since(w.start) >= window {
            *w = Window {
                start: now,
                count: 0,
            };
        }
        if w.count >= max {
            let left = (w.start + window).saturating_duration_since(now);
            return Err(RetryAfter(left));
        }
        w.count += 1;
        Ok(())
    }

    /// Drops expired windows; at the cap, also the oldest live one.
    fn sweep(&self, st: &mut Windows, now: Instant) {
        st.last_sweep = now;
        let rules = st.rules;
        st.map
            .retain(|(b, _), w| now.saturating_duration_since(w.start) < rules[b.index()].1);
        if st.map.len() >= MAX_KEYS {
            evict_older_half(&mut st.map, |w| w.start);
        }
    }

    /// Keys currently held (for tests and status).
    pub fn len(&self) -> usize {
        lock(&self.state).map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

// ---- login failures ----

/// Failures a single address may make before it has to wait.
const IP_FREE_FAILURES: u32 = 5;
/// Longest wait imposed on an address.
const IP_MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// Failures against one user name before every address has to wait.
const USER_FREE_FAILURES: u32 = 10;
/// Longest wait imposed on a user name. Short on purpose: an attacker must not be able to
/// lock the owner out of their own box, only slow guessing to about one try a minute.
const USER_MAX_DELAY: Duration = Duration::from_secs(60);
/// A record idle this long is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

fn wait_for(f: &Failures, free: u32, max: Duration, now: Instant) -> Option<Duration> {
    if f.count < free {
        return None;
    }
    let exp = (f.count - free).min(20);
    let delay = Duration::from_secs(1u64 << exp).min(max);
    let until = f.last + delay;
    (until > now).then(|| until - now)
}

struct FailureMaps {
    by_user: HashMap<[u8; 32], Failures>,
    by_ip: HashMap<IpAddr, Failures>,
    last_sweep: Instant,
}

/// Slows down password guessing, per user name and per address, with a doubling delay after
/// a few free failures. The authentication code calls [`check`](Self::check) before verifying
/// a password, then [`record_failure`](Self::record_failure) or
/// [`record_success`](Self::record_success).
pub struct LoginThrottle {
    enabled: AtomicBool,
    state: Mutex<FailureMaps>,
}

/// User names are keyed by a hash: fixed size whatever a client sends, and the map never
/// holds what was typed (sometimes a password in the wrong field).
fn user_key(user: &str) -> [u8; 32] {
    Sha256::digest(user.trim().to_lowercase().as_bytes()).into()
}

impl LoginThrottle {
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled: AtomicBool::new(enabled),
            state: Mutex::new(FailureMaps {
                by_user: HashMap::new(),
                by_ip: HashMap::new(),
                last_sweep: Instant::now(),
            }),
        }
    }

    /// Turns the throttle on or off (`RATE_LIMIT_ENABLED` changed through `/api/env`).
    pub fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Relaxed);
    }

    /// `Err` while `user` or `ip` must still wait before the next attempt.
    pub fn check(&self, user: &str, ip: IpAddr) -> Result<(), RetryAfter> {
        self.check_at(user, ip, Instant::now())
    }

    pub fn check_at(&self, user: &str, ip: IpAddr, now: Instant) -> Result<(), RetryAfter> {
        if !self.enabled.load(Ordering::Relaxed) {
            return Ok(());
        }
        let st = lock(&self.state);
        let by_ip = st
            .by_ip
            .get(&addr_key(ip))
            .and_then(|f| wait_for(f, IP_FREE_FAILURES, IP_MAX_DELAY, now));
        let by_user = st
            .by_user
            .get(&user_key(user))
            .and_then(|f| wait_for(f, USER_FREE_FAILURES, USER_MAX_DELAY, now));
        match by_ip.into_iter().chain(by_user).max() {
            Some(d) => Err(RetryAfter(d)),
            None => Ok(()),
        }
    }

    /// A wrong password (or unknown user) from `ip`.
    pub fn record_failure(&self, user: &str, ip: IpAddr) {
        self.record_failure_at(user, ip, Instant::now());
    }

    pub fn record_failure_at(&self, user: &str, ip: IpAddr, now: Instant) {
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        let mut st = lock(&self.state);
        if now.saturating_duration_since(st.last_sweep) >= SWEEP_EVERY
            || st.by_ip.len() >= MAX_KEYS
            || st.by_user.len() >= MAX_KEYS
        {
            sweep_failures(&mut st, now);
        }
        let f = st.by_ip.entry(addr_key(ip)).or_insert(Failures {
            count: 0,
            last: now,
        });
        bump(f, now);
        let f = st.by_user.entry(user_key(user)).or_insert(Failures {
            count: 0,
            last: now,
        });
        bump(f, now);
    }

    /// A successful login: the user's and the address's slates are wiped.
    pub fn record_success(&self, user: &str, ip: IpAddr) {
        let mut st = lock(&self.state);
        st.by_user.remove(&user_key(user));
        st.by_ip.remove(&addr_key(ip));
    }
}

fn bump(f: &mut Failures, now: Instant) {
    if now.saturating_duration_since(f.last) >= FORGET_AFTER {
        f.count = 0;
    }
    f.count = f.count.saturating_add(1);
    f.last = now;
}

fn sweep_failures(st: &mut FailureMaps, now: Instant) {
    st.last_sweep = now;
    let live = |f: &Failures| now.saturating_duration_since(f.last) < FORGET_AFTER;
    st.by_ip.retain(|_, f| live(f));
    st.by_user.retain(|_, f| live(f));
    if st.by_ip.len() >= MAX_KEYS {
        evict_older_half(&mut st.by_ip, |f| f.last);
    }
    if st.by_user.len() >= MAX_KEYS {
        evict_older_half(&mut st.by_user, |f| f.last);
    }
}

/// Drops the older half of a full map in one O(n) pass, so a flood of new keys costs O(1)
/// per key amortized instead of a scan each.
fn evict_older_half<K, V>(map: &mut HashMap<K, V>, time: impl Fn(&V) -> Instant) {
    let mut times: Vec<Instant> = map.values().map(&time).collect();
    if times.is_empty() {
        return;
    }
    let mid = times.len() / 2;
    let (_, median, _) = times.select_nth_unstable(mid);
    let median = *median;
    map.retain(|_, v| time(v) > median);
}

// ---- concurrent sockets ----

/// Counts open sockets per address, up to a cap.
pub struct ConnSlots {
    max: u32,
    open: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

/// One claimed socket slot; released on drop.
pub struct ConnSlot {
    open: Arc<Mutex<HashMap<IpAddr, u32>>>,
    ip: IpAddr,
}

/// A claimed event-stream slot, placed in the request extensions of `/api/events` upgrades.
/// The WebSocket handler keeps a clone inside its socket task so the slot lives as long as
/// the socket (`Extension(slot): Extension<WsSlot>`).
#[derive(Clone)]
pub struct WsSlot(pub Arc<ConnSlot>);

impl ConnSlots {
    pub fn new(max: u32) -> Self {
        Self {
            max,
            open: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// A slot for `ip`, or `None` when it already holds the maximum.
    pub fn acquire(&self, ip: IpAddr) -> Option<ConnSlot> {
        let ip = ip.to_canonical();
        let mut open = lock(&self.open);
        let n = open.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(ConnSlot {
            open: Arc::clone(&self.open),
            ip,
        })
    }

    /// Open slots of `ip`.
    pub fn open(&self, ip: IpAddr) -> u32 {
        lock(&self.open)
            .get(&ip.to_canonical())
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut open = lock(&self.open);
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

// ---- the layer ----

/// Everything per-address the HTTP layer limits, shared by all requests (in `AppState`).
pub struct Guard {
    pub limiter: RateLimiter,
    pub login: LoginThrottle,
    /// Concurrent `/api/events` sockets per address (`WS_MAX_CONNECTIONS_PER_IP`). The relay
    /// at `/` has its own per-address cap (`RELAY_MAX_CONNECTIONS_PER_IP`), so FROSTR peers on
    /// one address cannot starve the owner's UI or the other way round (reference §17.22).
    pub event_sockets: ConnSlots,
    /// Which browser origins may use the API and open WebSockets (changeable while running).
    pub origins: super::origin::LiveOrigins,
}

impl Guard {
    pub fn new(cfg: &crate::config::Config) -> Self {
        let rl = &cfg.rate_limits;
        Self {
            limiter: RateLimiter::new(rl),
            login: LoginThrottle::new(rl.enabled),
            event_sockets: ConnSlots::new(rl.ws_max_connections_per_ip),
            origins: super::origin::LiveOrigins::new(super::origin::OriginPolicy::from_config(cfg)),
        }
    }

    /// Applies a changed configuration: limits, the login throttle's switch and the origin
    /// policy. Counters and open sockets are kept.
    pub fn reconfigure(&self, cfg: &crate::config::Config) {
        self.limiter.reconfigure(&cfg.rate_limits);
        self.login.set_enabled(cfg.rate_limits.enabled);
        self.origins
            .set(super::origin::OriginPolicy::from_config(cfg));
    }
}

/// The 429 answer: JSON `{error, code: "RATE_LIMITED"}` with `Retry-After`.
pub fn too_many(retry: RetryAfter) -> Response {
    let mut res = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
        "Rate limit exceeded. Try again later.",
    )
    .into_response();
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry.secs()));
    res
}

/// Counts the request against its bucket, and claims an event-stream slot for
/// `/api/events` upgrades.
pub async fn middleware(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let ip = match req.extensions().get::<ClientIp>() {
        Some(c) => c.0,
        None => {
            super::client_ip::resolve(std::net::Ipv4Addr::LOCALHOST.into(), req.headers(), false)
        }
    };
    let upgrade = is_ws_upgrade(req.method(), req.uri().path(), req.headers());
    // The node's own sockets to the built-in relay come from loopback and reconnect whenever
    // a relay drops; counting them could lock the signer out of its own relay (reference
    // §17.22). Loopback clients are local processes; the relay's per-address connection cap
    // still bounds them.
    let bucket = bucket_for(req.method(), req.uri().path(), upgrade)
        .filter(|b| !(*b == Bucket::WsUpgrade && ip.is_loopback()));
    if let Some(bucket) = bucket {
        if let Err(retry) = state.guard.limiter.check(bucket, ip) {
            tracing::debug!(bucket = bucket.name(), %ip, "rate limited");
            return too_many(retry);
        }
    }
    if upgrade && req.uri().path() == "/api/events" {
        match state.guard.event_sockets.acquire(ip) {
            Some(slot) => {
                req.extensions_mut().insert(WsSlot(Arc::new(slot)));
            }
            None => {
                return ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TOO_MANY_CONNECTIONS",
                    "Too many open event streams from your address",
                )
                .into_response();
            }
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> RateLimits {
        RateLimits {
            enabled: true,
            window: Duration::from_secs(900),
            max: 3,
            env_write: (2, Duration::from_secs(900)),
            recovery: (1, Duration::from_secs(900)),
            ws_upgrade: (2, Duration::from_secs(60)),
            ws_max_connections_per_ip: 2,
            ws_msg_rate: 20,
            ws_msg_burst: 40,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn routes_map_to_buckets() {
        let b = |m: Method, p: &str| bucket_for(&m, p, false);
        assert_eq!(b(Method::POST, "/api/auth/login"), Some(Bucket::Login));
        assert_eq!(b(Method::POST, "/api/sign"), Some(Bucket::Sign));
        assert_eq!(b(Method::POST, "/api/nip44/encrypt"), Some(Bucket::Crypto));
        assert_eq!(
            b(Method::POST, "/api/recover/validate"),
            Some(Bucket::Recovery)
        );
        assert_eq!(b(Method::POST, "/api/env"), Some(Bucket::EnvWrite));
        assert_eq!(b(Method::POST, "/api/env/shares"), Some(Bucket::EnvWrite));
        assert_eq!(b(Method::GET, "/api/env"), Some(Bucket::Auth));
        assert_eq!(b(Method::GET, "/api/environment"), Some(Bucket::Auth));
        assert_eq!(b(Method::GET, "/api/status"), Some(Bucket::Auth));
        assert_eq!(b(Method::GET, "/app.js"), None);
        assert_eq!(b(Method::GET, "/apiary"), None);
        assert_eq!(bucket_for(&Method::GET, "/", true), Some(Bucket::WsUpgrade));
    }

    #[test]
    fn only_a_complete_handshake_on_a_websocket_route_is_an_upgrade() {
        let full = || {
            let mut h = HeaderMap::new();
            h.insert(
                header::CONNECTION,
                HeaderValue::from_static("keep-alive, Upgrade"),
            );
            h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            h.insert(
                header::SEC_WEBSOCKET_KEY,
                HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
            );
            h.insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
            h
        };
        assert!(is_ws_upgrade(&Method::GET, "/", &full()));
        assert!(is_ws_upgrade(&Method::GET, "/api/events", &full()));
        assert!(!is_ws_upgrade(&Method::GET, "/api/status", &full()));
        assert!(!is_ws_upgrade(&Method::POST, "/api/events", &full()));
        let without = |name: header::HeaderName| {
            let mut h = full();
            h.remove(name);
            h
        };
        for name in [
            header::CONNECTION,
            header::UPGRADE,
            header::SEC_WEBSOCKET_KEY,
            header::SEC_WEBSOCKET_VERSION,
        ] {
            assert!(
                !is_ws_upgrade(&Method::GET, "/", &without(name.clone())),
                "{name}"
            );
        }
        let mut h = full();
        h.insert(
            header::SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("c2hvcnQ="),
        );
        assert!(!is_ws_upgrade(&Method::GET, "/", &h), "a key of 5 bytes");
        let mut h = full();
        h.insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("8"));
        assert!(!is_ws_upgrade(&Method::GET, "/", &h));
    }

    #[test]
    fn fixed_window_limits_each_address_alone_and_resets() {
        let l = RateLimiter::new(&cfg());
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.check_at(Bucket::Sign, ip("10.0.0.1"), t0).is_ok());
        }
        let err = l.check_at(Bucket::Sign, ip("10.0.0.1"), t0).unwrap_err();
        assert_eq!(err.secs(), 900);
        // Another address and another bucket are untouched.
        assert!(l.check_at(Bucket::Sign, ip("10.0.0.2"), t0).is_ok());
        assert!(l.check_at(Bucket::Auth, ip("10.0.0.1"), t0).is_ok());
        let later = t0 + Duration::from_secs(600);
        assert_eq!(
            l.check_at(Bucket::Sign, ip("10.0.0.1"), later)
                .unwrap_err()
                .secs(),
            300
        );
        let after = t0 + Duration::from_secs(900);
        assert!(l.check_at(Bucket::Sign, ip("10.0.0.1"), after).is_ok());
    }

    #[test]
    fn ipv6_counts_per_64() {
        let l = RateLimiter::new(&cfg());
        let t0 = Instant::now();
        assert!(l.check_at(Bucket::Recovery, ip("2001:db8::1"), t0).is_ok());
        assert!(l.check_at(Bucket::Recovery, ip("2001:db8::2"), t0).is_err());
        assert!(
            l.check_at(Bucket::Recovery, ip("2001:db8:0:1::1"), t0)
                .is_ok()
        );
    }

    #[test]
    fn disabled_limiter_never_refuses() {
        let mut c = cfg();
        c.enabled = false;
        let l = RateLimiter::new(&c);
        for _ in 0..100 {
            assert!(l.check(Bucket::Recovery, ip("10.0.0.1")).is_ok());
        }
        assert!(l.is_empty());
    }

    #[test]
    fn reconfigure_changes_limits_windows_and_the_switch_in_place() {
        let l = RateLimiter::new(&cfg());
        let (a, t0) = (ip("10.0.0.1"), Instant::now());
        for _ in 0..3 {
            assert!(l.check_at(Bucket::Auth, a, t0).is_ok());
        }
        assert!(l.check_at(Bucket::Auth, a, t0).is_err());
        let mut c = cfg();
        c.max = 5;
        c.window = Duration::from_secs(10);
        l.reconfigure(&c);
        assert_eq!(l.rule(Bucket::Auth), (5, Duration::from_secs(10)));
        assert_eq!(l.rule(Bucket::Onboarding), (5, Duration::from_secs(60)));
        // The open window keeps its count of 3 and is judged by the new limit and window.
        assert!(l.check_at(Bucket::Auth, a, t0).is_ok());
        assert!(l.check_at(Bucket::Auth, a, t0).is_ok());
        let wait = l.check_at(Bucket::Auth, a, t0).unwrap_err();
        assert!(wait.0 <= Duration::from_secs(10));
        assert!(
            l.check_at(Bucket::Auth, a, t0 + Duration::from_secs(10))
                .is_ok()
        );
        c.enabled = false;
        l.reconfigure(&c);
        for _ in 0..20 {
            assert!(l.check_at(Bucket::Auth, a, t0).is_ok());
        }
        let t = LoginThrottle::new(true);
        for _ in 0..IP_FREE_FAILURES {
            t.record_failure_at("u", a, t0);
        }
        assert!(t.check_at("u", a, t0).is_err());
        t.set_enabled(false);
        assert!(t.check_at("u", a, t0).is_ok());
    }

    #[test]
    fn memory_stays_bounded_under_an_address_flood() {
        let l = RateLimiter::new(&cfg());
        let t0 = Instant::now();
        for i in 0..(MAX_KEYS as u32 + 1_000) {
            let _ = l.check_at(Bucket::Auth, IpAddr::V4(i.into()), t0);
        }
        assert!(l.len() <= MAX_KEYS, "{} keys", l.len());
        // Expired windows are swept on the next pass.
        let _ = l.check_at(Bucket::Auth, ip("10.9.9.9"), t0 + Duration::from_secs(901));
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn login_throttle_slows_per_address_and_per_user() {
        let t = LoginThrottle::new(true);
        let t0 = Instant::now();
        let a = ip("10.0.0.1");
        for _ in 0..IP_FREE_FAILURES {
            assert!(t.check_at("alice", a, t0).is_ok());
            t.record_failure_at("alice", a, t0);
        }
        // Five failures from one address: it waits 1 s, another address does not.
        assert_eq!(
            t.check_at("bob", a, t0).unwrap_err().0,
            Duration::from_secs(1)
        );
        assert!(t.check_at("bob", ip("10.0.0.2"), t0).is_ok());
        assert!(t.check_at("bob", a, t0 + Duration::from_secs(1)).is_ok());
        // Ten failures on "alice" from many addresses: alice waits everywhere, capped at 60 s.
        let mut now = t0;
        for i in 0..30u32 {
            now += Duration::from_secs(120);
            t.record_failure_at("Alice", IpAddr::V4((0x0b00_0000 + i).into()), now);
        }
        let wait = t.check_at("alice", ip("10.0.0.9"), now).unwrap_err();
        assert_eq!(wait.0, USER_MAX_DELAY);
        assert!(t.check_at("carol", ip("10.0.0.9"), now).is_ok());
        t.record_success("alice", ip("10.0.0.9"));
        assert!(t.check_at("alice", ip("10.0.0.9"), now).is_ok());
    }

    #[test]
    fn address_delay_doubles_up_to_its_cap() {
        let t = LoginThrottle::new(true);
        let t0 = Instant::now();
        let a = ip("10.0.0.1");
        for n in 0..40u32 {
            t.record_failure_at(&format!("u{n}"), a, t0);
        }
        assert_eq!(t.check_at("x", a, t0).unwrap_err().0, IP_MAX_DELAY);
        // After an hour of silence the record is forgotten.
        t.record_failure_at("x", a, t0 + FORGET_AFTER);
        assert!(t.check_at("x", a, t0 + FORGET_AFTER).is_ok());
    }

    #[test]
    fn socket_slots_are_released_on_drop() {
        let s = ConnSlots::new(2);
        let a = ip("10.0.0.1");
        let one = s.acquire(a).unwrap();
        let two = s.acquire(a).unwrap();
        assert!(s.acquire(a).is_none());
        assert!(s.acquire(ip("10.0.0.2")).is_some());
        drop(one);
        assert_eq!(s.open(a), 1);
        let _three = s.acquire(a).unwrap();
        drop(two);
        assert_eq!(s.open(a), 1);
    }
}
