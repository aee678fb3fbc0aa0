//! Session ids: where a request carries one, and the cookie that sets or clears it.

use axum::http::HeaderMap;

pub const COOKIE_NAME: &str = "session";

/// The session id of a request: `X-Session-ID`, else the `session` cookie.
pub fn session_id(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers.get("x-session-id").and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if !v.is_empty() {
            return Some(v.to_string());
        }
    }
    for value in headers.get_all(axum::http::header::COOKIE) {
        let Ok(s) = value.to_str() else { continue };
        for part in s.split(';') {
            if let Some((k, v)) = part.trim().split_once('=') {
                if k.trim() == COOKIE_NAME && !v.trim().is_empty() {
                    return Some(v.trim().to_string());
                }
            }
        }
    }
    None
}

/// `Set-Cookie` for a new session: HttpOnly, SameSite=Strict, Secure under TLS.
pub fn set_cookie(id: &str, max_age_secs: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE_NAME}={id}; HttpOnly; Path=/; SameSite=Strict; Max-Age={max_age_secs}{secure}")
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE_NAME}=; HttpOnly; Path=/; SameSite=Strict; Max-Age=0{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_wins_over_cookie_and_cookie_is_parsed() {
        let mut h = HeaderMap::new();
        assert_eq!(session_id(&h), None);
        h.insert("cookie", "a=b; session=abc; c=d".parse().unwrap());
        assert_eq!(session_id(&h).as_deref(), Some("abc"));
        h.insert("x-session-id", "xyz".parse().unwrap());
        assert_eq!(session_id(&h).as_deref(), Some("xyz"));
        assert!(set_cookie("i", 60, true).contains("; Secure"));
        assert!(!set_cookie("i", 60, false).contains("Secure"));
        assert!(
            set_cookie("i", 60, false).contains("HttpOnly; Path=/; SameSite=Strict; Max-Age=60")
        );
    }
}

/// Idle time of sessions measured on the monotonic clock: the last use of each session this
/// process has seen. A wall-clock jump (an appliance booting with a wrong clock, then NTP)
/// then neither logs everyone out nor keeps sessions alive; the stored wall-clock last access
/// is used only for a session not seen since this process started (after a reboot).
mod idle {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    use std::time::Instant;

    /// Bound on tracked sessions; beyond it the oldest half is forgotten (they fall back to
    /// the stored wall-clock time).
    const MAX_TRACKED: usize = 10_000;

    fn map() -> std::sync::MutexGuard<'static, HashMap<String, Instant>> {
        static MAP: OnceLock<Mutex<HashMap<String, Instant>>> = OnceLock::new();
        MAP.get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    pub fn idle_ms(hash: &str, stored_last_access_ms: u64, now_ms: u64) -> u64 {
        match map().get(hash) {
            Some(t) => u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX),
            None => now_ms.saturating_sub(stored_last_access_ms),
        }
    }

    pub fn note_use(hash: &str) {
        let mut m = map();
        if m.len() >= MAX_TRACKED && !m.contains_key(hash) {
            let mut times: Vec<Instant> = m.values().copied().collect();
            times.sort_unstable();
            let cut = times[times.len() / 2];
            m.retain(|_, t| *t > cut);
        }
        m.insert(hash.to_owned(), Instant::now());
    }

    pub fn forget(hash: &str) {
        map().remove(hash);
    }
}

pub use idle::{forget as forget_session_use, idle_ms, note_use as note_session_use};
