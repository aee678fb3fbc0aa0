//! The V2 group package (JSON, §4.15) and a member's share secret.

use std::collections::BTreeSet;

use k256::PublicKey;
use k256::elliptic_curve::sec1::ToEncodedPoint;
use serde::{Deserialize, Serialize};

use crate::frostr::SecretScalar;

/// Event kind bifrost-rs uses by default (ephemeral range).
pub const KIND: u16 = 20000;
/// Codec bound of bifrost-rs: at most this many members in a group package.
pub const MAX_MEMBERS: usize = 1000;
/// Longest group name accepted (main line caps names at 1 KiB).
pub const MAX_NAME_LEN: usize = 1024;

/// Why a group package or share is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error("group package is not valid JSON: {0}")]
    Json(String),
    #[error("group name is empty or longer than {MAX_NAME_LEN} bytes")]
    Name,
    #[error("group has no members or more than {MAX_MEMBERS}")]
    MemberCount,
    #[error("threshold {threshold} is not between 1 and the member count {members}")]
    Threshold { threshold: u16, members: usize },
    #[error("member index {0} is zero or used twice")]
    Index(u16),
    #[error("member {0} has a public key that is not a valid curve point or is used twice")]
    MemberKey(u16),
    #[error("group public key is not a valid x-only point")]
    GroupKey,
    #[error("the share key is not a member of this group")]
    NotMember,
}

/// One member: index (FROST identifier) and compressed public key `x_i·G`, real parity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub idx: u16,
    #[serde(with = "super::hexser")]
    pub pubkey: [u8; 33],
}

impl Member {
    /// Peer id: the x-only form of the member key (its Nostr identity).
    pub fn peer_id(&self) -> [u8; 32] {
        let mut x = [0u8; 32];
        x.copy_from_slice(&self.pubkey[1..]);
        x
    }
}

/// Public description of a V2 keyset, as bifrost-rs writes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupPackage {
    pub group_name: String,
    /// x-only group key, even y.
    #[serde(with = "super::hexser")]
    pub group_pk: [u8; 32],
    pub threshold: u16,
    pub members: Vec<Member>,
}

impl GroupPackage {
    /// Parse and validate the JSON form.
    pub fn from_json(s: &str) -> Result<Self, GroupError> {
        let g: Self = serde_json::from_str(s).map_err(|e| GroupError::Json(e.to_string()))?;
        g.validate()?;
        Ok(g)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The checks bifrost-rs makes (§4.15) plus point validity.
    pub fn validate(&self) -> Result<(), GroupError> {
        if self.group_name.is_empty() || self.group_name.len() > MAX_NAME_LEN {
            return Err(GroupError::Name);
        }
        if self.members.is_empty() || self.members.len() > MAX_MEMBERS {
            return Err(GroupError::MemberCount);
        }
        if self.threshold == 0 || usize::from(self.threshold) > self.members.len() {
            return Err(GroupError::Threshold {
                threshold: self.threshold,
                members: self.members.len(),
            });
        }
        let mut idxs = BTreeSet::new();
        let mut keys = BTreeSet::new();
        for m in &self.members {
            if m.idx == 0 || !idxs.insert(m.idx) {
                return Err(GroupError::Index(m.idx));
            }
            if PublicKey::from_sec1_bytes(&m.pubkey).is_err() || !keys.insert(m.peer_id()) {
                return Err(GroupError::MemberKey(m.idx));
            }
        }
        lift_x(&self.group_pk).ok_or(GroupError::GroupKey)?;
        Ok(())
    }

    /// Members sorted by index (the order gid hashes them in).
    pub fn sorted_members(&self) -> Vec<&Member> {
        let mut v: Vec<&Member> = self.members.iter().collect();
        v.sort_by_key(|m| m.idx);
        v
    }

    pub fn member(&self, idx: u16) -> Option<&Member> {
        self.members.iter().find(|m| m.idx == idx)
    }

    /// The member whose x-only key is `peer_id`.
    pub fn member_by_peer_id(&self, peer_id: &[u8; 32]) -> Option<&Member> {
        self.members.iter().find(|m| &m.peer_id() == peer_id)
    }
}

/// A member's secret share with its index. Zeroized on drop, redacted in `Debug`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareSecret {
    pub idx: u16,
    pub secret: SecretScalar,
}

impl ShareSecret {
    /// Compressed public key `x_i·G`.
    pub fn pubkey(&self) -> [u8; 33] {
        compress(&self.secret.public_key())
    }

    /// x-only public key (the node's Nostr identity and peer id).
    pub fn peer_id(&self) -> [u8; 32] {
        let c = self.pubkey();
        let mut x = [0u8; 32];
        x.copy_from_slice(&c[1..]);
        x
    }

    /// Find this share in `group` by its exact compressed key; the index must match too.
    pub fn locate(secret: SecretScalar, group: &GroupPackage) -> Result<Self, GroupError> {
        let pk = compress(&secret.public_key());
        let m = group
            .members
            .iter()
            .find(|m| m.pubkey == pk)
            .ok_or(GroupError::NotMember)?;
        Ok(Self { idx: m.idx, secret })
    }
}

/// 33-byte SEC1 compressed encoding.
pub fn compress(p: &PublicKey) -> [u8; 33] {
    let mut out = [0u8; 33];
    out.copy_from_slice(p.to_encoded_point(true).as_bytes());
    out
}

/// BIP-340 `lift_x`: the even-y point with this x, if any.
pub fn lift_x(x: &[u8; 32]) -> Option<PublicKey> {
    let mut c = [0u8; 33];
    c[0] = 0x02;
    c[1..].copy_from_slice(x);
    PublicKey::from_sec1_bytes(&c).ok()
}
