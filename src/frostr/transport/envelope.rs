//! The plaintext envelope `[tag, id, data]` (spec §4.4).

use serde::{Deserialize, Serialize};

use crate::frostr::session::parse_lower_hex;

/// Tag length bounds enforced by bifrost's envelope schema.
pub const TAG_MIN_LEN: usize = 3;
pub const TAG_MAX_LEN: usize = 256;

/// Why a decrypted plaintext is not a valid envelope.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("envelope is not a JSON array of three strings [tag, id, data]")]
    NotATriple,
    #[error("envelope tag must be {TAG_MIN_LEN} to {TAG_MAX_LEN} characters")]
    BadTag,
    #[error("envelope id must be 32 lower-case hex characters")]
    BadId,
}

/// A 16-byte message id (32 lower-case hex on the wire). Responses reuse the request's id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct MessageId(pub [u8; 16]);

impl MessageId {
    /// Build from 16 random bytes supplied by the caller (this module has no RNG).
    pub fn from_random(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }
    pub fn parse(s: &str) -> Option<Self> {
        parse_lower_hex::<16>(s).map(Self)
    }
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// A decrypted message: tag (e.g. `/sign/req`), correlation id and data string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub tag: String,
    pub id: MessageId,
    pub data: String,
}

impl Envelope {
    pub fn new(tag: impl Into<String>, id: MessageId, data: impl Into<String>) -> Self {
        Self {
            tag: tag.into(),
            id,
            data: data.into(),
        }
    }

    /// `JSON.stringify([tag, id, data])`; serde_json escapes strings the same way.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&(&self.tag, self.id.to_hex(), &self.data)).unwrap_or_default()
    }

    /// Parse and schema-check a plaintext.
    pub fn parse(plaintext: &str) -> Result<Self, EnvelopeError> {
        #[derive(Deserialize, Serialize)]
        struct Raw(String, String, String);
        let Raw(tag, id, data) =
            serde_json::from_str(plaintext).map_err(|_| EnvelopeError::NotATriple)?;
        let tag_len = tag.chars().count();
        if !(TAG_MIN_LEN..=TAG_MAX_LEN).contains(&tag_len) {
            return Err(EnvelopeError::BadTag);
        }
        let id = MessageId::parse(&id).ok_or(EnvelopeError::BadId)?;
        Ok(Self { tag, id, data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_schema() {
        let e = Envelope::new("/ping/req", MessageId([0xab; 16]), "ping");
        let j = e.to_json();
        assert_eq!(
            j,
            format!("[\"/ping/req\",\"{}\",\"ping\"]", "ab".repeat(16))
        );
        assert_eq!(Envelope::parse(&j), Ok(e));
        assert_eq!(
            Envelope::parse("[\"/p\",\"00\",\"x\"]"),
            Err(EnvelopeError::BadTag)
        );
        let upper = format!("[\"/ping/req\",\"{}\",\"ping\"]", "AB".repeat(16));
        assert_eq!(Envelope::parse(&upper), Err(EnvelopeError::BadId));
        assert_eq!(Envelope::parse("[1,2,3]"), Err(EnvelopeError::NotATriple));
        assert_eq!(
            Envelope::parse("[\"a\",\"b\"]"),
            Err(EnvelopeError::NotATriple)
        );
        assert_eq!(
            Envelope::parse("[\"a\",\"b\",\"c\",\"d\"]"),
            Err(EnvelopeError::NotATriple)
        );
    }
}
