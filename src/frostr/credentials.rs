//! `bfgroup1…` / `bfshare1…` credentials (spec §2.1–§2.3), the group id (§2.5), the check that a
//! share belongs to a group, and a public, serializable view of a decoded credential.

use k256::PublicKey;
use serde::Serialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::bech32m::{self, Bech32Error, Variant};
use super::types::{Commit, GroupPackage, SecretScalar, SharePackage, compressed, x_only};

pub const GROUP_HRP: &str = "bfgroup";
pub const SHARE_HRP: &str = "bfshare";
pub const GROUP_HEADER_LEN: usize = 37;
pub const COMMIT_LEN: usize = 103;
pub const SHARE_LEN: usize = 100;

/// Everything that can be wrong with a credential string or its contents.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("the credential is empty")]
    Empty,
    #[error("expected a {expected}1… credential; this is not one (no bech32 prefix)")]
    NotACredential { expected: &'static str },
    #[error("expected a {expected}1… credential, but this one starts with \"{found}1\"")]
    WrongPrefix {
        expected: &'static str,
        found: String,
    },
    #[error("the checksum does not match: a character is mistyped, missing or swapped")]
    BadChecksum,
    #[error("the credential mixes upper-case and lower-case letters")]
    MixedCase,
    #[error("the credential is not valid bech32: it {0}")]
    Encoding(Bech32Error),
    #[error("a {what} must be {expected} bytes long, this one has {len}")]
    WrongLength {
        what: &'static str,
        expected: String,
        len: usize,
    },
    #[error("the {field} is not a point on the secp256k1 curve")]
    PointNotOnCurve { field: String },
    #[error("the {field} is zero, which is not a valid secret")]
    ZeroScalar { field: String },
    #[error("the {field} is not below the curve order, so it is not a valid secret")]
    ScalarOutOfRange { field: String },
    #[error("member index 0 is not allowed (indexes start at 1)")]
    IndexZero,
    #[error("member index {idx} is above the number of members ({total})")]
    IndexAboveTotal { idx: u32, total: u32 },
    #[error("member index {idx} appears more than once")]
    DuplicateIndex { idx: u32 },
    #[error("threshold {threshold} is invalid for {total} members (it must be 1..={total})")]
    InvalidThreshold { threshold: u32, total: u32 },
    #[error(
        "share {idx} does not belong to this group: its {what} differs from the group's commit"
    )]
    ShareNotInGroup { idx: u32, what: &'static str },
}

impl From<Bech32Error> for CredentialError {
    fn from(e: Bech32Error) -> Self {
        match e {
            Bech32Error::BadChecksum => CredentialError::BadChecksum,
            Bech32Error::MixedCase => CredentialError::MixedCase,
            other => CredentialError::Encoding(other),
        }
    }
}

/// Decodes a bech32m string and checks its prefix; the payload may be secret.
pub(crate) fn decode_with_prefix(
    s: &str,
    expected: &'static str,
    variant: Variant,
) -> Result<Zeroizing<Vec<u8>>, CredentialError> {
    let s = s.trim();
    // Check the prefix first: a wrong kind of credential should say so, not "bad checksum".
    let hrp = prefix_of(s, expected)?;
    if !hrp.eq_ignore_ascii_case(expected) {
        return Err(CredentialError::WrongPrefix {
            expected,
            found: hrp.chars().take(16).collect(),
        });
    }
    let (_, data) = bech32m::decode(s, variant)?;
    Ok(data)
}

/// The human-readable part of a (trimmed) bech32 string: before its last `1`, non-empty,
/// printable ASCII without spaces (BIP-173). Anything else is not a credential at all.
fn prefix_of<'a>(s: &'a str, expected: &'static str) -> Result<&'a str, CredentialError> {
    if s.is_empty() {
        return Err(CredentialError::Empty);
    }
    match s.rfind('1').and_then(|p| s.get(..p)) {
        Some(hrp) if !hrp.is_empty() && hrp.bytes().all(|b| (33..=126).contains(&b)) => Ok(hrp),
        _ => Err(CredentialError::NotACredential { expected }),
    }
}

fn be_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(b.get(..4).unwrap_or(&[0; 4]));
    u32::from_be_bytes(a)
}

fn parse_point(bytes: &[u8], field: impl FnOnce() -> String) -> Result<PublicKey, CredentialError> {
    // Only 02/03 compressed encodings are valid here; from_sec1_bytes checks the curve equation.
    match bytes.first() {
        Some(2 | 3) if bytes.len() == 33 => {}
        _ => return Err(CredentialError::PointNotOnCurve { field: field() }),
    }
    PublicKey::from_sec1_bytes(bytes)
        .map_err(|_| CredentialError::PointNotOnCurve { field: field() })
}

pub(crate) fn parse_scalar(bytes: &[u8], field: &str) -> Result<SecretScalar, CredentialError> {
    let mut arr = Zeroizing::new([0u8; 32]);
    if bytes.len() != 32 {
        return Err(CredentialError::WrongLength {
            what: "scalar",
            expected: "32".into(),
            len: bytes.len(),
        });
    }
    arr.copy_from_slice(bytes);
    if arr.iter().all(|&b| b == 0) {
        return Err(CredentialError::ZeroScalar {
            field: field.into(),
        });
    }
    SecretScalar::from_bytes(&arr).ok_or_else(|| CredentialError::ScalarOutOfRange {
        field: field.into(),
    })
}

/// Parses the raw group bytes (§2.2).
pub fn group_from_bytes(b: &[u8]) -> Result<GroupPackage, CredentialError> {
    if b.len() < GROUP_HEADER_LEN || (b.len() - GROUP_HEADER_LEN) % COMMIT_LEN != 0 {
        return Err(CredentialError::WrongLength {
            what: "group package",
            expected: format!("{GROUP_HEADER_LEN} + {COMMIT_LEN}·n"),
            len: b.len(),
        });
    }
    let n = (b.len() - GROUP_HEADER_LEN) / COMMIT_LEN;
    let total = u32::try_from(n).map_err(|_| CredentialError::WrongLength {
        what: "group package",
        expected: "fewer members".into(),
        len: b.len(),
    })?;
    let (header, body) = b.split_at(GROUP_HEADER_LEN);
    let (pk_bytes, t_bytes) = header.split_at(33);
    let group_pk = parse_point(pk_bytes, || "group public key".into())?;
    let threshold = be_u32(t_bytes);
    if threshold == 0 || threshold > total {
        return Err(CredentialError::InvalidThreshold { threshold, total });
    }
    let mut commits: Vec<Commit> = Vec::with_capacity(n);
    for c in body.chunks_exact(COMMIT_LEN) {
        let idx = be_u32(c);
        if idx == 0 {
            return Err(CredentialError::IndexZero);
        }
        if idx > total {
            return Err(CredentialError::IndexAboveTotal { idx, total });
        }
        if commits.iter().any(|x| x.idx == idx) {
            return Err(CredentialError::DuplicateIndex { idx });
        }
        let pubkey = parse_point(&c[4..37], || format!("public key of member {idx}"))?;
        let binder_pn = parse_point(&c[37..70], || format!("binding nonce of member {idx}"))?;
        let hidden_pn = parse_point(&c[70..103], || format!("hiding nonce of member {idx}"))?;
        commits.push(Commit {
            idx,
            pubkey,
            hidden_pn,
            binder_pn,
        });
    }
    Ok(GroupPackage {
        group_pk,
        threshold,
        commits,
    })
}

/// Serializes a group to its raw bytes (§2.2), commits in their stored order.
pub fn group_to_bytes(g: &GroupPackage) -> Vec<u8> {
    let mut out = Vec::with_capacity(GROUP_HEADER_LEN + COMMIT_LEN * g.commits.len());
    out.extend_from_slice(&compressed(&g.group_pk));
    out.extend_from_slice(&g.threshold.to_be_bytes());
    for c in &g.commits {
        out.extend_from_slice(&c.idx.to_be_bytes());
        out.extend_from_slice(&compressed(&c.pubkey));
        out.extend_from_slice(&compressed(&c.binder_pn));
        out.extend_from_slice(&compressed(&c.hidden_pn));
    }
    out
}

/// Parses the raw share bytes (§2.3).
pub fn share_from_bytes(b: &[u8]) -> Result<SharePackage, CredentialError> {
    if b.len() != SHARE_LEN {
        return Err(CredentialError::WrongLength {
            what: "share package",
            expected: SHARE_LEN.to_string(),
            len: b.len(),
        });
    }
    let idx = be_u32(b);
    if idx == 0 {
        return Err(CredentialError::IndexZero);
    }
    Ok(SharePackage {
        idx,
        seckey: parse_scalar(&b[4..36], "share secret key")?,
        binder_sn: parse_scalar(&b[36..68], "binding nonce secret")?,
        hidden_sn: parse_scalar(&b[68..100], "hiding nonce secret")?,
    })
}

/// Serializes a share to its raw (secret) bytes (§2.3).
pub fn share_to_bytes(s: &SharePackage) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(SHARE_LEN));
    out.extend_from_slice(&s.idx.to_be_bytes());
    out.extend_from_slice(s.seckey.to_bytes().as_ref());
    out.extend_from_slice(s.binder_sn.to_bytes().as_ref());
    out.extend_from_slice(s.hidden_sn.to_bytes().as_ref());
    out
}

/// Decodes a `bfgroup1…` string.
pub fn decode_group(s: &str) -> Result<GroupPackage, CredentialError> {
    let bytes = decode_with_prefix(s, GROUP_HRP, Variant::Bech32m)?;
    group_from_bytes(&bytes)
}

/// Encodes a group as `bfgroup1…`.
pub fn encode_group(g: &GroupPackage) -> String {
    // Group data is public; unwrap the zeroizing buffer into a plain String.
    String::clone(&bech32m::encode(
        GROUP_HRP,
        &group_to_bytes(g),
        Variant::Bech32m,
    ))
}

/// Decodes a `bfshare1…` string.
pub fn decode_share(s: &str) -> Result<SharePackage, CredentialError> {
    let bytes = decode_with_prefix(s, SHARE_HRP, Variant::Bech32m)?;
    share_from_bytes(&bytes)
}

/// Encodes a share as `bfshare1…`; the string is as secret as the share.
pub fn encode_share(s: &SharePackage) -> Zeroizing<String> {
    bech32m::encode(SHARE_HRP, &share_to_bytes(s), Variant::Bech32m)
}

/// The group id (§2.5): SHA256 over the commits sorted by idx (u256be(idx) ‖ hidden_pn ‖
/// binder_pn), then group_pk.
pub fn group_id(g: &GroupPackage) -> [u8; 32] {
    let mut sorted: Vec<&Commit> = g.commits.iter().collect();
    sorted.sort_by_key(|c| c.idx);
    let mut h = Sha256::new();
    for c in sorted {
        let mut idx = [0u8; 32];
        idx[28..].copy_from_slice(&c.idx.to_be_bytes());
        h.update(idx);
        h.update(compressed(&c.hidden_pn));
        h.update(compressed(&c.binder_pn));
    }
    h.update(compressed(&g.group_pk));
    h.finalize().into()
}

/// Checks that `share` is member `share.idx` of `group`: its key and both static nonces must
/// match the group's commit for that index.
pub fn check_share_in_group(
    share: &SharePackage,
    group: &GroupPackage,
) -> Result<(), CredentialError> {
    let total = group.total();
    if share.idx > total {
        return Err(CredentialError::IndexAboveTotal {
            idx: share.idx,
            total,
        });
    }
    let commit = group
        .commit(share.idx)
        .ok_or(CredentialError::ShareNotInGroup {
            idx: share.idx,
            what: "index",
        })?;
    let not_in = |what| CredentialError::ShareNotInGroup {
        idx: share.idx,
        what,
    };
    if share.seckey.public_key() != commit.pubkey {
        return Err(not_in("public key"));
    }
    if share.hidden_sn.public_key() != commit.hidden_pn {
        return Err(not_in("hiding nonce"));
    }
    if share.binder_sn.public_key() != commit.binder_pn {
        return Err(not_in("binding nonce"));
    }
    Ok(())
}

/// One member's public commitment, hex-encoded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CommitView {
    pub idx: u32,
    /// Share public key, 33-byte compressed hex.
    pub pubkey: String,
    /// Static binding nonce commitment, 33-byte compressed hex.
    pub binder_pn: String,
    /// Static hiding nonce commitment, 33-byte compressed hex.
    pub hidden_pn: String,
}

/// Public view of a decoded `bfgroup1…`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct GroupView {
    pub threshold: u32,
    pub total_shares: u32,
    /// 33-byte compressed hex, parity as encoded.
    pub group_pk: String,
    /// The group's Nostr public key (x-only hex).
    pub group_pubkey: String,
    pub npub: String,
    /// Group id (§2.5), hex.
    pub group_id: String,
    pub commits: Vec<CommitView>,
}

/// Public view of a decoded `bfshare1…`: never contains secret material.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ShareView {
    pub idx: u32,
    /// The share's public key, 33-byte compressed hex.
    pub pubkey: String,
    /// The share's Nostr public key (x-only hex).
    pub nostr_pubkey: String,
}

impl GroupView {
    pub fn new(g: &GroupPackage) -> Self {
        let xo = x_only(&g.group_pk);
        GroupView {
            threshold: g.threshold,
            total_shares: g.total(),
            group_pk: hex::encode(compressed(&g.group_pk)),
            group_pubkey: hex::encode(xo),
            npub: super::nip19::encode_npub(&xo),
            group_id: hex::encode(group_id(g)),
            commits: g
                .commits
                .iter()
                .map(|c| CommitView {
                    idx: c.idx,
                    pubkey: hex::encode(compressed(&c.pubkey)),
                    binder_pn: hex::encode(compressed(&c.binder_pn)),
                    hidden_pn: hex::encode(compressed(&c.hidden_pn)),
                })
                .collect(),
        }
    }
}

impl ShareView {
    pub fn new(s: &SharePackage) -> Self {
        let pk = s.public_key();
        ShareView {
            idx: s.idx,
            pubkey: hex::encode(compressed(&pk)),
            nostr_pubkey: hex::encode(x_only(&pk)),
        }
    }
}

/// Either credential, as decoded by [`decode_any`].
#[derive(Debug)]
pub enum Credential {
    Group(GroupPackage),
    Share(SharePackage),
}

/// Public view of either credential, tagged by `"type": "group" | "share"`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum CredentialView {
    Group(GroupView),
    Share(ShareView),
}

impl Credential {
    pub fn view(&self) -> CredentialView {
        match self {
            Credential::Group(g) => CredentialView::Group(GroupView::new(g)),
            Credential::Share(s) => CredentialView::Share(ShareView::new(s)),
        }
    }
}

/// Decodes a `bfgroup1…` or a `bfshare1…`, chosen by its prefix.
pub fn decode_any(s: &str) -> Result<Credential, CredentialError> {
    let t = s.trim();
    let lower_starts = |p: &str| {
        t.get(..p.len() + 1)
            .is_some_and(|h| h.eq_ignore_ascii_case(&format!("{p}1")))
    };
    if lower_starts(SHARE_HRP) {
        decode_share(t).map(Credential::Share)
    } else if lower_starts(GROUP_HRP) {
        decode_group(t).map(Credential::Group)
    } else {
        let expected = "bfgroup1… or bfshare";
        let found = prefix_of(t, expected)?;
        Err(CredentialError::WrongPrefix {
            expected,
            found: found.chars().take(16).collect(),
        })
    }
}
