//! `igloo setup-code`: draws a fresh one-time setup code for creating the first admin and
//! prints it with the URL to open. Works whether the daemon runs or not (see
//! [`crate::auth::setup_code`] for why the code's hash lives in a file beside the store).

use std::io::Write;

use crate::auth::setup_code;
use crate::config::{Config, TlsMode};
use crate::store::{Store, StoreError, resolve_db_path};

/// Prints the code on `out`, problems on `err`. Exit codes: 0 printed, 1 not possible (an
/// admin exists, or the data directory cannot be written), 2 not applicable (headless).
pub fn run(config: &Config, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    if config.headless {
        let _ = writeln!(
            err,
            "error: headless mode has no users and no onboarding; authenticate with API_KEY"
        );
        return 2;
    }
    let file = resolve_db_path(&config.db_path);
    // With the daemon stopped, look whether an admin exists; while it runs, redb keeps the
    // store locked and the daemon itself ignores the code once an admin exists.
    let running = match Store::open(&config.db_path) {
        Ok(store) => {
            let users = store.user_count();
            let _ = store.close();
            match users {
                Ok(0) => false,
                Ok(_) => {
                    let _ = writeln!(
                        err,
                        "error: an admin already exists; a setup code only creates the first one (log in, or ask an admin)"
                    );
                    return 1;
                }
                Err(e) => {
                    let _ = writeln!(err, "error: store: {e}");
                    return 1;
                }
            }
        }
        Err(StoreError::Locked { .. }) => true,
        Err(e) => {
            let _ = writeln!(err, "error: store: {e}");
            return 1;
        }
    };
    let code = setup_code::generate();
    if let Err(e) = setup_code::store_code(&file, &code) {
        let _ = writeln!(
            err,
            "error: cannot write {}: {e} (run this as the user that runs igloo)",
            setup_code::code_path(&file).display()
        );
        return 1;
    }
    let url = setup_code::url(config.bind, config.tls != TlsMode::Off, &code);
    let _ = writeln!(out, "{}", code.as_str());
    let _ = writeln!(
        err,
        "One-time setup code (replaces any earlier one; expires when the first admin is created).\nOpen {url}{}",
        if running {
            ""
        } else {
            "\n(igloo is not running: start it, the code stays valid)"
        }
    );
    0
}
