//! The receive path of §4.5 and the request handlers (ping, sign, ECDH, onboard). Requests
//! that fail validation get no reply (the requester times out), as bifrost-rs does.

use super::policy::{SignRefusal, denied};
use super::{V2Handle, now_secs};
use crate::events::EventKind;
use crate::frostr_v2::envelope::{
    EcdhPackage, OnboardRequest, PING_VERSION, Payload, Ping, SignSession,
};
use crate::frostr_v2::event::Event;
use crate::frostr_v2::receive::{self, Inbound};
use crate::frostr_v2::{ecdh, onboard, sign};

impl V2Handle {
    /// One event from the pool: §4.5 checks, then a reply to a round of ours or a request.
    pub(super) fn on_event(&self, ev: &nostr::prelude::Event) {
        let Ok(ev) = Event::from_json(&ev.as_json()) else {
            tracing::debug!("dropping an event that is not NIP-01 JSON");
            return;
        };
        let accepted = receive::accept(
            &self.0.share.secret,
            &self.0.self_id,
            self.0.key.group(),
            &mut self.state().replay,
            &ev,
            now_secs(),
        );
        if let Some(id) = accepted
            .as_ref()
            .ok()
            .and_then(|i| self.peer_id_of(i.author_idx))
        {
            self.0.policies.mark_seen(&id);
        }
        let inb = match accepted {
            Ok(i) => i,
            Err(e) => {
                tracing::debug!(error = %e, "dropping a V2 event");
                return;
            }
        };
        self.0.pool.touch();
        if inb.envelope.payload.is_response() {
            let Inbound {
                author_idx,
                envelope,
                ..
            } = inb;
            if !self
                .0
                .pending
                .resolve(&envelope.request_id, author_idx, envelope.payload)
            {
                tracing::debug!("dropping a V2 reply no round waits for");
            }
            return;
        }
        let node = self.clone();
        tokio::spawn(async move { node.on_request(inb).await });
    }

    async fn on_request(&self, inb: Inbound) {
        let from = inb.author_idx;
        let env = &inb.envelope;
        let refuse = |m: &str| Some(denied(format!("inbound {m} denied by local policy")));
        let answers_peer = self.local_policy(from).recv;
        let reply = match &env.payload {
            Payload::PingRequest(p) => self.on_ping(from, p),
            Payload::SignRequest(_) if !answers_peer => refuse("sign"),
            Payload::EcdhRequest(_) if !answers_peer => refuse("ecdh"),
            Payload::OnboardRequest(_) if !answers_peer => refuse("onboard"),
            Payload::SignRequest(s) => self.on_sign_request(from, env, s).await,
            Payload::EcdhRequest(e) => self.on_ecdh(from, e),
            Payload::OnboardRequest(o) => self.on_onboard(from, o),
            _ => None,
        };
        let Some(payload) = reply else {
            return;
        };
        if let Err(e) = self.reply(from, &env.request_id, payload) {
            tracing::debug!(error = %e, to = from, "cannot send a V2 reply");
        }
    }

    /// Apply a peer's ping data (nonces, inventory, its policy for us).
    pub(super) fn apply_ping(&self, from: u16, p: &Ping) -> bool {
        let mut st = self.state();
        let Some(rt) = st.peers.get_mut(&from) else {
            return false;
        };
        if let Err(e) = rt
            .pool
            .apply_remote(&p.advertised_nonces, Some(&p.held_peer_nonce_codes))
        {
            tracing::debug!(error = %e, from, "ignoring a ping with bad nonces");
            return false;
        }
        if let Some(profile) = &p.policy_profile {
            if profile.for_peer == self.0.self_id {
                rt.remote = Some(profile.clone());
            }
        }
        true
    }

    /// Our ping data for peer `to`: nonces when it runs low, our inventory and policy.
    pub(super) fn ping_payload(&self, to: u16) -> Option<Ping> {
        let peer = self.peer_id_of(to)?;
        let policy = self.policy_for(&peer);
        let mut st = self.state();
        let rt = st.peers.get_mut(&to)?;
        let advertised_nonces = rt
            .pool
            .advertise(self.0.key.signing_share(), &mut rand::rngs::OsRng);
        Some(Ping {
            version: PING_VERSION,
            advertised_nonces,
            held_peer_nonce_codes: rt.pool.held_incoming_codes(),
            policy_profile: Some(policy),
        })
    }

    fn on_ping(&self, from: u16, p: &Ping) -> Option<Payload> {
        if !self.apply_ping(from, p) {
            return None;
        }
        self.ping_payload(from).map(Payload::PingResponse)
    }

    /// §4.7 responder: validate, check the cap, claim the codes, make the claim and the
    /// partial count durable, only then sign. Returns the response and the peer's new count.
    pub(super) async fn sign_for(
        &self,
        from: u16,
        s: &SignSession,
    ) -> Result<(Payload, u64), SignRefusal> {
        let key = &self.0.key;
        let peer = self
            .peer_id_of(from)
            .ok_or_else(|| SignRefusal::Invalid("not a peer".into()))?;
        let codes = sign::validate_request(key, from, s)
            .map_err(|e| SignRefusal::Invalid(e.to_string()))?;
        // A capped peer is refused before any of its nonces is touched.
        if let Some(c) = self.0.policies.get(&peer).and_then(|p| p.cap_reached()) {
            return Err(SignRefusal::Cap(c));
        }
        // Claimed in memory first: a concurrent replay finds the codes gone.
        let spent = {
            let mut st = self.state();
            let rt = st
                .peers
                .get_mut(&from)
                .ok_or_else(|| SignRefusal::Invalid("not a peer".into()))?;
            // A well-formed request from a member naming a code we do not hold: answered at
            // once (nonce_unavailable), so the requester drops its stale nonces instead of
            // waiting out its timeout.
            rt.pool
                .spend(&codes)
                .map_err(|e| SignRefusal::StaleNonce(e.to_string()))?
        };
        // Counted under the cap atomically (a concurrent request may have taken the last slot).
        let (count, _cap) = match self.0.policies.reserve_partial(&peer) {
            None => return Err(SignRefusal::Invalid("not a peer".into())),
            Some(r) => r.map_err(SignRefusal::Cap)?,
        };
        if let Some(store) = self.0.store.clone() {
            let gid = key.gid();
            let c = codes.clone();
            // One durable step before the partial leaves: the codes are spent and the audit
            // count is raised (so a cap holds across a crash).
            match store
                .run_blocking(move |st| {
                    if !st.v2_mark_spent(&gid, &c, now_secs())? {
                        return Ok(false);
                    }
                    st.raise_partial_counts(&gid, &[(peer, count)])?;
                    Ok(true)
                })
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(
                        from,
                        "refusing a V2 sign request: a nonce code was already spent"
                    );
                    return Err(SignRefusal::Invalid(
                        "a nonce code was already spent".into(),
                    ));
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot record spent nonces; not signing");
                    return Err(SignRefusal::NotRecorded(e.to_string()));
                }
            }
        }
        let mut resp =
            sign::respond(key, s, spent).map_err(|e| SignRefusal::Invalid(e.to_string()))?;
        {
            let mut st = self.state();
            if let Some(rt) = st.peers.get_mut(&from) {
                let more = rt
                    .pool
                    .advertise(key.signing_share(), &mut rand::rngs::OsRng);
                if !more.is_empty() {
                    resp.replenish = Some(more);
                }
            }
        }
        let peer = hex::encode(peer);
        self.emit(
            EventKind::Sign,
            format!("Partial signature sent to {peer}"),
            Some(serde_json::json!({ "peer": peer, "protocol": "v2", "partialsIssued": count })),
        );
        Ok((Payload::SignResponse(resp), count))
    }

    fn on_ecdh(&self, from: u16, req: &EcdhPackage) -> Option<Payload> {
        match ecdh::respond(&self.0.share, self.0.key.group(), from, req) {
            Ok(p) => Some(Payload::EcdhResponse(p)),
            Err(e) => {
                tracing::debug!(error = %e, from, "refusing a V2 ECDH request");
                None
            }
        }
    }

    /// §4.10 responder: a member holding only a bfonboard fetches the group from us.
    fn on_onboard(&self, from: u16, req: &OnboardRequest) -> Option<Payload> {
        let mut st = self.state();
        let rt = st.peers.get_mut(&from)?;
        match onboard::respond(
            self.0.key.group(),
            self.0.key.signing_share(),
            req,
            &mut rt.pool,
            &mut rand::rngs::OsRng,
        ) {
            Ok(r) => Some(Payload::OnboardResponse(r)),
            Err(e) => {
                tracing::debug!(error = %e, from, "refusing a V2 onboard request");
                None
            }
        }
    }
}
