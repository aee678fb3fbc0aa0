//! Starting and stopping the signing node from stored credentials: at boot (nobody needs to
//! log in), after unlock, and whenever credentials or relays change.

use std::time::Duration;

use crate::config::Config;
use crate::frostr::{GroupPackage, SharePackage, credentials};
use crate::node::Supervisor;
use crate::secrets::Vault;
use crate::store::Store;
use crate::store::credentials::{CredentialsError, ENV_OWNER, NodeCredentials};

/// What a node (re)start attempt found.
#[derive(Debug)]
pub enum NodeStart {
    Started,
    /// No owner or no complete credentials: the node is stopped.
    NoCredentials,
    /// The device key is locked by a passphrase.
    Locked,
    /// Stored credentials do not decode or do not belong together (message is safe to show).
    Invalid(String),
    /// The store or the node failed.
    Failed(String),
}

/// A node's start parameters, decoded and checked.
pub struct NodeParams {
    pub group: GroupPackage,
    pub share: SharePackage,
    pub relays: Vec<String>,
    pub timeout: Duration,
}

/// Decodes a credential pair and checks that the share belongs to the group.
pub fn decode_pair(group: &str, share: &str) -> Result<(GroupPackage, SharePackage), String> {
    let g =
        credentials::decode_group(group.trim()).map_err(|e| format!("group credential: {e}"))?;
    let s =
        credentials::decode_share(share.trim()).map_err(|e| format!("share credential: {e}"))?;
    credentials::check_share_in_group(&s, &g).map_err(|e| e.to_string())?;
    Ok((g, s))
}

/// The node parameters from one owner's record (`None` without both credentials).
pub fn params_from(config: &Config, creds: &NodeCredentials) -> Result<Option<NodeParams>, String> {
    let (Some(g), Some(s)) = (&creds.group_cred, &creds.share_cred) else {
        return Ok(None);
    };
    let (group, share) = decode_pair(g, s)?;
    let relays = match &creds.relays {
        Some(r) if !r.is_empty() => r.clone(),
        _ => config.relays.clone(),
    };
    Ok(Some(NodeParams {
        group,
        share,
        relays,
        timeout: config.sign_timeout,
    }))
}

/// Loads the node owner's parameters. Blocking (store).
///
/// Headless: the `env` record saved through `/api/env`, with `GROUP_CRED`/`SHARE_CRED` from
/// the environment when the record holds none, so saving only `RELAYS` keeps the node running.
pub fn load(
    config: &Config,
    store: &Store,
    vault: &Vault,
) -> Result<Option<NodeParams>, NodeStart> {
    if config.headless {
        return load_headless(config, store, vault);
    }
    let owner = store
        .node_owner()
        .map_err(|e| NodeStart::Failed(e.to_string()))?;
    let Some(owner) = owner else {
        return Ok(None);
    };
    let creds = match store.get_credentials(vault, &owner) {
        Ok(Some(c)) => c,
        Ok(None) => return Ok(None),
        Err(CredentialsError::Secrets(crate::secrets::SecretsError::Locked)) => {
            return Err(NodeStart::Locked);
        }
        Err(e) => return Err(NodeStart::Failed(e.to_string())),
    };
    params_from(config, &creds).map_err(NodeStart::Invalid)
}

fn load_headless(
    config: &Config,
    store: &Store,
    vault: &Vault,
) -> Result<Option<NodeParams>, NodeStart> {
    let mut rec = match store.get_credentials(vault, ENV_OWNER) {
        Ok(r) => r.unwrap_or_default(),
        // Locked: nothing stored can be read; environment credentials still start the node.
        Err(CredentialsError::Secrets(crate::secrets::SecretsError::Locked))
            if config.has_env_credentials() =>
        {
            NodeCredentials::default()
        }
        Err(CredentialsError::Secrets(crate::secrets::SecretsError::Locked)) => {
            return Err(NodeStart::Locked);
        }
        Err(e) => return Err(NodeStart::Failed(e.to_string())),
    };
    if rec.group_cred.is_none() && rec.share_cred.is_none() {
        if let (Some(g), Some(s)) = (&config.group_cred, &config.share_cred) {
            rec.group_cred = Some(g.expose().to_string());
            rec.share_cred = Some(s.expose().to_string());
        }
    }
    params_from(config, &rec).map_err(NodeStart::Invalid)
}

/// Starts (or restarts) the node with `params`, or stops it when `params` is `None`.
/// Must run inside the tokio runtime.
pub fn apply(node: &Supervisor, params: Option<NodeParams>) -> NodeStart {
    match params {
        None => {
            node.stop();
            NodeStart::NoCredentials
        }
        Some(p) => match node.start(p.group, p.share, p.relays, p.timeout) {
            Ok(_) => NodeStart::Started,
            Err(e) => NodeStart::Failed(e.to_string()),
        },
    }
}

/// At daemon start: unless headless credentials come from the environment, start the node
/// from the store. Logs the outcome; never fails start-up.
pub fn boot(config: &Config, store: &Store, vault: &Vault, node: &Supervisor) {
    if !config.headless
        && config.auth.enabled
        && config.auth.admin_secret.is_none()
        && store.user_count().unwrap_or(1) == 0
    {
        tracing::warn!(
            "no user exists and ADMIN_SECRET is not set: set ADMIN_SECRET and restart to complete onboarding"
        );
    }
    // Expired sessions from before the restart are removed once here.
    let cutoff = crate::store::users::now_ms()
        .saturating_sub(u64::try_from(config.auth.session_timeout.as_millis()).unwrap_or(0));
    if let Err(e) = store.purge_sessions(cutoff) {
        tracing::warn!(error = %e, "could not purge expired sessions");
    }
    let outcome = match load(config, store, vault) {
        Ok(params) => apply(node, params),
        Err(o) => o,
    };
    log_outcome(&outcome);
}

/// Reloads the owner's credentials and restarts (or stops) the node with the configuration in
/// force. Async: for handlers.
pub async fn reload(state: &crate::http::AppState) -> NodeStart {
    let (config, store, vault) = (
        state.live.current(),
        state.store.clone(),
        state.vault.clone(),
    );
    let loaded = tokio::task::spawn_blocking(move || load(&config, &store, &vault)).await;
    let outcome = match loaded {
        Ok(Ok(params)) => apply(&state.node, params),
        Ok(Err(o)) => o,
        Err(e) => NodeStart::Failed(e.to_string()),
    };
    log_outcome(&outcome);
    outcome
}

fn log_outcome(outcome: &NodeStart) {
    match outcome {
        NodeStart::Started => tracing::info!("signing node started from stored credentials"),
        NodeStart::NoCredentials => tracing::info!("no stored credentials; signing node off"),
        NodeStart::Locked => {
            tracing::warn!("secrets are locked; the node starts after POST /api/unlock")
        }
        NodeStart::Invalid(e) => tracing::error!(error = %e, "stored credentials are invalid"),
        NodeStart::Failed(e) => tracing::error!(error = %e, "signing node not started"),
    }
}
