//! Starting and stopping the signing node from stored credentials: at boot (nobody needs to
//! log in), after unlock, and whenever credentials or relays change.

use std::time::Duration;

use super::Control;
use crate::config::Config;
use crate::frostr::{GroupPackage, SharePackage, credentials};
use crate::keyset::boot::V2Start;
use crate::keyset::env_cache::OpenedEnv;
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
    // V2M: a node switched to V2 does not start its v1 credentials again (the V2 start is
    // the V2 runtime's job).
    if store.node_runs_v2().unwrap_or(false)
        && store.has_v2_credentials_record(&owner).unwrap_or(false)
    {
        return Ok(None);
    }
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
pub fn boot(control: &Control) {
    let (config, store, vault, node) = (
        &control.config,
        &control.store,
        &control.vault,
        &control.node,
    );
    // Expired sessions from before the restart are removed once here.
    let cutoff = crate::store::users::now_ms()
        .saturating_sub(u64::try_from(config.auth.session_timeout.as_millis()).unwrap_or(0));
    if let Err(e) = store.purge_sessions(cutoff) {
        tracing::warn!(error = %e, "could not purge expired sessions");
    }
    let outcome = match load_v2(config, store, vault, control.env_v2()) {
        Some(v2) => apply_v2(config, store, vault, node, v2),
        None => match load(config, store, vault) {
            Ok(params) => apply(node, params),
            Err(o) => o,
        },
    };
    log_outcome(&outcome);
}

/// Reloads the owner's credentials and restarts (or stops) the node with the configuration in
/// force. Async: for callers of the control layer.
pub async fn reload(state: &Control) -> NodeStart {
    let (config, store, vault, env) = (
        state.live.current(),
        state.store.clone(),
        state.vault.clone(),
        state.env_v2().clone(),
    );
    let loaded =
        tokio::task::spawn_blocking(move || match load_v2(&config, &store, &vault, &env) {
            Some(v2) => Err(Box::new(v2)),
            None => Ok(load(&config, &store, &vault)),
        })
        .await;
    let outcome = match loaded {
        Ok(Ok(Ok(params))) => apply(&state.node, params),
        Ok(Ok(Err(o))) => o,
        Ok(Err(v2)) => apply_v2(
            &state.live.current(),
            &state.store,
            &state.vault,
            &state.node,
            *v2,
        ),
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

// --- FROSTR V2 ---------------------------------------------------------------------------
// A node switched to V2 (stored, by migrate/import) or given V2 credentials in the
// environment (headless) runs the V2 runtime instead of v1; the rest of this module is v1.

/// The V2 plan: `None` when the node runs v1. Blocking (store, Argon2id for env packages).
/// What was switched to V2 through the API (stored) wins over the environment, as stored
/// settings do. `env` opens the environment's package once for the daemon's life.
pub fn load_v2(config: &Config, store: &Store, vault: &Vault, env: &OpenedEnv) -> Option<V2Start> {
    match crate::keyset::boot::load_v2(store, vault, &config.relays) {
        V2Start::NotV2 => {}
        other => return Some(other),
    }
    let creds = config.v2_credentials.as_ref().filter(|_| config.headless)?;
    Some(match env.open(creds) {
        Ok(creds) => {
            // A bfprofile's policy overrides seed the stored policies (API-set ones stay).
            if let Err(e) = crate::node::v2::apply_profile_policies(store, &creds) {
                tracing::warn!(error = %e, "cannot store the profile's peer policies");
            }
            start_of(creds, &config.relays)
        }
        Err(e) => V2Start::Invalid(format!("SHARE_CRED: {e}")),
    })
}

fn start_of(creds: crate::keyset::V2Credentials, default_relays: &[String]) -> V2Start {
    let relays = if creds.relays.is_empty() {
        default_relays.to_vec()
    } else {
        creds.relays.clone()
    };
    if creds.needs_onboard() {
        return V2Start::Onboard(creds);
    }
    match (creds.group.clone(), creds.share()) {
        (Some(group), Some(share)) => V2Start::Run {
            group,
            share,
            relays,
        },
        _ => V2Start::Invalid("the V2 share has no group package yet".into()),
    }
}

/// Starts the V2 node (or, for a `bfonboard`, asks its provisioning peer for the group in
/// the background, saves the completed credentials and then starts). Must run inside the
/// tokio runtime.
pub fn apply_v2(
    config: &Config,
    store: &Store,
    vault: &Vault,
    node: &Supervisor,
    start: V2Start,
) -> NodeStart {
    let timeout = config.sign_timeout;
    match start {
        V2Start::NotV2 => NodeStart::NoCredentials,
        V2Start::Locked => NodeStart::Locked,
        V2Start::Invalid(e) => NodeStart::Invalid(e),
        V2Start::Run {
            group,
            share,
            relays,
        } => match node.apply_v2(Some((group, share)), relays, timeout) {
            Ok(_) => NodeStart::Started,
            Err(e) => NodeStart::Failed(e.to_string()),
        },
        V2Start::Onboard(creds) => {
            let Some(inviter) = creds.peer_pk else {
                return NodeStart::Invalid("the bfonboard package names no peer".into());
            };
            let relays = if creds.relays.is_empty() {
                config.relays.clone()
            } else {
                creds.relays.clone()
            };
            node.stop();
            // Any later apply or stop bumps the generation: an onboarding answer that arrives
            // after the owner imported something else must not overwrite or start it.
            let generation = *node.generation().borrow();
            let (node, store, vault) = (node.clone(), store.clone(), vault.clone());
            // Credentials stored through the API are completed in the store; env ones are not.
            let owner = if store.node_runs_v2().unwrap_or(false) {
                store.node_owner().ok().flatten()
            } else {
                None
            };
            // An onboard answer may take a while (the inviter may come online later).
            let wait = timeout.max(ONBOARD_WAIT);
            tokio::spawn(async move {
                let done = match crate::node::v2::onboard(
                    creds.share_secret.clone(),
                    inviter,
                    relays.clone(),
                    wait,
                )
                .await
                {
                    Ok(d) => d,
                    Err(e) => {
                        tracing::error!(error = %e, "V2 onboarding failed; the node stays off");
                        return;
                    }
                };
                if *node.generation().borrow() != generation {
                    tracing::info!("V2 onboarding answered after the node was changed; discarded");
                    return;
                }
                // Keep the group learnt, so the next start needs no onboarding.
                if let Some(owner) = owner {
                    let mut full = creds;
                    full.group = Some(done.group.clone());
                    let rec =
                        crate::keyset::record::to_record(&full, crate::store::users::now_ms());
                    let saved = tokio::task::spawn_blocking(move || {
                        store.put_v2_credentials(&vault, &owner, &rec)
                    })
                    .await;
                    if !matches!(saved, Ok(Ok(()))) {
                        tracing::error!("onboarded V2 credentials could not be saved");
                    }
                }
                tracing::info!(idx = done.share.idx, "V2 onboarding complete");
                if let Err(e) = node.start_v2_onboarded(done, relays, timeout) {
                    tracing::error!(error = %e, "V2 node not started after onboarding");
                }
            });
            NodeStart::Started
        }
    }
}

/// How long a `bfonboard` start waits for its provisioning peer at least.
const ONBOARD_WAIT: Duration = Duration::from_secs(120);
