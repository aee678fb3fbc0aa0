//! The requester side: sign (§4.7), ECDH (§4.9) and ping (§4.6) rounds with peers.

use std::time::{Duration, Instant};

use k256::PublicKey;
use rand::RngCore;

use super::pending::Reply;
use super::{V2Error, V2Handle, answers, now_secs, ping_result};
use crate::frostr_v2::ecdh::EcdhRound;
use crate::frostr_v2::envelope::{ERROR_NONCE_UNAVAILABLE, Envelope, Payload};
use crate::frostr_v2::sign::SignRound;
use crate::frostr_v2::types::lift_x;
use crate::node::peers::Peer;
use crate::node::retry::{OnDrop, disjoint_groups, first_answer};
use crate::node::{NodeError, PingResult};

fn fresh_request_id() -> [u8; 16] {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

impl V2Handle {
    /// Send `payload` to `peers` under one fresh request id and feed each reply to
    /// `on_reply` until it returns a result, a reply is wrong, or `timeout` passes.
    async fn round<T>(
        &self,
        peers: &[u16],
        payload: Payload,
        timeout: Duration,
        mut on_reply: impl FnMut(Reply) -> Result<Option<T>, NodeError>,
    ) -> Result<T, NodeError> {
        if !self.is_running() {
            return Err(NodeError::Stopped);
        }
        let env = Envelope::new(fresh_request_id(), now_secs(), payload);
        let id = env.request_id.clone();
        let asked_at = Instant::now();
        let mut rx = self.0.pending.register(&id, peers.to_vec());
        // However this ends (dropped too, when another attempt won), the round is forgotten.
        let _forget = OnDrop(|| self.0.pending.cancel(&id));
        for p in peers {
            self.send(*p, &env)?;
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Err(_) => {
                    // Who has not answered is marked (asked last next time, shown offline).
                    for id in peers.iter().filter_map(|p| self.peer_id_of(*p)) {
                        self.0.policies.mark_missed(&id, asked_at);
                    }
                    break Err(NodeError::Timeout(timeout));
                }
                Ok(None) => break Err(NodeError::Stopped),
                Ok(Some((from, reply))) => {
                    let reply = match reply {
                        Payload::Error(e) => {
                            break Err(V2Error::Rejected {
                                peer: self.peer_id_of(from).map(hex::encode).unwrap_or_default(),
                                code: e.code,
                                message: e.message,
                            }
                            .into());
                        }
                        r if !answers(&env.payload, &r) => {
                            break Err(NodeError::BadReply(format!(
                                "member {from} answered {} with {}",
                                env.payload.type_name(),
                                r.type_name()
                            )));
                        }
                        r => r,
                    };
                    match on_reply((from, reply)) {
                        Ok(Some(t)) => break Ok(t),
                        Ok(None) => {}
                        Err(e) => break Err(e),
                    }
                }
            }
        }
    }

    /// Peers we may ask for `method`: our policy lets us ask it and its last observed
    /// policy does not refuse it.
    fn allowed(&self, idx: u16, sign: bool) -> bool {
        if !self.local_policy(idx).send {
            return false;
        }
        let st = self.state();
        st.peers
            .get(&idx)
            .and_then(|r| r.remote.as_ref())
            .is_none_or(|p| !p.block_all && if sign { p.respond.sign } else { p.respond.ecdh })
    }

    /// Threshold-sign one 32-byte message; returns a BIP-340 signature under the group
    /// key, verified before it is returned. Needs t−1 sign-ready peers (holding more than
    /// five of their nonces); otherwise [`V2Error::NoncesExhausted`]. Peers that stay silent
    /// are passed over for other sign-ready peers within the sign timeout, each asked once
    /// (see node/retry.rs); V2 nonces are one-time, so a retry only spends one more of
    /// another peer's nonces.
    pub async fn sign(&self, message: [u8; 32]) -> Result<[u8; 64], NodeError> {
        if !self.is_running() {
            return Err(NodeError::Stopped);
        }
        let need = usize::from(self.0.key.group().threshold).saturating_sub(1);
        if need == 0 {
            return Err(V2Error::SingleSigner.into());
        }
        // Those that answered their last request first, then most recently seen (as v1).
        let candidates: Vec<Peer> = self
            .0
            .policies
            .select_for_request(usize::MAX)
            .into_iter()
            .filter(|p| u16::try_from(p.idx).is_ok_and(|i| self.allowed(i, true)))
            .collect();
        if candidates.len() < need {
            return Err(NodeError::NotEnoughPeers {
                need,
                have: candidates.len(),
            });
        }
        let ready: Vec<Peer> = {
            let st = self.state();
            candidates
                .into_iter()
                .filter(|p| {
                    u16::try_from(p.idx)
                        .ok()
                        .and_then(|i| st.peers.get(&i))
                        .is_some_and(|r| r.pool.is_sign_ready())
                })
                .collect()
        };
        if ready.len() < need {
            return Err(V2Error::NoncesExhausted {
                need,
                have: ready.len(),
            }
            .into());
        }
        let groups = disjoint_groups(ready, need);
        first_answer(
            &self.0.policies,
            groups,
            self.0.timeout,
            |peers, deadline| self.sign_with(peers, message, deadline),
        )
        .await
    }

    /// One signing round with `peers` (each sign-ready when chosen), answered by `deadline`.
    async fn sign_with(
        &self,
        peers: Vec<Peer>,
        message: [u8; 32],
        deadline: tokio::time::Instant,
    ) -> Result<[u8; 64], NodeError> {
        let need = peers.len();
        let targets: Vec<u16> = peers
            .iter()
            .filter_map(|p| u16::try_from(p.idx).ok())
            .collect();
        let mut round = {
            let mut st = self.state();
            let mut picked = Vec::with_capacity(need);
            for t in &targets {
                let n = st
                    .peers
                    .get_mut(t)
                    .map(|r| r.pool.take_incoming(1))
                    .ok_or(V2Error::NoncesExhausted { need, have: 0 })?
                    .map_err(|_| V2Error::NoncesExhausted { need, have: 0 })?;
                picked.push((*t, n));
            }
            let stamp = u32::try_from(now_secs()).unwrap_or(u32::MAX);
            SignRound::start(
                &self.0.key,
                picked,
                vec![message],
                stamp,
                &mut rand::rngs::OsRng,
            )
            .map_err(V2Error::from)?
        };
        let request = Payload::SignRequest(round.request().clone());
        let timeout = deadline.saturating_duration_since(tokio::time::Instant::now());
        let result = self
            .round(&targets, request, timeout, |(from, reply)| {
                let Payload::SignResponse(r) = reply else {
                    return Ok(None);
                };
                if let Some(more) = &r.replenish {
                    let mut st = self.state();
                    if let Some(rt) = st.peers.get_mut(&from) {
                        let _ = rt.pool.apply_remote(more, None);
                    }
                }
                match round.accept(from, &r).map_err(V2Error::from)? {
                    Some(sigs) => {
                        sigs.into_iter().next().map(Some).ok_or_else(|| {
                            NodeError::BadReply("no signature for the message".into())
                        })
                    }
                    None => Ok(None),
                }
            })
            .await;
        // Peers whose nonces we hold are stale: a silent peer may have lost its pools (a
        // restart; bifrost-rs refuses without a reply), an igloo peer says so with
        // `nonce_unavailable`. Drop them; the next ping brings fresh ones.
        let stale_peers: Vec<u16> = match &result {
            Err(NodeError::Timeout(_)) => round.pending(),
            Err(NodeError::V2(V2Error::Rejected { peer, code, .. }))
                if code == ERROR_NONCE_UNAVAILABLE =>
            {
                crate::frostr_v2::hexser::parse::<32>(peer)
                    .and_then(|id| self.peer_idx(&id))
                    .into_iter()
                    .collect()
            }
            _ => Vec::new(),
        };
        if !stale_peers.is_empty() {
            let mut st = self.state();
            for idx in stale_peers {
                if let Some(rt) = st.peers.get_mut(&idx) {
                    let stale = rt.pool.drop_incoming();
                    if stale > 0 {
                        tracing::info!(
                            peer = idx,
                            stale,
                            "nonces held from that peer are stale (no answer, or nonce_unavailable); dropped them"
                        );
                    }
                }
            }
        }
        result
    }

    /// Threshold ECDH with `pubkey` (lifted to even y): returns the point whose x is the
    /// shared secret `x(a0·P)` (the fixed form of §4.9), in the shape v1's `ecdh` returns.
    pub async fn ecdh(&self, pubkey: &PublicKey) -> Result<PublicKey, NodeError> {
        let target = crate::frostr::types::x_only(pubkey);
        let need = usize::from(self.0.key.group().threshold).saturating_sub(1);
        if need == 0 {
            return Err(V2Error::SingleSigner.into());
        }
        // Most recently seen first (likely online), as v1 picks them; silent ones passed over.
        let peers: Vec<Peer> = self
            .0
            .policies
            .select_for_request(usize::MAX)
            .into_iter()
            .filter(|p| u16::try_from(p.idx).is_ok_and(|i| self.allowed(i, false)))
            .collect();
        if peers.len() < need {
            return Err(NodeError::NotEnoughPeers {
                need,
                have: peers.len(),
            });
        }
        let x = first_answer(
            &self.0.policies,
            disjoint_groups(peers, need),
            self.0.timeout,
            |peers, deadline| self.ecdh_with(peers, target, deadline),
        )
        .await?;
        lift_x(&x).ok_or_else(|| NodeError::BadReply("ECDH result is not a curve point".into()))
    }

    /// One ECDH round with `peers` for the x-only `target`, answered by `deadline`.
    async fn ecdh_with(
        &self,
        peers: Vec<Peer>,
        target: [u8; 32],
        deadline: tokio::time::Instant,
    ) -> Result<zeroize::Zeroizing<[u8; 32]>, NodeError> {
        let targets: Vec<u16> = peers
            .iter()
            .filter_map(|p| u16::try_from(p.idx).ok())
            .collect();
        let mut round = EcdhRound::start(&self.0.share, self.0.key.group(), &targets, &[target])
            .map_err(V2Error::from)?;
        let request = Payload::EcdhRequest(round.request().clone());
        let timeout = deadline.saturating_duration_since(tokio::time::Instant::now());
        self.round(&targets, request, timeout, |(from, reply)| {
            let Payload::EcdhResponse(p) = reply else {
                return Ok(None);
            };
            match round.accept(from, &p).map_err(V2Error::from)? {
                Some(mut all) => all
                    .pop()
                    .map(|(_, x)| Some(x))
                    .ok_or_else(|| NodeError::BadReply("no ECDH result".into())),
                None => Ok(None),
            }
        })
        .await
    }

    /// Ping one peer (x-only key): exchange nonces, inventories and policies; records the
    /// round trip.
    pub async fn ping(&self, peer: &[u8; 32], timeout: Duration) -> Result<PingResult, NodeError> {
        let idx = self
            .peer_idx(peer)
            .ok_or_else(|| NodeError::UnknownPeer(hex::encode(peer)))?;
        let data = self
            .ping_payload(idx)
            .ok_or_else(|| NodeError::UnknownPeer(hex::encode(peer)))?;
        let started = Instant::now();
        let pong = self
            .round(
                &[idx],
                Payload::PingRequest(data),
                timeout,
                |(_, reply)| match reply {
                    Payload::PingResponse(p) => Ok(Some(p)),
                    _ => Ok(None),
                },
            )
            .await?;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if !self.apply_ping(idx, &pong) {
            return Err(NodeError::BadReply(
                "the ping reply carried invalid nonces".into(),
            ));
        }
        let remote = self.state().peers.get(&idx).and_then(|r| r.remote.clone());
        self.0.policies.record_latency(peer, latency_ms);
        Ok(ping_result(latency_ms, remote.as_ref()))
    }
}
