//! Log output: journald when systemd connected our stderr to the journal, else stderr.
//!
//! Filter precedence: `RUST_LOG` (full `tracing` directive syntax), then the configured level
//! (LOG_LEVEL from the config, passed to [`init`]), then the `LOG_LEVEL` environment variable,
//! then `info`. An unusable value is skipped and reported once logging is up.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Where [`init`] sent the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTarget {
    Journald,
    Stderr,
    /// A global subscriber was already installed (e.g. `init` called twice); nothing changed.
    AlreadyInitialized,
}

/// Installs the global subscriber. Never panics; safe to call more than once.
pub fn init(level: Option<&str>) -> LogTarget {
    let rust_log = std::env::var("RUST_LOG").ok();
    let env_level = std::env::var("LOG_LEVEL").ok();
    let (filter, mut notes) = resolve_filter(rust_log.as_deref(), level, env_level.as_deref());

    let journal = if stderr_is_journal() {
        match tracing_journald::layer() {
            Ok(layer) => Some(layer.with_syslog_identifier("igloo".to_owned())),
            Err(e) => {
                notes.push(format!(
                    "JOURNAL_STREAM is set but journald is unreachable ({e}); logging to stderr"
                ));
                None
            }
        }
    } else {
        None
    };

    let (target, installed) = match journal {
        Some(layer) => (
            LogTarget::Journald,
            tracing_subscriber::registry()
                .with(filter)
                .with(layer)
                .try_init(),
        ),
        None => {
            let fmt = tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal());
            (
                LogTarget::Stderr,
                tracing_subscriber::registry()
                    .with(filter)
                    .with(fmt)
                    .try_init(),
            )
        }
    };
    if installed.is_err() {
        return LogTarget::AlreadyInitialized;
    }
    for note in notes {
        tracing::warn!("{note}");
    }
    target
}

/// Picks the filter by the precedence in the module docs; returns warnings about skipped values.
pub fn resolve_filter(
    rust_log: Option<&str>,
    level: Option<&str>,
    env_level: Option<&str>,
) -> (EnvFilter, Vec<String>) {
    let mut notes = Vec::new();
    if let Some(spec) = rust_log.map(str::trim).filter(|s| !s.is_empty()) {
        match EnvFilter::try_new(spec) {
            Ok(f) => return (f, notes),
            Err(e) => notes.push(format!("ignoring RUST_LOG={spec:?}: {e}")),
        }
    }
    for (name, value) in [("configured log level", level), ("LOG_LEVEL", env_level)] {
        if let Some(value) = value.map(str::trim).filter(|s| !s.is_empty()) {
            match level_directive(value) {
                Some(d) => return (EnvFilter::new(d), notes),
                None => notes.push(format!(
                    "ignoring {name} {value:?}: use one of trace, debug, info, warn, error, off"
                )),
            }
        }
    }
    (EnvFilter::new("info"), notes)
}

/// Maps a LOG_LEVEL value (case-insensitive, with common aliases) to a tracing level.
pub fn level_directive(value: &str) -> Option<&'static str> {
    Some(match value.to_ascii_lowercase().as_str() {
        "trace" => "trace",
        "debug" => "debug",
        "info" => "info",
        "warn" | "warning" => "warn",
        "error" | "fatal" => "error",
        "off" | "silent" | "none" => "off",
        _ => return None,
    })
}

/// systemd sets JOURNAL_STREAM to the `device:inode` of the stream it gave us; it only counts if
/// stderr still is that stream (a child with redirected stderr inherits the variable too).
fn stderr_is_journal() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Ok(var) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    match std::fs::File::from(fd).metadata() {
        Ok(meta) => journal_stream_matches(&var, meta.dev(), meta.ino()),
        Err(_) => false,
    }
}

/// Whether a JOURNAL_STREAM value names the file with `dev` and `ino`.
pub fn journal_stream_matches(var: &str, dev: u64, ino: u64) -> bool {
    let Some((d, i)) = var.trim().split_once(':') else {
        return false;
    };
    d.parse::<u64>().ok() == Some(dev) && i.parse::<u64>().ok() == Some(ino)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(f: EnvFilter) -> String {
        f.to_string()
    }

    #[test]
    fn precedence_rust_log_then_level_then_env_then_info() {
        let (f, n) = resolve_filter(Some("igloo=debug,warn"), Some("error"), Some("trace"));
        assert_eq!(spec(f), "igloo=debug,warn");
        assert!(n.is_empty());
        let (f, _) = resolve_filter(None, Some("ERROR"), Some("trace"));
        assert_eq!(spec(f), "error");
        let (f, _) = resolve_filter(Some(" "), None, Some("Warning"));
        assert_eq!(spec(f), "warn");
        let (f, n) = resolve_filter(None, None, None);
        assert_eq!(spec(f), "info");
        assert!(n.is_empty());
    }

    #[test]
    fn bad_values_are_skipped_with_a_note() {
        let (f, n) = resolve_filter(Some("igloo=[bad"), Some("loud"), Some("debug"));
        assert_eq!(spec(f), "debug");
        assert_eq!(n.len(), 2, "{n:?}");
        assert!(n[0].contains("RUST_LOG"));
        assert!(n[1].contains("\"loud\""));
    }

    #[test]
    fn journal_stream_parsing() {
        assert!(journal_stream_matches("8:12345", 8, 12345));
        assert!(!journal_stream_matches("8:12345", 8, 1));
        assert!(!journal_stream_matches("8", 8, 12345));
        assert!(!journal_stream_matches("x:y", 0, 0));
    }
}
