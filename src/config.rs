//! Every setting of the daemon: environment name, CLI flag, default and validation.
//!
//! Settings are parsed once, at start-up, into [`Config`]. Precedence, highest first:
//! command-line flag, process environment, `.env` in the working directory, built-in default.
//! A bad value stops start-up with one line naming the variable, what is wrong with the value
//! and the accepted form (exit code 2).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Parser, ValueEnum};
use zeroize::Zeroize;

/// The default relay, as in igloo-server.
pub const DEFAULT_RELAY: &str = "wss://relay.primal.net";

pub mod policy;
pub mod relay;

/// What `igloo --help` says about the program (also the binary's parser in [`crate::cli`]).
pub const ABOUT: &str = "An always-on FROSTR signing node for Nostr";
pub const LONG_ABOUT: &str = "An always-on FROSTR signing node for Nostr: holds one share of a k-of-n FROST key, \
answers its group over Nostr relays, and serves a web UI, an HTTP API and an ephemeral relay.\n\n\
Every setting can be given as a flag, an environment variable, or a line in ./.env \
(precedence in that order).";

/// The settings as a command line, without subcommands (those are the binary's, in
/// [`crate::cli`]): what tests and library callers parse a [`Config`] from.
#[derive(Parser, Debug)]
#[command(name = "igloo", version, about = ABOUT, long_about = LONG_ABOUT)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
}

/// How the daemon serves HTTPS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TlsMode {
    /// Plain HTTP.
    Off,
    /// A certificate generated on first start and kept in the data directory.
    SelfSigned,
    /// Certificate and key from IGLOO_TLS_CERT / IGLOO_TLS_KEY.
    Files,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum NodeEnv {
    Development,
    Production,
    Test,
}

/// A secret string from the environment: never printed, wiped on drop.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}
impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}
impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}
impl FromStr for Secret {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.trim().to_string()))
    }
}

/// The raw settings as clap reads them (flags and environment). Validated into [`Config`].
#[derive(Args, Debug, Clone)]
pub struct Settings {
    // ---- server ----
    /// Address to bind (igloo-server: HOST_NAME). Use 0.0.0.0 to serve the LAN.
    #[arg(long, env = "HOST_NAME", default_value = "127.0.0.1", value_parser = parse_host, help_heading = "Server")]
    pub host_name: IpAddr,
    /// TCP port of the UI, the API and the relay.
    #[arg(long, env = "HOST_PORT", default_value_t = 8002, value_parser = parse_port, help_heading = "Server")]
    pub host_port: u16,
    /// Where data lives: a path with an extension is the store file, otherwise a directory holding igloo.redb.
    #[arg(
        long,
        env = "DB_PATH",
        default_value = "./data",
        help_heading = "Server"
    )]
    pub db_path: PathBuf,
    /// Headless mode: credentials from the environment, one API key, no UI, no users.
    #[arg(long, env = "HEADLESS", default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set, help_heading = "Server")]
    pub headless: bool,
    /// development, production or test (production: secure cookies, strict CORS, security headers).
    #[arg(
        long,
        env = "NODE_ENV",
        value_enum,
        default_value = "development",
        ignore_case = true,
        help_heading = "Server"
    )]
    pub node_env: NodeEnv,
    /// Worker threads of the runtime; 1 runs everything on one thread (best on one slow core).
    #[arg(long, env = "IGLOO_WORKER_THREADS", default_value_t = 1, value_parser = parse_threads, help_heading = "Server")]
    pub worker_threads: usize,
    /// HTTPS: off, self-signed or files [default: off on a loopback bind, self-signed otherwise].
    #[arg(
        long = "tls",
        env = "IGLOO_TLS",
        value_enum,
        ignore_case = true,
        help_heading = "Server"
    )]
    pub tls: Option<TlsMode>,
    /// PEM certificate chain for --tls files.
    #[arg(long, env = "IGLOO_TLS_CERT", help_heading = "Server")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls files.
    #[arg(long, env = "IGLOO_TLS_KEY", help_heading = "Server")]
    pub tls_key: Option<PathBuf>,
    /// Optional plain-HTTP port that redirects every request to HTTPS.
    #[arg(long, env = "IGLOO_HTTP_REDIRECT_PORT", value_parser = parse_port, help_heading = "Server")]
    pub http_redirect_port: Option<u16>,
    /// Seconds in-flight requests get to finish on shutdown.
    #[arg(long, env = "IGLOO_SHUTDOWN_TIMEOUT", default_value_t = 10, value_parser = parse_shutdown_secs, help_heading = "Server")]
    pub shutdown_timeout: u64,
    /// Log filter when RUST_LOG is unset (error, warn, info, debug, trace).
    #[arg(long, env = "LOG_LEVEL", help_heading = "Server")]
    pub log_level: Option<String>,

    // ---- credentials and node ----
    /// Group credential (bfgroup1…), headless mode.
    #[arg(
        long,
        env = "GROUP_CRED",
        hide_env_values = true,
        help_heading = "Node"
    )]
    pub group_cred: Option<Secret>,
    /// Share credential (bfshare1…), headless mode.
    #[arg(
        long,
        env = "SHARE_CRED",
        hide_env_values = true,
        help_heading = "Node"
    )]
    pub share_cred: Option<Secret>,
    // ---- V2M: V2 credentials at boot ----
    /// Password of a V2 package in SHARE_CRED (bfshare1…/bfonboard1…/bfprofile1…). Setting it
    /// selects FROSTR V2; GROUP_CRED is then the V2 group package JSON (needed with a bfshare).
    #[arg(
        long,
        env = "SHARE_PASSWORD",
        hide_env_values = true,
        help_heading = "Node"
    )]
    pub share_password: Option<Secret>,
    /// Display name of the keyset.
    #[arg(long, env = "GROUP_NAME", help_heading = "Node")]
    pub group_name: Option<String>,
    /// Relays: a JSON array or a comma/space separated list of ws:// or wss:// URLs.
    #[arg(long, env = "RELAYS", help_heading = "Node", default_value = DEFAULT_RELAY)]
    pub relays: String,
    /// Timeout of sign and ECDH requests, in milliseconds (1000–120000).
    #[arg(long, env = "FROSTR_SIGN_TIMEOUT", default_value_t = 30_000, value_parser = parse_sign_timeout, help_heading = "Node")]
    pub frostr_sign_timeout: u64,
    /// Keepalive ping timeout in milliseconds (1000–120000).
    #[arg(long, env = "CONNECTIVITY_PING_TIMEOUT_MS", default_value_t = 10_000, value_parser = parse_sign_timeout, help_heading = "Node")]
    pub connectivity_ping_timeout_ms: u64,
    /// First delay before restarting a failed node, in milliseconds (at most one hour).
    #[arg(long, env = "NODE_RESTART_DELAY", default_value_t = 30_000, value_parser = parse_restart_delay, help_heading = "Node")]
    pub node_restart_delay: u64,
    /// Restart attempts before giving up (1–100).
    #[arg(long, env = "NODE_MAX_RETRIES", default_value_t = 5, value_parser = parse_retries, help_heading = "Node")]
    pub node_max_retries: u32,
    /// Growth of the restart delay per attempt (1–10).
    #[arg(long, env = "NODE_BACKOFF_MULTIPLIER", default_value_t = 1.5, value_parser = parse_multiplier, help_heading = "Node")]
    pub node_backoff_multiplier: f64,
    /// Longest restart delay, in milliseconds (at most two hours).
    #[arg(long, env = "NODE_MAX_RETRY_DELAY", default_value_t = 300_000, value_parser = parse_max_retry_delay, help_heading = "Node")]
    pub node_max_retry_delay: u64,
    /// Watchdog restarts of an unhealthy node before giving up (1–100).
    #[arg(long, env = "NODE_HEALTH_MAX_RESTARTS", default_value_t = 3, value_parser = parse_retries, help_heading = "Node")]
    pub node_health_max_restarts: u32,
    /// First delay before a watchdog restart, in milliseconds (at most one hour).
    #[arg(long, env = "NODE_HEALTH_RESTART_DELAY", default_value_t = 60_000, value_parser = parse_restart_delay, help_heading = "Node")]
    pub node_health_restart_delay: u64,
    /// Growth of the watchdog restart delay per attempt (1–10).
    #[arg(long, env = "NODE_HEALTH_BACKOFF_MULTIPLIER", default_value_t = 2.0, value_parser = parse_multiplier, help_heading = "Node")]
    pub node_health_backoff_multiplier: f64,
    // ---- V2OPS: health-model timers ----
    /// How often the health model checks the node, in milliseconds (100 ms–1 hour).
    #[arg(long, env = "NODE_HEALTH_CHECK_INTERVAL", default_value_t = 30_000, value_parser = parse_health_ms, help_heading = "Node")]
    pub node_health_check_interval: u64,
    /// Idle time before a keepalive ping, in milliseconds (100 ms–1 hour).
    #[arg(long, env = "NODE_HEALTH_KEEPALIVE_AFTER", default_value_t = 45_000, value_parser = parse_health_ms, help_heading = "Node")]
    pub node_health_keepalive_after: u64,
    /// Idle time after which the node is reported unhealthy, in milliseconds (100 ms–1 hour).
    #[arg(long, env = "NODE_HEALTH_UNHEALTHY_AFTER", default_value_t = 120_000, value_parser = parse_health_ms, help_heading = "Node")]
    pub node_health_unhealthy_after: u64,
    /// Quiet time before the watchdog restarts the node, in milliseconds (100 ms–1 hour).
    #[arg(long, env = "NODE_HEALTH_RESTART_AFTER", default_value_t = 300_000, value_parser = parse_health_ms, help_heading = "Node")]
    pub node_health_restart_after: u64,
    // ---- NIP-46 remote signer ----
    /// How long a NIP-46 request outside an app's permissions waits for the owner's approval
    /// before the app is told it expired, in milliseconds (1000–3600000).
    #[arg(long, env = "NIP46_APPROVAL_TIMEOUT", default_value_t = 120_000, value_parser = parse_nip46_approval_timeout, help_heading = "NIP-46")]
    pub nip46_approval_timeout: u64,
    /// How long a `bunker://` link's one-time secret can be used to pair an app, in
    /// milliseconds (1000–86400000); the signer stops listening for it afterwards.
    #[arg(long, env = "NIP46_BUNKER_SECRET_TTL", default_value_t = 900_000, value_parser = parse_nip46_secret_ttl, help_heading = "NIP-46")]
    pub nip46_bunker_secret_ttl: u64,

    // ---- POLICY: share-leak guard ----
    /// What to do with a sign request a peer's policy allows: `auto` answers at once,
    /// `approve` queues it until approved through the API.
    #[arg(
        long,
        env = "SIGN_POLICY",
        default_value = "auto",
        help_heading = "Node"
    )]
    pub sign_policy: policy::SignPolicy,
    /// Per-peer policies: JSON array of {pubkey, allowSend?, allowReceive?, label?, note?,
    /// partialCap?}. Policies changed through the API win over these.
    #[arg(long, env = "PEER_POLICIES", help_heading = "Node")]
    pub peer_policies: Option<String>,

    // ---- auth ----
    /// Require authentication for the API (refused on a non-loopback bind unless IGLOO_INSECURE_OK=true).
    #[arg(long, env = "AUTH_ENABLED", default_value = "true", value_parser = parse_bool, action = clap::ArgAction::Set, help_heading = "Authentication")]
    pub auth_enabled: bool,
    /// Allow AUTH_ENABLED=false on a non-loopback bind.
    #[arg(long, env = "IGLOO_INSECURE_OK", default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set, help_heading = "Authentication")]
    pub insecure_ok: bool,
    /// Headless API key (X-API-Key or Authorization: Bearer).
    #[arg(
        long,
        env = "API_KEY",
        hide_env_values = true,
        help_heading = "Authentication"
    )]
    pub api_key: Option<Secret>,
    /// Basic-auth user name.
    #[arg(long, env = "BASIC_AUTH_USER", help_heading = "Authentication")]
    pub basic_auth_user: Option<String>,
    /// Basic-auth password.
    #[arg(
        long,
        env = "BASIC_AUTH_PASS",
        hide_env_values = true,
        help_heading = "Authentication"
    )]
    pub basic_auth_pass: Option<Secret>,
    /// Secret required for onboarding until the first user exists.
    #[arg(
        long,
        env = "ADMIN_SECRET",
        hide_env_values = true,
        help_heading = "Authentication"
    )]
    pub admin_secret: Option<Secret>,
    /// Onboarding without the admin secret (Umbrel, where the platform guards the page).
    #[arg(long, env = "SKIP_ADMIN_SECRET_VALIDATION", default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set, help_heading = "Authentication")]
    pub skip_admin_secret_validation: bool,
    /// 64 hex characters; accepted for igloo-server compatibility (sessions are random ids stored hashed).
    #[arg(long, env = "SESSION_SECRET", hide_env_values = true, value_parser = parse_session_secret, help_heading = "Authentication")]
    pub session_secret: Option<Secret>,
    /// Sliding session idle timeout in seconds.
    #[arg(long, env = "SESSION_TIMEOUT", default_value_t = 3600, value_parser = parse_session_timeout, help_heading = "Authentication")]
    pub session_timeout: u64,
    /// CORS and WebSocket origins: comma separated, `*`, or `@self`.
    #[arg(long, env = "ALLOWED_ORIGINS", help_heading = "Authentication")]
    pub allowed_origins: Option<String>,
    /// Trust X-Forwarded-For / X-Real-IP / CF-Connecting-IP (only behind your own proxy).
    #[arg(long, env = "TRUST_PROXY", default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set, help_heading = "Authentication")]
    pub trust_proxy: bool,

    // ---- rate limits ----
    /// Rate limiting on or off.
    #[arg(long, env = "RATE_LIMIT_ENABLED", default_value = "true", value_parser = parse_bool, action = clap::ArgAction::Set, help_heading = "Rate limits")]
    pub rate_limit_enabled: bool,
    /// Default window in seconds.
    #[arg(long, env = "RATE_LIMIT_WINDOW", default_value_t = 900, value_parser = parse_window, help_heading = "Rate limits")]
    pub rate_limit_window: u64,
    /// Requests per window for the auth, sign and crypto buckets [default: 300 headless, 600 otherwise].
    #[arg(long, env = "RATE_LIMIT_MAX", value_parser = parse_limit, help_heading = "Rate limits")]
    pub rate_limit_max: Option<u32>,
    /// Configuration writes per window.
    #[arg(long, env = "RATE_LIMIT_ENV_WRITE_MAX", default_value_t = 10, value_parser = parse_limit, help_heading = "Rate limits")]
    pub rate_limit_env_write_max: u32,
    /// Window of the env-write bucket in seconds [default: RATE_LIMIT_WINDOW].
    #[arg(long, env = "RATE_LIMIT_ENV_WRITE_WINDOW", value_parser = parse_window, help_heading = "Rate limits")]
    pub rate_limit_env_write_window: Option<u64>,
    /// Recovery attempts per window.
    #[arg(long, env = "RATE_LIMIT_RECOVERY_MAX", default_value_t = 3, value_parser = parse_limit, help_heading = "Rate limits")]
    pub rate_limit_recovery_max: u32,
    /// Window of the recovery bucket in seconds [default: RATE_LIMIT_WINDOW].
    #[arg(long, env = "RATE_LIMIT_RECOVERY_WINDOW", value_parser = parse_window, help_heading = "Rate limits")]
    pub rate_limit_recovery_window: Option<u64>,
    /// WebSocket upgrades per window and address.
    #[arg(long, env = "RATE_LIMIT_WS_UPGRADE_MAX", default_value_t = 30, value_parser = parse_limit, help_heading = "Rate limits")]
    pub rate_limit_ws_upgrade_max: u32,
    /// Window of the ws-upgrade bucket in seconds [default: RATE_LIMIT_WINDOW].
    #[arg(long, env = "RATE_LIMIT_WS_UPGRADE_WINDOW", value_parser = parse_window, help_heading = "Rate limits")]
    pub rate_limit_ws_upgrade_window: Option<u64>,
    /// Concurrent event-stream WebSockets per address.
    #[arg(long, env = "WS_MAX_CONNECTIONS_PER_IP", default_value_t = 5, value_parser = parse_limit, help_heading = "Rate limits")]
    pub ws_max_connections_per_ip: u32,
    /// Inbound event-stream messages per second per socket.
    #[arg(long, env = "WS_MSG_RATE", default_value_t = 20, value_parser = parse_limit, help_heading = "Rate limits")]
    pub ws_msg_rate: u32,
    /// Inbound message burst per socket [default: max(40, WS_MSG_RATE)].
    #[arg(long, env = "WS_MSG_BURST", value_parser = parse_limit, help_heading = "Rate limits")]
    pub ws_msg_burst: Option<u32>,

    // ---- built-in relay ----
    #[command(flatten, next_help_heading = "Built-in relay")]
    pub relay: relay::RelayConfig,
}

/// The validated configuration the daemon runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub db_path: PathBuf,
    pub headless: bool,
    pub node_env: NodeEnv,
    pub worker_threads: usize,
    pub tls: TlsMode,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub http_redirect_port: Option<u16>,
    pub shutdown_timeout: Duration,
    pub log_level: Option<String>,
    pub group_cred: Option<Secret>,
    pub share_cred: Option<Secret>,
    /// V2M: V2 credentials from SHARE_CRED + SHARE_PASSWORD (then `group_cred`/`share_cred`
    /// are `None`: v1 stays off). Opened once per daemon by the control layer.
    pub v2_credentials: Option<V2EnvCredentials>,
    pub group_name: Option<String>,
    pub relays: Vec<String>,
    pub sign_timeout: Duration,
    pub ping_timeout: Duration,
    pub restart: Backoff,
    pub health_restart: Backoff,
    /// V2OPS: timers of the health model (NODE_HEALTH_CHECK_INTERVAL, …).
    pub health_timers: HealthTimers,
    /// How long a NIP-46 request waits for approval (NIP46_APPROVAL_TIMEOUT).
    pub nip46_approval_timeout: Duration,
    /// How long a bunker:// secret can pair an app (NIP46_BUNKER_SECRET_TTL).
    pub nip46_bunker_secret_ttl: Duration,
    // ---- POLICY: share-leak guard ----
    pub sign_policy: policy::SignPolicy,
    pub peer_policies: Vec<policy::PolicySeed>,
    pub auth: AuthConfig,
    pub rate_limits: RateLimits,
    pub relay: relay::RelayConfig,
}

/// Restart policy: delay = min(initial · multiplier^attempt, max), at most `max_attempts`.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub multiplier: f64,
    pub max_delay: Duration,
    pub max_attempts: u32,
}

impl Backoff {
    /// The delay before attempt `n` (0-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = self.multiplier.powi(attempt.min(64) as i32);
        let ms = (self.initial.as_millis() as f64 * factor).min(self.max_delay.as_millis() as f64);
        Duration::from_millis(ms as u64)
    }
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub enabled: bool,
    pub api_key: Option<Secret>,
    pub basic_user: Option<String>,
    pub basic_pass: Option<Secret>,
    pub admin_secret: Option<Secret>,
    pub skip_admin_secret_validation: bool,
    pub session_secret: Option<Secret>,
    pub session_timeout: Duration,
    pub allowed_origins: Vec<String>,
    pub trust_proxy: bool,
}

#[derive(Debug, Clone)]
pub struct RateLimits {
    pub enabled: bool,
    pub window: Duration,
    pub max: u32,
    pub env_write: (u32, Duration),
    pub recovery: (u32, Duration),
    pub ws_upgrade: (u32, Duration),
    pub ws_max_connections_per_ip: u32,
    pub ws_msg_rate: u32,
    pub ws_msg_burst: u32,
}

// ---- V2OPS: health-model timers ----

/// When the health model pings, reports the node unhealthy and restarts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthTimers {
    pub check_interval: Duration,
    pub keepalive_after: Duration,
    pub unhealthy_after: Duration,
    pub restart_after: Duration,
}

impl HealthTimers {
    /// Keepalive before unhealthy, unhealthy no later than the restart: otherwise the
    /// watchdog would restart a node it never reported, or never ping before giving up.
    fn from_settings(s: &Settings) -> Result<Self, ConfigError> {
        let t = Self {
            check_interval: Duration::from_millis(s.node_health_check_interval),
            keepalive_after: Duration::from_millis(s.node_health_keepalive_after),
            unhealthy_after: Duration::from_millis(s.node_health_unhealthy_after),
            restart_after: Duration::from_millis(s.node_health_restart_after),
        };
        if t.keepalive_after >= t.unhealthy_after {
            return Err(ConfigError {
                var: "NODE_HEALTH_KEEPALIVE_AFTER",
                problem: "must be shorter than NODE_HEALTH_UNHEALTHY_AFTER".into(),
            });
        }
        if t.unhealthy_after > t.restart_after {
            return Err(ConfigError {
                var: "NODE_HEALTH_UNHEALTHY_AFTER",
                problem: "must not be longer than NODE_HEALTH_RESTART_AFTER".into(),
            });
        }
        Ok(t)
    }
}

fn parse_health_ms(s: &str) -> Result<u64, String> {
    int_in(s, 100u64, 3_600_000, "milliseconds")
}

/// A start-up configuration error: one line, naming the variable.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

impl Config {
    /// Validates the cross-field rules and derives defaults that depend on other settings.
    pub fn from_settings(s: Settings) -> Result<Config, ConfigError> {
        let health_timers = HealthTimers::from_settings(&s)?;
        let bind = SocketAddr::new(s.host_name, s.host_port);
        let tls = s.tls.unwrap_or(if s.host_name.is_loopback() {
            TlsMode::Off
        } else {
            TlsMode::SelfSigned
        });
        if tls == TlsMode::Files && (s.tls_cert.is_none() || s.tls_key.is_none()) {
            return Err(ConfigError {
                var: "IGLOO_TLS",
                problem:
                    "\"files\" needs both IGLOO_TLS_CERT and IGLOO_TLS_KEY (paths to PEM files)"
                        .into(),
            });
        }
        if s.http_redirect_port.is_some() && tls == TlsMode::Off {
            return Err(ConfigError {
                var: "IGLOO_HTTP_REDIRECT_PORT",
                problem: "a redirect to HTTPS needs TLS; set IGLOO_TLS to self-signed or files"
                    .into(),
            });
        }
        if !s.auth_enabled && !s.host_name.is_loopback() && !s.insecure_ok {
            return Err(ConfigError {
                var: "AUTH_ENABLED",
                problem: format!(
                    "\"false\" on the non-loopback address {} would expose the signer to the network; \
                     set IGLOO_INSECURE_OK=true to allow it",
                    s.host_name
                ),
            });
        }
        let relays = parse_relays(&s.relays).map_err(|problem| ConfigError {
            var: "RELAYS",
            problem,
        })?;
        let group_cred = s.group_cred.filter(|c| !c.expose().is_empty());
        let share_cred = s.share_cred.filter(|c| !c.expose().is_empty());
        // V2M: a V2 package in SHARE_CRED (or SHARE_PASSWORD) selects V2; v1 is unchanged.
        let (group_cred, share_cred, v2_credentials) = V2EnvCredentials::split(
            group_cred,
            share_cred,
            s.share_password.filter(|p| !p.expose().is_empty()),
        )?;
        if group_cred.is_some() != share_cred.is_some() {
            return Err(ConfigError {
                var: if group_cred.is_some() {
                    "SHARE_CRED"
                } else {
                    "GROUP_CRED"
                },
                problem: "GROUP_CRED and SHARE_CRED must be set together".into(),
            });
        }
        let window = Duration::from_secs(s.rate_limit_window);
        let w = |o: Option<u64>| o.map(Duration::from_secs).unwrap_or(window);
        let allowed_origins = parse_origins(s.allowed_origins.as_deref().unwrap_or(""));
        let admin_secret = s
            .admin_secret
            .filter(|a| !a.expose().is_empty() && a.expose() != "REQUIRED_ADMIN_SECRET_NOT_SET");
        Ok(Config {
            bind,
            db_path: s.db_path,
            headless: s.headless,
            node_env: s.node_env,
            worker_threads: s.worker_threads,
            tls,
            tls_cert: s.tls_cert,
            tls_key: s.tls_key,
            http_redirect_port: s.http_redirect_port,
            shutdown_timeout: Duration::from_secs(s.shutdown_timeout),
            log_level: s.log_level,
            group_cred,
            share_cred,
            v2_credentials,
            group_name: s.group_name,
            relays,
            sign_timeout: Duration::from_millis(s.frostr_sign_timeout),
            ping_timeout: Duration::from_millis(s.connectivity_ping_timeout_ms),
            restart: Backoff {
                initial: Duration::from_millis(s.node_restart_delay),
                multiplier: s.node_backoff_multiplier,
                max_delay: Duration::from_millis(s.node_max_retry_delay),
                max_attempts: s.node_max_retries,
            },
            health_restart: Backoff {
                initial: Duration::from_millis(s.node_health_restart_delay),
                multiplier: s.node_health_backoff_multiplier,
                max_delay: Duration::from_secs(3600),
                max_attempts: s.node_health_max_restarts,
            },
            health_timers,
            nip46_approval_timeout: Duration::from_millis(s.nip46_approval_timeout),
            nip46_bunker_secret_ttl: Duration::from_millis(s.nip46_bunker_secret_ttl),
            // ---- POLICY: share-leak guard ----
            sign_policy: s.sign_policy,
            peer_policies: policy::parse_policy_seeds(s.peer_policies.as_deref().unwrap_or(""))
                .map_err(|problem| ConfigError {
                    var: "PEER_POLICIES",
                    problem,
                })?,
            auth: AuthConfig {
                enabled: s.auth_enabled,
                api_key: s.api_key.filter(|k| !k.expose().is_empty()),
                basic_user: s.basic_auth_user.filter(|u| !u.is_empty()),
                basic_pass: s.basic_auth_pass.filter(|p| !p.expose().is_empty()),
                admin_secret,
                skip_admin_secret_validation: s.skip_admin_secret_validation,
                session_secret: s.session_secret,
                session_timeout: Duration::from_secs(s.session_timeout),
                allowed_origins,
                trust_proxy: s.trust_proxy,
            },
            rate_limits: RateLimits {
                enabled: s.rate_limit_enabled,
                window,
                max: s
                    .rate_limit_max
                    .unwrap_or(if s.headless { 300 } else { 600 }),
                env_write: (s.rate_limit_env_write_max, w(s.rate_limit_env_write_window)),
                recovery: (s.rate_limit_recovery_max, w(s.rate_limit_recovery_window)),
                ws_upgrade: (
                    s.rate_limit_ws_upgrade_max,
                    w(s.rate_limit_ws_upgrade_window),
                ),
                ws_max_connections_per_ip: s.ws_max_connections_per_ip,
                ws_msg_rate: s.ws_msg_rate,
                ws_msg_burst: s.ws_msg_burst.unwrap_or(s.ws_msg_rate.max(40)),
            },
            relay: s.relay,
        })
    }

    pub fn is_production(&self) -> bool {
        self.node_env == NodeEnv::Production
    }

    pub fn has_env_credentials(&self) -> bool {
        self.group_cred.is_some() && self.share_cred.is_some()
    }
}

// ---- V2M: V2 credentials at boot ----

/// V2 credentials from the environment, checked but still sealed (opening costs an Argon2id
/// derivation; the daemon does it once at start).
#[derive(Debug, Clone)]
pub struct V2EnvCredentials {
    /// `bfshare1…`, `bfonboard1…` or `bfprofile1…` (SHARE_CRED).
    pub package: Secret,
    /// SHARE_PASSWORD.
    pub password: Secret,
    /// V2 group package JSON (GROUP_CRED); required with a bfshare.
    pub group_json: Option<String>,
}

impl V2EnvCredentials {
    /// Sorts SHARE_CRED / GROUP_CRED / SHARE_PASSWORD into v1 or V2 credentials.
    #[allow(clippy::type_complexity)]
    fn split(
        group: Option<Secret>,
        share: Option<Secret>,
        password: Option<Secret>,
    ) -> Result<(Option<Secret>, Option<Secret>, Option<Self>), ConfigError> {
        let lower = share
            .as_ref()
            .map(|s| s.expose().to_ascii_lowercase())
            .unwrap_or_default();
        let v2_prefix = lower.starts_with("bfprofile1") || lower.starts_with("bfonboard1");
        if !v2_prefix && password.is_none() {
            return Ok((group, share, None));
        }
        let Some(package) = share else {
            return Err(ConfigError {
                var: "SHARE_CRED",
                problem: "SHARE_PASSWORD is set but SHARE_CRED (the V2 bfshare, bfonboard or bfprofile) is not".into(),
            });
        };
        let Some(password) = password else {
            return Err(ConfigError {
                var: "SHARE_PASSWORD",
                problem: "SHARE_CRED holds a V2 package; set SHARE_PASSWORD to its password".into(),
            });
        };
        if !(lower.starts_with("bfshare1") || v2_prefix) {
            return Err(ConfigError {
                var: "SHARE_CRED",
                problem: "with SHARE_PASSWORD, SHARE_CRED must be a V2 bfshare1…, bfonboard1… or bfprofile1…".into(),
            });
        }
        let group_json = group.map(|g| g.expose().to_owned());
        if let Some(g) = &group_json {
            crate::frostr_v2::GroupPackage::from_json(g).map_err(|e| ConfigError {
                var: "GROUP_CRED",
                problem: format!(
                    "with a V2 SHARE_CRED, GROUP_CRED must be the V2 group package JSON ({e})"
                ),
            })?;
        } else if lower.starts_with("bfshare1") {
            return Err(ConfigError {
                var: "GROUP_CRED",
                problem: "a V2 bfshare does not carry the group: set GROUP_CRED to the V2 group package JSON".into(),
            });
        }
        Ok((
            None,
            None,
            Some(Self {
                package,
                password,
                group_json,
            }),
        ))
    }
}

/// A clap error as the process exit code and the message to print: 0 for help and version,
/// 2 (one line naming the environment variable) for a bad value, 2 otherwise.
pub fn cli_error(e: &clap::Error) -> (i32, String) {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => (0, e.to_string()),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue => (2, one_line_error(e)),
        _ => (2, e.to_string()),
    }
}

/// Renders a clap value error as one line that names the environment variable.
fn one_line_error(e: &clap::Error) -> String {
    use clap::CommandFactory;
    use clap::error::{ContextKind, ContextValue};
    let arg = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s.clone(),
        _ => String::new(),
    };
    let value = match e.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(s)) => s.clone(),
        _ => String::new(),
    };
    // "--host-port <HOST_PORT>" → find the argument to name its environment variable.
    let long = arg
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_start_matches('-');
    let cmd = Cli::command();
    let env = cmd
        .get_arguments()
        .find(|a| a.get_long() == Some(long))
        .and_then(|a| a.get_env())
        .map(|v| v.to_string_lossy().into_owned())
        .unwrap_or_else(|| arg.clone());
    // clap's own rendering is "error: invalid value 'x' for '--flag <X>': <reason>\n\nFor more…";
    // keep the reason, drop the rest.
    let rendered = e.to_string();
    let first = rendered.lines().next().unwrap_or("");
    let reason = match first.rsplit_once("': ") {
        Some((_, r)) => r.to_string(),
        None => match rendered.lines().find_map(|l| {
            l.trim()
                .strip_prefix("[possible values: ")
                .and_then(|v| v.strip_suffix(']'))
        }) {
            Some(values) => format!("expected one of: {values}"),
            None => first.trim_start_matches("error: ").to_string(),
        },
    };
    format!("error: {env} (--{long}): invalid value {value:?}: {reason}")
}

/// Reads `RELAYS`: a JSON array, or URLs separated by commas and/or whitespace.
pub fn parse_relays(raw: &str) -> Result<Vec<String>, String> {
    let raw = raw.trim();
    let items: Vec<String> = if raw.starts_with('[') {
        serde_json::from_str::<Vec<String>>(raw)
            .map_err(|e| format!("not a JSON array of strings ({e}); expected [\"wss://…\", …] or a comma separated list"))?
    } else {
        raw.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    };
    let mut out: Vec<String> = Vec::new();
    for item in items {
        let url = item.trim().trim_end_matches('/').to_string();
        let rest = url
            .strip_prefix("wss://")
            .or_else(|| url.strip_prefix("ws://"))
            .ok_or_else(|| {
                format!(
                    "{item:?} is not a relay URL; expected ws://host[:port] or wss://host[:port]"
                )
            })?;
        let host = rest.split(['/', '?']).next().unwrap_or("");
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(format!(
                "{item:?} has no host; expected ws://host[:port] or wss://host[:port]"
            ));
        }
        if !out.contains(&url) {
            out.push(url);
        }
    }
    if out.is_empty() {
        return Err("no relay given; expected at least one ws:// or wss:// URL".into());
    }
    Ok(out)
}

// ---- value parsers: each error says what is wrong and what is accepted ----

/// Reads `ALLOWED_ORIGINS`: comma separated entries (exact origins, `*`, `@self`).
pub fn parse_origins(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(String::from)
        .collect()
}

pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err("expected true or false (also 1/0, yes/no, on/off)".into()),
    }
}

fn parse_host(s: &str) -> Result<IpAddr, String> {
    let s = s.trim();
    match s {
        "localhost" => Ok(IpAddr::from([127, 0, 0, 1])),
        _ => s
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| {
                "expected an IP address to bind, e.g. 127.0.0.1, 0.0.0.0, :: or localhost".into()
            }),
    }
}

fn int_in<T>(s: &str, min: T, max: T, what: &str) -> Result<T, String>
where
    T: FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let v: T = s
        .trim()
        .parse()
        .map_err(|_| format!("not a whole number; expected {what} from {min} to {max}"))?;
    if v < min || v > max {
        return Err(format!("out of range; expected {what} from {min} to {max}"));
    }
    Ok(v)
}

fn parse_port(s: &str) -> Result<u16, String> {
    int_in(s, 0u16, 65535, "a TCP port")
}
fn parse_threads(s: &str) -> Result<usize, String> {
    int_in(s, 1usize, 256, "a thread count")
}
fn parse_shutdown_secs(s: &str) -> Result<u64, String> {
    int_in(s, 0u64, 600, "seconds")
}
pub fn parse_sign_timeout(s: &str) -> Result<u64, String> {
    int_in(s, 1_000u64, 120_000, "milliseconds")
}
/// One second to one hour: shorter than a person can answer is useless, longer keeps an
/// app's request (and its queue slot) hanging.
pub fn parse_nip46_approval_timeout(s: &str) -> Result<u64, String> {
    int_in(s, 1_000u64, 3_600_000, "milliseconds")
}
/// One second to a day: a link is meant to be pasted into an app now, not kept.
pub fn parse_nip46_secret_ttl(s: &str) -> Result<u64, String> {
    int_in(s, 1_000u64, 86_400_000, "milliseconds")
}
pub fn parse_restart_delay(s: &str) -> Result<u64, String> {
    int_in(s, 0u64, 3_600_000, "milliseconds")
}
pub fn parse_max_retry_delay(s: &str) -> Result<u64, String> {
    int_in(s, 0u64, 7_200_000, "milliseconds")
}
pub fn parse_retries(s: &str) -> Result<u32, String> {
    int_in(s, 1u32, 100, "a count")
}
pub fn parse_session_timeout(s: &str) -> Result<u64, String> {
    int_in(s, 60u64, 30 * 86_400, "seconds")
}
pub fn parse_window(s: &str) -> Result<u64, String> {
    int_in(s, 1u64, 86_400, "seconds")
}
pub fn parse_limit(s: &str) -> Result<u32, String> {
    int_in(s, 1u32, 1_000_000, "a count")
}
pub fn parse_multiplier(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| "not a number; expected a factor from 1 to 10, e.g. 1.5".to_string())?;
    if !(1.0..=10.0).contains(&v) {
        return Err("out of range; expected a factor from 1 to 10, e.g. 1.5".into());
    }
    Ok(v)
}
fn parse_session_secret(s: &str) -> Result<Secret, String> {
    let s = s.trim();
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(Secret(s.to_string()))
    } else {
        Err("expected 64 hexadecimal characters (32 random bytes)".into())
    }
}

/// Whether DB_PATH names the store file itself (else a directory holding `igloo.redb`).
/// An existing directory is a directory whatever its name (`mktemp -d`'s `tmp.Xy12`, an
/// `igloo.d`); for any other path igloo-server's rule applies: a path with an extension is
/// the store file.
pub fn names_store_file(p: &std::path::Path) -> bool {
    !p.is_dir() && p.extension().is_some()
}

impl Config {
    /// The directory holding the store, the device key and the TLS certificate.
    /// DB_PATH naming the store file ([`names_store_file`]: an extension, unless it is an
    /// existing directory): its parent is the data directory.
    pub fn data_dir(&self) -> PathBuf {
        if names_store_file(&self.db_path) {
            match self.db_path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            }
        } else {
            self.db_path.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Result<Config, ConfigError> {
        let mut v = vec!["igloo"];
        v.extend_from_slice(args);
        Config::from_settings(Cli::try_parse_from(v).unwrap().settings)
    }

    #[test]
    fn relays_accept_json_and_separated_lists_and_dedupe() {
        assert_eq!(
            parse_relays(r#"["wss://a.example", "ws://127.0.0.1:8002/"]"#).unwrap(),
            vec!["wss://a.example", "ws://127.0.0.1:8002"]
        );
        assert_eq!(
            parse_relays("wss://a.example, wss://b.example wss://a.example").unwrap(),
            vec!["wss://a.example", "wss://b.example"]
        );
        assert!(parse_relays("https://a.example").is_err());
        assert!(parse_relays("wss://").is_err());
        assert!(parse_relays("[1,2]").is_err());
        assert!(parse_relays("  ").is_err());
    }

    #[test]
    fn backoff_grows_and_caps() {
        let b = Backoff {
            initial: Duration::from_secs(30),
            multiplier: 1.5,
            max_delay: Duration::from_secs(300),
            max_attempts: 5,
        };
        assert_eq!(b.delay(0), Duration::from_secs(30));
        assert_eq!(b.delay(1), Duration::from_secs(45));
        assert_eq!(b.delay(2), Duration::from_millis(67_500));
        assert_eq!(b.delay(20), Duration::from_secs(300));
    }

    #[test]
    fn tls_default_depends_on_the_bind_address() {
        assert_eq!(config(&[]).unwrap().tls, TlsMode::Off);
        assert_eq!(
            config(&["--host-name", "0.0.0.0"]).unwrap().tls,
            TlsMode::SelfSigned
        );
        assert_eq!(
            config(&["--host-name", "0.0.0.0", "--tls", "off"])
                .unwrap()
                .tls,
            TlsMode::Off
        );
        assert!(config(&["--tls", "files"]).is_err());
    }

    #[test]
    fn credentials_come_in_pairs_and_placeholders_count_as_unset() {
        assert_eq!(
            config(&["--group-cred", "x"]).unwrap_err().var,
            "SHARE_CRED"
        );
        let c = config(&["--admin-secret", "REQUIRED_ADMIN_SECRET_NOT_SET"]).unwrap();
        assert!(c.auth.admin_secret.is_none());
        let c = config(&["--headless", "true"]).unwrap();
        assert_eq!(c.rate_limits.max, 300);
        assert_eq!(config(&[]).unwrap().rate_limits.max, 600);
    }

    #[test]
    fn data_dir_follows_the_db_path_rule() {
        let c = config(&["--db-path", "/srv/igloo/store.redb"]).unwrap();
        assert_eq!(c.data_dir(), PathBuf::from("/srv/igloo"));
        let c = config(&["--db-path", "/srv/igloo"]).unwrap();
        assert_eq!(c.data_dir(), PathBuf::from("/srv/igloo"));
        let c = config(&["--db-path", "igloo.redb"]).unwrap();
        assert_eq!(c.data_dir(), PathBuf::from("."));
    }

    #[test]
    fn secrets_never_print() {
        let c = config(&["--api-key", "super-secret-key"]).unwrap();
        assert!(!format!("{c:?}").contains("super-secret-key"));
    }

    #[test]
    fn nip46_approval_timeout_defaults_to_two_minutes_within_range() {
        let c = config(&[]).unwrap();
        assert_eq!(c.nip46_approval_timeout, Duration::from_secs(120));
        let c = config(&["--nip46-approval-timeout", "1500"]).unwrap();
        assert_eq!(c.nip46_approval_timeout, Duration::from_millis(1500));
        for bad in ["999", "3600001", "2s"] {
            let r = Cli::try_parse_from(["igloo", "--nip46-approval-timeout", bad]);
            assert!(r.is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn nip46_bunker_secret_ttl_defaults_to_fifteen_minutes_within_range() {
        let c = config(&[]).unwrap();
        assert_eq!(c.nip46_bunker_secret_ttl, Duration::from_secs(900));
        let c = config(&["--nip46-bunker-secret-ttl", "2000"]).unwrap();
        assert_eq!(c.nip46_bunker_secret_ttl, Duration::from_secs(2));
        for bad in ["999", "86400001", "15m"] {
            let r = Cli::try_parse_from(["igloo", "--nip46-bunker-secret-ttl", bad]);
            assert!(r.is_err(), "{bad} accepted");
        }
    }

    // ---- V2OPS: health-model timers ----
    #[test]
    fn health_timers_default_to_the_reference_and_must_be_ordered() {
        let t = config(&[]).unwrap().health_timers;
        assert_eq!(
            (
                t.check_interval,
                t.keepalive_after,
                t.unhealthy_after,
                t.restart_after
            ),
            (
                Duration::from_secs(30),
                Duration::from_secs(45),
                Duration::from_secs(120),
                Duration::from_secs(300)
            )
        );
        let t = config(&[
            "--node-health-check-interval",
            "200",
            "--node-health-keepalive-after",
            "600",
            "--node-health-unhealthy-after",
            "2000",
            "--node-health-restart-after",
            "2000",
        ])
        .unwrap()
        .health_timers;
        assert_eq!(t.restart_after, Duration::from_secs(2));
        let e = config(&["--node-health-keepalive-after", "120000"]).unwrap_err();
        assert_eq!(e.var, "NODE_HEALTH_KEEPALIVE_AFTER");
        let e = config(&["--node-health-unhealthy-after", "300001"]).unwrap_err();
        assert_eq!(e.var, "NODE_HEALTH_UNHEALTHY_AFTER");
        assert!(
            Cli::try_parse_from(["igloo", "--node-health-check-interval", "99"]).is_err(),
            "below 100 ms is refused"
        );
    }

    #[test]
    fn env_v2_credentials_are_selected_and_redacted() {
        // Opening them (once per daemon) is the control layer's: keyset::env_cache.
        let c = config(&["--share-cred", "bfprofile1xyz", "--share-password", "pw"]).unwrap();
        assert!(c.v2_credentials.is_some(), "V2 selected");
        assert!(c.clone().v2_credentials.is_some(), "clones keep them");
        assert!(!format!("{c:?}").contains("pw\""), "password redacted");
    }
}
