//! The V2 credentials of the environment (SHARE_CRED + SHARE_PASSWORD [+ GROUP_CRED]), opened
//! once. Opening a package costs an Argon2id derivation (hundreds of milliseconds on a Pi),
//! and every node reload (settings saved, unlock, …) asks for the credentials again, so the
//! result is kept in memory beside the sealed values it came from.
//!
//! The cache is shared by every clone of the [`crate::config::Config`] it belongs to (the
//! live configuration clones the start-up one). It is keyed by a SHA-256 digest of the exact
//! inputs, so different values are opened again instead of answered from the cache. The
//! opened share secret zeroizes on drop and is redacted in `Debug`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::import::{ImportError, V2Credentials};

/// One opening: the digest of its inputs and what came out (errors too: the same inputs
/// fail the same way, so a wrong password is not re-derived on every reload).
struct Entry {
    key: Zeroizing<[u8; 32]>,
    result: Result<V2Credentials, ImportError>,
}

#[derive(Default)]
struct Inner {
    entry: Mutex<Option<Entry>>,
    /// How many times a package was actually opened (for tests and diagnostics).
    openings: AtomicU64,
}

/// The opened environment credentials, shared between clones. Cheap to clone.
#[derive(Clone, Default)]
pub struct OpenedEnv(Arc<Inner>);

impl std::fmt::Debug for OpenedEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedEnv")
            .field("openings", &self.openings())
            .finish_non_exhaustive()
    }
}

/// Digest of the inputs, each length-prefixed so that no two input tuples collide by
/// shifting bytes from one field to the next.
fn digest(package: &str, password: &str, group_json: Option<&str>) -> Zeroizing<[u8; 32]> {
    let mut h = Sha256::new();
    h.update(b"igloo/v2-env-credentials");
    for part in [Some(package), Some(password), group_json] {
        match part {
            Some(p) => {
                h.update([1u8]);
                h.update((p.len() as u64).to_le_bytes());
                h.update(p.as_bytes());
            }
            None => h.update([0u8]),
        }
    }
    Zeroizing::new(h.finalize().into())
}

impl OpenedEnv {
    /// The credentials for these inputs: from the cache when they were opened before,
    /// otherwise `open()` runs (blocking, CPU-heavy) and its result is kept.
    pub fn get_or_open(
        &self,
        package: &str,
        password: &str,
        group_json: Option<&str>,
        open: impl FnOnce() -> Result<V2Credentials, ImportError>,
    ) -> Result<V2Credentials, ImportError> {
        let key = digest(package, password, group_json);
        // Held while opening, so two reloads at once derive the key only once.
        let mut entry = self.0.entry.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = entry.as_ref()
            && bool::from(e.key.ct_eq(&*key))
        {
            return e.result.clone();
        }
        self.0.openings.fetch_add(1, Ordering::Relaxed);
        let result = open();
        *entry = Some(Entry {
            key,
            result: result.clone(),
        });
        result
    }

    /// How many times a package was opened (an Argon2id derivation each) through this cache.
    pub fn openings(&self) -> u64 {
        self.0.openings.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frostr::SecretScalar;
    use crate::keyset::V2Source;

    fn creds(b: u8) -> V2Credentials {
        V2Credentials {
            share_secret: SecretScalar::from_bytes(&[b; 32]).expect("scalar"),
            group: None,
            relays: vec![],
            peer_pk: None,
            device_name: None,
            policy_overrides: vec![],
            source: V2Source::Bfshare,
        }
    }

    #[test]
    fn opens_once_per_inputs_and_again_when_they_change() {
        let cache = OpenedEnv::default();
        let clone = cache.clone();
        let a = cache
            .get_or_open("bfshare1x", "pw", None, || Ok(creds(1)))
            .expect("opens");
        // A clone (as the live configuration is) shares the opened value.
        let b = clone
            .get_or_open("bfshare1x", "pw", None, || panic!("not opened again"))
            .expect("cached");
        assert_eq!(a, b);
        assert_eq!(cache.openings(), 1);
        // Any changed input is opened again and replaces the cached value.
        let c = cache
            .get_or_open("bfshare1x", "pw2", None, || Ok(creds(2)))
            .expect("reopened");
        assert_ne!(a, c);
        cache
            .get_or_open("bfshare1x", "pw2", Some("{}"), || Ok(creds(3)))
            .expect("reopened with a group");
        assert_eq!(cache.openings(), 3);
        // Errors are kept too: the same wrong password is not derived again.
        let e1 = cache.get_or_open("bfshare1y", "bad", None, || Err(ImportError::Password));
        let e2 = cache.get_or_open("bfshare1y", "bad", None, || panic!("not again"));
        assert_eq!(e1, e2);
        assert_eq!(cache.openings(), 4);
    }

    #[test]
    fn field_boundaries_matter() {
        assert_ne!(*digest("ab", "c", None), *digest("a", "bc", None));
        assert_ne!(*digest("a", "b", None), *digest("a", "b", Some("")));
    }

    #[test]
    fn debug_shows_no_secret() {
        let cache = OpenedEnv::default();
        cache
            .get_or_open("bfshare1x", "hunter2", None, || Ok(creds(7)))
            .expect("opens");
        let s = format!("{cache:?}");
        assert!(!s.contains("hunter2") && !s.contains("0707"), "{s}");
        assert!(s.contains("openings: 1"), "{s}");
    }
}
