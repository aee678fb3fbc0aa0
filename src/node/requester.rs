//! The requester side: sign, ping and ECDH requests to peers, correlated by id (spec §4.6).

use std::time::{Duration, Instant};

use k256::PublicKey;
use rand::RngCore;

use super::pending::Reply;
use super::retry::{OnDrop, disjoint_groups, first_answer};
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

/// Time left until `deadline`.
fn left(deadline: tokio::time::Instant) -> Duration {
    deadline.saturating_duration_since(tokio::time::Instant::now())
}

fn fresh_id() -> MessageId {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    MessageId::from_random(b)
}

impl NodeHandle {
    /// Send `payload` to `peers` under one id and wait for one reply from each. Peers that
    /// leave it unanswered are marked (asked last next time, shown offline).
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
        let asked_at = Instant::now();
        let rx = self.0.pending.register(id, peers.to_vec());
        // However this ends (dropped too, when another attempt won), the request is forgotten.
        let _forget = OnDrop(|| self.0.pending.cancel(&id));
        for p in peers {
            self.send(p, id, &payload)?;
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(replies)) => Ok(replies),
            Ok(Err(_)) => Err(NodeError::Stopped),
            Err(_) => {
                for p in peers {
                    self.0.peers.mark_missed(p, asked_at);
                }
                Err(NodeError::Timeout(timeout))
            }
        }
    }

    /// Disjoint groups of t−1 peers to ask in turn (see `retry`), or an error when too few
    /// may be asked.
    fn peer_groups(&self) -> Result<Vec<Vec<super::Peer>>, NodeError> {
        let need = (self.0.group.threshold as usize).saturating_sub(1);
        let peers = self.0.peers.select_for_request(usize::MAX);
        if peers.len() < need {
            return Err(NodeError::NotEnoughPeers {
                need,
                have: peers.len(),
            });
        }
        Ok(disjoint_groups(peers, need))
    }

    /// Ask the peer groups in turn (a silent group is passed over) within the sign timeout.
    async fn with_retry<T, Fut>(
        &self,
        attempt: impl FnMut(Vec<super::Peer>, tokio::time::Instant) -> Fut,
    ) -> Result<T, NodeError>
    where
        Fut: std::future::Future<Output = Result<T, NodeError>>,
    {
        let groups = self.peer_groups()?;
        first_answer(&self.0.peers, groups, self.0.timeout, attempt).await
    }

    /// Threshold-sign one 32-byte message (e.g. a Nostr event id); returns the BIP-340
    /// signature under the group key. Every partial is verified before aggregation. Peers
    /// that stay silent are passed over for others within the sign timeout; each peer is
    /// asked at most once, so it issues at most one partial for this message (see `retry`
    /// for why that keeps v1 shares safe).
    pub async fn sign(&self, message: [u8; 32]) -> Result<[u8; 64], NodeError> {
        self.with_retry(|peers, deadline| self.sign_with(peers, message, deadline))
            .await
    }

    /// One signing session with `peers`, answered by `deadline`.
    async fn sign_with(
        &self,
        peers: Vec<super::Peer>,
        message: [u8; 32],
        deadline: tokio::time::Instant,
    ) -> Result<[u8; 64], NodeError> {
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
                .request(&keys, Payload::SignReq(package), left(deadline))
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
    /// secret times `pubkey`, combined from t key shares. Silent peers are passed over as
    /// in [`Self::sign`] (an ECDH share reveals nothing more when asked of another member set).
    pub async fn ecdh(&self, pubkey: &PublicKey) -> Result<PublicKey, NodeError> {
        self.with_retry(|peers, deadline| self.ecdh_with(peers, pubkey, deadline))
            .await
    }

    /// One ECDH round with `peers`, answered by `deadline`.
    async fn ecdh_with(
        &self,
        peers: Vec<super::Peer>,
        pubkey: &PublicKey,
        deadline: tokio::time::Instant,
    ) -> Result<PublicKey, NodeError> {
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
                .request(&keys, Payload::EcdhReq(req), left(deadline))
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
