//! Permissions of a NIP-46 session: the `perms` of a `nostrconnect://` URI or a `connect`
//! request (`sign_event:1,nip44_encrypt,…`) and igloo-server's stored policy shape
//! `{methods: {name: bool}, kinds: {"1": bool, "*": bool}}`.
//!
//! `connect`, `ping`, `get_public_key`, `get_relays` and `switch_relays` reveal nothing
//! secret and are always answered. `sign_event` needs the method and the event's kind (or
//! `*`); the four cipher methods need their method. Those outside the policy wait for the
//! owner; methods igloo does not know are refused at once.

/// Most permissions taken from one `perms` list.
pub const MAX_PERMS: usize = 64;
/// Most kinds / methods in a stored policy.
pub const MAX_POLICY_ENTRIES: usize = 256;

/// Methods that need a permission.
pub const GATED_METHODS: [&str; 5] = [
    "sign_event",
    "nip04_encrypt",
    "nip04_decrypt",
    "nip44_encrypt",
    "nip44_decrypt",
];

/// One requested permission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Perm {
    /// A method without a parameter, e.g. `nip44_encrypt`, or `sign_event` (every kind).
    Method(String),
    /// `sign_event:<kind>`.
    SignKind(u16),
}

impl std::fmt::Display for Perm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Perm::Method(m) => f.write_str(m),
            Perm::SignKind(k) => write!(f, "sign_event:{k}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PermError {
    #[error("more than {MAX_PERMS} permissions")]
    TooMany,
    #[error("invalid permission {0:?}")]
    Invalid(String),
}

fn valid_method(m: &str) -> bool {
    !m.is_empty()
        && m.len() <= 32
        && m.bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit())
}

/// Parses a comma-separated `perms` list. Empty entries are skipped; unknown method names are
/// kept (they grant nothing), malformed ones are refused.
pub fn parse_perms(s: &str) -> Result<Vec<Perm>, PermError> {
    let mut out = Vec::new();
    for raw in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if out.len() == MAX_PERMS {
            return Err(PermError::TooMany);
        }
        let bad = || PermError::Invalid(raw.chars().take(40).collect());
        let perm = match raw.split_once(':') {
            Some(("sign_event", k)) => Perm::SignKind(k.parse().map_err(|_| bad())?),
            // Other methods take no parameter in NIP-46; keep the method.
            Some((m, _)) if valid_method(m) => Perm::Method(m.to_owned()),
            Some(_) => return Err(bad()),
            None if valid_method(raw) => Perm::Method(raw.to_owned()),
            None => return Err(bad()),
        };
        if !out.contains(&perm) {
            out.push(perm);
        }
    }
    Ok(out)
}

/// What a session may do without asking (igloo-server's JSON shape); stored with the
/// session, so the data type lives in the store. The rules are here.
pub use crate::store::nip46::Policy;

/// What the policy says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Ask the owner.
    Ask,
}

impl Policy {
    /// The policy granting `perms`.
    pub fn from_perms(perms: &[Perm]) -> Self {
        let mut p = Policy::default();
        for perm in perms {
            match perm {
                Perm::Method(m) if m == "sign_event" => {
                    p.methods.insert(m.clone(), true);
                    p.kinds.insert("*".into(), true);
                }
                Perm::Method(m) => {
                    p.methods.insert(m.clone(), true);
                }
                Perm::SignKind(k) => {
                    p.methods.insert("sign_event".into(), true);
                    p.kinds.insert(k.to_string(), true);
                }
            }
        }
        p
    }

    /// Applies a patch the way igloo-server does: `true` grants, `false` removes.
    pub fn apply(&mut self, patch: &Policy) {
        for (m, allow) in &patch.methods {
            if *allow {
                self.methods.insert(m.clone(), true);
            } else {
                self.methods.remove(m);
            }
        }
        for (k, allow) in &patch.kinds {
            if *allow {
                self.kinds.insert(k.clone(), true);
            } else {
                self.kinds.remove(k);
            }
        }
    }

    /// Refuses malformed entries (kinds must be decimal u16 or `*`) and oversized maps.
    pub fn validate(&self) -> Result<(), PermError> {
        if self.methods.len() > MAX_POLICY_ENTRIES || self.kinds.len() > MAX_POLICY_ENTRIES {
            return Err(PermError::TooMany);
        }
        if let Some(m) = self.methods.keys().find(|m| !valid_method(m)) {
            return Err(PermError::Invalid(m.chars().take(40).collect()));
        }
        if let Some(k) = self
            .kinds
            .keys()
            .find(|k| k.as_str() != "*" && k.parse::<u16>().is_err())
        {
            return Err(PermError::Invalid(k.chars().take(40).collect()));
        }
        Ok(())
    }

    fn method(&self, m: &str) -> bool {
        self.methods.get(m).copied().unwrap_or(false)
    }

    /// Whether `method` (with `kind` for `sign_event`) may run without the owner.
    pub fn decide(&self, method: &str, kind: Option<u16>) -> Decision {
        let allowed = match method {
            "connect" | "ping" | "get_public_key" | "get_relays" | "switch_relays" => true,
            "sign_event" => {
                self.method("sign_event")
                    && (self.kinds.get("*").copied().unwrap_or(false)
                        || kind.is_some_and(|k| {
                            self.kinds.get(&k.to_string()).copied().unwrap_or(false)
                        }))
            }
            m => self.method(m),
        };
        if allowed {
            Decision::Allow
        } else {
            Decision::Ask
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_perms() {
        let p = parse_perms("sign_event:1, nip44_encrypt,,sign_event:30023,nip04_decrypt").unwrap();
        assert_eq!(
            p,
            vec![
                Perm::SignKind(1),
                Perm::Method("nip44_encrypt".into()),
                Perm::SignKind(30023),
                Perm::Method("nip04_decrypt".into())
            ]
        );
        assert!(parse_perms("sign_event:x").is_err());
        assert!(parse_perms("sign_event:70000").is_err());
        assert!(parse_perms("Bad Method").is_err());
        let many = (0..=MAX_PERMS)
            .map(|i| format!("m{i}"))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(parse_perms(&many), Err(PermError::TooMany));
    }

    #[test]
    fn decides() {
        let p = Policy::from_perms(&parse_perms("sign_event:1,nip44_encrypt").unwrap());
        assert_eq!(p.decide("sign_event", Some(1)), Decision::Allow);
        assert_eq!(p.decide("sign_event", Some(4)), Decision::Ask);
        assert_eq!(p.decide("sign_event", None), Decision::Ask);
        assert_eq!(p.decide("nip44_encrypt", None), Decision::Allow);
        assert_eq!(p.decide("nip44_decrypt", None), Decision::Ask);
        assert_eq!(p.decide("ping", None), Decision::Allow);
        assert_eq!(p.decide("get_public_key", None), Decision::Allow);
        let all = Policy::from_perms(&parse_perms("sign_event").unwrap());
        assert_eq!(all.decide("sign_event", Some(7)), Decision::Allow);
        let mut q = p.clone();
        let mut patch = Policy::default();
        patch.kinds.insert("1".into(), false);
        patch.methods.insert("nip04_encrypt".into(), true);
        q.apply(&patch);
        assert_eq!(q.decide("sign_event", Some(1)), Decision::Ask);
        assert_eq!(q.decide("nip04_encrypt", None), Decision::Allow);
        let mut bad = Policy::default();
        bad.kinds.insert("one".into(), true);
        assert!(bad.validate().is_err());
    }
}
