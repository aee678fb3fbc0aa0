//! The share-leak guard on the responder side (spec §11.1): every partial signature we issue
//! is counted per peer and persisted; an optional per-peer cap refuses more; with
//! `SIGN_POLICY=approve` a person approves each request through the API first.
//!
//! Durability: when a peer has a cap, its new count is committed to the store *before* the
//! partial is sent, so a crash can never let a peer exceed its cap. Without a cap, counts are
//! coalesced and flushed shortly after (and when the node stops); a crash may then lose the
//! last fraction of a second of counting, never a refusal. A reserved slot stays counted even
//! if signing or sending then fails: over-counting is the safe direction.

use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::approval::{ApprovalError, Approvals, PendingSign, SignPolicy, SignRequest};
use super::peers::{Peer, Peers, Policy, PolicyMeta, PolicySeed, PolicySource};
use super::responder::Refusal;
use super::{NodeHandle, now_secs};
use crate::events::EventKind;
use crate::frostr::GroupPackage;
use crate::frostr::credentials::group_id;
use crate::frostr::session::SessionPackage;
use crate::frostr::sign::sign_session;
use crate::frostr::transport::envelope::MessageId;
use crate::frostr::transport::payload::Payload;
use crate::store::policies::StoredPolicy;
use crate::store::{Store, StoreError};

/// How long uncapped count changes wait to be written together.
const FLUSH_DELAY: Duration = Duration::from_millis(250);

/// What the guard needs from the process: where to persist, the sign policy and the
/// `PEER_POLICIES` seeds. The default (no store, auto, no seeds) keeps everything in memory.
#[derive(Clone, Debug, Default)]
pub struct GuardConfig {
    pub store: Option<Store>,
    pub sign_policy: SignPolicy,
    pub seeds: Vec<PolicySeed>,
}

/// The guard's state inside a running node.
pub(super) struct Guard {
    store: Option<Store>,
    group_id: [u8; 32],
    sign_policy: SignPolicy,
    seeds: Vec<PolicySeed>,
    /// Uncapped counts changed and wait for the flusher.
    dirty: Notify,
    /// Serialises policy changes so the store and memory agree on the last one.
    policy_lock: tokio::sync::Mutex<()>,
    approvals: Approvals,
}

impl Guard {
    /// Load the stored policies and counts of this group into `peers` (a small blocking read
    /// at start-up) and apply the seeds underneath them.
    pub(super) fn open(
        cfg: GuardConfig,
        group: &GroupPackage,
        peers: &Peers,
    ) -> Result<Guard, StoreError> {
        Self::open_for(cfg, group_id(group), peers)
    }

    /// [`Self::open`] for a group known by its id (the V2 node: bifrost-rs `gid`).
    pub(crate) fn open_for(
        cfg: GuardConfig,
        gid: [u8; 32],
        peers: &Peers,
    ) -> Result<Guard, StoreError> {
        let (stored, counts) = match &cfg.store {
            Some(s) => (s.load_peer_policies(&gid)?, s.load_partial_counts(&gid)?),
            None => Default::default(),
        };
        peers.load(&cfg.seeds, &stored, &counts);
        Ok(Guard {
            store: cfg.store,
            group_id: gid,
            sign_policy: cfg.sign_policy,
            seeds: cfg.seeds,
            dirty: Notify::new(),
            policy_lock: tokio::sync::Mutex::new(()),
            approvals: Approvals::default(),
        })
    }

    /// `auto` or `approve`.
    pub(crate) fn sign_policy(&self) -> SignPolicy {
        self.sign_policy
    }

    /// Sign requests waiting for approval, oldest first.
    pub(crate) fn pending(&self) -> Vec<PendingSign> {
        self.approvals.list()
    }

    /// Change our policy towards a peer of `peers`: saved first (durably), then applied.
    /// Omitted directions keep their current effective value.
    pub(crate) async fn update_policy(
        &self,
        peers: &Peers,
        xonly: &[u8; 32],
        update: PolicyUpdate,
    ) -> Result<Peer, PolicyError> {
        let _one_at_a_time = self.policy_lock.lock().await;
        let cur = peers
            .get(xonly)
            .ok_or_else(|| PolicyError::UnknownPeer(hex::encode(xonly)))?;
        let now = now_secs();
        let policy = Policy {
            send: update.allow_send.unwrap_or(cur.policy.send),
            recv: update.allow_receive.unwrap_or(cur.policy.recv),
        };
        let meta = PolicyMeta {
            label: update.label.unwrap_or(cur.meta.label),
            note: update.note.unwrap_or(cur.meta.note),
            partial_cap: update.partial_cap.unwrap_or(cur.meta.partial_cap),
            source: PolicySource::Api,
            last_updated: Some(now),
        };
        if let Some(store) = &self.store {
            let rec = StoredPolicy::new(
                policy.send,
                policy.recv,
                meta.label.clone(),
                meta.note.clone(),
                meta.partial_cap,
                now,
            );
            let (gid, peer) = (self.group_id, *xonly);
            let counts = store
                .run_blocking(move |s| {
                    s.put_peer_policy(&gid, &peer, &rec)?;
                    s.load_partial_counts(&gid)
                })
                .await?;
            // A cap must start from the true count, including any flushed after our start.
            peers.raise_counts(&counts);
        }
        peers.set_full_policy(xonly, policy, meta);
        tracing::info!(peer = %hex::encode(xonly), send = policy.send, recv = policy.recv, "peer policy changed");
        peers
            .get(xonly)
            .ok_or_else(|| PolicyError::UnknownPeer(hex::encode(xonly)))
    }

    /// Remove the API-set policy of a peer; it falls back to its `PEER_POLICIES` entry, else
    /// to the default. Returns the peer with the policy now in force.
    pub(crate) async fn delete_policy(
        &self,
        peers: &Peers,
        xonly: &[u8; 32],
    ) -> Result<Peer, PolicyError> {
        let _one_at_a_time = self.policy_lock.lock().await;
        let cur = peers
            .get(xonly)
            .ok_or_else(|| PolicyError::UnknownPeer(hex::encode(xonly)))?;
        if cur.meta.source != PolicySource::Api {
            return Err(PolicyError::NotFound);
        }
        if let Some(store) = &self.store {
            let (gid, peer) = (self.group_id, *xonly);
            store
                .run_blocking(move |s| s.delete_peer_policy(&gid, &peer))
                .await?;
        }
        let seed = self.seeds.iter().find(|s| &s.pubkey == xonly);
        let (policy, meta) = Peers::fallback_policy(seed);
        peers.set_full_policy(xonly, policy, meta);
        tracing::info!(peer = %hex::encode(xonly), "peer policy removed");
        peers
            .get(xonly)
            .ok_or_else(|| PolicyError::UnknownPeer(hex::encode(xonly)))
    }

    /// Queue a sign request for approval (`SIGN_POLICY=approve`): nothing is spent or
    /// counted yet. A peer already at its cap is refused at once. Returns the queue id and
    /// the time left before it expires.
    pub(crate) fn enqueue(
        &self,
        peers: &Peers,
        from: [u8; 32],
        request: SignRequest,
        ttl: Duration,
    ) -> Result<(String, Duration), String> {
        if let Some(c) = peers
            .get(&from)
            .and_then(|p| p.cap_refuses(request.partials()))
        {
            return Err(c.to_string());
        }
        let pending = PendingSign::new(from, request, ttl);
        let (pid, ttl) = (pending.id.clone(), pending.remaining());
        self.approvals.push(pending).map_err(|e| e.to_string())?;
        Ok((pid, ttl))
    }

    /// Take a waiting request to approve it; refused when the peer's policy no longer
    /// allows answering it.
    pub(crate) fn take_for_approval(
        &self,
        peers: &Peers,
        id: &str,
    ) -> Result<PendingSign, ApprovalError> {
        let p = self.approvals.take(id)?;
        if !peers.get(&p.peer).is_some_and(|x| x.policy.recv) {
            return Err(ApprovalError::PolicyDenied);
        }
        Ok(p)
    }

    /// Take a waiting request to deny it.
    pub(crate) fn take_for_denial(&self, id: &str) -> Result<PendingSign, ApprovalError> {
        self.approvals.take(id)
    }

    /// After its time is up, remove `id` if nobody approved or denied it; returns it so
    /// the caller reports the expiry.
    pub(crate) async fn expire_after(&self, id: &str, ttl: Duration) -> Option<PendingSign> {
        tokio::time::sleep(ttl).await;
        self.approvals.expire(id)
    }
}

impl Guard {
    /// Last-chance synchronous write of the counts, when the node's state is dropped (e.g. the
    /// runtime shut down before the flusher's final write ran). Counters only grow, so a
    /// repeated write is harmless.
    pub(super) fn flush_blocking(&self, peers: &Peers) {
        let Some(store) = &self.store else { return };
        if let Err(e) = store.raise_partial_counts(&self.group_id, &peers.partial_counts()) {
            tracing::error!(error = %e, "partial-signature counts not saved at stop");
        }
    }
}

/// A change to one peer's policy. `None` keeps the current value; for the optional details
/// `Some(None)` clears them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyUpdate {
    pub allow_send: Option<bool>,
    pub allow_receive: Option<bool>,
    pub label: Option<Option<String>>,
    pub note: Option<Option<String>>,
    pub partial_cap: Option<Option<u64>>,
}

/// Why a policy change failed.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{0} is not a peer of this group")]
    UnknownPeer(String),
    #[error("no policy was set through the API for this peer")]
    NotFound,
    #[error("the policy could not be saved: {0}")]
    Store(#[from] StoreError),
}

impl NodeHandle {
    fn guard(&self) -> &Guard {
        &self.0.guard
    }

    /// `auto` or `approve`.
    pub fn sign_policy(&self) -> SignPolicy {
        self.guard().sign_policy
    }

    /// One peer by x-only key.
    pub fn peer(&self, xonly: &[u8; 32]) -> Option<Peer> {
        self.0.peers.get(xonly)
    }

    /// Change our policy towards a peer: saved first (durably), then applied. Omitted
    /// directions keep their current effective value.
    pub async fn update_policy(
        &self,
        xonly: &[u8; 32],
        update: PolicyUpdate,
    ) -> Result<Peer, PolicyError> {
        let peer = self
            .guard()
            .update_policy(&self.0.peers, xonly, update)
            .await?;
        emit_policy_changed(|k, m, d| self.emit(k, m, d), &peer);
        Ok(peer)
    }

    /// Remove the API-set policy of a peer; it falls back to its `PEER_POLICIES` entry, else
    /// to the default. Returns the peer with the policy now in force.
    pub async fn delete_policy(&self, xonly: &[u8; 32]) -> Result<Peer, PolicyError> {
        self.guard().delete_policy(&self.0.peers, xonly).await
    }

    /// Sign requests waiting for approval, oldest first.
    pub fn pending_signs(&self) -> Vec<PendingSign> {
        self.guard().pending()
    }

    /// Approve a waiting request: compute and send our partial signature now.
    pub async fn approve_sign(&self, id: &str) -> Result<u64, ApprovalError> {
        let p = self.guard().take_for_approval(&self.0.peers, id)?;
        let peer = hex::encode(p.peer);
        let SignRequest::V1 { msg_id, session } = p.request else {
            return Err(ApprovalError::Failed("not a v1 sign request".into()));
        };
        let count = self.issue_partial(p.peer, msg_id, session).await?;
        tracing::info!(%peer, id, "sign request approved");
        Ok(count)
    }

    /// Deny a waiting request: it is dropped unanswered (v1 has no rejection message), so
    /// the requester times out.
    pub fn deny_sign(&self, id: &str) -> Result<PendingSign, ApprovalError> {
        let p = self.guard().take_for_denial(id)?;
        let peer = hex::encode(p.peer);
        tracing::info!(%peer, id, "sign request denied");
        self.emit(
            EventKind::Sign,
            "sign request denied",
            Some(serde_json::json!({ "id": id, "peer": peer })),
        );
        Ok(p)
    }

    /// A `/sign/req` of at most two sighashes from a peer whose policy lets us answer: answer it now
    /// (auto) or queue it (approve). The work that may block runs in a task.
    pub(super) fn on_sign_request(
        &self,
        from: [u8; 32],
        id: MessageId,
        session: SessionPackage,
    ) -> Result<(), Refusal> {
        let peer = hex::encode(from);
        match self.guard().sign_policy {
            SignPolicy::Auto => {
                let node = self.clone();
                tokio::spawn(async move {
                    if let Err(why) = node.issue_partial(from, id, session).await {
                        tracing::warn!(%peer, reason = %why, "/sign/req not answered");
                        node.emit(
                            EventKind::Warn,
                            format!("/sign/req not answered: {why}"),
                            Some(serde_json::json!({ "tag": "/sign/req", "peer": peer })),
                        );
                    }
                });
                Ok(())
            }
            SignPolicy::Approve => {
                let hint = session.content.clone();
                let request = SignRequest::V1 {
                    msg_id: id,
                    session,
                };
                let (pid, ttl) = self
                    .guard()
                    .enqueue(&self.0.peers, from, request, self.0.timeout)
                    .map_err(Refusal::Failed)?;
                tracing::info!(%peer, id = %pid, "sign request waits for approval");
                self.emit(
                    EventKind::Sign,
                    "sign request waits for approval",
                    Some(serde_json::json!({ "id": pid, "peer": peer, "content": hint })),
                );
                let node = self.clone();
                tokio::spawn(async move {
                    if let Some(p) = node.guard().expire_after(&pid, ttl).await {
                        emit_expired(|k, m, d| node.emit(k, m, d), &p);
                    }
                });
                Ok(())
            }
        }
    }

    /// Count (and, under a cap, durably record) one partial per sighash for `from`, all or
    /// none, then sign and send.
    async fn issue_partial(
        &self,
        from: [u8; 32],
        id: MessageId,
        session: SessionPackage,
    ) -> Result<u64, ApprovalError> {
        let sighashes = session.hashes.len();
        let asked = u64::try_from(sighashes).unwrap_or(u64::MAX);
        let (count, cap) = match self.0.peers.reserve_partials(&from, asked) {
            None => return Err(ApprovalError::PolicyDenied),
            Some(r) => r?,
        };
        if cap.is_some() {
            self.persist_counts()
                .await
                .map_err(|e| ApprovalError::NotRecorded(e.to_string()))?;
        } else {
            self.guard().dirty.notify_one();
        }
        let pkg = sign_session(&self.0.group, &self.0.share, session)
            .map_err(|e| ApprovalError::Failed(e.to_string()))?;
        self.send(&from, id, &Payload::SignRes(pkg))
            .map_err(|e| ApprovalError::Failed(e.to_string()))?;
        let peer = hex::encode(from);
        tracing::info!(%peer, sighashes, count, cap = ?cap, "partial signature issued");
        self.emit(
            EventKind::Sign,
            "partial signature issued",
            Some(serde_json::json!({ "peer": peer, "sighashes": sighashes,
                "partialsIssued": count, "partialCap": cap })),
        );
        Ok(count)
    }

    /// Write every peer's count now (durable when this returns `Ok`).
    async fn persist_counts(&self) -> Result<(), StoreError> {
        let Some(store) = &self.guard().store else {
            return Ok(());
        };
        let counts = self.0.peers.partial_counts();
        let gid = self.guard().group_id;
        store
            .run_blocking(move |s| s.raise_partial_counts(&gid, &counts))
            .await
    }

    async fn persist_counts_logged(&self) {
        if let Err(e) = self.persist_counts().await {
            tracing::error!(error = %e, "partial-signature counts not saved");
        }
    }

    /// Write coalesced count changes in the background; a last write when the node stops.
    pub(super) fn spawn_count_flusher(&self, mut shutdown: watch::Receiver<bool>) {
        if self.guard().store.is_none() {
            return;
        }
        let node = self.clone();
        tokio::spawn(async move {
            loop {
                let stopping = tokio::select! {
                    _ = node.guard().dirty.notified() => false,
                    _ = shutdown.wait_for(|s| *s) => true,
                };
                // Coalesce, but never sit out a stop: the last write must happen.
                let stopping = stopping
                    || tokio::select! {
                        _ = tokio::time::sleep(FLUSH_DELAY) => false,
                        _ = shutdown.wait_for(|s| *s) => true,
                    };
                node.persist_counts_logged().await;
                if stopping {
                    break;
                }
            }
        });
    }
}

/// Report a policy change on the event stream (both protocols).
pub(crate) fn emit_policy_changed(
    emit: impl Fn(EventKind, &str, Option<serde_json::Value>),
    peer: &Peer,
) {
    emit(
        EventKind::Info,
        "peer policy changed",
        Some(serde_json::json!({ "peer": hex::encode(peer.xonly),
            "allowSend": peer.policy.send, "allowReceive": peer.policy.recv })),
    );
}

/// Report a sign request that expired without approval (both protocols).
pub(crate) fn emit_expired(
    emit: impl Fn(EventKind, &str, Option<serde_json::Value>),
    p: &PendingSign,
) {
    let peer = hex::encode(p.peer);
    tracing::warn!(%peer, id = %p.id, "sign request expired without approval");
    emit(
        EventKind::Warn,
        "sign request expired without approval",
        Some(serde_json::json!({ "id": p.id, "peer": peer })),
    );
}
