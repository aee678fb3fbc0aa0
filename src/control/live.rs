//! The settings `POST /api/env` may change while the daemon runs, typed and validated with
//! config.rs's own parsers, and the configuration in force ([`LiveConfig`]): the start-up
//! [`Config`] with the stored `env.<key>` values laid over it.
//!
//! Stored values win over flags and environment (as policies changed through the API win
//! over `PEER_POLICIES`); `POST /api/env/delete` removes one and the start-up value returns.
//! They are read again at every start, so a setting that cannot change live takes effect at
//! the next restart.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::config::policy::PolicySeed;
use crate::config::{self, Config};
use crate::store::{Store, StoreError};

/// How a changed setting takes effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// At once, without restarting the daemon (the node may be restarted).
    Live,
    /// At the next start of the daemon.
    Restart,
    /// Accepted for igloo-server compatibility; igloo has nothing it controls.
    Unused,
}

/// One validated setting.
#[derive(Clone, Debug, PartialEq)]
pub enum Setting {
    SessionTimeout(Duration),
    SignTimeout(Duration),
    RateLimitEnabled(bool),
    RateLimitWindow(Duration),
    RateLimitMax(u32),
    NodeRestartDelay(Duration),
    NodeMaxRetries(u32),
    NodeBackoffMultiplier(f64),
    NodeMaxRetryDelay(Duration),
    InitialConnectivityDelay(Duration),
    PingTimeout(Duration),
    AllowedOrigins(Vec<String>),
    PeerPolicies(Vec<PolicySeed>),
}

/// The keys [`Setting::parse`] knows, in igloo-server's order.
pub const SETTING_KEYS: &[&str] = &[
    "PEER_POLICIES",
    "SESSION_TIMEOUT",
    "FROSTR_SIGN_TIMEOUT",
    "RATE_LIMIT_ENABLED",
    "RATE_LIMIT_WINDOW",
    "RATE_LIMIT_MAX",
    "NODE_RESTART_DELAY",
    "NODE_MAX_RETRIES",
    "NODE_BACKOFF_MULTIPLIER",
    "NODE_MAX_RETRY_DELAY",
    "INITIAL_CONNECTIVITY_DELAY",
    "CONNECTIVITY_PING_TIMEOUT_MS",
    "ALLOWED_ORIGINS",
];

/// The store setting that holds `key`'s value.
pub fn setting_key(key: &str) -> String {
    format!("env.{}", key.to_ascii_lowercase())
}

/// How a change of `key` takes effect (`None`: not a setting).
pub fn effect_of(key: &str) -> Option<Effect> {
    Some(match key {
        "PEER_POLICIES"
        | "SESSION_TIMEOUT"
        | "FROSTR_SIGN_TIMEOUT"
        | "RATE_LIMIT_ENABLED"
        | "RATE_LIMIT_WINDOW"
        | "RATE_LIMIT_MAX"
        | "ALLOWED_ORIGINS" => Effect::Live,
        // The health runner takes its timers when the daemon starts.
        "NODE_RESTART_DELAY"
        | "NODE_MAX_RETRIES"
        | "NODE_BACKOFF_MULTIPLIER"
        | "NODE_MAX_RETRY_DELAY"
        | "CONNECTIVITY_PING_TIMEOUT_MS" => Effect::Restart,
        // igloo-server waited this long before its first connectivity check; igloo's node
        // checks with a start-up echo instead and never delays start-up.
        "INITIAL_CONNECTIVITY_DELAY" => Effect::Unused,
        _ => return None,
    })
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}
fn secs(v: u64) -> Duration {
    Duration::from_secs(v)
}

impl Setting {
    /// Validates `raw` for `key` with the rules of the matching flag. The error names the
    /// key, what is wrong and what is accepted.
    pub fn parse(key: &str, raw: &str) -> Result<Setting, String> {
        let raw = raw.trim();
        let parsed = match key {
            "SESSION_TIMEOUT" => {
                config::parse_session_timeout(raw).map(|v| Self::SessionTimeout(secs(v)))
            }
            "FROSTR_SIGN_TIMEOUT" => {
                config::parse_sign_timeout(raw).map(|v| Self::SignTimeout(ms(v)))
            }
            "RATE_LIMIT_ENABLED" => config::parse_bool(raw).map(Self::RateLimitEnabled),
            "RATE_LIMIT_WINDOW" => {
                config::parse_window(raw).map(|v| Self::RateLimitWindow(secs(v)))
            }
            "RATE_LIMIT_MAX" => config::parse_limit(raw).map(Self::RateLimitMax),
            "NODE_RESTART_DELAY" => {
                config::parse_restart_delay(raw).map(|v| Self::NodeRestartDelay(ms(v)))
            }
            "NODE_MAX_RETRIES" => config::parse_retries(raw).map(Self::NodeMaxRetries),
            "NODE_BACKOFF_MULTIPLIER" => {
                config::parse_multiplier(raw).map(Self::NodeBackoffMultiplier)
            }
            "NODE_MAX_RETRY_DELAY" => {
                config::parse_max_retry_delay(raw).map(|v| Self::NodeMaxRetryDelay(ms(v)))
            }
            "INITIAL_CONNECTIVITY_DELAY" => {
                config::parse_restart_delay(raw).map(|v| Self::InitialConnectivityDelay(ms(v)))
            }
            "CONNECTIVITY_PING_TIMEOUT_MS" => {
                config::parse_sign_timeout(raw).map(|v| Self::PingTimeout(ms(v)))
            }
            "ALLOWED_ORIGINS" => Ok(Self::AllowedOrigins(config::parse_origins(raw))),
            "PEER_POLICIES" => config::policy::parse_policy_seeds(raw).map(Self::PeerPolicies),
            _ => Err("not a setting that can be changed".to_string()),
        };
        parsed.map_err(|problem| format!("{key}: {problem}"))
    }

    /// Writes this setting into `cfg`.
    pub fn apply(&self, cfg: &mut Config) {
        match self {
            Self::SessionTimeout(d) => cfg.auth.session_timeout = *d,
            Self::SignTimeout(d) => cfg.sign_timeout = *d,
            Self::RateLimitEnabled(b) => cfg.rate_limits.enabled = *b,
            Self::RateLimitWindow(d) => {
                let rl = &mut cfg.rate_limits;
                // Buckets whose window defaulted to RATE_LIMIT_WINDOW follow it.
                for (_, w) in [&mut rl.env_write, &mut rl.recovery, &mut rl.ws_upgrade] {
                    if *w == rl.window {
                        *w = *d;
                    }
                }
                rl.window = *d;
            }
            Self::RateLimitMax(n) => cfg.rate_limits.max = *n,
            Self::NodeRestartDelay(d) => cfg.restart.initial = *d,
            Self::NodeMaxRetries(n) => cfg.restart.max_attempts = *n,
            Self::NodeBackoffMultiplier(f) => cfg.restart.multiplier = *f,
            Self::NodeMaxRetryDelay(d) => cfg.restart.max_delay = *d,
            Self::InitialConnectivityDelay(_) => {}
            Self::PingTimeout(d) => cfg.ping_timeout = *d,
            Self::AllowedOrigins(o) => cfg.auth.allowed_origins = o.clone(),
            Self::PeerPolicies(p) => cfg.peer_policies = p.clone(),
        }
    }
}

/// The stored settings, in [`SETTING_KEYS`] order. A stored value that no longer validates
/// (written by an older version, say) is logged and skipped: the start-up value stays.
pub fn stored_settings(store: &Store) -> Result<Vec<Setting>, StoreError> {
    let mut out = Vec::new();
    for key in SETTING_KEYS {
        let Some(raw) = store.get_setting(&setting_key(key))? else {
            continue;
        };
        match Setting::parse(key, &String::from_utf8_lossy(&raw)) {
            Ok(s) => out.push(s),
            Err(e) => tracing::warn!(error = %e, "ignoring a stored setting"),
        }
    }
    Ok(out)
}

/// `base` with `settings` applied in order.
pub fn overlay(base: &Config, settings: &[Setting]) -> Config {
    let mut cfg = base.clone();
    for s in settings {
        s.apply(&mut cfg);
    }
    cfg
}

/// The restart-only settings whose value in `current` differs from the one the daemon runs
/// with (`running`: the configuration it started with): they wait for the next start.
pub fn pending_restart(running: &Config, current: &Config) -> Vec<&'static str> {
    let (a, b) = (&running.restart, &current.restart);
    [
        ("NODE_RESTART_DELAY", a.initial != b.initial),
        ("NODE_MAX_RETRIES", a.max_attempts != b.max_attempts),
        ("NODE_BACKOFF_MULTIPLIER", a.multiplier != b.multiplier),
        ("NODE_MAX_RETRY_DELAY", a.max_delay != b.max_delay),
        (
            "CONNECTIVITY_PING_TIMEOUT_MS",
            running.ping_timeout != current.ping_timeout,
        ),
    ]
    .into_iter()
    .filter_map(|(k, differs)| differs.then_some(k))
    .collect()
}

/// The start-up configuration and the one in force. Cheap to read.
pub struct LiveConfig {
    base: Arc<Config>,
    current: RwLock<Arc<Config>>,
}

impl LiveConfig {
    /// No stored settings: the start-up configuration is the one in force.
    pub fn new(base: Arc<Config>) -> Self {
        Self {
            current: RwLock::new(base.clone()),
            base,
        }
    }

    /// The start-up configuration with the stored settings over it. Blocking (store). A store
    /// error is logged and the start-up configuration is used.
    pub fn load(base: Arc<Config>, store: &Store) -> Self {
        let live = Self::new(base);
        if let Err(e) = live.reload(store) {
            tracing::warn!(error = %e, "stored settings not read; using the start-up values");
        }
        live
    }

    /// The configuration in force now.
    pub fn current(&self) -> Arc<Config> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The configuration from flags, environment and defaults only.
    pub fn base(&self) -> &Arc<Config> {
        &self.base
    }

    /// Recomputes the configuration in force from the stored settings; returns the previous
    /// and the new one. Blocking (store).
    pub fn reload(&self, store: &Store) -> Result<(Arc<Config>, Arc<Config>), StoreError> {
        let settings = stored_settings(store)?;
        let next = Arc::new(overlay(&self.base, &settings));
        let mut cur = self.current.write().unwrap_or_else(|p| p.into_inner());
        let prev = std::mem::replace(&mut *cur, next.clone());
        Ok((prev, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn base(args: &[&str]) -> Config {
        let mut v = vec!["igloo"];
        v.extend_from_slice(args);
        Config::from_settings(config::Cli::try_parse_from(v).unwrap().settings).unwrap()
    }

    #[test]
    fn values_follow_the_flag_rules() {
        assert_eq!(
            Setting::parse("FROSTR_SIGN_TIMEOUT", "2500").unwrap(),
            Setting::SignTimeout(Duration::from_millis(2500))
        );
        let e = Setting::parse("FROSTR_SIGN_TIMEOUT", "999").unwrap_err();
        assert!(e.starts_with("FROSTR_SIGN_TIMEOUT: out of range"), "{e}");
        assert!(Setting::parse("SESSION_TIMEOUT", "59").is_err());
        assert!(Setting::parse("RATE_LIMIT_ENABLED", "maybe").is_err());
        assert!(Setting::parse("RATE_LIMIT_MAX", "0").is_err());
        assert!(Setting::parse("NODE_BACKOFF_MULTIPLIER", "11").is_err());
        assert!(Setting::parse("PEER_POLICIES", "{not json").is_err());
        assert!(Setting::parse("HOST_PORT", "1").is_err());
        assert_eq!(
            Setting::parse("ALLOWED_ORIGINS", " https://a.lan , @self ").unwrap(),
            Setting::AllowedOrigins(vec!["https://a.lan".into(), "@self".into()])
        );
        for k in SETTING_KEYS {
            assert!(effect_of(k).is_some(), "{k} has an effect");
        }
        assert_eq!(effect_of("GROUP_CRED"), None);
    }

    #[test]
    fn overlay_changes_only_what_is_set_and_windows_that_followed_the_default() {
        let b = base(&["--rate-limit-recovery-window", "60"]);
        let c = overlay(
            &b,
            &[
                Setting::RateLimitWindow(Duration::from_secs(30)),
                Setting::RateLimitMax(7),
                Setting::SessionTimeout(Duration::from_secs(120)),
                Setting::NodeMaxRetries(9),
            ],
        );
        assert_eq!(c.rate_limits.window, Duration::from_secs(30));
        assert_eq!(c.rate_limits.env_write.1, Duration::from_secs(30));
        assert_eq!(
            c.rate_limits.recovery.1,
            Duration::from_secs(60),
            "set explicitly"
        );
        assert_eq!(c.rate_limits.max, 7);
        assert_eq!(c.auth.session_timeout, Duration::from_secs(120));
        assert_eq!(c.restart.max_attempts, 9);
        assert_eq!(c.sign_timeout, b.sign_timeout);
        assert_eq!(c.auth.allowed_origins, b.auth.allowed_origins);
        assert_eq!(pending_restart(&b, &c), vec!["NODE_MAX_RETRIES"]);
        assert!(pending_restart(&c, &c).is_empty());
    }

    #[test]
    fn live_config_reads_the_store_and_falls_back_when_a_value_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("igloo.redb")).unwrap();
        let b = Arc::new(base(&[]));
        store
            .put_setting(&setting_key("FROSTR_SIGN_TIMEOUT"), b"4000")
            .unwrap();
        store
            .put_setting(&setting_key("RATE_LIMIT_MAX"), b"not a number")
            .unwrap();
        let live = LiveConfig::load(b.clone(), &store);
        assert_eq!(live.current().sign_timeout, Duration::from_millis(4000));
        assert_eq!(
            live.current().rate_limits.max,
            b.rate_limits.max,
            "invalid: skipped"
        );
        store
            .delete_setting(&setting_key("FROSTR_SIGN_TIMEOUT"))
            .unwrap();
        let (prev, next) = live.reload(&store).unwrap();
        assert_eq!(prev.sign_timeout, Duration::from_millis(4000));
        assert_eq!(next.sign_timeout, b.sign_timeout);
        assert_eq!(live.base().sign_timeout, b.sign_timeout);
    }
}
