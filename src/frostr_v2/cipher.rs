//! Peer-message content encryption (§4.3): NIP-44 v2 with standard base64 WITHOUT `=`
//! padding. We emit unpadded (bifrost-rs rejects padding) and accept both forms.

use base64::Engine as _;
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use nostr::nips::nip44::v2::{self, ConversationKey};
use zeroize::Zeroizing;

use crate::frostr::SecretScalar;

/// Largest plaintext NIP-44 v2 (with the 2-byte length prefix) can carry; also the main
/// line's envelope cap.
pub const MAX_PLAINTEXT: usize = 65_535;
/// Smallest decoded payload: version + nonce + 32 padded bytes + MAC.
const MIN_PAYLOAD: usize = 99;
/// Content longer than this cannot decode to a payload under the plaintext cap.
const MAX_CONTENT_CHARS: usize = 90_000;

const EMIT: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_encode_padding(false),
);
const ACCEPT: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    #[error("peer key is not a valid x-only public key")]
    PeerKey,
    #[error("message is empty or longer than {MAX_PLAINTEXT} bytes")]
    PlaintextLength,
    #[error("content is empty, too long or not NIP-44 (starts with '#')")]
    Content,
    #[error("content is not valid base64")]
    Base64,
    #[error("payload is shorter than a NIP-44 v2 payload can be")]
    TooShort,
    #[error("payload version {0} is not 2")]
    Version(u8),
    #[error("message authentication or padding check failed (wrong key or tampered content)")]
    Mac,
    #[error("decrypted message is not UTF-8")]
    Utf8,
}

/// The static conversation key between our share key and a peer id (x-only).
pub fn conversation_key(
    own: &SecretScalar,
    peer: &[u8; 32],
) -> Result<ConversationKey, CipherError> {
    let sk = nostr::prelude::SecretKey::from_slice(own.to_bytes().as_slice())
        .map_err(|_| CipherError::PeerKey)?;
    let pk = nostr::prelude::PublicKey::from_slice(peer).map_err(|_| CipherError::PeerKey)?;
    ConversationKey::derive(&sk, &pk).map_err(|_| CipherError::PeerKey)
}

/// Encrypt with a caller-chosen 32-byte nonce (fresh randomness in production; fixed in
/// known-answer tests).
pub fn encrypt(
    key: &ConversationKey,
    plaintext: &str,
    nonce: [u8; 32],
) -> Result<String, CipherError> {
    if plaintext.is_empty() || plaintext.len() > MAX_PLAINTEXT {
        return Err(CipherError::PlaintextLength);
    }
    let bytes = v2::encrypt_to_bytes_with_nonce(key, plaintext.as_bytes(), nonce)
        .map_err(|_| CipherError::PlaintextLength)?;
    Ok(EMIT.encode(bytes))
}

/// Decrypt content in either base64 form.
pub fn decrypt(key: &ConversationKey, content: &str) -> Result<Zeroizing<String>, CipherError> {
    if content.is_empty() || content.starts_with('#') || content.len() > MAX_CONTENT_CHARS {
        return Err(CipherError::Content);
    }
    let payload = ACCEPT.decode(content).map_err(|_| CipherError::Base64)?;
    if payload.len() < MIN_PAYLOAD {
        return Err(CipherError::TooShort);
    }
    match payload.first() {
        Some(2) => {}
        Some(v) => return Err(CipherError::Version(*v)),
        None => return Err(CipherError::TooShort),
    }
    let plain = Zeroizing::new(v2::decrypt_to_bytes(key, &payload).map_err(|_| CipherError::Mac)?);
    let s = std::str::from_utf8(&plain).map_err(|_| CipherError::Utf8)?;
    Ok(Zeroizing::new(s.to_owned()))
}
