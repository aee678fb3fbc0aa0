//! The signing node as its callers use it (HTTP, the NIP-46 signer): the running node of
//! either protocol, and threshold signatures. Callers never reach the supervisor themselves,
//! so "which node, is it running, and why not" is answered in one place.

use super::{Control, ControlError, Result};
use crate::events::EventKind;
use crate::node::v2::AnyNode;

impl Control {
    /// The running node of either protocol, or why there is none.
    pub fn running_node(&self) -> Result<AnyNode> {
        if let Some(n) = self.node.current_any() {
            return Ok(n);
        }
        let configured = self.config.has_env_credentials()
            || self.config.v2_credentials.is_some()
            || self.node.wants_any_node();
        Err(if configured {
            ControlError::NodeUnavailable
        } else {
            ControlError::NoCredentials
        })
    }

    /// A BIP-340 signature of `message` under the group key, from the group's threshold.
    pub async fn sign(&self, message: [u8; 32]) -> Result<[u8; 64]> {
        let node = self.running_node()?;
        node.sign(message).await.map_err(ControlError::Sign)
    }

    /// [`Control::sign`] for the owner's own request (API or UI), recorded in the event
    /// stream next to the peers' requests so the owner's log shows both.
    pub async fn sign_for_owner(&self, message: [u8; 32], kind: Option<u16>) -> Result<[u8; 64]> {
        let result = self.sign(message).await;
        if !matches!(
            result,
            Err(ControlError::NodeUnavailable | ControlError::NoCredentials)
        ) {
            self.events.emit(
                EventKind::Sign,
                if result.is_ok() {
                    "this node's sign request was signed"
                } else {
                    "this node's sign request failed"
                },
                Some(serde_json::json!({
                    "id": hex::encode(message),
                    "own": true,
                    "kind": kind,
                    "error": result.as_ref().err().map(ToString::to_string),
                })),
            );
        }
        result
    }
}
