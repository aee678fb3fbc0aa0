//! NIP-44 v2 and NIP-04 with a peer (reference §3.9): the shared secret is the x-coordinate
//! of the threshold ECDH point with the peer (from the running node of either protocol,
//! cached per daemon); the ciphers are [`crate::nips`].

use zeroize::Zeroizing;

use super::{Control, ControlError, Result};
use crate::events::EventKind;
use crate::frostr::ecdh::{parse_ecdh_pk, shared_x};
use crate::nips::{nip04, nip44};
use crate::node::v2::AnyNode;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nip {
    Nip04,
    Nip44,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Encrypt,
    Decrypt,
}

impl Control {
    /// Encrypts or decrypts `content` with `peer` (32-byte x-only or 33-byte compressed key).
    pub async fn nip_crypto(&self, nip: Nip, op: Op, peer: &[u8], content: &str) -> Result<String> {
        // Reject input the cipher would refuse before spending a network round on ECDH.
        if matches!((nip, op), (Nip::Nip44, Op::Encrypt)) {
            if content.is_empty() {
                return Err(ControlError::BadInput(
                    "content must not be empty for NIP-44".into(),
                ));
            }
            if content.len() > nip44::MAX_PLAINTEXT {
                return Err(ControlError::BadInput(
                    "content is longer than NIP-44 allows (65535 bytes)".into(),
                ));
            }
        }
        let node = self
            .node
            .current_any()
            .ok_or(ControlError::NodeUnavailable)?;
        let x = self.shared_secret(&node, peer).await?;
        Ok(match (nip, op) {
            (Nip::Nip44, Op::Encrypt) => nip44::encrypt(&x, content),
            (Nip::Nip44, Op::Decrypt) => nip44::decrypt(&x, content),
            (Nip::Nip04, Op::Encrypt) => nip04::encrypt(&x, content),
            (Nip::Nip04, Op::Decrypt) => nip04::decrypt(&x, content),
        }?)
    }

    /// Shared x with `peer`, from the cache or a threshold ECDH round.
    async fn shared_secret(&self, node: &AnyNode, peer: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
        let pk = parse_ecdh_pk(peer)
            .map_err(|e| ControlError::BadInput(format!("Invalid peer_pubkey: {e}")))?;
        let peer_x = crate::frostr::types::x_only(&pk);
        let group = node.group_xonly();
        if let Some(x) = self.ecdh_cache.get(&group, &peer_x) {
            return Ok(x);
        }
        let point = match node.ecdh(&pk).await {
            Ok(p) => p,
            Err(e) => {
                node.emit(
                    EventKind::Ecdh,
                    format!("ECDH with {} failed: {e}", hex::encode(peer_x)),
                    None,
                );
                return Err(ControlError::Ecdh(e));
            }
        };
        let x = shared_x(&point);
        self.ecdh_cache.put(&group, &peer_x, &x);
        // The peer key only; the shared secret never leaves this function unencrypted.
        node.emit(
            EventKind::Ecdh,
            format!("ECDH with {} completed", hex::encode(peer_x)),
            Some(serde_json::json!({ "peer": hex::encode(peer_x) })),
        );
        Ok(x)
    }
}
