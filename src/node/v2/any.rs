//! One node, either protocol: what the HTTP layer calls for sign, ECDH, ping, peers and
//! status, whichever protocol the [`crate::node::Supervisor`] runs.

use std::time::{Duration, Instant};

use k256::PublicKey;
use tokio::sync::watch;

use super::V2Handle;
use crate::events::EventKind;
use crate::node::pool::RelayState;
use crate::node::{
    ApprovalError, NodeError, NodeHandle, Peer, PendingSign, PingResult, PolicyError, PolicyUpdate,
    SignPolicy,
};

/// Which FROSTR protocol a node speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// bifrost v1 (kind 20004).
    V1,
    /// bifrost-rs (kind 20000).
    V2,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::V1 => "v1",
            Protocol::V2 => "v2",
        }
    }
}

/// A running node of either protocol.
#[derive(Clone, Debug)]
pub enum AnyNode {
    V1(NodeHandle),
    V2(V2Handle),
}

impl AnyNode {
    pub fn protocol(&self) -> Protocol {
        match self {
            AnyNode::V1(_) => Protocol::V1,
            AnyNode::V2(_) => Protocol::V2,
        }
    }

    /// The v1 handle, for v1-only features.
    pub fn as_v1(&self) -> Option<&NodeHandle> {
        match self {
            AnyNode::V1(n) => Some(n),
            AnyNode::V2(_) => None,
        }
    }

    pub fn as_v2(&self) -> Option<&V2Handle> {
        match self {
            AnyNode::V2(n) => Some(n),
            AnyNode::V1(_) => None,
        }
    }

    /// Threshold-sign a 32-byte message: BIP-340 signature under the group key.
    pub async fn sign(&self, message: [u8; 32]) -> Result<[u8; 64], NodeError> {
        match self {
            AnyNode::V1(n) => n.sign(message).await,
            AnyNode::V2(n) => n.sign(message).await,
        }
    }

    /// Threshold ECDH; the x-coordinate of the result is the shared secret.
    pub async fn ecdh(&self, pubkey: &PublicKey) -> Result<PublicKey, NodeError> {
        match self {
            AnyNode::V1(n) => n.ecdh(pubkey).await,
            AnyNode::V2(n) => n.ecdh(pubkey).await,
        }
    }

    pub async fn ping(&self, peer: &[u8; 32], timeout: Duration) -> Result<PingResult, NodeError> {
        match self {
            AnyNode::V1(n) => n.ping(peer, timeout).await,
            AnyNode::V2(n) => n.ping(peer, timeout).await,
        }
    }

    pub fn peers(&self) -> Vec<Peer> {
        match self {
            AnyNode::V1(n) => n.peers(),
            AnyNode::V2(n) => n.peers(),
        }
    }

    /// One peer by x-only key.
    pub fn peer(&self, xonly: &[u8; 32]) -> Option<Peer> {
        match self {
            AnyNode::V1(n) => n.peer(xonly),
            AnyNode::V2(n) => n.peer(xonly),
        }
    }

    /// Change our policy towards a peer (saved, then applied to the running node).
    pub async fn update_policy(
        &self,
        xonly: &[u8; 32],
        update: PolicyUpdate,
    ) -> Result<Peer, PolicyError> {
        match self {
            AnyNode::V1(n) => n.update_policy(xonly, update).await,
            AnyNode::V2(n) => n.update_policy(xonly, update).await,
        }
    }

    /// Remove the API-set policy of a peer.
    pub async fn delete_policy(&self, xonly: &[u8; 32]) -> Result<Peer, PolicyError> {
        match self {
            AnyNode::V1(n) => n.delete_policy(xonly).await,
            AnyNode::V2(n) => n.delete_policy(xonly).await,
        }
    }

    /// `auto` or `approve`.
    pub fn sign_policy(&self) -> SignPolicy {
        match self {
            AnyNode::V1(n) => n.sign_policy(),
            AnyNode::V2(n) => n.sign_policy(),
        }
    }

    /// Sign requests waiting for approval, oldest first.
    pub fn pending_signs(&self) -> Vec<PendingSign> {
        match self {
            AnyNode::V1(n) => n.pending_signs(),
            AnyNode::V2(n) => n.pending_signs(),
        }
    }

    /// Approve a waiting sign request; returns the peer's partial count after it.
    pub async fn approve_sign(&self, id: &str) -> Result<u64, ApprovalError> {
        match self {
            AnyNode::V1(n) => n.approve_sign(id).await,
            AnyNode::V2(n) => n.approve_sign(id).await,
        }
    }

    /// Deny a waiting sign request.
    pub fn deny_sign(&self, id: &str) -> Result<PendingSign, ApprovalError> {
        match self {
            AnyNode::V1(n) => n.deny_sign(id),
            AnyNode::V2(n) => n.deny_sign(id),
        }
    }

    pub fn is_running(&self) -> bool {
        match self {
            AnyNode::V1(n) => n.is_running(),
            AnyNode::V2(n) => n.is_running(),
        }
    }

    pub fn is_connected(&self) -> bool {
        match self {
            AnyNode::V1(n) => n.is_connected(),
            AnyNode::V2(n) => n.is_connected(),
        }
    }

    pub fn relay_states(&self) -> Vec<RelayState> {
        match self {
            AnyNode::V1(n) => n.relay_states(),
            AnyNode::V2(n) => n.relay_states(),
        }
    }

    pub fn activity(&self) -> watch::Receiver<Instant> {
        match self {
            AnyNode::V1(n) => n.activity(),
            AnyNode::V2(n) => n.activity(),
        }
    }

    /// Fault injection for tests only (see [`NodeHandle::inject_receive_panic`]).
    #[doc(hidden)]
    pub fn inject_receive_panic(&self) {
        match self {
            AnyNode::V1(n) => n.inject_receive_panic(),
            AnyNode::V2(n) => n.inject_receive_panic(),
        }
    }

    pub fn fail_pending(&self) {
        match self {
            AnyNode::V1(n) => n.fail_pending(),
            AnyNode::V2(n) => n.fail_pending(),
        }
    }

    /// Our x-only share key.
    pub fn self_xonly(&self) -> [u8; 32] {
        match self {
            AnyNode::V1(n) => n.self_xonly(),
            AnyNode::V2(n) => n.self_xonly(),
        }
    }

    /// Our 33-byte compressed share key, as `/api/peers/self` shows it.
    pub fn self_compressed(&self) -> Option<[u8; 33]> {
        match self {
            AnyNode::V1(n) => {
                let x = n.self_xonly();
                n.group()
                    .commits
                    .iter()
                    .find(|c| crate::frostr::types::x_only(&c.pubkey) == x)
                    .map(|c| crate::frostr::types::compressed(&c.pubkey))
            }
            AnyNode::V2(n) => n.group().member(n.idx()).map(|m| m.pubkey),
        }
    }

    /// The x-only group key (the npub's key).
    pub fn group_xonly(&self) -> [u8; 32] {
        match self {
            AnyNode::V1(n) => n.group().pubkey_x_only(),
            AnyNode::V2(n) => n.group_xonly(),
        }
    }

    /// Threshold and member count of the group.
    pub fn group_shape(&self) -> (u32, usize) {
        match self {
            AnyNode::V1(n) => (n.group().threshold, n.group().commits.len()),
            AnyNode::V2(n) => (u32::from(n.group().threshold), n.group().members.len()),
        }
    }

    /// Publish to the event stream, when one is attached. Never pass secrets.
    pub fn emit(
        &self,
        kind: EventKind,
        message: impl Into<String>,
        data: Option<serde_json::Value>,
    ) {
        match self {
            AnyNode::V1(n) => n.emit(kind, message, data),
            AnyNode::V2(n) => n.emit(kind, message, data),
        }
    }
}

impl From<NodeHandle> for AnyNode {
    fn from(n: NodeHandle) -> Self {
        AnyNode::V1(n)
    }
}

impl From<V2Handle> for AnyNode {
    fn from(n: V2Handle) -> Self {
        AnyNode::V2(n)
    }
}
