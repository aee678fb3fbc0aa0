//! The control layer: owns the running system (node supervisor, store and vault, event bus,
//! live settings, the environment's opened V2 credentials, the ECDH cache) and is the one
//! way every caller drives it: HTTP today, the NIP-46 signer and the CLI next.
//!
//! It knows nothing of axum, status codes or cookies. Each operation returns a
//! [`ControlError`]; the HTTP layer maps it to its answer.
//!
//! * [`lifecycle`]: start, stop and reload the node from sealed or environment credentials.
//! * [`live`]: settings saved at run time laid over the start-up configuration.
//! * [`credentials`]: users' and the headless record's node credentials.
//! * [`settings`]: saving settings and applying them to the running node.
//! * [`keyset`]: v1 → V2 migration, V2 import, the switch between protocols.
//! * [`crypto`]: NIP-04/44 over threshold ECDH; [`recover`]: nsec recovery and checks.
//! * [`signing`]: the running node and threshold signatures, for every caller.

pub mod credentials;
pub mod crypto;
pub mod keyset;
pub mod lifecycle;
pub mod live;
pub mod recover;
pub mod settings;
pub mod signing;

use std::ops::Deref;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

use crate::config::Config;
use crate::events::EventBus;
use crate::keyset::env_cache::OpenedEnv;
use crate::keyset::{ImportError, MigrateError};
use crate::nips::CryptoError;
use crate::nips::ecdh_cache::EcdhCache;
use crate::node::{NodeError, Supervisor};
use crate::relay::Relay;
use crate::secrets::{SecretsError, Vault};
use crate::store::credentials::CredentialsError;
use crate::store::{Store, StoreError};
use live::LiveConfig;

/// Why a control operation did not go through. Messages are safe to show.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Reading or sealing credentials failed: the store, locked secrets, or damage.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// Stored credentials that no longer decode.
    #[error("{0}")]
    Unreadable(String),
    /// Credentials that do not decode or do not belong together.
    #[error("{0}")]
    InvalidCredentials(String),
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    #[error(transparent)]
    Import(#[from] ImportError),
    /// No slot for a heavy job (the server is shutting down).
    #[error("the server is shutting down")]
    Busy,
    /// A background task died.
    #[error("unexpected server error")]
    Internal,
    #[error("the signing node is not running")]
    NodeUnavailable,
    /// No credentials of either protocol: there is no node to run.
    #[error("no group and share credentials are configured")]
    NoCredentials,
    /// The threshold signing round failed.
    #[error(transparent)]
    Sign(NodeError),
    /// Input the operation refuses (message names the problem).
    #[error("{0}")]
    BadInput(String),
    /// The threshold ECDH round failed.
    #[error(transparent)]
    Ecdh(NodeError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Unlock without a passphrase set: nothing is locked.
    #[error("no passphrase is set; the secrets are not locked")]
    NoPassphrase,
    /// Unlocking the vault failed (wrong passphrase or worse).
    #[error(transparent)]
    Unlock(SecretsError),
    /// Setting or removing the owner passphrase failed.
    #[error(transparent)]
    Passphrase(SecretsError),
}

pub type Result<T, E = ControlError> = std::result::Result<T, E>;

/// Runs blocking work (store, Argon2id) off the async thread.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ControlError::Internal)?
}

/// The running system. Cheap to clone.
#[derive(Clone)]
pub struct Control(Arc<ControlInner>);

pub struct ControlInner {
    /// The configuration the daemon started with (stored settings included).
    pub config: Arc<Config>,
    pub started: Instant,
    pub store: Store,
    /// The device key that seals stored secrets (may be locked by a passphrase).
    pub vault: Vault,
    /// Owns the signing node (at most one; restarted when credentials or relays change).
    pub node: Supervisor,
    /// What `/api/events` clients receive.
    pub events: EventBus,
    /// The configuration in force: `config` with the settings stored at run time.
    pub live: LiveConfig,
    /// Recent threshold-ECDH results for NIP-04/44 (per daemon, not global).
    pub ecdh_cache: EcdhCache,
    /// The built-in relay, when enabled.
    pub relay: Option<Arc<Relay>>,
    /// Health as the systemd watchdog sees it; the signing node feeds it.
    pub health: watch::Sender<bool>,
    /// The environment's V2 package, opened (Argon2id) once for the daemon's life.
    env_v2: OpenedEnv,
}

impl Deref for Control {
    type Target = ControlInner;
    fn deref(&self) -> &ControlInner {
        &self.0
    }
}

/// What [`Control::start`] takes from the daemon.
pub struct ControlParts {
    pub live: LiveConfig,
    pub store: Store,
    pub relay: Option<Arc<Relay>>,
    /// The daemon's shutdown signal (the node and its health runner watch it).
    pub stop: watch::Receiver<bool>,
}

impl Control {
    /// Builds the running system and starts the node from stored (or environment)
    /// credentials unless they are locked. Returns the health signal for the systemd watchdog.
    /// Must run inside the tokio runtime; blocks briefly (store, maybe Argon2id).
    pub fn start(parts: ControlParts) -> Result<(Control, watch::Receiver<bool>), SecretsError> {
        let ControlParts {
            live,
            store,
            relay,
            stop,
        } = parts;
        let config = live.current();
        // Until a signing node feeds it, health means "the server runs".
        let (health_tx, health) = watch::channel(true);
        let events = EventBus::new();
        let node = Supervisor::new(stop.clone(), events.clone());
        node.set_guard_config(crate::node::GuardConfig {
            store: Some(store.clone()),
            sign_policy: config.sign_policy,
            seeds: config.peer_policies.clone(),
        });
        // Health model and watchdog: feeds `health` (the systemd watchdog) and `/api/status`.
        crate::node::health::spawn(
            node.clone(),
            crate::node::health::HealthSettings::from_config(&config),
            health_tx.clone(),
            stop,
        );
        let vault = Vault::open(store.data_dir())?;
        let control = Control(Arc::new(ControlInner {
            config,
            started: Instant::now(),
            store,
            vault,
            node,
            events,
            live,
            ecdh_cache: EcdhCache::new(
                crate::nips::ecdh_cache::TTL,
                crate::nips::ecdh_cache::CAPACITY,
            ),
            relay,
            health: health_tx,
            env_v2: OpenedEnv::default(),
        }));
        // Stored credentials (or headless ones from the environment) start the node with
        // nobody logged in (unless locked by a passphrase).
        lifecycle::boot(&control);
        Ok((control, health))
    }

    /// The environment's opened V2 credentials (one Argon2id derivation per daemon).
    pub fn env_v2(&self) -> &OpenedEnv {
        &self.env_v2
    }

    /// Whether a signing node runs now.
    pub fn node_active(&self) -> bool {
        self.node.current_any().is_some()
    }

    /// The built-in relay's counters for status reports.
    pub fn relay_stats(&self) -> Option<serde_json::Value> {
        self.relay
            .as_ref()
            .and_then(|r| serde_json::to_value(r.stats()).ok())
    }

    /// Reloads the node owner's credentials and restarts (or stops) the node with the
    /// configuration in force.
    pub async fn reload_node(&self) -> lifecycle::NodeStart {
        lifecycle::reload(self).await
    }

    /// Unlocks the vault with the owner passphrase; a node waiting for it starts.
    pub async fn unlock(&self, passphrase: zeroize::Zeroizing<String>) -> Result<()> {
        if !self.vault.has_passphrase() {
            return Err(ControlError::NoPassphrase);
        }
        let was_locked = self.vault.is_locked();
        let vault = self.vault.clone();
        blocking(move || vault.unlock(&passphrase).map_err(ControlError::Unlock)).await?;
        if was_locked {
            tracing::info!("secrets unlocked");
            self.reload_node().await;
        }
        Ok(())
    }

    /// Sets (or with `None` removes) the owner passphrase; returns whether one is set.
    pub async fn set_passphrase(&self, pass: Option<zeroize::Zeroizing<String>>) -> Result<bool> {
        let vault = self.vault.clone();
        blocking(move || {
            vault
                .set_passphrase(pass.as_deref().map(String::as_str))
                .map_err(ControlError::Passphrase)
        })
        .await?;
        let has = self.vault.has_passphrase();
        tracing::info!(has_passphrase = has, "owner passphrase changed");
        Ok(has)
    }
}
