//! The receive path (spec §4.5) and the handlers of `/ping/req`, `/sign/req`, `/ecdh/req`.
//! v1 has no rejection message: a refused or failed request is logged and left unanswered.

use super::NodeHandle;
use crate::events::EventKind;
use crate::frostr::ecdh;
use crate::frostr::sign::HexPoint;
use crate::frostr::transport::envelope::MessageId;
use crate::frostr::transport::event::{self, Event};
use crate::frostr::transport::payload::{EcdhPackage, Payload, PingResponse};

/// The most sighashes one v1 `/sign/req` may carry. Three partial signatures from one share
/// (in one session or across sessions) reveal it (spec §11.1), so one request must never be
/// able to take three; two are what two separate requests would get anyway, and bifrost
/// 1.0.7's sign queue batches the sighashes of its 100 ms `sign_ival` into one request.
/// Every sighash is counted toward the peer's `partialCap` (see guard.rs).
pub const MAX_SIGHASHES_PER_SESSION: usize = 2;

/// Why a request is not answered; only for logging.
#[derive(Debug, thiserror::Error)]
pub(super) enum Refusal {
    #[error("the sender is not a peer of this group")]
    NotAPeer,
    #[error("our policy does not answer this peer")]
    PolicyDenied,
    #[error(
        "the session asks for {0} signatures in one request; {MAX_SIGHASHES_PER_SESSION} at most, since three partials from one share reveal it in v1 (spec §11.1)"
    )]
    TooManySighashes(usize),
    #[error("{0}")]
    Failed(String),
}

impl NodeHandle {
    /// One event from the pool: open, authorise, dispatch. Never panics on bad input.
    pub(super) fn on_event(&self, ev: &nostr::prelude::Event) {
        let Ok(ev) = Event::from_json(&ev.as_json()) else {
            tracing::debug!("dropping an event that is not NIP-01 JSON");
            return;
        };
        let env = match event::open(&self.0.share.seckey, &ev) {
            Ok(e) => e,
            Err(e) => {
                tracing::debug!(error = %e, "dropping an event we cannot open");
                return;
            }
        };
        let Ok(from) = ev.author() else { return };
        let payload = match Payload::parse(&env) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(error = %e, tag = %env.tag, "dropping a malformed message");
                return;
            }
        };
        // §4.5 step 4: echo always passes (see `echo`); anything else from ourselves is dropped.
        let payload = match payload {
            Payload::EchoReq(challenge) => return self.on_echo(from, env.id, challenge),
            _ if from == self.0.self_xonly => return,
            p => p,
        };
        let id = env.id;
        match payload {
            Payload::PingRes(_) | Payload::SignRes(_) | Payload::EcdhRes(_) => {
                self.0.peers.mark_seen(&from);
                if !self.0.pending.resolve(&id, from, payload) {
                    tracing::debug!("dropping a reply no request waits for");
                }
            }
            req => {
                let tag = req.tag();
                let peer = hex::encode(from);
                match self.answer(from, id, req) {
                    // The guard reports sign requests itself (issued, queued or refused).
                    Ok(()) if tag == crate::frostr::transport::payload::Tag::SignReq => {}
                    Ok(()) => self.emit(
                        EventKind::Bifrost,
                        format!("answered {tag} from a peer"),
                        Some(serde_json::json!({ "tag": tag.as_str(), "peer": peer })),
                    ),
                    Err(why) => {
                        tracing::warn!(%tag, %peer, reason = %why, "request not answered");
                        self.emit(
                            EventKind::Warn,
                            format!("{tag} not answered: {why}"),
                            Some(serde_json::json!({ "tag": tag.as_str(), "peer": peer })),
                        );
                    }
                }
            }
        }
    }

    fn answer(&self, from: [u8; 32], id: MessageId, req: Payload) -> Result<(), Refusal> {
        let peer = self.0.peers.get(&from).ok_or(Refusal::NotAPeer)?;
        self.0.peers.mark_seen(&from);
        let reply = match req {
            Payload::PingReq => Payload::PingRes(PingResponse {
                send: peer.policy.send,
                recv: peer.policy.recv,
            }),
            _ if !peer.policy.recv => return Err(Refusal::PolicyDenied),
            Payload::SignReq(session) => {
                if session.hashes.len() > MAX_SIGHASHES_PER_SESSION {
                    return Err(Refusal::TooManySighashes(session.hashes.len()));
                }
                // Counting (one per sighash), caps and approval: see guard.rs.
                return self.on_sign_request(from, id, session);
            }
            Payload::EcdhReq(req) => {
                let target = req
                    .ecdh_pk
                    .to_public_key()
                    .ok_or_else(|| Refusal::Failed("bad ECDH key".into()))?;
                let share = ecdh::keyshare(&self.0.share, &req.members, &target)
                    .map_err(|e| Refusal::Failed(e.to_string()))?;
                Payload::EcdhRes(EcdhPackage {
                    idx: self.0.share.idx,
                    keyshare: HexPoint::from_public_key(&share),
                    members: req.members,
                    ecdh_pk: req.ecdh_pk,
                })
            }
            _ => return Ok(()),
        };
        self.send(&from, id, &reply)
            .map_err(|e| Refusal::Failed(e.to_string()))
    }
}
