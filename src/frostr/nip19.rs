//! NIP-19 `nsec1…` / `npub1…` (plain bech32, not bech32m).

use zeroize::Zeroizing;

use super::bech32m::{self, Variant};
use super::credentials::{CredentialError, decode_with_prefix, parse_scalar};
use super::types::SecretScalar;

pub const NSEC_HRP: &str = "nsec";
pub const NPUB_HRP: &str = "npub";

/// Encodes a secret key as `nsec1…`; the string is as secret as the key.
pub fn encode_nsec(secret: &SecretScalar) -> Zeroizing<String> {
    bech32m::encode(NSEC_HRP, secret.to_bytes().as_ref(), Variant::Bech32)
}

/// Decodes an `nsec1…` into a non-zero scalar below the curve order.
pub fn decode_nsec(s: &str) -> Result<SecretScalar, CredentialError> {
    let bytes = decode_with_prefix(s, NSEC_HRP, Variant::Bech32)?;
    if bytes.len() != 32 {
        return Err(CredentialError::WrongLength {
            what: "nsec key",
            expected: "32".into(),
            len: bytes.len(),
        });
    }
    parse_scalar(&bytes, "nsec secret key")
}

/// Encodes a 32-byte x-only public key as `npub1…`.
pub fn encode_npub(x_only: &[u8; 32]) -> String {
    String::clone(&bech32m::encode(NPUB_HRP, x_only, Variant::Bech32))
}

/// Decodes an `npub1…` into its x-only key, checking that it is on the curve.
pub fn decode_npub(s: &str) -> Result<[u8; 32], CredentialError> {
    let bytes = decode_with_prefix(s, NPUB_HRP, Variant::Bech32)?;
    let arr: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| CredentialError::WrongLength {
            what: "npub key",
            expected: "32".into(),
            len: bytes.len(),
        })?;
    let mut sec1 = [2u8; 33];
    sec1[1..].copy_from_slice(&arr);
    k256::PublicKey::from_sec1_bytes(&sec1).map_err(|_| CredentialError::PointNotOnCurve {
        field: "npub public key".into(),
    })?;
    Ok(arr)
}
