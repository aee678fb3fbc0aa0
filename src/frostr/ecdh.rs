//! Threshold ECDH (spec §8): each member's key share λ_i·x_i·P, and the requester's sum of
//! them, a0·P, whose x-coordinate is the ECDH secret with the group's Nostr key.

use k256::elliptic_curve::group::Group;
use k256::{ProjectivePoint, PublicKey};
use zeroize::Zeroizing;

use super::poly::lagrange_at_zero;
use super::types::{SharePackage, x_only};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EcdhError {
    #[error("the ECDH public key must be 32 bytes (x-only) or 33 bytes (compressed), got {0}")]
    KeyLength(usize),
    #[error("the ECDH public key is not a point on the secp256k1 curve")]
    NotOnCurve,
    #[error("the member list is empty, or has index 0 or a repeated index")]
    BadMembers,
    #[error("member {idx} is not in the member list of this request")]
    NotAMember { idx: u32 },
    #[error("no key shares to combine")]
    NoKeyshares,
    #[error("the key shares sum to the point at infinity")]
    Identity,
}

/// Parses an ECDH public key: 32-byte x-only (lifted to even y) or 33-byte compressed.
pub fn parse_ecdh_pk(bytes: &[u8]) -> Result<PublicKey, EcdhError> {
    let mut sec1 = [2u8; 33];
    match bytes.len() {
        32 => sec1[1..].copy_from_slice(bytes),
        33 if matches!(bytes.first(), Some(2 | 3)) => sec1.copy_from_slice(bytes),
        33 => return Err(EcdhError::NotOnCurve),
        n => return Err(EcdhError::KeyLength(n)),
    }
    PublicKey::from_sec1_bytes(&sec1).map_err(|_| EcdhError::NotOnCurve)
}

/// Member `share.idx`'s key share for `members`: (λ_i·x_i)·ecdh_pk, λ over `members`.
pub fn keyshare(
    share: &SharePackage,
    members: &[u32],
    ecdh_pk: &PublicKey,
) -> Result<PublicKey, EcdhError> {
    if !members.contains(&share.idx) {
        return Err(EcdhError::NotAMember { idx: share.idx });
    }
    let lambda = lagrange_at_zero(share.idx, members).ok_or(EcdhError::BadMembers)?;
    let k = Zeroizing::new(lambda * share.seckey.scalar());
    let point = ecdh_pk.to_projective() * *k;
    PublicKey::from_affine(point.to_affine()).map_err(|_| EcdhError::Identity)
}

/// The requester's combination: Σ keyshare_i = a0·ecdh_pk.
pub fn combine(keyshares: &[PublicKey]) -> Result<PublicKey, EcdhError> {
    if keyshares.is_empty() {
        return Err(EcdhError::NoKeyshares);
    }
    let sum = keyshares
        .iter()
        .fold(ProjectivePoint::IDENTITY, |acc, k| acc + k.to_projective());
    if bool::from(sum.is_identity()) {
        return Err(EcdhError::Identity);
    }
    PublicKey::from_affine(sum.to_affine()).map_err(|_| EcdhError::Identity)
}

/// The shared secret as used by NIP-04/NIP-44: the x-coordinate of the combined point.
pub fn shared_x(combined: &PublicKey) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(x_only(combined))
}
