//! NIP-44 v2 (<https://github.com/nostr-protocol/nips/blob/master/44.md>) from a shared x.
//!
//! The conversation key is HKDF-extract(salt = "nip44-v2", IKM = shared_x), i.e.
//! HMAC-SHA256 keyed with the salt; the payload format is the `nostr` crate's v2
//! implementation, wrapped with the NIP's version and size checks.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use nostr::nips::nip44::v2::{self, ConversationKey};
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::CryptoError;

/// Largest plaintext NIP-44 v2 allows, in bytes.
pub const MAX_PLAINTEXT: usize = 65_535;
// Bounds on the base64 payload and its decoded bytes (NIP-44 "decrypt", step 1 and 3).
const MIN_B64: usize = 132;
const MAX_B64: usize = 87_472;
const MIN_RAW: usize = 99;
const MAX_RAW: usize = 65_603;
const VERSION: u8 = 2;

/// The NIP-44 v2 conversation key for a shared x-coordinate.
pub fn conversation_key(shared_x: &[u8; 32]) -> ConversationKey {
    // HMAC zero-pads its key to the block size (RFC 2104), so the salt padded to 64 bytes is
    // the same key, and this constructor cannot fail.
    let mut salt = [0u8; 64];
    salt[..8].copy_from_slice(b"nip44-v2");
    let mut mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new(&salt.into());
    mac.update(shared_x);
    let bytes: Zeroizing<[u8; 32]> = Zeroizing::new(mac.finalize().into_bytes().into());
    ConversationKey::new(*bytes)
}

/// Encrypts `plaintext` with a fresh random nonce; returns the base64 payload.
pub fn encrypt(shared_x: &[u8; 32], plaintext: &str) -> Result<String, CryptoError> {
    let mut nonce = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    encrypt_with_nonce(shared_x, plaintext, nonce)
}

/// Encrypts with a caller-chosen nonce (test vectors only: a nonce must never repeat).
pub fn encrypt_with_nonce(
    shared_x: &[u8; 32],
    plaintext: &str,
    nonce: [u8; 32],
) -> Result<String, CryptoError> {
    if plaintext.is_empty() {
        return Err(CryptoError::EmptyMessage);
    }
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(CryptoError::MessageTooLong);
    }
    let key = conversation_key(shared_x);
    let payload = v2::encrypt_to_bytes_with_nonce(&key, plaintext.as_bytes(), nonce)
        .map_err(|_| CryptoError::InvalidPayload("cannot build the payload"))?;
    Ok(B64.encode(payload))
}

/// Decrypts a base64 NIP-44 v2 payload.
pub fn decrypt(shared_x: &[u8; 32], payload: &str) -> Result<String, CryptoError> {
    if payload.is_empty() || payload.starts_with('#') {
        return Err(CryptoError::UnsupportedVersion);
    }
    if !(MIN_B64..=MAX_B64).contains(&payload.len()) {
        return Err(CryptoError::InvalidPayload("invalid payload size"));
    }
    let raw = B64
        .decode(payload)
        .map_err(|_| CryptoError::InvalidPayload("not base64"))?;
    if !(MIN_RAW..=MAX_RAW).contains(&raw.len()) {
        return Err(CryptoError::InvalidPayload("invalid data size"));
    }
    if raw.first() != Some(&VERSION) {
        return Err(CryptoError::UnsupportedVersion);
    }
    let key = conversation_key(shared_x);
    let plain = Zeroizing::new(v2::decrypt_to_bytes(&key, &raw).map_err(|e| {
        // The crate reports a MAC mismatch as "invalid HMAC"; the NIP calls it "invalid MAC".
        if e.to_string().contains("HMAC") {
            CryptoError::InvalidMac
        } else {
            CryptoError::DecryptionFailed("invalid padding")
        }
    })?);
    String::from_utf8(plain.to_vec()).map_err(|_| CryptoError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> nostr::prelude::Keys {
        let b: [u8; 32] = rand::random();
        nostr::prelude::Keys::new(nostr::prelude::SecretKey::from_slice(&b).expect("sk"))
    }

    fn hex32(s: &str) -> [u8; 32] {
        let mut b = [0u8; 32];
        hex::decode_to_slice(s, &mut b).expect("hex");
        b
    }

    /// Shared x of secret `sk` with the x-only key `pk` (even y), computed directly.
    fn direct_shared_x(sk: &[u8; 32], pk_x: &[u8; 32]) -> [u8; 32] {
        let sk = k256::SecretKey::from_slice(sk).expect("sk");
        let pk = crate::frostr::ecdh::parse_ecdh_pk(pk_x).expect("pk");
        let shared = k256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine());
        let mut x = [0u8; 32];
        x.copy_from_slice(shared.raw_secret_bytes());
        x
    }

    // NIP-44 spec vectors (valid.get_conversation_key[0..2], valid.encrypt_decrypt[0]).
    #[test]
    fn spec_vector_conversation_key() {
        for (sec1, pub2, ck) in [
            (
                "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364139",
                "0000000000000000000000000000000000000000000000000000000000000002",
                "8b6392dbf2ec6a2b2d5b1477fc2be84d63ef254b667cadd31bd3f444c44ae6ba",
            ),
            (
                "0000000000000000000000000000000000000000000000000000000000000002",
                "1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdeb",
                "be234f46f60a250bef52a5ee34c758800c4ca8e5030bf4cc1a31d37ba2104d43",
            ),
        ] {
            let x = direct_shared_x(&hex32(sec1), &hex32(pub2));
            assert_eq!(hex::encode(conversation_key(&x).as_bytes()), ck);
        }
    }

    #[test]
    fn spec_vector_encrypt_decrypt() {
        let sec1 = hex32("0000000000000000000000000000000000000000000000000000000000000001");
        let sec2 = hex32("0000000000000000000000000000000000000000000000000000000000000002");
        let pub2 = crate::frostr::types::x_only(
            &k256::SecretKey::from_slice(&sec2).expect("sk").public_key(),
        );
        let x = direct_shared_x(&sec1, &pub2);
        assert_eq!(
            hex::encode(conversation_key(&x).as_bytes()),
            "c41c775356fd92eadc63ff5a0dc1da211b268cbea22316767095b2871ea1412d"
        );
        let nonce = hex32("0000000000000000000000000000000000000000000000000000000000000001");
        let expected = "AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABee0G5VSK0/9YypIObAtDKfYEAjD35uVkHyB0F4DwrcNaCXlCWZKaArsGrY6M9wnuTMxWfp1RTN9Xga8no+kF5Vsb";
        assert_eq!(
            encrypt_with_nonce(&x, "a", nonce).expect("encrypt"),
            expected
        );
        assert_eq!(decrypt(&x, expected).expect("decrypt"), "a");
    }

    #[test]
    fn matches_the_nostr_crate_keypair_api() {
        let a = keys();
        let b = keys();
        let x = direct_shared_x(
            a.secret_key().as_secret_bytes().try_into().expect("32"),
            &b.public_key().to_bytes(),
        );
        let theirs = ConversationKey::derive(a.secret_key(), &b.public_key()).expect("derive");
        assert_eq!(conversation_key(&x).as_bytes(), theirs.as_bytes());
        let ours = encrypt(&x, "hello from the group").expect("encrypt");
        let back = nostr::nips::nip44::decrypt(b.secret_key(), &a.public_key(), &ours)
            .expect("nostr decrypts ours");
        assert_eq!(back, "hello from the group");
    }

    #[test]
    fn rejects_tampering_and_bad_input() {
        let x = [7u8; 32];
        let ct = encrypt(&x, "secret").expect("encrypt");
        let mut raw = B64.decode(&ct).expect("b64");
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert_eq!(decrypt(&x, &B64.encode(&raw)), Err(CryptoError::InvalidMac));
        assert_eq!(decrypt(&[8u8; 32], &ct), Err(CryptoError::InvalidMac));
        assert_eq!(decrypt(&x, "#abc"), Err(CryptoError::UnsupportedVersion));
        assert!(matches!(
            decrypt(&x, "AAAA"),
            Err(CryptoError::InvalidPayload(_))
        ));
        assert_eq!(encrypt(&x, ""), Err(CryptoError::EmptyMessage));
        assert_eq!(
            encrypt(&x, &"a".repeat(MAX_PLAINTEXT + 1)),
            Err(CryptoError::MessageTooLong)
        );
        raw[0] = 1;
        assert_eq!(
            decrypt(&x, &B64.encode(&raw)),
            Err(CryptoError::UnsupportedVersion)
        );
    }

    #[test]
    fn round_trips_every_padding_class() {
        let x = [9u8; 32];
        for n in [1usize, 31, 32, 33, 255, 256, 257, 1000, MAX_PLAINTEXT] {
            let m = "z".repeat(n);
            assert_eq!(decrypt(&x, &encrypt(&x, &m).expect("enc")).expect("dec"), m);
        }
    }
}
