//! Typed `data` of every bifrost v1 message (spec §5), with the receivers' schema checks.
//! Unknown tags and malformed payloads are errors, never panics.

use std::collections::HashSet;
use std::fmt;

use k256::PublicKey;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use super::envelope::{Envelope, EnvelopeError, MessageId};
use crate::frostr::session::{SessionError, SessionPackage, is_lower_hex};
use crate::frostr::sign::{HexPoint, PsigPackage};

/// Literal data of `/ping/req`.
pub const PING_DATA: &str = "ping";

/// The message tags bifrost 1.0.7 sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tag {
    PingReq,
    PingRes,
    EchoReq,
    SignReq,
    SignRes,
    EcdhReq,
    EcdhRes,
}

impl Tag {
    pub const ALL: [Tag; 7] = [
        Tag::PingReq,
        Tag::PingRes,
        Tag::EchoReq,
        Tag::SignReq,
        Tag::SignRes,
        Tag::EcdhReq,
        Tag::EcdhRes,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Tag::PingReq => "/ping/req",
            Tag::PingRes => "/ping/res",
            Tag::EchoReq => "/echo/req",
            Tag::SignReq => "/sign/req",
            Tag::SignRes => "/sign/res",
            Tag::EcdhReq => "/ecdh/req",
            Tag::EcdhRes => "/ecdh/res",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a message's data does not fit its tag.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum PayloadError {
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error("unknown message tag {0:?}")]
    UnknownTag(String),
    #[error("/ping/req data must be the literal \"ping\"")]
    PingData,
    #[error("{tag} data is malformed: {reason}")]
    Malformed { tag: Tag, reason: String },
    #[error("{tag} session is invalid: {source}")]
    Session { tag: Tag, source: SessionError },
    #[error("{tag} package is invalid: {reason}")]
    Invalid { tag: Tag, reason: &'static str },
}

/// `/ping/res` data: the responder's policy towards the requester.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingResponse {
    pub send: bool,
    pub recv: bool,
}

/// The ECDH target key as sent: 64-hex x-only or 66-hex compressed; kept verbatim because
/// responses echo it back.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EcdhPubkey(String);

impl EcdhPubkey {
    pub fn parse(s: &str) -> Option<Self> {
        if !(s.len() == 64 || s.len() == 66) || !is_lower_hex(s) {
            return None;
        }
        let me = Self(s.to_owned());
        me.to_public_key()?;
        Some(me)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The point; an x-only key is lifted to even y.
    pub fn to_public_key(&self) -> Option<PublicKey> {
        let mut b = hex::decode(&self.0).ok()?;
        if b.len() == 32 {
            b.insert(0, 2);
        }
        if b.first().is_some_and(|p| *p != 2 && *p != 3) {
            return None;
        }
        PublicKey::from_sec1_bytes(&b).ok()
    }
}

impl Serialize for EcdhPubkey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EcdhPubkey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        EcdhPubkey::parse(&s)
            .ok_or_else(|| de::Error::custom("expected an x-only or compressed point"))
    }
}

/// `/ecdh/req` and `/ecdh/res` data: one member's key share for `ecdh_pk`.
/// Field order matches bifrost's JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EcdhPackage {
    pub idx: u32,
    pub keyshare: HexPoint,
    pub members: Vec<u32>,
    pub ecdh_pk: EcdhPubkey,
}

impl EcdhPackage {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    fn check(&self, tag: Tag) -> Result<(), PayloadError> {
        let invalid = |reason| PayloadError::Invalid { tag, reason };
        if self.members.is_empty() {
            return Err(invalid("no members"));
        }
        let mut seen = HashSet::new();
        if !self.members.iter().all(|&m| m != 0 && seen.insert(m)) {
            return Err(invalid("member indexes must be non-zero and unique"));
        }
        if !self.members.contains(&self.idx) {
            return Err(invalid("sender is not among the members"));
        }
        Ok(())
    }
}

/// A parsed message body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    PingReq,
    PingRes(PingResponse),
    /// Challenge string; 1.0.7 never answers it.
    EchoReq(String),
    SignReq(SessionPackage),
    SignRes(PsigPackage),
    EcdhReq(EcdhPackage),
    EcdhRes(EcdhPackage),
}

fn json<T: serde::de::DeserializeOwned>(tag: Tag, data: &str) -> Result<T, PayloadError> {
    serde_json::from_str(data).map_err(|e| PayloadError::Malformed {
        tag,
        reason: e.to_string(),
    })
}

impl Payload {
    pub fn tag(&self) -> Tag {
        match self {
            Payload::PingReq => Tag::PingReq,
            Payload::PingRes(_) => Tag::PingRes,
            Payload::EchoReq(_) => Tag::EchoReq,
            Payload::SignReq(_) => Tag::SignReq,
            Payload::SignRes(_) => Tag::SignRes,
            Payload::EcdhReq(_) => Tag::EcdhReq,
            Payload::EcdhRes(_) => Tag::EcdhRes,
        }
    }

    /// Parse the data of an envelope according to its tag.
    pub fn parse(env: &Envelope) -> Result<Self, PayloadError> {
        let tag = Tag::parse(&env.tag).ok_or_else(|| PayloadError::UnknownTag(env.tag.clone()))?;
        let data = env.data.as_str();
        Ok(match tag {
            Tag::PingReq if data == PING_DATA => Payload::PingReq,
            Tag::PingReq => return Err(PayloadError::PingData),
            Tag::PingRes => Payload::PingRes(json(tag, data)?),
            Tag::EchoReq => Payload::EchoReq(data.to_owned()),
            Tag::SignReq => {
                let s: SessionPackage = json(tag, data)?;
                s.validate()
                    .map_err(|source| PayloadError::Session { tag, source })?;
                Payload::SignReq(s)
            }
            Tag::SignRes => {
                let p: PsigPackage = json(tag, data)?;
                if p.psigs.is_empty() {
                    return Err(PayloadError::Invalid {
                        tag,
                        reason: "no partial signatures",
                    });
                }
                Payload::SignRes(p)
            }
            Tag::EcdhReq | Tag::EcdhRes => {
                let p: EcdhPackage = json(tag, data)?;
                p.check(tag)?;
                if tag == Tag::EcdhReq {
                    Payload::EcdhReq(p)
                } else {
                    Payload::EcdhRes(p)
                }
            }
        })
    }

    /// The `data` string exactly as bifrost would send it.
    pub fn data(&self) -> String {
        match self {
            Payload::PingReq => PING_DATA.to_owned(),
            Payload::PingRes(p) => serde_json::to_string(p).unwrap_or_default(),
            Payload::EchoReq(s) => s.clone(),
            Payload::SignReq(s) => s.to_json(),
            Payload::SignRes(p) => p.to_json(),
            Payload::EcdhReq(p) | Payload::EcdhRes(p) => p.to_json(),
        }
    }

    pub fn to_envelope(&self, id: MessageId) -> Envelope {
        Envelope::new(self.tag().as_str(), id, self.data())
    }
}

/// Parse a decrypted plaintext all the way: envelope schema, then the typed payload.
pub fn parse_message(plaintext: &str) -> Result<(MessageId, Payload), PayloadError> {
    let env = Envelope::parse(plaintext)?;
    let payload = Payload::parse(&env)?;
    Ok((env.id, payload))
}
