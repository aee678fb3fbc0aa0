//! The kind-24133 transport: the per-installation remote-signer key (never the group key),
//! its ECDH with a client key, NIP-44 v2 content (NIP-04 accepted from old clients and answered
//! in the same scheme), and building and checking the events.

use k256::elliptic_curve::sec1::ToEncodedPoint;
use k256::schnorr::SigningKey;
use rand::RngCore;
use zeroize::Zeroizing;

use crate::frostr::transport::event::{Event as WireEvent, event_id};
use crate::nips::{CryptoError, nip04, nip44};

/// NIP-46 event kind.
pub const KIND: u16 = 24133;
/// Largest event `content` looked at (a NIP-44 payload of 65 535 bytes is 87 472 characters;
/// NIP-04 of the same plaintext is a little larger).
pub const MAX_CONTENT_LEN: usize = 90_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("event kind {0} is not 24133")]
    WrongKind(u16),
    #[error("event is not addressed to this signer")]
    NotForUs,
    #[error("event content is larger than {MAX_CONTENT_LEN} characters")]
    TooLarge,
    #[error("invalid client public key")]
    BadPubkey,
    #[error("invalid transport key")]
    BadKey,
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// How a message was (and its answer is) encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Nip44,
    Nip04,
}

/// The remote-signer key. Zeroized on drop, never printed.
pub struct TransportKey {
    sk: k256::SecretKey,
}

impl std::fmt::Debug for TransportKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TransportKey({})", hex::encode(self.pubkey()))
    }
}

impl TransportKey {
    pub fn generate() -> Self {
        Self {
            sk: k256::SecretKey::random(&mut rand::rngs::OsRng),
        }
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TransportError> {
        k256::SecretKey::from_slice(bytes)
            .map(|sk| Self { sk })
            .map_err(|_| TransportError::BadKey)
    }

    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.sk.to_bytes().into())
    }

    /// x-only public key (what clients address).
    pub fn pubkey(&self) -> [u8; 32] {
        let p = self.sk.public_key().to_encoded_point(true);
        let mut out = [0u8; 32];
        out.copy_from_slice(&p.as_bytes()[1..33]);
        out
    }

    /// The x-coordinate of the ECDH point with `peer` (x-only; the sign of y does not change x).
    pub fn shared_x(&self, peer: &[u8; 32]) -> Result<Zeroizing<[u8; 32]>, TransportError> {
        let pk = crate::frostr::ecdh::parse_ecdh_pk(peer).map_err(|_| TransportError::BadPubkey)?;
        let shared = k256::ecdh::diffie_hellman(self.sk.to_nonzero_scalar(), pk.as_affine());
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(shared.raw_secret_bytes());
        Ok(out)
    }

    /// Signs a kind-24133 event to `recipient`.
    pub fn event(
        &self,
        recipient: &[u8; 32],
        content: String,
        created_at: u64,
    ) -> Result<nostr::prelude::Event, TransportError> {
        let sk = SigningKey::from_bytes(self.to_bytes().as_slice())
            .map_err(|_| TransportError::BadKey)?;
        let pubkey = hex::encode(sk.verifying_key().to_bytes());
        let tags = vec![vec!["p".to_owned(), hex::encode(recipient)]];
        let id = event_id(&pubkey, created_at, KIND, &tags, &content);
        let mut aux = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut aux);
        let sig = sk.sign_raw(&id, &aux).map_err(|_| TransportError::BadKey)?;
        let wire = WireEvent {
            id: hex::encode(id),
            pubkey,
            created_at,
            kind: KIND,
            tags,
            content,
            sig: hex::encode(sig.to_bytes()),
        };
        nostr::prelude::Event::from_json(wire.to_json()).map_err(|_| TransportError::BadKey)
    }
}

/// Decrypts `content` with the shared x, detecting the scheme (`?iv=` means NIP-04).
pub fn decrypt(shared_x: &[u8; 32], content: &str) -> Result<(Scheme, String), TransportError> {
    if content.len() > MAX_CONTENT_LEN {
        return Err(TransportError::TooLarge);
    }
    if content.contains("?iv=") {
        Ok((Scheme::Nip04, nip04::decrypt(shared_x, content)?))
    } else {
        Ok((Scheme::Nip44, nip44::decrypt(shared_x, content)?))
    }
}

pub fn encrypt(shared_x: &[u8; 32], scheme: Scheme, text: &str) -> Result<String, TransportError> {
    Ok(match scheme {
        Scheme::Nip44 => nip44::encrypt(shared_x, text)?,
        Scheme::Nip04 => nip04::encrypt(shared_x, text)?,
    })
}

/// The client key of an incoming event addressed to `own`: kind 24133 with a `p` tag naming
/// us, content within [`MAX_CONTENT_LEN`]. (The relay pool has already checked id and
/// signature.)
pub fn check_incoming(
    ev: &nostr::prelude::Event,
    own: &[u8; 32],
) -> Result<[u8; 32], TransportError> {
    let kind = ev.kind.as_u16();
    if kind != KIND {
        return Err(TransportError::WrongKind(kind));
    }
    let own_hex = hex::encode(own);
    let addressed = ev.tags.iter().any(|t| {
        let s = t.as_slice();
        s.len() >= 2 && s[0] == "p" && s[1].eq_ignore_ascii_case(&own_hex)
    });
    if !addressed {
        return Err(TransportError::NotForUs);
    }
    if ev.content.len() > MAX_CONTENT_LEN {
        return Err(TransportError::TooLarge);
    }
    Ok(ev.pubkey.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_agree_and_schemes_round_trip() {
        let a = TransportKey::generate();
        let b = TransportKey::generate();
        let ab = a.shared_x(&b.pubkey()).unwrap();
        let ba = b.shared_x(&a.pubkey()).unwrap();
        assert_eq!(*ab, *ba);
        for scheme in [Scheme::Nip44, Scheme::Nip04] {
            let c = encrypt(&ab, scheme, "{\"id\":\"1\"}").unwrap();
            assert_eq!(
                decrypt(&ba, &c).unwrap(),
                (scheme, "{\"id\":\"1\"}".to_owned())
            );
        }
        // The nostr crate (NIP-44 v2 from secret and public key) reads what we write.
        let sk_b = nostr::prelude::SecretKey::from_slice(b.to_bytes().as_slice()).unwrap();
        let pk_a = nostr::prelude::PublicKey::from_slice(&a.pubkey()).unwrap();
        let c = encrypt(&ab, Scheme::Nip44, "hello").unwrap();
        let key = nostr::nips::nip44::v2::ConversationKey::derive(&sk_b, &pk_a).unwrap();
        let raw = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &c).unwrap();
        let plain = nostr::nips::nip44::v2::decrypt_to_bytes(&key, &raw).unwrap();
        assert_eq!(plain, b"hello");
    }

    #[test]
    fn events_verify_and_are_checked() {
        let k = TransportKey::generate();
        let client = TransportKey::generate();
        let ev = k
            .event(&client.pubkey(), "x".into(), 1_700_000_000)
            .unwrap();
        ev.verify().unwrap();
        assert_eq!(check_incoming(&ev, &client.pubkey()).unwrap(), k.pubkey());
        assert_eq!(
            check_incoming(&ev, &k.pubkey()),
            Err(TransportError::NotForUs)
        );
        let back = TransportKey::from_bytes(k.to_bytes().as_slice()).unwrap();
        assert_eq!(back.pubkey(), k.pubkey());
        assert!(TransportKey::from_bytes(&[0u8; 32]).is_err());
    }
}
