//! The one-time setup code: how the first admin is created on a machine where nobody set
//! `ADMIN_SECRET`, without a restart.
//!
//! When no user exists and `ADMIN_SECRET` is unset (database mode), the daemon draws a code at
//! start and logs it once with the URL to open; `igloo setup-code` draws a fresh one at any
//! time, also while the daemon runs. Only the SHA-256 of the code is kept, in a file beside the
//! store (`<store file>.setup-code`, mode 0600, replaced atomically); the code itself is never
//! stored. A new code replaces the old one; creating the first admin deletes the file.
//!
//! Why a file and not a row in the store: redb locks its file exclusively, so while the daemon
//! runs no other process can open the store, not even read-only. A file in the data directory
//! works the same whether the daemon runs or not, needs no endpoint (a loopback endpoint would
//! hand a code to any local process), and only whoever can write the data directory (the
//! operator, who can read `device.key` there anyway) can make one. The daemon reads the file on
//! each onboarding attempt (throttled), so a new code takes effect at once.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::Rng;
use zeroize::Zeroizing;

use super::tokens::{digest_eq, sha256_hex};

/// Characters of a code: lower-case letters and digits without look-alikes (0/o, 1/l/i).
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
/// Groups of [`GROUP`] characters, joined by '-': 20 characters, about 98 bits.
const GROUPS: usize = 4;
const GROUP: usize = 5;

/// The file that holds the hash of the current code, beside the store file `store_file`.
pub fn code_path(store_file: &Path) -> PathBuf {
    let mut name = store_file
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "igloo.redb".into());
    name.push(".setup-code");
    store_file.with_file_name(name)
}

/// A fresh random code such as `k7p2m-x9wqa-…` (20 characters in groups of 5).
pub fn generate() -> Zeroizing<String> {
    let mut rng = rand::rngs::OsRng;
    let mut s = Zeroizing::new(String::with_capacity(GROUPS * (GROUP + 1)));
    for g in 0..GROUPS {
        if g > 0 {
            s.push('-');
        }
        for _ in 0..GROUP {
            s.push(ALPHABET[rng.gen_range(0..ALPHABET.len())] as char);
        }
    }
    s
}

/// The form a code is hashed in: case, spaces and dashes do not matter when it is typed.
fn normalize(code: &str) -> Zeroizing<String> {
    Zeroizing::new(
        code.chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .flat_map(char::to_lowercase)
            .collect(),
    )
}

/// SHA-256 (hex) of a normalized code.
pub fn hash(code: &str) -> String {
    sha256_hex(&normalize(code))
}

/// Writes the hash of `code` as the current code (0600, atomic: a reader sees the old hash or
/// the new one). Any earlier code stops working.
pub fn store_code(store_file: &Path, code: &str) -> io::Result<()> {
    let path = code_path(store_file);
    let tmp = path.with_extension("setup-code.tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.set_permissions(fs::Permissions::from_mode(0o600))?;
    f.write_all(hash(code).as_bytes())?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, &path)?;
    if let Some(dir) = path.parent() {
        // Make the rename durable; a failure here loses nothing but the new code.
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Whether a code is pending (a hash file exists).
pub fn exists(store_file: &Path) -> bool {
    code_path(store_file).is_file()
}

/// Whether `presented` is the current code (constant-time comparison of the hashes).
pub fn verify(store_file: &Path, presented: &str) -> bool {
    let Ok(stored) = fs::read_to_string(code_path(store_file)) else {
        return false;
    };
    let stored = stored.trim();
    stored.len() == 64 && !normalize(presented).is_empty() && digest_eq(&hash(presented), stored)
}

/// Forgets the current code (the first admin exists). Missing is fine.
pub fn clear(store_file: &Path) -> io::Result<()> {
    match fs::remove_file(code_path(store_file)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The URL that opens the setup page with `code` filled in. `bind` is the address the daemon
/// listens on; an unspecified address (0.0.0.0, ::) is shown as a placeholder to replace.
pub fn url(bind: std::net::SocketAddr, tls: bool, code: &str) -> String {
    let scheme = if tls { "https" } else { "http" };
    let host = match bind.ip() {
        ip if ip.is_unspecified() => "<this machine's address>".to_string(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        ip => ip.to_string(),
    };
    format!("{scheme}://{host}:{}/?setup={code}", bind.port())
}

/// At daemon start (database mode): with no user yet and no `ADMIN_SECRET`, draws a new code,
/// stores its hash and returns it for the one log line; once a user exists, removes a stale
/// code file. Never fails start-up: a problem is logged and onboarding falls back to
/// `igloo setup-code`.
pub fn on_start(
    config: &crate::config::Config,
    store: &crate::store::Store,
) -> Option<Zeroizing<String>> {
    if config.headless || !config.auth.enabled {
        return None;
    }
    let file = store.path();
    match store.user_count() {
        Ok(0) => {}
        Ok(_) => {
            if let Err(e) = clear(file) {
                tracing::warn!(error = %e, "could not remove the used setup code file");
            }
            return None;
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not count users; no setup code drawn");
            return None;
        }
    }
    if config.auth.admin_secret.is_some() {
        return None;
    }
    let code = generate();
    match store_code(file, &code) {
        Ok(()) => Some(code),
        Err(e) => {
            tracing::warn!(error = %e, path = %code_path(file).display(), "could not write the setup code; run `igloo setup-code`");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_random_readable_and_verify_once_stored() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("igloo.redb");
        let a = generate();
        let b = generate();
        assert_ne!(*a, *b);
        assert_eq!(a.len(), 23);
        assert!(a.bytes().all(|c| c == b'-' || ALPHABET.contains(&c)));
        assert!(!verify(&file, &a), "nothing stored yet");
        store_code(&file, &a).unwrap();
        let path = code_path(&file);
        assert_eq!(path, tmp.path().join("igloo.redb.setup-code"));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let on_disk = fs::read_to_string(&path).unwrap();
        assert!(!on_disk.contains(a.as_str()), "only the hash is kept");
        assert!(verify(&file, &a));
        assert!(verify(
            &file,
            &format!(" {} ", a.to_uppercase().replace('-', ""))
        ));
        assert!(!verify(&file, &b));
        assert!(!verify(&file, ""));
        // A new code replaces the old one.
        store_code(&file, &b).unwrap();
        assert!(!verify(&file, &a));
        assert!(verify(&file, &b));
        assert!(exists(&file));
        clear(&file).unwrap();
        clear(&file).unwrap();
        assert!(!exists(&file));
        assert!(!verify(&file, &b));
    }

    #[test]
    fn url_names_the_address_to_open() {
        let u = |s: &str, tls| url(s.parse().unwrap(), tls, "abc");
        assert_eq!(
            u("127.0.0.1:8002", false),
            "http://127.0.0.1:8002/?setup=abc"
        );
        assert_eq!(
            u("0.0.0.0:8002", true),
            "https://<this machine's address>:8002/?setup=abc"
        );
        assert_eq!(u("[::1]:9", false), "http://[::1]:9/?setup=abc");
    }
}
