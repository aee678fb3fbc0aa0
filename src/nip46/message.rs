//! NIP-46 request and response messages (the decrypted `content` of a kind-24133 event):
//! `{id, method, params: [string]}` → `{id, result?, error?}`.
//!
//! The decoder never panics and bounds everything it keeps: a request is at most
//! [`MAX_REQUEST_BYTES`], its id [`MAX_ID_LEN`], at most [`MAX_PARAMS`] parameters.

use serde::{Deserialize, Serialize};

/// Largest decrypted request accepted (NIP-44 v2 carries at most 65 535 bytes).
pub const MAX_REQUEST_BYTES: usize = 65_535;
pub const MAX_ID_LEN: usize = 128;
pub const MAX_METHOD_LEN: usize = 32;
pub const MAX_PARAMS: usize = 8;
/// Most tags in an event to sign.
pub const MAX_TAGS: usize = 2_000;

/// The methods igloo answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Connect,
    Ping,
    GetPublicKey,
    SignEvent,
    Nip04Encrypt,
    Nip04Decrypt,
    Nip44Encrypt,
    Nip44Decrypt,
    GetRelays,
    SwitchRelays,
    /// Anything else (answered with an error).
    Other(String),
}

impl Method {
    pub fn parse(s: &str) -> Self {
        match s {
            "connect" => Method::Connect,
            "ping" => Method::Ping,
            "get_public_key" => Method::GetPublicKey,
            "sign_event" => Method::SignEvent,
            "nip04_encrypt" => Method::Nip04Encrypt,
            "nip04_decrypt" => Method::Nip04Decrypt,
            "nip44_encrypt" => Method::Nip44Encrypt,
            "nip44_decrypt" => Method::Nip44Decrypt,
            "get_relays" => Method::GetRelays,
            "switch_relays" => Method::SwitchRelays,
            other => Method::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Connect => "connect",
            Method::Ping => "ping",
            Method::GetPublicKey => "get_public_key",
            Method::SignEvent => "sign_event",
            Method::Nip04Encrypt => "nip04_encrypt",
            Method::Nip04Decrypt => "nip04_decrypt",
            Method::Nip44Encrypt => "nip44_encrypt",
            Method::Nip44Decrypt => "nip44_decrypt",
            Method::GetRelays => "get_relays",
            Method::SwitchRelays => "switch_relays",
            Method::Other(s) => s,
        }
    }
}

/// A decoded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub id: String,
    pub method: Method,
    pub params: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("the request is larger than {MAX_REQUEST_BYTES} bytes")]
    TooLarge,
    #[error("the request is not a JSON object with id, method and params: {0}")]
    Json(String),
    #[error("the request id is empty or longer than {MAX_ID_LEN} characters")]
    BadId,
    #[error("the method name is empty or longer than {MAX_METHOD_LEN} characters")]
    BadMethod,
    #[error("more than {MAX_PARAMS} params")]
    TooManyParams,
    #[error("{0}")]
    BadParams(String),
}

#[derive(Deserialize)]
struct RawRequest {
    id: String,
    method: String,
    #[serde(default)]
    params: Vec<serde_json::Value>,
}

/// Decodes a request. Parameters must be strings (NIP-46); numbers and booleans, which some
/// clients send, are taken as their JSON text.
pub fn parse_request(text: &str) -> Result<Request, MessageError> {
    if text.len() > MAX_REQUEST_BYTES {
        return Err(MessageError::TooLarge);
    }
    let raw: RawRequest = serde_json::from_str(text).map_err(|e| {
        let mut m = e.to_string();
        m.truncate(120);
        MessageError::Json(m)
    })?;
    if raw.id.is_empty() || raw.id.len() > MAX_ID_LEN {
        return Err(MessageError::BadId);
    }
    if raw.method.is_empty() || raw.method.len() > MAX_METHOD_LEN {
        return Err(MessageError::BadMethod);
    }
    if raw.params.len() > MAX_PARAMS {
        return Err(MessageError::TooManyParams);
    }
    let params = raw
        .params
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            serde_json::Value::Number(n) => Ok(n.to_string()),
            serde_json::Value::Bool(b) => Ok(b.to_string()),
            _ => Err(MessageError::BadParams("params must be strings".into())),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Request {
        id: raw.id,
        method: Method::parse(&raw.method),
        params,
    })
}

/// A response: exactly one of `result` and `error` is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Response {
    pub fn ok(id: &str, result: impl Into<String>) -> Self {
        Self {
            id: id.to_owned(),
            result: Some(result.into()),
            error: None,
        }
    }
    pub fn err(id: &str, error: impl Into<String>) -> Self {
        Self {
            id: id.to_owned(),
            result: None,
            error: Some(error.into()),
        }
    }
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"id":"","error":"internal"}"#.to_owned())
    }
}

/// The event a client asks to have signed (`sign_event` params[0]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UnsignedEvent {
    pub kind: u16,
    pub content: String,
    #[serde(default)]
    pub tags: Vec<Vec<String>>,
    pub created_at: u64,
    /// When present it must be the group key.
    #[serde(default)]
    pub pubkey: Option<String>,
}

/// Decodes `sign_event`'s parameter.
pub fn parse_unsigned_event(params: &[String]) -> Result<UnsignedEvent, MessageError> {
    let json = params
        .first()
        .ok_or_else(|| MessageError::BadParams("sign_event needs the event as params[0]".into()))?;
    let ev: UnsignedEvent = serde_json::from_str(json).map_err(|e| {
        let mut m = format!("params[0] is not an unsigned event: {e}");
        m.truncate(160);
        MessageError::BadParams(m)
    })?;
    if ev.tags.len() > MAX_TAGS {
        return Err(MessageError::BadParams(format!(
            "more than {MAX_TAGS} tags"
        )));
    }
    Ok(ev)
}

/// `[pubkey, text]` of the four cipher methods.
pub fn parse_cipher_params(params: &[String]) -> Result<([u8; 32], &str), MessageError> {
    match params {
        [pk, text, ..] => {
            let pk = super::uri::parse_pubkey_hex(pk.trim()).ok_or_else(|| {
                MessageError::BadParams("params[0] must be a 64-hex public key".into())
            })?;
            Ok((pk, text))
        }
        _ => Err(MessageError::BadParams(
            "expected [third_party_pubkey, text]".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_requests() {
        let r = parse_request(r#"{"id":"a-1","method":"sign_event","params":["{}"]}"#).unwrap();
        assert_eq!(r.method, Method::SignEvent);
        assert_eq!(r.params, vec!["{}"]);
        let r = parse_request(r#"{"id":"x","method":"frobnicate"}"#).unwrap();
        assert_eq!(r.method, Method::Other("frobnicate".into()));
        assert!(r.params.is_empty());
        assert_eq!(
            parse_request(r#"{"id":"","method":"ping","params":[]}"#),
            Err(MessageError::BadId)
        );
        assert!(matches!(parse_request("[1]"), Err(MessageError::Json(_))));
        assert!(matches!(
            parse_request(r#"{"id":"1","method":"ping","params":[{}]}"#),
            Err(MessageError::BadParams(_))
        ));
        let many = format!(
            r#"{{"id":"1","method":"ping","params":[{}]}}"#,
            ["\"a\""; MAX_PARAMS + 1].join(",")
        );
        assert_eq!(parse_request(&many), Err(MessageError::TooManyParams));
        assert_eq!(
            parse_request(&" ".repeat(MAX_REQUEST_BYTES + 1)),
            Err(MessageError::TooLarge)
        );
    }

    #[test]
    fn responses_serialize() {
        assert_eq!(
            Response::ok("1", "pong").to_json(),
            r#"{"id":"1","result":"pong"}"#
        );
        assert_eq!(
            Response::err("1", "no").to_json(),
            r#"{"id":"1","error":"no"}"#
        );
    }

    #[test]
    fn event_and_cipher_params() {
        let ev = parse_unsigned_event(&[
            r#"{"kind":1,"content":"hi","tags":[["t","x"]],"created_at":1700000000}"#.into(),
        ])
        .unwrap();
        assert_eq!(ev.kind, 1);
        assert!(parse_unsigned_event(&[]).is_err());
        assert!(parse_unsigned_event(&[r#"{"kind":70000}"#.into()]).is_err());
        let pk = "ab".repeat(32);
        assert_eq!(
            parse_cipher_params(&[pk.clone(), "t".into()]).unwrap().1,
            "t"
        );
        assert!(parse_cipher_params(&[pk]).is_err());
    }
}
