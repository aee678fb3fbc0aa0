//! Peer policies, partial-signature caps and `SIGN_POLICY=approve` for the V2 node, on the
//! same guard as v1 (node/guard.rs, peers.rs, approval.rs): policy edits apply at once, a
//! queued sign request spends and counts nothing until it is approved.

use super::{V2Handle, now_secs};
use crate::events::EventKind;
use crate::frostr_v2::credentials::{MethodOverrides, Override, PeerPolicy};
use crate::frostr_v2::envelope::{
    ERROR_NONCE_UNAVAILABLE, Envelope, ErrorData, Payload, SignSession,
};
use crate::keyset::V2Credentials;
use crate::node::approval::{ApprovalError, PendingSign, SignPolicy, SignRequest};
use crate::node::guard::{PolicyError, PolicyUpdate, emit_expired, emit_policy_changed};
use crate::node::peers::{CapReached, Peer, Policy};
use crate::store::Store;
use crate::store::policies::StoredPolicy;

/// Why a V2 sign request gets no partial.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SignRefusal {
    /// Validation or nonce failure: silent, as bifrost-rs (the requester times out).
    #[error("{0}")]
    Invalid(String),
    /// The peer's cap is reached: a local-policy denial, answered with an Error.
    #[error("{0}")]
    Cap(#[from] CapReached),
    /// The spent codes or the count could not be made durable, so nothing was sent.
    #[error("{0}")]
    NotRecorded(String),
    /// A nonce code we do not hold (stale or spent): answered with `nonce_unavailable`.
    #[error("{0}")]
    StaleNonce(String),
}

impl From<SignRefusal> for ApprovalError {
    fn from(r: SignRefusal) -> Self {
        match r {
            SignRefusal::Invalid(m) | SignRefusal::StaleNonce(m) => ApprovalError::Failed(m),
            SignRefusal::Cap(c) => ApprovalError::CapReached(c),
            SignRefusal::NotRecorded(m) => ApprovalError::NotRecorded(m),
        }
    }
}

/// The §4.11 Error for a sign request we refuse by local policy.
pub(super) fn denied(message: impl Into<String>) -> Payload {
    Payload::Error(ErrorData {
        code: "peer_denied".into(),
        message: message.into(),
    })
}

/// The Error for a sign request naming a nonce code we do not hold (after our restart the
/// peer may still hold nonces we no longer have): the requester fails at once and drops them.
fn nonce_unavailable() -> Payload {
    Payload::Error(ErrorData {
        code: ERROR_NONCE_UNAVAILABLE.into(),
        message: "a nonce code in the request is unknown or already spent; \
                  ping to receive fresh nonces"
            .into(),
    })
}

impl V2Handle {
    /// `auto` or `approve`.
    pub fn sign_policy(&self) -> SignPolicy {
        self.0.guard.sign_policy()
    }

    /// Change our policy towards a peer: saved first, applied at once, and advertised to
    /// that peer by a ping right away (§4.13) so it stops or resumes asking us.
    pub async fn update_policy(
        &self,
        xonly: &[u8; 32],
        update: PolicyUpdate,
    ) -> Result<Peer, PolicyError> {
        self.0
            .guard
            .update_policy(&self.0.policies, xonly, update)
            .await?;
        self.announce_policy(xonly);
        let peer = self
            .peer(xonly)
            .ok_or_else(|| PolicyError::UnknownPeer(hex::encode(xonly)))?;
        emit_policy_changed(|k, m, d| self.emit(k, m, d), &peer);
        Ok(peer)
    }

    /// Remove the API-set policy of a peer (back to `PEER_POLICIES` or the default).
    pub async fn delete_policy(&self, xonly: &[u8; 32]) -> Result<Peer, PolicyError> {
        self.0.guard.delete_policy(&self.0.policies, xonly).await?;
        self.announce_policy(xonly);
        self.peer(xonly)
            .ok_or_else(|| PolicyError::UnknownPeer(hex::encode(xonly)))
    }

    /// Ping `peer` in the background so it learns our new policy towards it.
    fn announce_policy(&self, peer: &[u8; 32]) {
        if !self.is_running() {
            return;
        }
        let (node, peer) = (self.clone(), *peer);
        tokio::spawn(async move {
            if let Err(e) = node.ping(&peer, super::PING_TIMEOUT).await {
                tracing::debug!(peer = %hex::encode(peer), error = %e, "policy ping failed");
            }
        });
    }

    /// Sign requests waiting for approval, oldest first.
    pub fn pending_signs(&self) -> Vec<PendingSign> {
        self.0.guard.pending()
    }

    /// Approve a waiting request: spend its nonce codes and count it durably, then send
    /// our partial. Returns the peer's count after this one.
    pub async fn approve_sign(&self, id: &str) -> Result<u64, ApprovalError> {
        let p = self.0.guard.take_for_approval(&self.0.policies, id)?;
        let SignRequest::V2 {
            from,
            request_id,
            session,
        } = p.request
        else {
            return Err(ApprovalError::Failed("not a V2 sign request".into()));
        };
        match self.sign_for(from, &session).await {
            Ok((payload, count)) => {
                self.reply(from, &request_id, payload)
                    .map_err(ApprovalError::Failed)?;
                tracing::info!(peer = %hex::encode(p.peer), id, "V2 sign request approved");
                Ok(count)
            }
            Err(SignRefusal::Cap(c)) => {
                let _ = self.reply(
                    from,
                    &request_id,
                    denied(format!("inbound sign denied by local policy: {c}")),
                );
                Err(c.into())
            }
            Err(SignRefusal::StaleNonce(m)) => {
                let _ = self.reply(from, &request_id, nonce_unavailable());
                Err(ApprovalError::Failed(m))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Deny a waiting request: no partial; the requester gets a `peer_denied` Error at once
    /// instead of waiting for its timeout.
    pub fn deny_sign(&self, id: &str) -> Result<PendingSign, ApprovalError> {
        let p = self.0.guard.take_for_denial(id)?;
        if let SignRequest::V2 {
            from, request_id, ..
        } = &p.request
        {
            if let Err(e) = self.reply(
                *from,
                request_id,
                denied("inbound sign denied by the node's operator"),
            ) {
                tracing::debug!(error = %e, "cannot send the denial");
            }
        }
        let peer = hex::encode(p.peer);
        tracing::info!(%peer, id, "V2 sign request denied");
        self.emit(
            EventKind::Sign,
            "sign request denied",
            Some(serde_json::json!({ "id": id, "peer": peer, "protocol": "v2" })),
        );
        Ok(p)
    }

    /// A sign request from a peer our policy answers: sign now (auto) or queue it
    /// (approve). Returns the reply to send now, if any.
    pub(super) async fn on_sign_request(
        &self,
        from: u16,
        env: &Envelope,
        s: &SignSession,
    ) -> Option<Payload> {
        let peer = self.peer_id_of(from)?;
        match self.sign_policy() {
            SignPolicy::Auto => match self.sign_for(from, s).await {
                Ok((payload, _)) => Some(payload),
                Err(SignRefusal::Cap(c)) => {
                    self.refused(&peer, &c.to_string());
                    Some(denied(format!("inbound sign denied by local policy: {c}")))
                }
                Err(SignRefusal::StaleNonce(e)) => {
                    tracing::debug!(error = %e, from, "refusing a V2 sign request");
                    Some(nonce_unavailable())
                }
                Err(e) => {
                    tracing::debug!(error = %e, from, "refusing a V2 sign request");
                    None
                }
            },
            SignPolicy::Approve => {
                // Only a request we could sign is worth a person's attention.
                if let Err(e) = crate::frostr_v2::sign::validate_request(&self.0.key, from, s) {
                    tracing::debug!(error = %e, from, "refusing a V2 sign request");
                    return None;
                }
                let request = SignRequest::V2 {
                    from,
                    request_id: env.request_id.clone(),
                    session: Box::new(s.clone()),
                };
                let hint = request.content();
                let (pid, ttl) =
                    match self
                        .0
                        .guard
                        .enqueue(&self.0.policies, peer, request, self.0.timeout)
                    {
                        Ok(q) => q,
                        Err(why) => {
                            self.refused(&peer, &why);
                            return Some(denied(format!(
                                "inbound sign denied by local policy: {why}"
                            )));
                        }
                    };
                let hex_peer = hex::encode(peer);
                tracing::info!(peer = %hex_peer, id = %pid, "V2 sign request waits for approval");
                self.emit(
                    EventKind::Sign,
                    "sign request waits for approval",
                    Some(
                        serde_json::json!({ "id": pid, "peer": hex_peer, "content": hint,
                        "protocol": "v2" }),
                    ),
                );
                let node = self.clone();
                tokio::spawn(async move {
                    // Expired: the requester stopped waiting; no partial, no reply.
                    if let Some(p) = node.0.guard.expire_after(&pid, ttl).await {
                        emit_expired(|k, m, d| node.emit(k, m, d), &p);
                    }
                });
                None
            }
        }
    }

    fn refused(&self, peer: &[u8; 32], why: &str) {
        let peer = hex::encode(peer);
        tracing::warn!(%peer, reason = %why, "V2 sign request refused");
        self.emit(
            EventKind::Warn,
            format!("sign request not answered: {why}"),
            Some(serde_json::json!({ "peer": peer, "protocol": "v2" })),
        );
    }

    /// Answer request `request_id` of member `to`.
    pub(super) fn reply(&self, to: u16, request_id: &str, payload: Payload) -> Result<(), String> {
        let out = Envelope {
            request_id: request_id.to_owned(),
            sent_at: now_secs(),
            payload,
        };
        self.send(to, &out).map_err(|e| e.to_string())
    }
}

/// Our coarse policy (`send`: we ask it, `recv`: we answer it) from a bfprofile's manual
/// override for one peer, or `None` when the override sets nothing we can express. A denial
/// of any of sign/ECDH/onboard turns the whole direction off: a per-method deny must never
/// leave that method allowed. Ping and echo stay allowed (our model does not gate them).
pub fn policy_from_override(p: &PeerPolicy) -> Option<Policy> {
    let gated = |m: &MethodOverrides| [m.sign, m.ecdh, m.onboard];
    let all = gated(&p.request).into_iter().chain(gated(&p.respond));
    if all.into_iter().all(|o| o == Override::Unset) {
        return None;
    }
    let open = |m: &MethodOverrides| !gated(m).contains(&Override::Deny);
    Some(Policy {
        send: open(&p.request),
        recv: open(&p.respond),
    })
}

/// Make the policy overrides of imported V2 credentials (a `bfprofile`) the stored peer
/// policies of their group, except for a peer whose policy the owner already set through
/// the API. Blocking (store). Returns how many policies were written.
pub fn apply_profile_policies(
    store: &Store,
    creds: &V2Credentials,
) -> Result<usize, crate::store::StoreError> {
    let Some(group) = &creds.group else {
        return Ok(0);
    };
    if creds.policy_overrides.is_empty() {
        return Ok(0);
    }
    let gid = crate::frostr_v2::ids::group_id(group);
    let members: Vec<[u8; 32]> = group.members.iter().map(|m| m.peer_id()).collect();
    let existing = store.load_peer_policies(&gid)?;
    let mut written = 0;
    for o in &creds.policy_overrides {
        if !members.contains(&o.pubkey) || existing.contains_key(&o.pubkey) {
            continue;
        }
        let Some(p) = policy_from_override(&o.policy) else {
            continue;
        };
        let rec = StoredPolicy::new(
            p.send,
            p.recv,
            None,
            Some("imported from a bfprofile".into()),
            None,
            now_secs(),
        );
        store.put_peer_policy(&gid, &o.pubkey, &rec)?;
        written += 1;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn methods(sign: Override, ecdh: Override, onboard: Override) -> MethodOverrides {
        MethodOverrides {
            sign,
            ecdh,
            onboard,
            ..MethodOverrides::default()
        }
    }

    #[test]
    fn overrides_map_to_directions() {
        use Override::{Allow, Deny, Unset};
        assert_eq!(policy_from_override(&PeerPolicy::default()), None);
        let p = PeerPolicy {
            request: MethodOverrides {
                ping: Deny,
                ..MethodOverrides::default()
            },
            respond: MethodOverrides::default(),
        };
        assert_eq!(policy_from_override(&p), None, "ping is not gated");
        let p = PeerPolicy {
            request: methods(Allow, Unset, Unset),
            respond: methods(Unset, Deny, Unset),
        };
        assert_eq!(
            policy_from_override(&p),
            Some(Policy {
                send: true,
                recv: false
            })
        );
        let p = PeerPolicy {
            request: methods(Unset, Unset, Deny),
            respond: methods(Allow, Allow, Allow),
        };
        assert_eq!(
            policy_from_override(&p),
            Some(Policy {
                send: false,
                recv: true
            })
        );
    }

    #[test]
    fn profile_policies_do_not_replace_api_ones() {
        use crate::frostr_v2::credentials::PolicyOverride;
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(&dir.path().join("s.redb")).expect("store");
        let ks =
            crate::frostr_v2::keyset::generate("p", 2, 3, &mut rand::thread_rng()).expect("keyset");
        let gid = crate::frostr_v2::ids::group_id(&ks.group);
        let (b, c) = (ks.shares[1].peer_id(), ks.shares[2].peer_id());
        let deny_respond = PeerPolicy {
            request: MethodOverrides::default(),
            respond: methods(Override::Deny, Override::Unset, Override::Unset),
        };
        // The owner already set B's policy through the API: it stays.
        store
            .put_peer_policy(
                &gid,
                &b,
                &StoredPolicy::new(true, true, None, None, Some(4), 1),
            )
            .expect("put");
        let creds = V2Credentials {
            share_secret: ks.shares[0].secret.clone(),
            group: Some(ks.group.clone()),
            relays: vec![],
            peer_pk: None,
            device_name: Some("d".into()),
            policy_overrides: vec![
                PolicyOverride {
                    pubkey: b,
                    policy: deny_respond.clone(),
                },
                PolicyOverride {
                    pubkey: c,
                    policy: deny_respond.clone(),
                },
                PolicyOverride {
                    pubkey: [7; 32],
                    policy: deny_respond,
                },
            ],
            source: crate::keyset::V2Source::Bfprofile,
        };
        assert_eq!(apply_profile_policies(&store, &creds).expect("apply"), 1);
        let stored = store.load_peer_policies(&gid).expect("load");
        assert_eq!(stored.len(), 2, "no policy for a non-member");
        let sb = stored.get(&b).expect("b");
        assert!(
            sb.allow_receive && sb.partial_cap == Some(4),
            "API policy kept"
        );
        let sc = stored.get(&c).expect("c");
        assert!(sc.allow_send && !sc.allow_receive, "profile denial stored");
        // Importing again changes nothing.
        assert_eq!(apply_profile_policies(&store, &creds).expect("again"), 0);
    }
}
