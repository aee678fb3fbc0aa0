//! `bunker://` and `nostrconnect://` connection URIs (NIP-46 "Initiating a connection").
//!
//! * `bunker://<remote-signer-pubkey>?relay=…&relay=…&secret=…` is what igloo hands out: the
//!   client pastes it and sends `connect` with the secret (single use).
//! * `nostrconnect://<client-pubkey>?relay=…&secret=…&perms=…&name=…&url=…&image=…` is what a
//!   client shows: igloo answers on those relays with a `connect` response carrying the secret.
//!
//! Parsing is strict about what matters (64-hex keys, ws/wss relays, caps on sizes and counts)
//! and tolerant of what does not (unknown parameters are ignored).

use std::fmt::Write as _;

use zeroize::Zeroizing;

/// Longest URI accepted (a QR code holds less than this).
pub const MAX_URI_LEN: usize = 8 * 1024;
/// Most relays taken from one URI.
pub const MAX_URI_RELAYS: usize = 16;
/// Longest relay URL.
pub const MAX_RELAY_LEN: usize = 512;
/// Longest secret.
pub const MAX_SECRET_LEN: usize = 256;
/// Longest name / url / image value.
pub const MAX_META_LEN: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    #[error("the URI is longer than {MAX_URI_LEN} characters")]
    TooLong,
    #[error("the URI must start with {0}")]
    Scheme(&'static str),
    #[error("the URI's key must be 64 lower-case hex characters")]
    BadPubkey,
    #[error("the URI names no relay")]
    NoRelay,
    #[error("the URI names more than {MAX_URI_RELAYS} relays")]
    TooManyRelays,
    #[error("invalid relay URL: {0}")]
    BadRelay(String),
    #[error("the secret is empty or longer than {MAX_SECRET_LEN} characters")]
    BadSecret,
    #[error("parameter {0} is malformed")]
    BadParam(&'static str),
}

/// A signer-initiated connection token.
#[derive(Clone, PartialEq, Eq)]
pub struct BunkerUri {
    /// Remote-signer (transport) public key, x-only.
    pub signer_pubkey: [u8; 32],
    pub relays: Vec<String>,
    pub secret: Option<Zeroizing<String>>,
}

/// A client-initiated connection token.
#[derive(Clone, PartialEq, Eq)]
pub struct NostrConnectUri {
    pub client_pubkey: [u8; 32],
    pub relays: Vec<String>,
    /// The value the `connect` response carries. None: an app of the older NIP-46 revision
    /// (e.g. rust-nostr 0.44), which names no secret and expects `"ack"`.
    pub secret: Option<Zeroizing<String>>,
    /// Requested permissions, e.g. `["sign_event:1", "nip44_encrypt"]`.
    pub perms: Vec<String>,
    pub name: Option<String>,
    pub url: Option<String>,
    pub image: Option<String>,
}

impl std::fmt::Debug for BunkerUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BunkerUri")
            .field("signer_pubkey", &hex::encode(self.signer_pubkey))
            .field("relays", &self.relays)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl std::fmt::Debug for NostrConnectUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NostrConnectUri")
            .field("client_pubkey", &hex::encode(self.client_pubkey))
            .field("relays", &self.relays)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("perms", &self.perms)
            .field("name", &self.name)
            .field("url", &self.url)
            .field("image", &self.image)
            .finish()
    }
}

/// Parses 64 hex characters (either case) into 32 bytes.
pub fn parse_pubkey_hex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s.to_ascii_lowercase(), &mut out).ok()?;
    Some(out)
}

/// Checks a relay URL and returns its canonical form (`ws://host[:port][/path]`, no trailing
/// `/` on a bare host).
pub fn canonical_relay(raw: &str) -> Result<String, UriError> {
    let s = raw.trim();
    let bad = || UriError::BadRelay(truncate(s, 80));
    if s.is_empty() || s.len() > MAX_RELAY_LEN {
        return Err(bad());
    }
    let lower = s.to_ascii_lowercase();
    let (scheme, rest) = if let Some(r) = lower.strip_prefix("wss://") {
        ("wss://", &s[s.len() - r.len()..])
    } else if let Some(r) = lower.strip_prefix("ws://") {
        ("ws://", &s[s.len() - r.len()..])
    } else {
        return Err(bad());
    };
    if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if host.is_empty() || host.contains('@') {
        return Err(bad());
    }
    let path = if path == "/" { "" } else { path };
    Ok(format!("{scheme}{}{path}", host.to_ascii_lowercase()))
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// `application/x-www-form-urlencoded` decoding of one query component (`+` is a space).
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hi = (*b.get(i + 1)? as char).to_digit(16)?;
                let lo = (*b.get(i + 2)? as char).to_digit(16)?;
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
            out.push(c as char);
        } else {
            let _ = write!(out, "%{c:02X}");
        }
    }
    out
}

/// Decoded `name=value` pairs of a query.
type Pairs = Vec<(String, String)>;

/// The key and the decoded query pairs of `scheme://<hex>?a=b&…`.
fn split(uri: &str, scheme: &'static str) -> Result<([u8; 32], Pairs), UriError> {
    if uri.len() > MAX_URI_LEN {
        return Err(UriError::TooLong);
    }
    let uri = uri.trim();
    let rest = uri
        .get(..scheme.len())
        .filter(|p| p.eq_ignore_ascii_case(scheme))
        .map(|_| &uri[scheme.len()..])
        .ok_or(UriError::Scheme(scheme))?;
    let (key, query) = match rest.find('?') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    let key = key.trim_end_matches('/');
    let pubkey = parse_pubkey_hex(key).ok_or(UriError::BadPubkey)?;
    let mut pairs = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let k = percent_decode(k).ok_or(UriError::BadParam("name"))?;
        let v = match k.as_str() {
            "relay" => percent_decode(v).ok_or(UriError::BadParam("relay"))?,
            "secret" => percent_decode(v).ok_or(UriError::BadParam("secret"))?,
            "perms" => percent_decode(v).ok_or(UriError::BadParam("perms"))?,
            "name" => percent_decode(v).ok_or(UriError::BadParam("name"))?,
            "url" => percent_decode(v).ok_or(UriError::BadParam("url"))?,
            "image" => percent_decode(v).ok_or(UriError::BadParam("image"))?,
            "metadata" => percent_decode(v).ok_or(UriError::BadParam("metadata"))?,
            _ => continue,
        };
        pairs.push((k, v));
    }
    Ok((pubkey, pairs))
}

fn relays_of(pairs: &[(String, String)]) -> Result<Vec<String>, UriError> {
    let mut relays: Vec<String> = Vec::new();
    for (_, v) in pairs.iter().filter(|(k, _)| k == "relay") {
        let r = canonical_relay(v)?;
        if !relays.contains(&r) {
            if relays.len() == MAX_URI_RELAYS {
                return Err(UriError::TooManyRelays);
            }
            relays.push(r);
        }
    }
    if relays.is_empty() {
        return Err(UriError::NoRelay);
    }
    Ok(relays)
}

fn secret_of(pairs: &[(String, String)]) -> Result<Option<Zeroizing<String>>, UriError> {
    match pairs.iter().find(|(k, _)| k == "secret") {
        None => Ok(None),
        Some((_, v)) if v.is_empty() || v.len() > MAX_SECRET_LEN => Err(UriError::BadSecret),
        Some((_, v)) => Ok(Some(Zeroizing::new(v.clone()))),
    }
}

fn meta(pairs: &[(String, String)], key: &'static str) -> Result<Option<String>, UriError> {
    match pairs.iter().find(|(k, _)| k == key) {
        None => Ok(None),
        Some((_, v)) if v.trim().is_empty() => Ok(None),
        Some((_, v)) if v.len() > MAX_META_LEN || v.chars().any(char::is_control) => {
            Err(UriError::BadParam(key))
        }
        Some((_, v)) => Ok(Some(v.trim().to_owned())),
    }
}

impl BunkerUri {
    pub fn parse(uri: &str) -> Result<Self, UriError> {
        let (signer_pubkey, pairs) = split(uri, "bunker://")?;
        Ok(Self {
            signer_pubkey,
            relays: relays_of(&pairs)?,
            secret: secret_of(&pairs)?,
        })
    }

    /// The URI as text (relay URLs and the secret percent-encoded).
    pub fn to_uri(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(format!("bunker://{}", hex::encode(self.signer_pubkey)));
        let mut sep = '?';
        for r in &self.relays {
            let _ = write!(s, "{sep}relay={}", percent_encode(r));
            sep = '&';
        }
        if let Some(secret) = &self.secret {
            let _ = write!(s, "{sep}secret={}", percent_encode(secret));
        }
        s
    }
}

impl NostrConnectUri {
    pub fn parse(uri: &str) -> Result<Self, UriError> {
        let (client_pubkey, pairs) = split(uri, "nostrconnect://")?;
        let relays = relays_of(&pairs)?;
        let secret = secret_of(&pairs)?;
        let perms = match pairs.iter().find(|(k, _)| k == "perms") {
            Some((_, v)) => crate::nip46::perms::parse_perms(v)
                .map_err(|_| UriError::BadParam("perms"))?
                .into_iter()
                .map(|p| p.to_string())
                .collect(),
            None => Vec::new(),
        };
        let mut name = meta(&pairs, "name")?;
        let mut url = meta(&pairs, "url")?;
        let mut image = meta(&pairs, "image")?;
        // The older form: metadata={"name":…,"url":…} (JSON).
        if let Some((_, m)) = pairs.iter().find(|(k, _)| k == "metadata") {
            if m.len() > 4 * MAX_META_LEN {
                return Err(UriError::BadParam("metadata"));
            }
            if let Ok(serde_json::Value::Object(o)) = serde_json::from_str(m) {
                let get = |k: &str| {
                    o.get(k)
                        .and_then(|v| v.as_str())
                        .map(str::trim)
                        .filter(|v| !v.is_empty() && v.len() <= MAX_META_LEN)
                        .filter(|v| !v.chars().any(char::is_control))
                        .map(str::to_owned)
                };
                name = name.or_else(|| get("name"));
                url = url.or_else(|| get("url"));
                image = image.or_else(|| get("image"));
            }
        }
        Ok(Self {
            client_pubkey,
            relays,
            secret,
            perms,
            name,
            url,
            image,
        })
    }

    pub fn to_uri(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(format!(
            "nostrconnect://{}",
            hex::encode(self.client_pubkey)
        ));
        let mut sep = '?';
        for r in &self.relays {
            let _ = write!(s, "{sep}relay={}", percent_encode(r));
            sep = '&';
        }
        let perms = (!self.perms.is_empty()).then(|| self.perms.join(","));
        for (k, v) in [
            ("secret", self.secret.as_deref().map(String::as_str)),
            ("perms", perms.as_deref()),
            ("name", self.name.as_deref()),
            ("url", self.url.as_deref()),
            ("image", self.image.as_deref()),
        ] {
            if let Some(v) = v {
                let _ = write!(s, "{sep}{k}={}", percent_encode(v));
                sep = '&';
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PK: &str = "fa984bd7dbb282f07e16e7ae87b26a2a7b9b90b7246a44771f0cf5ae58018f52";

    #[test]
    fn bunker_round_trip() {
        let u = format!(
            "bunker://{PK}?relay=wss%3A%2F%2Frelay.example%2F&relay=ws://127.0.0.1:8002&secret=abc%20d"
        );
        let b = BunkerUri::parse(&u).unwrap();
        assert_eq!(hex::encode(b.signer_pubkey), PK);
        assert_eq!(b.relays, vec!["wss://relay.example", "ws://127.0.0.1:8002"]);
        assert_eq!(b.secret.as_deref().map(String::as_str), Some("abc d"));
        let again = BunkerUri::parse(&b.to_uri()).unwrap();
        assert_eq!(again, b);
        assert!(!format!("{b:?}").contains("abc"));
    }

    #[test]
    fn nostrconnect_fields() {
        let u = format!(
            "nostrconnect://{PK}?relay=wss%3A%2F%2Fr.example&secret=s3&perms=sign_event%3A1%2Cnip44_encrypt&name=My%20App&url=https%3A%2F%2Fapp.example&image=https%3A%2F%2Fapp.example%2Fi.png"
        );
        let c = NostrConnectUri::parse(&u).unwrap();
        assert_eq!(c.relays, vec!["wss://r.example"]);
        assert_eq!(c.secret.as_deref().map(String::as_str), Some("s3"));
        assert_eq!(c.perms, vec!["sign_event:1", "nip44_encrypt"]);
        assert_eq!(c.name.as_deref(), Some("My App"));
        assert_eq!(c.url.as_deref(), Some("https://app.example"));
        assert_eq!(c.image.as_deref(), Some("https://app.example/i.png"));
        assert_eq!(NostrConnectUri::parse(&c.to_uri()).unwrap(), c);
        let legacy = format!(
            "nostrconnect://{PK}?relay=wss://r.example&secret=x&metadata=%7B%22name%22%3A%22Old%22%7D"
        );
        assert_eq!(
            NostrConnectUri::parse(&legacy).unwrap().name.as_deref(),
            Some("Old")
        );
    }

    #[test]
    fn rejects_with_clear_errors() {
        let e = |u: &str| NostrConnectUri::parse(u).unwrap_err();
        assert_eq!(e("bunker://x"), UriError::Scheme("nostrconnect://"));
        assert_eq!(e("nostrconnect://abcd?relay=wss://a"), UriError::BadPubkey);
        assert_eq!(
            e(&format!("nostrconnect://{PK}?secret=a")),
            UriError::NoRelay
        );
        // The older revision names no secret (the app then expects "ack").
        let old = NostrConnectUri::parse(&format!("nostrconnect://{PK}?relay=wss://a")).unwrap();
        assert_eq!(old.secret, None);
        assert_eq!(NostrConnectUri::parse(&old.to_uri()).unwrap(), old);
        assert!(matches!(
            e(&format!("nostrconnect://{PK}?relay=https://a&secret=x")),
            UriError::BadRelay(_)
        ));
        assert_eq!(
            e(&format!(
                "nostrconnect://{PK}?relay=wss://a&secret=x&perms=%ZZ"
            )),
            UriError::BadParam("perms")
        );
        assert_eq!(e(&"x".repeat(MAX_URI_LEN + 1)), UriError::TooLong);
        let many: String = (0..20)
            .map(|i| format!("&relay=wss://r{i}.example"))
            .collect();
        assert_eq!(
            e(&format!("nostrconnect://{PK}?secret=x{many}")),
            UriError::TooManyRelays
        );
    }
}
