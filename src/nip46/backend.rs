//! What the NIP-46 service needs from the control layer: the store, vault and event bus, the
//! group key, a threshold signature and NIP-04/44 over threshold ECDH. The only file of
//! `nip46` that knows how the running system is reached.

use crate::control::crypto::{Nip, Op};
use crate::control::{Control, ControlError};
use crate::events::EventBus;
use crate::node::NodeError;
use crate::secrets::Vault;
use crate::store::Store;

/// Errors shown to the client (no secrets, short).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    #[error("the signing node is not running")]
    Unavailable,
    #[error("the signing peers did not answer in time")]
    Timeout,
    #[error("{0}")]
    Failed(String),
}

fn node_error(e: NodeError) -> BackendError {
    match e {
        NodeError::Timeout(_) => BackendError::Timeout,
        NodeError::Stopped | NodeError::NotPublished | NodeError::NotEnoughPeers { .. } => {
            BackendError::Unavailable
        }
        e => BackendError::Failed(e.to_string()),
    }
}

fn control_error(e: ControlError) -> BackendError {
    match e {
        ControlError::NodeUnavailable | ControlError::NoCredentials => BackendError::Unavailable,
        ControlError::Ecdh(e) | ControlError::Sign(e) => node_error(e),
        e => BackendError::Failed(e.to_string()),
    }
}

/// The running system (node of either protocol, store, vault, events) through the control
/// layer.
#[derive(Clone)]
pub struct Backend {
    control: Control,
}

impl Backend {
    pub fn new(control: Control) -> Self {
        Self { control }
    }

    pub fn store(&self) -> &Store {
        &self.control.store
    }

    pub fn vault(&self) -> &Vault {
        &self.control.vault
    }

    pub fn events(&self) -> &EventBus {
        &self.control.events
    }

    /// The group public key (x-only), when a node runs.
    pub fn group_pubkey(&self) -> Option<[u8; 32]> {
        self.control.node.current_any().map(|n| n.group_xonly())
    }

    /// A BIP-340 signature of `message` under the group key.
    pub async fn sign(&self, message: [u8; 32]) -> Result<[u8; 64], BackendError> {
        self.control.sign(message).await.map_err(control_error)
    }

    /// NIP-04 / NIP-44 v2 with `peer` (x-only) under the group key (threshold ECDH, cached).
    pub async fn crypto(
        &self,
        nip: Nip,
        op: Op,
        peer: &[u8; 32],
        content: &str,
    ) -> Result<String, BackendError> {
        self.control
            .nip_crypto(nip, op, peer, content)
            .await
            .map_err(control_error)
    }
}
