//! AES-256-GCM sealing of one stored value: `0x01 ‖ nonce(12) ‖ ciphertext ‖ tag(16)`, with
//! `igloo:v1:<table>:<key>` as associated data.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use rand::RngCore;
use zeroize::Zeroizing;

use super::SecretsError;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

fn aad(table: &str, key: &str) -> Vec<u8> {
    format!("igloo:v1:{table}:{key}").into_bytes()
}

pub(super) fn seal(
    device_key: &[u8; 32],
    table: &str,
    key: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, SecretsError> {
    let cipher = Aes256Gcm::new(device_key.into());
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let aad = aad(table, key);
    let ct = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| SecretsError::Encrypt)?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
    out.push(VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

pub(super) fn open(
    device_key: &[u8; 32],
    table: &str,
    key: &str,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
    let (&version, rest) = sealed.split_first().ok_or(SecretsError::Decrypt)?;
    if version != VERSION || rest.len() < NONCE_LEN + 16 {
        return Err(SecretsError::Decrypt);
    }
    let (nonce, ct) = rest.split_at(NONCE_LEN);
    let cipher = Aes256Gcm::new(device_key.into());
    let aad = aad(table, key);
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
        .map(Zeroizing::new)
        .map_err(|_| SecretsError::Decrypt)
}
