//! Hash functions of bifrost v1 (spec §7.2): RFC 9591 FROST(secp256k1, SHA-256) H1/H3/H4/H5
//! with context `FROST-secp256k1-SHA256-v1`, plus SHA-256 helpers and BIP-340 tagged hashes.

use k256::elliptic_curve::bigint::U256;
use k256::elliptic_curve::hash2curve::FromOkm;
use k256::elliptic_curve::ops::Reduce;
use k256::{FieldBytes, Scalar};
use sha2::{Digest, Sha256};

/// The RFC 9591 context string bifrost's `@cmdcode/frost` uses.
pub const CONTEXT: &[u8] = b"FROST-secp256k1-SHA256-v1";
/// Tag of the BIP-340 challenge hash.
pub const CHALLENGE_TAG: &[u8] = b"BIP0340/challenge";

/// SHA-256 over the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// BIP-340 tagged hash: SHA256(SHA256(tag) ‖ SHA256(tag) ‖ parts…).
pub fn tagged_hash(tag: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let t = sha256(&[tag]);
    let mut h = Sha256::new();
    h.update(t);
    h.update(t);
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// Interpret 32 big-endian bytes as an integer reduced mod n (never fails).
pub fn scalar_reduce(bytes: &[u8; 32]) -> Scalar {
    <Scalar as Reduce<U256>>::reduce_bytes(FieldBytes::from_slice(bytes))
}

/// BIP-340 challenge `int(tagged("BIP0340/challenge", x(R) ‖ x(P) ‖ msg)) mod n`.
pub fn bip340_challenge(r_x: &[u8; 32], p_x: &[u8; 32], msg: &[u8]) -> Scalar {
    scalar_reduce(&tagged_hash(CHALLENGE_TAG, &[r_x, p_x, msg]))
}

/// RFC 9380 `expand_message_xmd` with SHA-256 for exactly 48 output bytes (two blocks),
/// the length `hash_to_field` needs for one secp256k1 scalar. Written out because the
/// generic version is fallible and we only ever need this one infallible case.
fn expand_message_xmd_48(msg: &[&[u8]], dst: &[&[u8]]) -> [u8; 48] {
    let dst_len: usize = dst.iter().map(|d| d.len()).sum();
    // All DSTs used here are constants shorter than 255 bytes.
    let dst_len_byte = [u8::try_from(dst_len).unwrap_or(u8::MAX)];
    let mut h = Sha256::new();
    h.update([0u8; 64]);
    for m in msg {
        h.update(m);
    }
    h.update(48u16.to_be_bytes());
    h.update([0u8]);
    for d in dst {
        h.update(d);
    }
    h.update(dst_len_byte);
    let b0: [u8; 32] = h.finalize().into();

    let block = |prev: &[u8; 32], i: u8| -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(prev);
        h.update([i]);
        for d in dst {
            h.update(d);
        }
        h.update(dst_len_byte);
        h.finalize().into()
    };
    let b1 = block(&b0, 1);
    let mut x = [0u8; 32];
    for (o, (a, b)) in x.iter_mut().zip(b0.iter().zip(b1.iter())) {
        *o = a ^ b;
    }
    let b2 = block(&x, 2);
    let mut out = [0u8; 48];
    out[..32].copy_from_slice(&b1);
    out[32..].copy_from_slice(&b2[..16]);
    out
}

/// `hash_to_field` (XMD-SHA-256, L = 48) into one scalar with DST `CONTEXT ‖ suffix`.
fn hash_to_scalar(msg: &[&[u8]], suffix: &[u8]) -> Scalar {
    let okm = expand_message_xmd_48(msg, &[CONTEXT, suffix]);
    Scalar::from_okm(&okm.into())
}

/// H1: binding-factor hash (DST `…rho`).
pub fn h1(msg: &[&[u8]]) -> Scalar {
    hash_to_scalar(msg, b"rho")
}

/// H3: nonce hash (DST `…nonce`), used by dealer keygen (§2.4).
pub fn h3(msg: &[&[u8]]) -> Scalar {
    hash_to_scalar(msg, b"nonce")
}

/// H4: message hash, SHA256(CONTEXT ‖ "msg" ‖ m).
pub fn h4(msg: &[u8]) -> [u8; 32] {
    sha256(&[CONTEXT, b"msg", msg])
}

/// H5: commitment-list hash, SHA256(CONTEXT ‖ "com" ‖ m).
pub fn h5(msg: &[u8]) -> [u8; 32] {
    sha256(&[CONTEXT, b"com", msg])
}

#[cfg(test)]
mod tests {
    use super::*;
    use k256::elliptic_curve::hash2curve::{ExpandMsgXmd, hash_to_field};

    #[test]
    fn xmd_matches_library_implementation() {
        let msg = b"some binding factor input";
        let dst = b"FROST-secp256k1-SHA256-v1rho";
        let mut out = [Scalar::ZERO];
        hash_to_field::<ExpandMsgXmd<Sha256>, Scalar>(&[msg], &[dst], &mut out).unwrap();
        assert_eq!(h1(&[&msg[..10], &msg[10..]]), out[0]);
    }

    #[test]
    fn xmd_split_dst_and_first_block() {
        // A DST passed in parts hashes like the whole DST; the output equals the generic
        // implementation and its first block is b1 of RFC 9380 §5.3.1 computed by hand.
        let dst: &[u8] = b"QUUX-V01-CS02-with-expander-SHA256-128";
        let ours = expand_message_xmd_48(&[b"abc"], &[&dst[..10], &dst[10..]]);
        let mut out = [Scalar::ZERO];
        hash_to_field::<ExpandMsgXmd<Sha256>, Scalar>(&[b"abc"], &[dst], &mut out).unwrap();
        assert_eq!(Scalar::from_okm(&ours.into()), out[0]);
        let b0 = sha256(&[
            &[0u8; 64],
            b"abc",
            &48u16.to_be_bytes(),
            &[0],
            dst,
            &[dst.len() as u8],
        ]);
        let b1 = sha256(&[&b0, &[1], dst, &[dst.len() as u8]]);
        assert_eq!(ours[..32], b1);
    }
}
