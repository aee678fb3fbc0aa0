//! The requester side: sign, ping and ECDH requests to peers, correlated by id (spec §4.6).

use std::time::{Duration, Instant};

use k256::PublicKey;
use rand::RngCore;

use super::pending::Reply;
use super::{NodeError, NodeHandle, now_secs};
use crate::frostr::ecdh;
use crate::frostr::session::{SessionTemplate, SigVector, create_session};
use crate::frostr::sign::{HexPoint, PsigPackage, SigningSession};
use crate::frostr::transport::envelope::MessageId;
use crate::frostr::transport::payload::{EcdhPackage, EcdhPubkey, Payload, PingResponse};

/// Outcome of a successful ping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PingResult {
    pub latency_ms: u64,
    /// The peer's policy towards us.
    pub policy: PingResponse,
}

fn fresh_id() -> MessageId {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    MessageId::from_random(b)
}

impl NodeHandle {
    /// Send `payload` to `peers` under one id and wait for one reply from each.
    async fn request(
        &self,
        peers: &[[u8; 32]],
        payload: Payload,
        timeout: Duration,
    ) -> Result<Vec<Reply>, NodeError> {
        if !self.is_running() {
            return Err(NodeError::Stopped);
        }
        let id = fresh_id();
        let rx = self.0.pending.register(id, peers.to_vec());
        for p in peers {
            if let Err(e) = self.send(p, id, &payload) {
                self.0.pending.cancel(&id);
                return Err(e);
            }
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(replies)) => Ok(replies),
            Ok(Err(_)) => Err(NodeError::Stopped),
            Err(_) => {
                self.0.pending.cancel(&id);
                Err(NodeError::Timeout(timeout))
            }
        }
    }

    /// The t−1 peers for a request, or an error when too few may be asked.
    fn pick_peers(&self) -> Result<Vec<super::Peer>, NodeError> {
        let need = (self.0.group.threshold as usize).saturating_sub(1);
        let peers = self.0.peers.select_for_request(need);
        if peers.len() < need {
            return Err(NodeError::NotEnoughPeers {
                need,
                have: peers.len(),
            });
        }
        Ok(peers)
    }

    /// Threshold-sign one 32-byte message (e.g. a Nostr event id); returns the BIP-340
    /// signature under the group key. Every partial is verified before aggregation.
    pub async fn sign(&self, message: [u8; 32]) -> Result<[u8; 64], NodeError> {
        let peers = self.pick_peers()?;
        let mut members = vec![self.0.share.idx];
        members.extend(peers.iter().map(|p| p.idx));
        let stamp = u32::try_from(now_secs()).unwrap_or(u32::MAX);
        let template = SessionTemplate::new(vec![SigVector::new(message)], members, stamp);
        let package = create_session(&self.0.group, template)?;
        let session = SigningSession::new(&self.0.group, package.clone())?;
        let own = session.sign(&self.0.group, &self.0.share)?;
        let keys: Vec<[u8; 32]> = peers.iter().map(|p| p.xonly).collect();
        let mut pkgs: Vec<PsigPackage> = vec![own];
        if !keys.is_empty() {
            for (from, reply) in self
                .request(&keys, Payload::SignReq(package), self.0.timeout)
                .await?
            {
                match reply {
                    Payload::SignRes(p) => pkgs.push(p),
                    other => {
                        return Err(NodeError::BadReply(format!(
                            "{} answered a sign request with {}",
                            hex::encode(from),
                            other.tag()
                        )));
                    }
                }
            }
        }
        let entries = session.aggregate(&pkgs)?;
        entries
            .into_iter()
            .find(|e| e.sighash == message)
            .map(|e| e.signature)
            .ok_or_else(|| NodeError::BadReply("no signature for the message".into()))
    }

    /// Ping one peer (x-only key) waiting at most `timeout`; records latency on success.
    pub async fn ping(&self, peer: &[u8; 32], timeout: Duration) -> Result<PingResult, NodeError> {
        if self.0.peers.get(peer).is_none() {
            return Err(NodeError::UnknownPeer(hex::encode(peer)));
        }
        let started = Instant::now();
        let replies = self.request(&[*peer], Payload::PingReq, timeout).await?;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match replies.into_iter().next() {
            Some((_, Payload::PingRes(policy))) => {
                self.0.peers.record_ping(peer, latency_ms, policy);
                Ok(PingResult { latency_ms, policy })
            }
            Some((_, other)) => Err(NodeError::BadReply(format!(
                "answered a ping with {}",
                other.tag()
            ))),
            None => Err(NodeError::BadReply("empty ping reply".into())),
        }
    }

    /// Threshold ECDH with `pubkey` (x-only lifted to even y, or compressed): the group
    /// secret times `pubkey`, combined from t key shares.
    pub async fn ecdh(&self, pubkey: &PublicKey) -> Result<PublicKey, NodeError> {
        let peers = self.pick_peers()?;
        let mut members = vec![self.0.share.idx];
        members.extend(peers.iter().map(|p| p.idx));
        let own = ecdh::keyshare(&self.0.share, &members, pubkey)?;
        let ecdh_pk = EcdhPubkey::parse(&HexPoint::from_public_key(pubkey).to_hex())
            .ok_or_else(|| NodeError::BadReply("cannot encode the ECDH key".into()))?;
        let req = EcdhPackage {
            idx: self.0.share.idx,
            keyshare: HexPoint::from_public_key(&own),
            members: members.clone(),
            ecdh_pk,
        };
        let keys: Vec<[u8; 32]> = peers.iter().map(|p| p.xonly).collect();
        let mut shares = vec![own];
        if !keys.is_empty() {
            for (from, reply) in self
                .request(&keys, Payload::EcdhReq(req), self.0.timeout)
                .await?
            {
                let Payload::EcdhRes(p) = reply else {
                    return Err(NodeError::BadReply(format!(
                        "{} answered an ECDH request with something else",
                        hex::encode(from)
                    )));
                };
                let expected = peers.iter().find(|x| x.xonly == from).map(|x| x.idx);
                if Some(p.idx) != expected || p.members != members {
                    return Err(NodeError::BadReply(format!(
                        "{} sent an ECDH share for another member set",
                        hex::encode(from)
                    )));
                }
                let ks = p
                    .keyshare
                    .to_public_key()
                    .ok_or_else(|| NodeError::BadReply("ECDH share is not a point".into()))?;
                shares.push(ks);
            }
        }
        Ok(ecdh::combine(&shares)?)
    }
}
