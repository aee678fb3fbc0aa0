//! Content encryption of bifrost v1 (spec §4.3): AES-256-GCM keyed by the raw ECDH
//! x-coordinate, 24-byte IV, `base64url(ct‖tag) + "?iv=" + base64url(iv)` without padding.
//! Not NIP-04 and not NIP-44.

use aes_gcm::aead::consts::U24;
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use k256::elliptic_curve::point::AffineCoordinates;
use k256::{ProjectivePoint, PublicKey};
use zeroize::Zeroizing;

use crate::frostr::SecretScalar;

/// IV length used by nostr-p2p.
pub const IV_LEN: usize = 24;
/// Largest content we try to decrypt; kind-20004 payloads are a few kB.
pub const MAX_CONTENT_LEN: usize = 512 * 1024;

type Cipher = AesGcm<Aes256, U24>;

/// Why content could not be decrypted.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum CipherError {
    #[error("peer public key is not a valid x-only secp256k1 key")]
    BadPeerKey,
    #[error("content is too large")]
    TooLarge,
    #[error("content is not `<base64url>?iv=<base64url>`")]
    BadFormat,
    #[error("content IV must be {IV_LEN} bytes")]
    BadIv,
    #[error("content does not decrypt with the key shared with this peer")]
    Decrypt,
    #[error("decrypted content is not UTF-8")]
    NotUtf8,
}

/// The pairwise transport key: x(own_seckey · lift_x(peer)), not hashed (symmetric).
pub fn shared_secret(
    own: &SecretScalar,
    peer_xonly: &[u8; 32],
) -> Result<Zeroizing<[u8; 32]>, CipherError> {
    let mut sec1 = [0u8; 33];
    sec1[0] = 2;
    sec1[1..].copy_from_slice(peer_xonly);
    let peer = PublicKey::from_sec1_bytes(&sec1).map_err(|_| CipherError::BadPeerKey)?;
    let p = (ProjectivePoint::from(*peer.as_affine()) * own.scalar()).to_affine();
    Ok(Zeroizing::new(p.x().into()))
}

/// Encrypt `plaintext` with a caller-supplied random IV.
pub fn encrypt(key: &[u8; 32], plaintext: &str, iv: &[u8; IV_LEN]) -> String {
    let cipher = Cipher::new(key.into());
    // AES-GCM encryption only fails for plaintexts beyond 64 GiB.
    let ct = cipher
        .encrypt(Nonce::<U24>::from_slice(iv), plaintext.as_bytes())
        .unwrap_or_default();
    let mut out = URL_SAFE_NO_PAD.encode(ct);
    out.push_str("?iv=");
    out.push_str(&URL_SAFE_NO_PAD.encode(iv));
    out
}

/// Decrypt event content into the UTF-8 plaintext (strict base64url, no padding).
pub fn decrypt(key: &[u8; 32], content: &str) -> Result<Zeroizing<String>, CipherError> {
    if content.len() > MAX_CONTENT_LEN {
        return Err(CipherError::TooLarge);
    }
    let (ct, iv) = content.split_once("?iv=").ok_or(CipherError::BadFormat)?;
    let ct = URL_SAFE_NO_PAD
        .decode(ct)
        .map_err(|_| CipherError::BadFormat)?;
    let iv = URL_SAFE_NO_PAD
        .decode(iv)
        .map_err(|_| CipherError::BadFormat)?;
    if iv.len() != IV_LEN {
        return Err(CipherError::BadIv);
    }
    let cipher = Cipher::new(key.into());
    let pt = Zeroizing::new(
        cipher
            .decrypt(Nonce::<U24>::from_slice(&iv), ct.as_slice())
            .map_err(|_| CipherError::Decrypt)?,
    );
    let s = std::str::from_utf8(&pt).map_err(|_| CipherError::NotUtf8)?;
    Ok(Zeroizing::new(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let key = [7u8; 32];
        let iv = [9u8; IV_LEN];
        let c = encrypt(&key, "hello", &iv);
        assert_eq!(decrypt(&key, &c).unwrap().as_str(), "hello");
        assert_eq!(decrypt(&[8u8; 32], &c), Err(CipherError::Decrypt));
        assert_eq!(decrypt(&key, "abc"), Err(CipherError::BadFormat));
        assert_eq!(decrypt(&key, &format!("{c}=")), Err(CipherError::BadFormat));
        let short_iv = format!("{}?iv=AAAA", c.split_once("?iv=").unwrap().0);
        assert_eq!(decrypt(&key, &short_iv), Err(CipherError::BadIv));
    }
}
