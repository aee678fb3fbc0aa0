//! NIP-04 and NIP-44 v2 for the group key, from a threshold-ECDH shared x-coordinate.
//!
//! The node never holds the group secret, so the usual `(secret key, public key)` entry points
//! do not apply: callers run threshold ECDH (`NodeHandle::ecdh`) and pass the x-coordinate of
//! the shared point here. From that point on both NIPs are followed exactly, so other Nostr
//! software decrypts what we encrypt (igloo-server's non-standard key handling is not copied).

pub mod ecdh_cache;
pub mod nip04;
pub mod nip44;

/// Why an encryption or decryption failed. Messages are safe to show to a person; they never
/// carry key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the message is empty")]
    EmptyMessage,
    #[error("the message is too long")]
    MessageTooLong,
    #[error("unsupported encryption version")]
    UnsupportedVersion,
    #[error("invalid payload: {0}")]
    InvalidPayload(&'static str),
    #[error("invalid MAC")]
    InvalidMac,
    #[error("decryption failed: {0}")]
    DecryptionFailed(&'static str),
    #[error("the decrypted message is not UTF-8 text")]
    NotUtf8,
}
