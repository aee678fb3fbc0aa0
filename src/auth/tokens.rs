//! Random tokens (session ids, API keys), their stored form (SHA-256) and constant-time
//! comparison.

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Characters of an API key used to find its row.
pub const API_KEY_PREFIX_LEN: usize = 12;

/// 32 random bytes as 64 lower-case hex characters.
pub fn random_token() -> Zeroizing<String> {
    let mut b = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(b.as_mut());
    Zeroizing::new(hex::encode(b.as_ref()))
}

/// Lower-case hex SHA-256: the only form in which tokens are stored.
pub fn sha256_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Constant-time equality of two secrets of any length: both are hashed first, so neither the
/// content nor the length of the expected value leaks through timing.
pub fn secret_eq(a: &str, b: &str) -> bool {
    let ha = Sha256::digest(a.as_bytes());
    let hb = Sha256::digest(b.as_bytes());
    ha.ct_eq(&hb).into()
}

/// Constant-time equality of two equal-length hex digests.
pub fn digest_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_hex_and_compare_correctly() {
        let a = random_token();
        let b = random_token();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(*a, *b);
        assert!(secret_eq(&a, &a.clone()));
        assert!(!secret_eq(&a, &b));
        assert!(!secret_eq("abc", "abcd"));
        assert!(digest_eq(&sha256_hex("x"), &sha256_hex("x")));
        assert!(!digest_eq(&sha256_hex("x"), &sha256_hex("y")));
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
