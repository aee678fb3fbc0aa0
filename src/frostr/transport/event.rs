//! Kind-20004 Nostr events carrying bifrost v1 messages (spec §4.2, §4.5): one `p` tag,
//! NIP-01 id, BIP-340 signature by the share key; plus `seal`/`open`, which combine the
//! event with the content cipher and the envelope.

use k256::elliptic_curve::point::AffineCoordinates;
use k256::schnorr::{Signature, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::cipher::{self, CipherError, IV_LEN};
use super::envelope::{Envelope, EnvelopeError};
use crate::frostr::SecretScalar;
use crate::frostr::hash::sha256;
use crate::frostr::session::parse_lower_hex;

/// Event kind used by bifrost v1 (ephemeral range).
pub const KIND: u16 = 20004;
/// Oldest `created_at` the JS schema accepts.
pub const MIN_CREATED_AT: u64 = 500_000_000;

/// Why an event is not a valid bifrost message.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum EventError {
    #[error("event is not valid Nostr event JSON")]
    Json,
    #[error("event kind {0} is not {KIND}")]
    WrongKind(u16),
    #[error("event created_at is before {MIN_CREATED_AT}")]
    TooOld,
    #[error("event {0} has a bad hex field")]
    BadHex(&'static str),
    #[error("event id does not match its content")]
    IdMismatch,
    #[error("event signature is invalid")]
    BadSignature,
    #[error("event is not addressed to us")]
    NotForUs,
    #[error("cannot sign the event with this key")]
    SigningKey,
}

/// Why an incoming event could not be opened into an envelope.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum OpenError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Cipher(#[from] CipherError),
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
}

/// A signed NIP-01 event as it travels to and from relays.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    pub pubkey: String,
    pub created_at: u64,
    pub kind: u16,
    pub tags: Vec<Vec<String>>,
    pub content: String,
    pub sig: String,
}

/// NIP-01 id: SHA256 of `[0, pubkey, created_at, kind, tags, content]` as compact JSON.
pub fn event_id(
    pubkey: &str,
    created_at: u64,
    kind: u16,
    tags: &[Vec<String>],
    content: &str,
) -> [u8; 32] {
    let canonical =
        serde_json::to_string(&(0u8, pubkey, created_at, kind, tags, content)).unwrap_or_default();
    sha256(&[canonical.as_bytes()])
}

/// x-only public key of a share key (its Nostr identity).
pub fn xonly_pubkey(key: &SecretScalar) -> [u8; 32] {
    key.public_key().as_affine().x().into()
}

impl Event {
    /// Build and sign a kind-20004 event from `sender` to `recipient` (x-only key), with
    /// caller-supplied time and BIP-340 auxiliary randomness.
    pub fn sign(
        sender: &SecretScalar,
        recipient: &[u8; 32],
        content: String,
        created_at: u64,
        aux_rand: &[u8; 32],
    ) -> Result<Self, EventError> {
        let sk = SigningKey::from_bytes(sender.to_bytes().as_slice())
            .map_err(|_| EventError::SigningKey)?;
        let pubkey = hex::encode(sk.verifying_key().to_bytes());
        let tags = vec![vec!["p".to_owned(), hex::encode(recipient)]];
        let id = event_id(&pubkey, created_at, KIND, &tags, &content);
        let sig = sk
            .sign_raw(&id, aux_rand)
            .map_err(|_| EventError::SigningKey)?;
        Ok(Self {
            id: hex::encode(id),
            pubkey,
            created_at,
            kind: KIND,
            tags,
            content,
            sig: hex::encode(sig.to_bytes()),
        })
    }

    pub fn from_json(json: &str) -> Result<Self, EventError> {
        serde_json::from_str(json).map_err(|_| EventError::Json)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The author's x-only key, if well-formed.
    pub fn author(&self) -> Result<[u8; 32], EventError> {
        parse_lower_hex::<32>(&self.pubkey).ok_or(EventError::BadHex("pubkey"))
    }

    /// Whether a `["p", <xonly>, …]` tag names `xonly`.
    pub fn is_addressed_to(&self, xonly: &[u8; 32]) -> bool {
        let want = hex::encode(xonly);
        self.tags
            .iter()
            .any(|t| t.first().map(String::as_str) == Some("p") && t.get(1) == Some(&want))
    }

    /// Receiver checks of §4.5 step 2: kind, schema, id and BIP-340 signature.
    pub fn verify(&self) -> Result<(), EventError> {
        if self.kind != KIND {
            return Err(EventError::WrongKind(self.kind));
        }
        if self.created_at < MIN_CREATED_AT {
            return Err(EventError::TooOld);
        }
        let pubkey = self.author()?;
        let id = parse_lower_hex::<32>(&self.id).ok_or(EventError::BadHex("id"))?;
        let sig = parse_lower_hex::<64>(&self.sig).ok_or(EventError::BadHex("sig"))?;
        if event_id(
            &self.pubkey,
            self.created_at,
            self.kind,
            &self.tags,
            &self.content,
        ) != id
        {
            return Err(EventError::IdMismatch);
        }
        let vk = VerifyingKey::from_bytes(&pubkey).map_err(|_| EventError::BadSignature)?;
        let sig = Signature::try_from(&sig[..]).map_err(|_| EventError::BadSignature)?;
        vk.verify_raw(&id, &sig)
            .map_err(|_| EventError::BadSignature)
    }
}

/// Encrypt `envelope` for `recipient` and wrap it in a signed event. `iv` and `aux_rand`
/// are fresh random bytes from the caller; `created_at` is the current unix time.
pub fn seal(
    sender: &SecretScalar,
    recipient: &[u8; 32],
    envelope: &Envelope,
    iv: &[u8; IV_LEN],
    aux_rand: &[u8; 32],
    created_at: u64,
) -> Result<Event, OpenError> {
    let key = cipher::shared_secret(sender, recipient)?;
    let content = cipher::encrypt(&key, &envelope.to_json(), iv);
    Ok(Event::sign(
        sender, recipient, content, created_at, aux_rand,
    )?)
}

/// Verify an incoming event addressed to `own`, decrypt it and parse the envelope.
/// Authorisation (which peers may send which tags) is the caller's job.
pub fn open(own: &SecretScalar, event: &Event) -> Result<Envelope, OpenError> {
    event.verify()?;
    if !event.is_addressed_to(&xonly_pubkey(own)) {
        return Err(EventError::NotForUs.into());
    }
    let key = cipher::shared_secret(own, &event.author()?)?;
    let plaintext = cipher::decrypt(&key, &event.content)?;
    Ok(Envelope::parse(&plaintext)?)
}
