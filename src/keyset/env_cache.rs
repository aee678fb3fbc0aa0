//! The V2 credentials of the environment (SHARE_CRED + SHARE_PASSWORD [+ GROUP_CRED]), opened
//! once. Opening a package costs an Argon2id derivation (hundreds of milliseconds on a Pi),
//! and every node reload (settings saved, unlock, …) asks for the credentials again, so the
//! result is kept in memory beside the sealed values it came from.
//!
//! The control layer holds one cache per daemon, beside the start-up configuration whose
//! [`crate::config::V2EnvCredentials`] it opens (the configuration itself is plain data).
//! Those values are fixed for the life of the daemon (settings saved live never change
//! them), so there is nothing to key the cache by: new values come with a new daemon and a
//! new, empty cache. The opened share secret zeroizes on drop and
//! is redacted in `Debug`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use super::import::{ImportError, V2Credentials};

#[derive(Default)]
struct Inner {
    /// What opening gave, errors too: a wrong password is not re-derived on every reload.
    opened: OnceLock<Result<V2Credentials, ImportError>>,
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

impl OpenedEnv {
    /// The credentials: opened by `open()` (blocking, CPU-heavy) the first time, from the
    /// cache afterwards. Concurrent first callers wait for one opening.
    pub fn get_or_open(
        &self,
        open: impl FnOnce() -> Result<V2Credentials, ImportError>,
    ) -> Result<V2Credentials, ImportError> {
        self.0
            .opened
            .get_or_init(|| {
                self.0.openings.fetch_add(1, Ordering::Relaxed);
                open()
            })
            .clone()
    }

    /// The environment's V2 credentials `c`, opened (Argon2id) the first time only.
    pub fn open(&self, c: &crate::config::V2EnvCredentials) -> Result<V2Credentials, ImportError> {
        self.get_or_open(|| super::import::from_env(c))
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
    fn opens_once_and_clones_share_the_result() {
        let cache = OpenedEnv::default();
        let clone = cache.clone();
        let a = cache.get_or_open(|| Ok(creds(1))).expect("opens");
        // A clone (as the live configuration is) shares the opened value.
        let b = clone
            .get_or_open(|| panic!("not opened again"))
            .expect("cached");
        assert_eq!(a, b);
        assert_eq!(cache.openings(), 1);
        // A new configuration has its own cache.
        let other = OpenedEnv::default();
        assert_ne!(other.get_or_open(|| Ok(creds(2))).expect("opens"), a);
        assert_eq!(other.openings(), 1);
    }

    #[test]
    fn env_credentials_open_once_per_cache() {
        use clap::Parser;
        let cli = crate::config::Cli::try_parse_from([
            "igloo",
            "--share-cred",
            "bfprofile1xyz",
            "--share-password",
            "pw",
        ])
        .unwrap();
        let c = crate::config::Config::from_settings(cli.settings).unwrap();
        let v2 = c.v2_credentials.as_ref().expect("V2 selected");
        let cache = OpenedEnv::default();
        assert_eq!(cache.openings(), 0);
        // Not a real package: opening fails, once; the live configuration's clone of the
        // credentials answers from the same cache.
        assert!(cache.open(v2).is_err());
        assert!(
            cache
                .open(c.clone().v2_credentials.as_ref().unwrap())
                .is_err()
        );
        assert_eq!(cache.openings(), 1);
    }

    #[test]
    fn errors_are_kept_too() {
        let cache = OpenedEnv::default();
        let e1 = cache.get_or_open(|| Err(ImportError::Password));
        let e2 = cache.get_or_open(|| panic!("not again"));
        assert_eq!(e1, e2);
        assert_eq!(cache.openings(), 1);
    }

    #[test]
    fn debug_shows_no_secret() {
        let cache = OpenedEnv::default();
        cache.get_or_open(|| Ok(creds(7))).expect("opens");
        let s = format!("{cache:?}");
        assert!(!s.contains("0707"), "{s}");
        assert!(s.contains("openings: 1"), "{s}");
    }
}
