//! Kind-20000 events (§4.2): one `p` tag naming the recipient, content per §4.3, authored
//! and BIP-340-signed by the share key. The NIP-01 event type and id are shared with v1.

use k256::schnorr::{Signature, SigningKey, VerifyingKey};

use super::cipher::{self, CipherError};
use super::envelope::{Envelope, EnvelopeError};
use super::hexser::parse;
use super::types::KIND;
use crate::frostr::SecretScalar;
pub use crate::frostr::transport::event::{Event, event_id};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("event kind {got} is not the configured kind {want}")]
    WrongKind { got: u16, want: u16 },
    #[error("event must carry exactly one p tag")]
    PTags,
    #[error("event is not addressed to this node")]
    NotForUs,
    #[error("event {0} field is not valid hex")]
    BadHex(&'static str),
    #[error("event id does not match its content")]
    IdMismatch,
    #[error("event signature is invalid")]
    BadSignature,
    #[error("cannot sign with this share key")]
    SigningKey,
    #[error(transparent)]
    Cipher(#[from] CipherError),
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
}

/// Build and sign an event from `sender` to `recipient` carrying `content`.
pub fn sign_event(
    sender: &SecretScalar,
    recipient: &[u8; 32],
    content: String,
    created_at: u64,
    aux_rand: &[u8; 32],
) -> Result<Event, EventError> {
    let sk =
        SigningKey::from_bytes(sender.to_bytes().as_slice()).map_err(|_| EventError::SigningKey)?;
    let pubkey = hex::encode(sk.verifying_key().to_bytes());
    let tags = vec![vec!["p".to_owned(), hex::encode(recipient)]];
    let id = event_id(&pubkey, created_at, KIND, &tags, &content);
    let sig = sk
        .sign_raw(&id, aux_rand)
        .map_err(|_| EventError::SigningKey)?;
    Ok(Event {
        id: hex::encode(id),
        pubkey,
        created_at,
        kind: KIND,
        tags,
        content,
        sig: hex::encode(sig.to_bytes()),
    })
}

/// §4.5 step 1 and the transport's step 2: kind, exactly one `p` tag equal to `own_id`,
/// id and signature. Returns the author's peer id.
pub fn check_event(event: &Event, own_id: &[u8; 32]) -> Result<[u8; 32], EventError> {
    if event.kind != KIND {
        return Err(EventError::WrongKind {
            got: event.kind,
            want: KIND,
        });
    }
    let mut ps = event
        .tags
        .iter()
        .filter(|t| t.first().map(String::as_str) == Some("p"));
    let p = ps.next().ok_or(EventError::PTags)?;
    if ps.next().is_some() {
        return Err(EventError::PTags);
    }
    let target = p
        .get(1)
        .and_then(|s| parse::<32>(s))
        .ok_or(EventError::NotForUs)?;
    if &target != own_id {
        return Err(EventError::NotForUs);
    }
    let author = parse::<32>(&event.pubkey).ok_or(EventError::BadHex("pubkey"))?;
    let id = parse::<32>(&event.id).ok_or(EventError::BadHex("id"))?;
    let sig = parse::<64>(&event.sig).ok_or(EventError::BadHex("sig"))?;
    if event_id(
        &event.pubkey,
        event.created_at,
        event.kind,
        &event.tags,
        &event.content,
    ) != id
    {
        return Err(EventError::IdMismatch);
    }
    let vk = VerifyingKey::from_bytes(&author).map_err(|_| EventError::BadSignature)?;
    let sig = Signature::try_from(&sig[..]).map_err(|_| EventError::BadSignature)?;
    vk.verify_raw(&id, &sig)
        .map_err(|_| EventError::BadSignature)?;
    Ok(author)
}

/// Encrypt `envelope` for `recipient` and wrap it in a signed event.
pub fn seal(
    sender: &SecretScalar,
    recipient: &[u8; 32],
    envelope: &Envelope,
    nonce: [u8; 32],
    aux_rand: &[u8; 32],
    created_at: u64,
) -> Result<Event, EventError> {
    let key = cipher::conversation_key(sender, recipient)?;
    let content = cipher::encrypt(&key, &envelope.to_json(), nonce)?;
    sign_event(sender, recipient, content, created_at, aux_rand)
}

/// Decrypt and parse an event already accepted by [`check_event`] from `author`.
pub fn open(own: &SecretScalar, author: &[u8; 32], event: &Event) -> Result<Envelope, EventError> {
    let key = cipher::conversation_key(own, author)?;
    let plain = cipher::decrypt(&key, &event.content)?;
    Ok(Envelope::parse(&plain)?)
}
