//! Secrets at rest: a 32-byte device key in a 0600 file beside the store, and AES-256-GCM
//! sealing of every secret value the store holds.
//!
//! * The device key lets the node start after a reboot with nobody logged in (DESIGN "Always
//!   on"). Whoever can read the data directory can read the secrets, unless the owner sets a
//!   passphrase: then the key file holds the device key wrapped under an Argon2id-derived key
//!   and the [`Vault`] stays locked until [`Vault::unlock`].
//! * Each sealed value is bound to its table and key through the AEAD's associated data, so a
//!   ciphertext copied to another row does not decrypt.

mod device_key;
mod sealed;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use zeroize::Zeroizing;

pub use device_key::{DEVICE_KEY_FILE, KeyFile};

/// Everything that can go wrong with the device key or a sealed value. Messages never contain
/// key material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("cannot read or write the device key {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the device key file {path} is damaged or not an igloo key file; restore it from a backup (without it the stored credentials cannot be decrypted)"
    )]
    BadKeyFile { path: PathBuf },
    #[error("the secrets are locked: unlock with the owner passphrase (POST /api/unlock)")]
    Locked,
    #[error("wrong passphrase")]
    WrongPassphrase,
    #[error("a stored secret could not be decrypted (wrong device key or damaged value)")]
    Decrypt,
    #[error("encryption failed")]
    Encrypt,
    #[error("the passphrase must be 8 to 1024 characters")]
    BadPassphrase,
}

enum State {
    Unlocked(Zeroizing<[u8; 32]>),
    Locked,
}

struct Inner {
    path: PathBuf,
    state: RwLock<State>,
    /// Whether the key file is wrapped with a passphrase.
    wrapped: RwLock<bool>,
}

/// Holds the device key (when unlocked). Cheap to clone; all clones share one state.
#[derive(Clone)]
pub struct Vault(Arc<Inner>);

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("path", &self.0.path)
            .field("locked", &self.is_locked())
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// Loads `<data_dir>/device.key`, creating a fresh random key (0600) when it is missing.
    /// A passphrase-wrapped key leaves the vault locked.
    pub fn open(data_dir: &Path) -> Result<Vault, SecretsError> {
        let path = data_dir.join(DEVICE_KEY_FILE);
        let (state, wrapped) = match device_key::read(&path)? {
            Some(KeyFile::Plain(key)) => (State::Unlocked(key), false),
            Some(KeyFile::Wrapped { .. }) => (State::Locked, true),
            None => {
                let key = device_key::generate();
                device_key::write(&path, &KeyFile::Plain(key.clone()))?;
                tracing::info!(path = %path.display(), "created a new device key");
                (State::Unlocked(key), false)
            }
        };
        Ok(Vault(Arc::new(Inner {
            path,
            state: RwLock::new(state),
            wrapped: RwLock::new(wrapped),
        })))
    }

    pub fn path(&self) -> &Path {
        &self.0.path
    }

    pub fn is_locked(&self) -> bool {
        matches!(
            *self.0.state.read().unwrap_or_else(|p| p.into_inner()),
            State::Locked
        )
    }

    /// Whether an owner passphrase protects the device key.
    pub fn has_passphrase(&self) -> bool {
        *self.0.wrapped.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Unwraps the device key with the owner passphrase. Blocking (Argon2id): call it from a
    /// blocking task. Unlocking an unlocked vault succeeds only with the right passphrase too.
    pub fn unlock(&self, passphrase: &str) -> Result<(), SecretsError> {
        let file = device_key::read(&self.0.path)?.ok_or_else(|| SecretsError::BadKeyFile {
            path: self.0.path.clone(),
        })?;
        let key = match file {
            KeyFile::Plain(key) => key,
            wrapped @ KeyFile::Wrapped { .. } => device_key::unwrap(&wrapped, passphrase)?,
        };
        *self.0.state.write().unwrap_or_else(|p| p.into_inner()) = State::Unlocked(key);
        Ok(())
    }

    /// Sets (Some) or removes (None) the owner passphrase; the vault must be unlocked. The key
    /// itself does not change, so nothing stored needs re-encrypting. Blocking (Argon2id).
    pub fn set_passphrase(&self, passphrase: Option<&str>) -> Result<(), SecretsError> {
        let key = self.key()?;
        let file = match passphrase {
            Some(p) => {
                if p.chars().count() < 8 || p.len() > 1024 {
                    return Err(SecretsError::BadPassphrase);
                }
                device_key::wrap(&key, p)?
            }
            None => KeyFile::Plain(key),
        };
        let wrapped = matches!(file, KeyFile::Wrapped { .. });
        device_key::write(&self.0.path, &file)?;
        *self.0.wrapped.write().unwrap_or_else(|p| p.into_inner()) = wrapped;
        Ok(())
    }

    fn key(&self) -> Result<Zeroizing<[u8; 32]>, SecretsError> {
        match &*self.0.state.read().unwrap_or_else(|p| p.into_inner()) {
            State::Unlocked(k) => Ok(k.clone()),
            State::Locked => Err(SecretsError::Locked),
        }
    }

    /// Encrypts `plaintext` for storage at (`table`, `key`).
    pub fn seal(&self, table: &str, key: &str, plaintext: &[u8]) -> Result<Vec<u8>, SecretsError> {
        sealed::seal(&*self.key()?, table, key, plaintext)
    }

    /// Decrypts a value sealed for (`table`, `key`).
    pub fn open_sealed(
        &self,
        table: &str,
        key: &str,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
        sealed::open(&*self.key()?, table, key, sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_created_0600_and_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let v = Vault::open(tmp.path()).unwrap();
        let sealed = v.seal("t", "k", b"secret").unwrap();
        let meta = std::fs::metadata(v.path()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let again = Vault::open(tmp.path()).unwrap();
        assert_eq!(&*again.open_sealed("t", "k", &sealed).unwrap(), b"secret");
    }

    #[test]
    fn sealed_value_is_bound_to_table_and_key() {
        let tmp = tempfile::tempdir().unwrap();
        let v = Vault::open(tmp.path()).unwrap();
        let sealed = v.seal("credentials", "user:1", b"bfshare1xyz").unwrap();
        assert!(!sealed.windows(11).any(|w| w == b"bfshare1xyz"));
        assert!(matches!(
            v.open_sealed("credentials", "user:2", &sealed),
            Err(SecretsError::Decrypt)
        ));
        assert!(matches!(
            v.open_sealed("other", "user:1", &sealed),
            Err(SecretsError::Decrypt)
        ));
        let mut bad = sealed.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(v.open_sealed("credentials", "user:1", &bad).is_err());
        assert!(v.open_sealed("credentials", "user:1", &[]).is_err());
    }

    #[test]
    fn passphrase_locks_until_unlocked() {
        let tmp = tempfile::tempdir().unwrap();
        let v = Vault::open(tmp.path()).unwrap();
        let sealed = v.seal("t", "k", b"secret").unwrap();
        assert!(v.set_passphrase(Some("short")).is_err());
        v.set_passphrase(Some("correct horse battery")).unwrap();
        assert!(v.has_passphrase());
        let file = std::fs::read(v.path()).unwrap();
        drop(v);

        let v = Vault::open(tmp.path()).unwrap();
        assert!(v.is_locked());
        assert!(matches!(
            v.open_sealed("t", "k", &sealed),
            Err(SecretsError::Locked)
        ));
        assert!(matches!(
            v.unlock("wrong passphrase"),
            Err(SecretsError::WrongPassphrase)
        ));
        assert!(v.is_locked());
        v.unlock("correct horse battery").unwrap();
        assert_eq!(&*v.open_sealed("t", "k", &sealed).unwrap(), b"secret");
        // The wrapped file does not hold the raw key.
        assert!(file.len() > 37);

        v.set_passphrase(None).unwrap();
        let v = Vault::open(tmp.path()).unwrap();
        assert!(!v.is_locked());
        assert_eq!(&*v.open_sealed("t", "k", &sealed).unwrap(), b"secret");
    }

    #[test]
    fn damaged_key_file_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(DEVICE_KEY_FILE), b"junk").unwrap();
        assert!(matches!(
            Vault::open(tmp.path()),
            Err(SecretsError::BadKeyFile { .. })
        ));
    }
}
