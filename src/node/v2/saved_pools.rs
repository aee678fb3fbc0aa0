//! Sealing of the nonce pools a clean stop keeps for the next start. The key is derived from
//! the share secret (which the node holds anyway), so no other key is needed; the group id
//! and peer id are bound as AAD so a pool cannot be replayed under another peer or group.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::frostr::SecretScalar;

const DOMAIN: &[u8] = b"igloo/v2-nonce-pool/v1";

fn key(share: &SecretScalar) -> Option<Zeroizing<[u8; 32]>> {
    let secret = share.to_bytes();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_slice()).ok()?;
    mac.update(DOMAIN);
    Some(Zeroizing::new(mac.finalize().into_bytes().into()))
}

fn aad(gid: &[u8; 32], peer: &[u8; 32]) -> [u8; 64] {
    let mut a = [0u8; 64];
    a[..32].copy_from_slice(gid);
    a[32..].copy_from_slice(peer);
    a
}

/// `nonce(12) ‖ AES-256-GCM(pool bytes)`.
pub(super) fn seal(
    share: &SecretScalar,
    gid: &[u8; 32],
    peer: &[u8; 32],
    plain: &[u8],
) -> Option<Vec<u8>> {
    let k = key(share)?;
    let mut n = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut n);
    let ct = Aes256Gcm::new(k.as_ref().into())
        .encrypt(
            Nonce::from_slice(&n),
            Payload {
                msg: plain,
                aad: &aad(gid, peer),
            },
        )
        .ok()?;
    let mut out = n.to_vec();
    out.extend_from_slice(&ct);
    Some(out)
}

pub(super) fn open(
    share: &SecretScalar,
    gid: &[u8; 32],
    peer: &[u8; 32],
    sealed: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    if sealed.len() < 12 {
        return None;
    }
    let (n, ct) = sealed.split_at(12);
    let k = key(share)?;
    Aes256Gcm::new(k.as_ref().into())
        .decrypt(
            Nonce::from_slice(n),
            Payload {
                msg: ct,
                aad: &aad(gid, peer),
            },
        )
        .ok()
        .map(Zeroizing::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_pools_open_only_for_their_share_group_and_peer() {
        let s = SecretScalar::from_bytes(&[7u8; 32]).expect("scalar");
        let other = SecretScalar::from_bytes(&[8u8; 32]).expect("scalar");
        let (g, p) = ([1u8; 32], [2u8; 32]);
        let sealed = seal(&s, &g, &p, b"pool").expect("seal");
        assert_eq!(open(&s, &g, &p, &sealed).expect("open").as_slice(), b"pool");
        assert!(open(&other, &g, &p, &sealed).is_none());
        assert!(open(&s, &p, &g, &sealed).is_none());
        assert!(open(&s, &g, &p, &sealed[..10]).is_none());
    }
}
