//! Policy values of the configuration: `SIGN_POLICY` and the `PEER_POLICIES` seeds. Plain
//! data and their parsers, shared by the configuration and the node (which applies them).

use std::str::FromStr;

use serde::Deserialize;

/// What the node does with a sign request a peer's policy allows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SignPolicy {
    /// Answer at once (igloo-server's behaviour).
    #[default]
    Auto,
    /// Queue until approved through the API.
    Approve,
}

impl SignPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            SignPolicy::Auto => "auto",
            SignPolicy::Approve => "approve",
        }
    }
}

impl FromStr for SignPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(SignPolicy::Auto),
            "approve" => Ok(SignPolicy::Approve),
            other => Err(format!("expected auto or approve, got {other:?}")),
        }
    }
}

/// One `PEER_POLICIES` entry (igloo-server's shape, plus an optional `partialCap`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicySeed {
    pub pubkey: [u8; 32],
    pub allow_send: Option<bool>,
    pub allow_receive: Option<bool>,
    pub label: Option<String>,
    pub note: Option<String>,
    pub partial_cap: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SeedJson {
    pubkey: String,
    allow_send: Option<bool>,
    allow_receive: Option<bool>,
    label: Option<String>,
    note: Option<String>,
    partial_cap: Option<u64>,
}

/// A peer key given as npub, 64-hex (x-only) or 66-hex (compressed), as x-only.
pub fn parse_peer_key(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.starts_with("npub1") {
        return crate::frostr::nip19::decode_npub(s).ok();
    }
    let b = hex::decode(s.to_ascii_lowercase()).ok()?;
    match b.len() {
        32 => b.try_into().ok(),
        33 if matches!(b.first(), Some(2 | 3)) => b.get(1..)?.try_into().ok(),
        _ => None,
    }
}

/// Parse `PEER_POLICIES`: a JSON array of `{pubkey, allowSend?, allowReceive?, label?, note?,
/// partialCap?}`, or one such object. Any bad entry is an error: silently skipping a
/// mistyped deny rule would leave that peer allowed.
pub fn parse_policy_seeds(json: &str) -> Result<Vec<PolicySeed>, String> {
    let json = json.trim();
    if json.is_empty() {
        return Ok(Vec::new());
    }
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("not valid JSON: {e}"))?;
    let entries = match value {
        serde_json::Value::Array(a) => a,
        obj @ serde_json::Value::Object(_) => vec![obj],
        _ => return Err("expected a JSON array of {pubkey, allowSend, allowReceive}".into()),
    };
    entries
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let e: SeedJson = serde_json::from_value(v).map_err(|e| format!("entry {i}: {e}"))?;
            let pubkey = parse_peer_key(&e.pubkey)
                .ok_or_else(|| format!("entry {i}: pubkey must be an npub or 64/66 hex"))?;
            Ok(PolicySeed {
                pubkey,
                allow_send: e.allow_send,
                allow_receive: e.allow_receive,
                label: e.label,
                note: e.note,
                partial_cap: e.partial_cap,
            })
        })
        .collect()
}
