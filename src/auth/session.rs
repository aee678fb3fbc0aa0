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
