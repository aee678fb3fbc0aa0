//! What the NIP-46 service needs from the rest of igloo: the group key, a threshold signature
//! and a threshold-ECDH shared x. The only file of `nip46` that knows the node; when the
//! control layer lands, this is what gets rewired.

use std::sync::Arc;

use zeroize::Zeroizing;

use crate::frostr::ecdh::{parse_ecdh_pk, shared_x};
use crate::nips::ecdh_cache::{CAPACITY, EcdhCache, TTL};
use crate::node::v2::AnyNode;
use crate::node::{NodeError, Supervisor};

/// Errors shown to the client (no secrets, short).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    #[error("the signing node is not running")]
    Unavailable,
    #[error("the signing peers did not answer in time")]
    Timeout,
    #[error("invalid public key")]
    BadPubkey,
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

/// The running node, whichever protocol (v1 or V2), through the supervisor.
#[derive(Clone)]
pub struct Backend {
    node: Supervisor,
    cache: Arc<EcdhCache>,
}

impl Backend {
    pub fn new(node: Supervisor) -> Self {
        Self {
            node,
            cache: Arc::new(EcdhCache::new(TTL, CAPACITY)),
        }
    }

    fn current(&self) -> Result<AnyNode, BackendError> {
        self.node.current_any().ok_or(BackendError::Unavailable)
    }

    /// The group public key (x-only), when a node runs.
    pub fn group_pubkey(&self) -> Option<[u8; 32]> {
        self.node.current_any().map(|n| n.group_xonly())
    }

    /// A BIP-340 signature of `message` under the group key.
    pub async fn sign(&self, message: [u8; 32]) -> Result<[u8; 64], BackendError> {
        self.current()?.sign(message).await.map_err(node_error)
    }

    /// The shared x of the group key with `peer` (x-only), from the cache or an ECDH round.
    pub async fn shared_x(&self, peer: &[u8; 32]) -> Result<Zeroizing<[u8; 32]>, BackendError> {
        let node = self.current()?;
        let group = node.group_xonly();
        if let Some(x) = self.cache.get(&group, peer) {
            return Ok(x);
        }
        let pk = parse_ecdh_pk(peer).map_err(|_| BackendError::BadPubkey)?;
        let point = node.ecdh(&pk).await.map_err(node_error)?;
        let x = shared_x(&point);
        self.cache.put(&group, peer, &x);
        Ok(x)
    }
}
