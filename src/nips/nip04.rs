//! NIP-04 (<https://github.com/nostr-protocol/nips/blob/master/04.md>) from a shared x:
//! AES-256-CBC with key = the shared x itself (not hashed), PKCS#7 padding, random 16-byte
//! IV, payload `base64(ciphertext) + "?iv=" + base64(iv)`.

use aes::Aes256;
use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use zeroize::Zeroizing;

use super::CryptoError;

type Enc = cbc::Encryptor<Aes256>;
type Dec = cbc::Decryptor<Aes256>;

/// Encrypts `plaintext` with a fresh random IV.
pub fn encrypt(shared_x: &[u8; 32], plaintext: &str) -> Result<String, CryptoError> {
    let mut iv = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut iv);
    Ok(encrypt_with_iv(shared_x, plaintext, iv))
}

/// Encrypts with a caller-chosen IV (tests only: an IV must never repeat).
pub fn encrypt_with_iv(shared_x: &[u8; 32], plaintext: &str, iv: [u8; 16]) -> String {
    let ct =
        Enc::new(shared_x.into(), &iv.into()).encrypt_padded_vec_mut::<Pkcs7>(plaintext.as_bytes());
    format!("{}?iv={}", B64.encode(ct), B64.encode(iv))
}

/// Decrypts a NIP-04 payload.
pub fn decrypt(shared_x: &[u8; 32], payload: &str) -> Result<String, CryptoError> {
    let (ct_b64, iv_b64) = payload
        .split_once("?iv=")
        .ok_or(CryptoError::InvalidPayload(
            "expected `<ciphertext>?iv=<iv>`",
        ))?;
    let iv = B64
        .decode(iv_b64)
        .map_err(|_| CryptoError::InvalidPayload("the IV is not base64"))?;
    let iv: [u8; 16] = iv
        .as_slice()
        .try_into()
        .map_err(|_| CryptoError::InvalidPayload("the IV must be 16 bytes"))?;
    let ct = B64
        .decode(ct_b64)
        .map_err(|_| CryptoError::InvalidPayload("the ciphertext is not base64"))?;
    if ct.is_empty() || ct.len() % 16 != 0 {
        return Err(CryptoError::InvalidPayload(
            "the ciphertext is not a whole number of AES blocks",
        ));
    }
    let plain = Zeroizing::new(
        Dec::new(shared_x.into(), &iv.into())
            .decrypt_padded_vec_mut::<Pkcs7>(&ct)
            .map_err(|_| CryptoError::DecryptionFailed("wrong key or corrupted message"))?,
    );
    String::from_utf8(plain.to_vec()).map_err(|_| CryptoError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> nostr::prelude::Keys {
        let b: [u8; 32] = rand::random();
        nostr::prelude::Keys::new(nostr::prelude::SecretKey::from_slice(&b).expect("sk"))
    }

    fn direct_shared_x(a: &nostr::prelude::Keys, b: &nostr::prelude::PublicKey) -> [u8; 32] {
        let sk = k256::SecretKey::from_slice(a.secret_key().as_secret_bytes()).expect("sk");
        let pk = crate::frostr::ecdh::parse_ecdh_pk(&b.to_bytes()).expect("pk");
        let shared = k256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine());
        let mut x = [0u8; 32];
        x.copy_from_slice(shared.raw_secret_bytes());
        x
    }

    #[test]
    fn interoperates_with_the_nostr_crate() {
        let a = keys();
        let b = keys();
        let x = direct_shared_x(&a, &b.public_key());
        let iv = [3u8; 16];
        let theirs =
            nostr::nips::nip04::encrypt_with_iv(a.secret_key(), &b.public_key(), "hi there", iv)
                .expect("nostr encrypt");
        assert_eq!(encrypt_with_iv(&x, "hi there", iv), theirs);
        assert_eq!(decrypt(&x, &theirs).expect("decrypt"), "hi there");
        let ours = encrypt(&x, "from the group ✓").expect("encrypt");
        assert_eq!(
            nostr::nips::nip04::decrypt(b.secret_key(), &a.public_key(), &ours).expect("theirs"),
            "from the group ✓"
        );
    }

    #[test]
    fn rejects_malformed_payloads() {
        let x = [1u8; 32];
        let good = encrypt(&x, "abc").expect("enc");
        assert!(matches!(
            decrypt(&x, "nope"),
            Err(CryptoError::InvalidPayload(_))
        ));
        assert!(matches!(
            decrypt(&x, "AAAA?iv=AAAA"),
            Err(CryptoError::InvalidPayload(_))
        ));
        assert!(matches!(
            decrypt(&x, "!!?iv=AAAAAAAAAAAAAAAAAAAAAA=="),
            Err(CryptoError::InvalidPayload(_))
        ));
        // A wrong key almost always breaks the padding; when it does not, the text is garbage.
        assert_ne!(decrypt(&[2u8; 32], &good).ok().as_deref(), Some("abc"));
        assert_eq!(
            decrypt(&x, &encrypt(&x, "").expect("empty")).expect("dec"),
            ""
        );
    }
}
