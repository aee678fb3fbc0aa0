//! The decrypted message (§4.4): `{request_id, sent_at, payload:{type, data}}` and every
//! payload variant of §4.6–4.11, with the codec bounds of bifrost-rs and the main line's
//! field caps. Parsing never panics; unknown fields are ignored.

use serde::{Deserialize, Serialize};

use super::cipher::MAX_PLAINTEXT;
use super::hexser;
use super::types::GroupPackage;

pub const MAX_REQUEST_ID: usize = 256;
pub const MAX_NONCES: usize = 1000;
pub const MAX_HASHES: usize = 100;
pub const MAX_ECDH_TARGETS: usize = 100;
pub const MAX_MEMBERS: usize = 1000;
pub const MAX_SHORT_FIELD: usize = 1024;
pub const MAX_CONTENT: usize = 32 * 1024;
/// Ping payload version bifrost-rs requires.
pub const PING_VERSION: u32 = 2;
/// Onboard request version bifrost-rs requires.
pub const ONBOARD_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("message is larger than {MAX_PLAINTEXT} bytes")]
    TooLarge,
    #[error("message is not a valid bifrost-rs envelope: {0}")]
    Json(String),
    #[error("request id is empty or longer than {MAX_REQUEST_ID} characters")]
    RequestId,
    #[error("{0} has too many entries")]
    TooMany(&'static str),
    #[error("{0} is too long")]
    TooLong(&'static str),
    #[error("unsupported {what} version {got}")]
    Version { what: &'static str, got: u32 },
}

/// One public nonce pair advertised to a peer, named by a one-time code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvertisedNonce {
    #[serde(with = "hexser")]
    pub binder_pn: [u8; 33],
    #[serde(with = "hexser")]
    pub hidden_pn: [u8; 33],
    #[serde(with = "hexser")]
    pub code: [u8; 32],
}

/// Per-method permission flags of a policy profile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodFlags {
    pub echo: bool,
    pub ping: bool,
    pub onboard: bool,
    pub sign: bool,
    pub ecdh: bool,
}

impl MethodFlags {
    pub const ALL: Self = Self {
        echo: true,
        ping: true,
        onboard: true,
        sign: true,
        ecdh: true,
    };
}

/// The sender's effective policy for the receiver (§4.13).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyProfile {
    #[serde(with = "hexser")]
    pub for_peer: [u8; 32],
    pub revision: u64,
    pub updated: u64,
    pub block_all: bool,
    pub request: MethodFlags,
    pub respond: MethodFlags,
}

/// `PingRequest` / `PingResponse` data (§4.6).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    pub version: u32,
    #[serde(default)]
    pub advertised_nonces: Vec<AdvertisedNonce>,
    #[serde(default, with = "hexser::vec")]
    pub held_peer_nonce_codes: Vec<[u8; 32]>,
    #[serde(default)]
    pub policy_profile: Option<PolicyProfile>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnboardRequest {
    pub version: u32,
    #[serde(default)]
    pub nonces: Vec<AdvertisedNonce>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnboardResponse {
    pub group: GroupPackage,
    #[serde(default)]
    pub nonces: Vec<AdvertisedNonce>,
}

/// One member's nonce commitment for one hash of a sign session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NonceEntry {
    pub hash_index: u16,
    #[serde(with = "hexser")]
    pub binder_pn: [u8; 33],
    #[serde(with = "hexser")]
    pub hidden_pn: [u8; 33],
    #[serde(with = "hexser")]
    pub code: [u8; 32],
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberNonces {
    pub idx: u16,
    pub entries: Vec<NonceEntry>,
}

/// `SignRequest` data: the session package (§4.7).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignSession {
    #[serde(with = "hexser")]
    pub gid: [u8; 32],
    #[serde(with = "hexser")]
    pub sid: [u8; 32],
    pub members: Vec<u16>,
    #[serde(with = "hexser::vec")]
    pub hashes: Vec<[u8; 32]>,
    #[serde(default, with = "hexser::opt_bytes")]
    pub content: Option<Vec<u8>>,
    pub kind: String,
    pub stamp: u32,
    pub nonces: Vec<MemberNonces>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartialSig {
    pub hash_index: u16,
    #[serde(with = "hexser")]
    pub sighash: [u8; 32],
    #[serde(with = "hexser")]
    pub partial_sig: [u8; 32],
}

/// `SignResponse` data: the partial-signature package (§4.7).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignResponse {
    pub idx: u16,
    #[serde(with = "hexser")]
    pub sid: [u8; 32],
    #[serde(with = "hexser")]
    pub pubkey: [u8; 32],
    pub psigs: Vec<PartialSig>,
    /// Unused by bifrost-rs; always `null` on output, ignored on input.
    #[serde(default)]
    pub nonce_code: Option<serde_json::Value>,
    #[serde(default)]
    pub replenish: Option<Vec<AdvertisedNonce>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EcdhEntry {
    #[serde(with = "hexser")]
    pub ecdh_pk: [u8; 32],
    #[serde(with = "hexser")]
    pub keyshare: [u8; 33],
}

/// `EcdhRequest` / `EcdhResponse` data (§4.9).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EcdhPackage {
    pub idx: u16,
    pub members: Vec<u16>,
    pub entries: Vec<EcdhEntry>,
}

/// `Error` code igloo sends when a sign request names a nonce code it does not hold (spent,
/// or lost when our pools were discarded at a restart). bifrost-rs stays silent here and its
/// requester waits out its timeout; 0.5.0 never drops stale codes it holds, so without this
/// reply each one would cost a peer a full timeout after every igloo restart. Any `Error` fails
/// the round at once in bifrost-rs.
pub const ERROR_NONCE_UNAVAILABLE: &str = "nonce_unavailable";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorData {
    pub code: String,
    pub message: String,
}

/// Every message body bifrost-rs exchanges.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum Payload {
    PingRequest(Ping),
    PingResponse(Ping),
    OnboardRequest(OnboardRequest),
    OnboardResponse(OnboardResponse),
    SignRequest(SignSession),
    SignResponse(SignResponse),
    EcdhRequest(EcdhPackage),
    EcdhResponse(EcdhPackage),
    Error(ErrorData),
}

impl Payload {
    /// The variant name as on the wire.
    pub fn type_name(&self) -> &'static str {
        match self {
            Payload::PingRequest(_) => "PingRequest",
            Payload::PingResponse(_) => "PingResponse",
            Payload::OnboardRequest(_) => "OnboardRequest",
            Payload::OnboardResponse(_) => "OnboardResponse",
            Payload::SignRequest(_) => "SignRequest",
            Payload::SignResponse(_) => "SignResponse",
            Payload::EcdhRequest(_) => "EcdhRequest",
            Payload::EcdhResponse(_) => "EcdhResponse",
            Payload::Error(_) => "Error",
        }
    }

    /// Responses answer a pending round of ours; requests start a new one.
    pub fn is_response(&self) -> bool {
        matches!(
            self,
            Payload::PingResponse(_)
                | Payload::OnboardResponse(_)
                | Payload::SignResponse(_)
                | Payload::EcdhResponse(_)
                | Payload::Error(_)
        )
    }

    /// Codec bounds (§4.4) and fixed versions.
    pub fn check_bounds(&self) -> Result<(), EnvelopeError> {
        fn cap(n: usize, max: usize, what: &'static str) -> Result<(), EnvelopeError> {
            if n > max {
                Err(EnvelopeError::TooMany(what))
            } else {
                Ok(())
            }
        }
        fn short(s: &str, what: &'static str) -> Result<(), EnvelopeError> {
            if s.len() > MAX_SHORT_FIELD {
                Err(EnvelopeError::TooLong(what))
            } else {
                Ok(())
            }
        }
        match self {
            Payload::PingRequest(p) | Payload::PingResponse(p) => {
                if p.version != PING_VERSION {
                    return Err(EnvelopeError::Version {
                        what: "ping",
                        got: p.version,
                    });
                }
                cap(p.advertised_nonces.len(), MAX_NONCES, "advertised_nonces")?;
                cap(
                    p.held_peer_nonce_codes.len(),
                    MAX_NONCES,
                    "held_peer_nonce_codes",
                )
            }
            Payload::OnboardRequest(o) => {
                if o.version != ONBOARD_VERSION {
                    return Err(EnvelopeError::Version {
                        what: "onboard",
                        got: o.version,
                    });
                }
                cap(o.nonces.len(), MAX_NONCES, "nonces")
            }
            Payload::OnboardResponse(o) => {
                cap(o.nonces.len(), MAX_NONCES, "nonces")?;
                cap(o.group.members.len(), MAX_MEMBERS, "group members")?;
                short(&o.group.group_name, "group_name")
            }
            Payload::SignRequest(s) => {
                cap(s.members.len(), MAX_MEMBERS, "members")?;
                cap(s.hashes.len(), MAX_HASHES, "hashes")?;
                cap(s.nonces.len(), MAX_MEMBERS, "nonces")?;
                for m in &s.nonces {
                    cap(m.entries.len(), MAX_HASHES, "nonce entries")?;
                }
                short(&s.kind, "kind")?;
                if s.content.as_ref().is_some_and(|c| c.len() > MAX_CONTENT) {
                    return Err(EnvelopeError::TooLong("content"));
                }
                Ok(())
            }
            Payload::SignResponse(r) => {
                cap(r.psigs.len(), MAX_HASHES, "psigs")?;
                cap(
                    r.replenish.as_ref().map_or(0, Vec::len),
                    MAX_NONCES,
                    "replenish",
                )
            }
            Payload::EcdhRequest(e) | Payload::EcdhResponse(e) => {
                cap(e.members.len(), MAX_MEMBERS, "members")?;
                cap(e.entries.len(), MAX_ECDH_TARGETS, "entries")
            }
            Payload::Error(e) => {
                short(&e.code, "code")?;
                short(&e.message, "message")
            }
        }
    }
}

/// The whole decrypted message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub request_id: String,
    pub sent_at: u64,
    pub payload: Payload,
}

impl Envelope {
    /// A new envelope with a random 16-byte request id (hex), as bifrost-rs makes them.
    pub fn new(request_id: [u8; 16], sent_at: u64, payload: Payload) -> Self {
        Self {
            request_id: hex::encode(request_id),
            sent_at,
            payload,
        }
    }

    /// The reply to `self`: same request id.
    pub fn reply(&self, sent_at: u64, payload: Payload) -> Self {
        Self {
            request_id: self.request_id.clone(),
            sent_at,
            payload,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parse a decrypted plaintext with every size check.
    pub fn parse(plaintext: &str) -> Result<Self, EnvelopeError> {
        if plaintext.len() > MAX_PLAINTEXT {
            return Err(EnvelopeError::TooLarge);
        }
        let env: Self =
            serde_json::from_str(plaintext).map_err(|e| EnvelopeError::Json(e.to_string()))?;
        if env.request_id.is_empty() || env.request_id.chars().count() > MAX_REQUEST_ID {
            return Err(EnvelopeError::RequestId);
        }
        env.payload.check_bounds()?;
        Ok(env)
    }
}
