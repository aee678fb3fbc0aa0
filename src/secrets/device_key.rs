//! The device key file: `IGDK ‖ 0x01 ‖ key(32)` in the clear, or
//! `IGDK ‖ 0x02 ‖ salt(16) ‖ nonce(12) ‖ AES-256-GCM(key)(48)` wrapped under
//! Argon2id(passphrase, salt). Written atomically with mode 0600.

use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use rand::RngCore;
use zeroize::Zeroizing;

use super::SecretsError;

/// File name of the device key inside the data directory.
pub const DEVICE_KEY_FILE: &str = "device.key";

const MAGIC: &[u8; 4] = b"IGDK";
const PLAIN: u8 = 1;
const WRAPPED: u8 = 2;
const WRAP_AAD: &[u8] = b"igloo device key v1";
// OWASP's Argon2id minimum (19 MiB, 2 passes): unlocking happens rarely, but on a Pi.
const ARGON_M_KIB: u32 = 19 * 1024;
const ARGON_T: u32 = 2;

pub enum KeyFile {
    Plain(Zeroizing<[u8; 32]>),
    Wrapped {
        salt: [u8; 16],
        nonce: [u8; 12],
        ct: Vec<u8>,
    },
}

pub(super) fn generate() -> Zeroizing<[u8; 32]> {
    let mut k = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(k.as_mut());
    k
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SecretsError + '_ {
    move |source| SecretsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads the key file; `None` when it does not exist.
pub(super) fn read(path: &Path) -> Result<Option<KeyFile>, SecretsError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => Zeroizing::new(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path)(e)),
    };
    let bad = || SecretsError::BadKeyFile {
        path: path.to_path_buf(),
    };
    let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or_else(bad)?;
    match rest.split_first() {
        Some((&PLAIN, key)) if key.len() == 32 => {
            let mut k = Zeroizing::new([0u8; 32]);
            k.copy_from_slice(key);
            Ok(Some(KeyFile::Plain(k)))
        }
        Some((&WRAPPED, body)) if body.len() == 16 + 12 + 48 => {
            let mut salt = [0u8; 16];
            let mut nonce = [0u8; 12];
            salt.copy_from_slice(&body[..16]);
            nonce.copy_from_slice(&body[16..28]);
            Ok(Some(KeyFile::Wrapped {
                salt,
                nonce,
                ct: body[28..].to_vec(),
            }))
        }
        _ => Err(bad()),
    }
}

/// Writes the key file atomically (temporary file, fsync, rename) with mode 0600.
pub(super) fn write(path: &Path, file: &KeyFile) -> Result<(), SecretsError> {
    let mut bytes = Zeroizing::new(MAGIC.to_vec());
    match file {
        KeyFile::Plain(k) => {
            bytes.push(PLAIN);
            bytes.extend_from_slice(k.as_ref());
        }
        KeyFile::Wrapped { salt, nonce, ct } => {
            bytes.push(WRAPPED);
            bytes.extend_from_slice(salt);
            bytes.extend_from_slice(nonce);
            bytes.extend_from_slice(ct);
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let tmp = path.with_extension("key.tmp");
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io(&tmp))?;
        f.write_all(&bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    std::fs::rename(&tmp, path).map_err(io(path))?;
    Ok(())
}

fn kek(passphrase: &str, salt: &[u8; 16]) -> Result<Zeroizing<[u8; 32]>, SecretsError> {
    let params = argon2::Params::new(ARGON_M_KIB, ARGON_T, 1, Some(32))
        .map_err(|_| SecretsError::Encrypt)?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase.as_bytes(), salt, out.as_mut())
        .map_err(|_| SecretsError::Encrypt)?;
    Ok(out)
}

pub(super) fn wrap(key: &[u8; 32], passphrase: &str) -> Result<KeyFile, SecretsError> {
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let kek = kek(passphrase, &salt)?;
    let ct = Aes256Gcm::new(kek.as_ref().into())
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: key,
                aad: WRAP_AAD,
            },
        )
        .map_err(|_| SecretsError::Encrypt)?;
    Ok(KeyFile::Wrapped { salt, nonce, ct })
}

pub(super) fn unwrap(
    file: &KeyFile,
    passphrase: &str,
) -> Result<Zeroizing<[u8; 32]>, SecretsError> {
    let KeyFile::Wrapped { salt, nonce, ct } = file else {
        return Err(SecretsError::WrongPassphrase);
    };
    let kek = kek(passphrase, salt)?;
    let pt = Zeroizing::new(
        Aes256Gcm::new(kek.as_ref().into())
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: WRAP_AAD,
                },
            )
            .map_err(|_| SecretsError::WrongPassphrase)?,
    );
    let mut k = Zeroizing::new([0u8; 32]);
    if pt.len() != 32 {
        return Err(SecretsError::WrongPassphrase);
    }
    k.copy_from_slice(&pt);
    Ok(k)
}
