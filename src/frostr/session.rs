//! Signing sessions (spec §6): the template a requester fills in, the session package sent as
//! `/sign/req` (JSON byte-identical to bifrost 1.0.7), group id (§2.5) and session id (§6.2).

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use super::hash::sha256;
use super::types::GroupPackage;

/// Default session `type` used by bifrost.
pub const DEFAULT_SESSION_TYPE: &str = "message";

/// Why a session could not be built or accepted.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SessionError {
    #[error("a session needs at least one message to sign")]
    NoHashes,
    #[error("message {0} appears twice in the session")]
    DuplicateSighash(Hex32),
    #[error("a session needs at least one member")]
    NoMembers,
    #[error("member index {0} appears twice in the session")]
    DuplicateMember(u32),
    #[error("member index {0} is not part of the group")]
    UnknownMember(u32),
    #[error("the session has {got} members but the group threshold is {threshold}")]
    TooFewMembers { got: usize, threshold: u32 },
    #[error("session content must be lower-case hex")]
    ContentNotHex,
}

/// 32 bytes that travel as 64 lower-case hex characters (sighashes, tweaks, gid, sid, psigs).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hex32(pub [u8; 32]);

impl Hex32 {
    /// Parse exactly 64 lower-case hex characters (JS compares hex strings with `===`, so
    /// upper case would break equality checks later; refuse it up front).
    pub fn parse(s: &str) -> Option<Self> {
        parse_lower_hex::<32>(s).map(Self)
    }
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for Hex32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}
impl fmt::Display for Hex32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Hex32 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hex32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Hex32::parse(&s).ok_or_else(|| de::Error::custom("expected 64 lower-case hex characters"))
    }
}

/// Strict lower-case hex of exactly `N` bytes.
pub(crate) fn parse_lower_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || !is_lower_hex(s) {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

pub(crate) fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// One entry of `hashes`: the message to sign and its x-only tweak chain (§7.3).
/// On the wire: `[sighash, tweak_1, …, tweak_k]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigVector {
    pub sighash: Hex32,
    pub tweaks: Vec<Hex32>,
}

impl SigVector {
    pub fn new(sighash: [u8; 32]) -> Self {
        Self {
            sighash: Hex32(sighash),
            tweaks: Vec::new(),
        }
    }
    pub fn with_tweaks(sighash: [u8; 32], tweaks: Vec<[u8; 32]>) -> Self {
        Self {
            sighash: Hex32(sighash),
            tweaks: tweaks.into_iter().map(Hex32).collect(),
        }
    }
    /// `concat(sighash, tweaks…)`, the form hashed into sid and bind hashes.
    pub fn concat(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(32 * (1 + self.tweaks.len()));
        v.extend_from_slice(&self.sighash.0);
        for t in &self.tweaks {
            v.extend_from_slice(&t.0);
        }
        v
    }
}

impl Serialize for SigVector {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(1 + self.tweaks.len()))?;
        seq.serialize_element(&self.sighash)?;
        for t in &self.tweaks {
            seq.serialize_element(t)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for SigVector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SigVector;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array [sighash, tweak…] of 64-hex strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SigVector, A::Error> {
                let sighash: Hex32 = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::custom("empty signature vector"))?;
                let mut tweaks = Vec::new();
                while let Some(t) = seq.next_element::<Hex32>()? {
                    tweaks.push(t);
                }
                Ok(SigVector { sighash, tweaks })
            }
        }
        d.deserialize_seq(V)
    }
}

/// What a requester wants signed, before gid and sid are attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionTemplate {
    pub hashes: Vec<SigVector>,
    /// Signer indexes (requester + t−1 peers), in any order; [`create_session`] applies the
    /// JS ordering quirk.
    pub members: Vec<u32>,
    /// Hex string or `None` (hashed as bytes into the sid).
    pub content: Option<String>,
    /// The session `type` (default `"message"`).
    pub kind: String,
    /// Unix seconds; passed in because this module reads no clock.
    pub stamp: u32,
}

impl SessionTemplate {
    pub fn new(hashes: Vec<SigVector>, members: Vec<u32>, stamp: u32) -> Self {
        Self {
            hashes,
            members,
            content: None,
            kind: DEFAULT_SESSION_TYPE.to_owned(),
            stamp,
        }
    }
}

/// The session package: the `/sign/req` payload. Field order matches bifrost's JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionPackage {
    pub content: Option<String>,
    pub hashes: Vec<SigVector>,
    pub members: Vec<u32>,
    pub stamp: u32,
    #[serde(rename = "type")]
    pub kind: String,
    pub gid: Hex32,
    pub sid: Hex32,
}

impl SessionPackage {
    /// The exact JSON bifrost sends as `/sign/req` data.
    pub fn to_json(&self) -> String {
        // Serialising plain strings, numbers and arrays cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Structural checks every receiver applies (§6): non-empty, unique sighashes and
    /// members, no zero index. Does not check gid/sid (JS responders do not either).
    pub fn validate(&self) -> Result<(), SessionError> {
        check_hashes(&self.hashes)?;
        check_members(&self.members)
    }

    /// Recompute the session id from this package's own fields.
    pub fn compute_sid(&self) -> Result<[u8; 32], SessionError> {
        session_id(
            &self.gid.0,
            &self.members,
            &self.hashes,
            self.content.as_deref(),
            &self.kind,
            self.stamp,
        )
    }
}

fn check_hashes(hashes: &[SigVector]) -> Result<(), SessionError> {
    if hashes.is_empty() {
        return Err(SessionError::NoHashes);
    }
    let mut seen = HashSet::with_capacity(hashes.len());
    for v in hashes {
        if !seen.insert(v.sighash) {
            return Err(SessionError::DuplicateSighash(v.sighash));
        }
    }
    Ok(())
}

fn check_members(members: &[u32]) -> Result<(), SessionError> {
    if members.is_empty() {
        return Err(SessionError::NoMembers);
    }
    let mut seen = HashSet::with_capacity(members.len());
    for &m in members {
        if m == 0 {
            return Err(SessionError::UnknownMember(0));
        }
        if !seen.insert(m) {
            return Err(SessionError::DuplicateMember(m));
        }
    }
    Ok(())
}

/// Group id (§2.5); defined with the credentials, re-exported for session code.
pub use super::credentials::group_id;

/// 32-byte big-endian encoding of a member index (RFC "SerializeScalar(identifier)").
pub fn u256be(idx: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[28..].copy_from_slice(&idx.to_be_bytes());
    out
}

/// `@cmdcode/buff` minimal big-endian width: 1 byte ≤ 255, 2 bytes ≤ 65535, else 4.
pub fn minbe(n: u32) -> Vec<u8> {
    if let Ok(b) = u8::try_from(n) {
        vec![b]
    } else if let Ok(w) = u16::try_from(n) {
        w.to_be_bytes().to_vec()
    } else {
        n.to_be_bytes().to_vec()
    }
}

/// Session-id preimage (§6.2): gid ‖ minbe(members…) ‖ concat(vectors…) ‖ content bytes or
/// 0x00 ‖ utf8(type) ‖ u32be(stamp). Members are taken in the given order.
pub fn session_id_preimage(
    gid: &[u8; 32],
    members: &[u32],
    hashes: &[SigVector],
    content: Option<&str>,
    kind: &str,
    stamp: u32,
) -> Result<Vec<u8>, SessionError> {
    let mut pre = Vec::with_capacity(32 + members.len() + hashes.len() * 32 + kind.len() + 8);
    pre.extend_from_slice(gid);
    for &m in members {
        pre.extend_from_slice(&minbe(m));
    }
    for v in hashes {
        pre.extend_from_slice(&v.concat());
    }
    match content {
        None => pre.push(0),
        Some(c) => {
            if c.len() % 2 != 0 || !is_lower_hex(c) {
                return Err(SessionError::ContentNotHex);
            }
            pre.extend_from_slice(&hex::decode(c).map_err(|_| SessionError::ContentNotHex)?);
        }
    }
    pre.extend_from_slice(kind.as_bytes());
    pre.extend_from_slice(&stamp.to_be_bytes());
    Ok(pre)
}

/// Session id (§6.2) = SHA256(preimage).
pub fn session_id(
    gid: &[u8; 32],
    members: &[u32],
    hashes: &[SigVector],
    content: Option<&str>,
    kind: &str,
    stamp: u32,
) -> Result<[u8; 32], SessionError> {
    let pre = session_id_preimage(gid, members, hashes, content, kind, stamp)?;
    Ok(sha256(&[&pre]))
}

/// The JS requester's member order: `Array.prototype.sort()` compares decimal strings, so
/// `[2, 10]` becomes `[10, 2]`. Emulated so our sids match a JS requester's byte for byte.
pub fn js_sort_members(members: &mut [u32]) {
    members.sort_by_cached_key(|m| m.to_string());
}

/// Requester side: validate a template against the group and build the session package
/// (members in JS order, gid, sid).
pub fn create_session(
    group: &GroupPackage,
    template: SessionTemplate,
) -> Result<SessionPackage, SessionError> {
    let SessionTemplate {
        hashes,
        mut members,
        content,
        kind,
        stamp,
    } = template;
    check_hashes(&hashes)?;
    check_members(&members)?;
    if let Some(&m) = members
        .iter()
        .find(|&&m| !group.commits.iter().any(|c| c.idx == m))
    {
        return Err(SessionError::UnknownMember(m));
    }
    if (members.len() as u64) < u64::from(group.threshold) {
        return Err(SessionError::TooFewMembers {
            got: members.len(),
            threshold: group.threshold,
        });
    }
    js_sort_members(&mut members);
    let gid = group_id(group);
    let sid = session_id(&gid, &members, &hashes, content.as_deref(), &kind, stamp)?;
    Ok(SessionPackage {
        content,
        hashes,
        members,
        stamp,
        kind,
        gid: Hex32(gid),
        sid: Hex32(sid),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minbe_widths() {
        assert_eq!(minbe(3), vec![3]);
        assert_eq!(minbe(255), vec![255]);
        assert_eq!(minbe(256), vec![1, 0]);
        assert_eq!(minbe(65536), vec![0, 1, 0, 0]);
    }

    #[test]
    fn js_member_sort_is_lexicographic() {
        let mut m = [2, 10, 1, 3];
        js_sort_members(&mut m);
        assert_eq!(m, [1, 10, 2, 3]);
    }

    #[test]
    fn hex32_rejects_upper_case_and_wrong_length() {
        assert!(Hex32::parse(&"ab".repeat(32)).is_some());
        assert!(Hex32::parse(&"AB".repeat(32)).is_none());
        assert!(Hex32::parse(&"ab".repeat(31)).is_none());
    }
}
