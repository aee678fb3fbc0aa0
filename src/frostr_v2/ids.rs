//! Group id and session id (§4.12). Integers are hashed as u32 little-endian — one of the
//! two wire details bifrost-rs does differently from what one would guess.

use sha2::{Digest, Sha256};

use super::types::GroupPackage;

/// `SHA-256(group_pk ‖ u32le(threshold) ‖ pubkey(33) for members sorted by idx)`.
/// The group name is not hashed.
pub fn group_id(group: &GroupPackage) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(group.group_pk);
    h.update(u32::from(group.threshold).to_le_bytes());
    for m in group.sorted_members() {
        h.update(m.pubkey);
    }
    h.finalize().into()
}

/// `SHA-256(gid ‖ u32le(m)… ‖ hash… ‖ (content or 0x00) ‖ utf8(kind) ‖ u32le(stamp))`.
pub fn session_id(
    gid: &[u8; 32],
    members: &[u16],
    hashes: &[[u8; 32]],
    content: Option<&[u8]>,
    kind: &str,
    stamp: u32,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(gid);
    for m in members {
        h.update(u32::from(*m).to_le_bytes());
    }
    for x in hashes {
        h.update(x);
    }
    match content {
        Some(c) if !c.is_empty() => h.update(c),
        _ => h.update([0u8]),
    }
    h.update(kind.as_bytes());
    h.update(stamp.to_le_bytes());
    h.finalize().into()
}
