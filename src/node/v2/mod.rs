//! The V2 (bifrost-rs) signer at run time: relay pool with the kind-20000 filter (§4.2),
//! the receive checks of §4.5, the ping/sign/ECDH/onboard responder and the sign/ECDH/ping
//! requester, nonce pools per peer (§4.6) kept topped up by a periodic ping.
//!
//! Nonce safety: a spent code is committed to the store before the partial that uses it is
//! sent. A clean stop seals the pools into the store for the next start (peers keep the
//! nonces we gave them); a run marker tells an unclean stop, after which every pool is
//! discarded (never a nonce reused) and the first ping with each peer re-syncs them.

mod any;
mod onboard;
pub mod pending;
mod policy;
mod requester;
mod responder;
mod saved_pools;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::RngCore;
use tokio::sync::watch;

use super::approval::SignPolicy;
use super::guard::{Guard, GuardConfig};
pub(crate) use super::now_secs;
use super::peers::{Peer, Peers, Policy, PolicySeed};
use super::pool::{self, RelayState};
use super::{NodeError, PingResult};
use crate::events::{EventBus, EventKind};
use crate::frostr_v2::ecdh::EcdhError;
use crate::frostr_v2::envelope::{Envelope, Payload, PolicyProfile};
use crate::frostr_v2::event::{self as v2event, EventError};
use crate::frostr_v2::nonces::PeerPool;
use crate::frostr_v2::onboard::OnboardError;
use crate::frostr_v2::receive::ReplayCache;
use crate::frostr_v2::sign::{SignError, SignerKey};
use crate::frostr_v2::types::{GroupError, KIND};
use crate::frostr_v2::{GroupPackage, ShareSecret};
use crate::store::Store;

pub use any::{AnyNode, Protocol};
pub use onboard::onboard;
pub use policy::{apply_profile_policies, policy_from_override};

/// Ping timeout of §4.14.
pub const PING_TIMEOUT: Duration = Duration::from_secs(15);
/// Default period of the keep-alive ping of every peer.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(60);

/// Why a V2 request failed (inside [`NodeError::V2`]).
#[derive(Debug, thiserror::Error)]
pub enum V2Error {
    #[error("group package or share: {0}")]
    Group(#[from] GroupError),
    #[error("signing: {0}")]
    Sign(#[from] SignError),
    #[error("ECDH: {0}")]
    Ecdh(#[from] EcdhError),
    #[error("onboarding: {0}")]
    Onboard(#[from] OnboardError),
    #[error(
        "nonces exhausted: need {need} sign-ready peer(s), have {have}; the next ping with the peers exchanges new nonces"
    )]
    NoncesExhausted { need: usize, have: usize },
    #[error("a single-signer (1-of-n) group needs no peers; the V2 node does not run one")]
    SingleSigner,
    #[error("peer {peer} refused the request: {code}: {message}")]
    Rejected {
        peer: String,
        code: String,
        message: String,
    },
    #[error("cannot seal a message: {0}")]
    Seal(#[from] EventError),
}

/// How a V2 node runs besides its credentials and relays.
#[derive(Clone, Debug)]
pub struct V2Options {
    /// Sign and ECDH round timeout (FROSTR_SIGN_TIMEOUT).
    pub timeout: Duration,
    /// Keep-alive ping of every peer; `None` pings only on request.
    pub ping_interval: Option<Duration>,
    /// Where spent nonce codes and the run marker live; `None` keeps them in memory only.
    pub store: Option<Store>,
    /// Where the node reports what it does (`/api/events`).
    pub events: Option<EventBus>,
    /// `SIGN_POLICY`: answer sign requests at once or queue them for approval.
    pub sign_policy: SignPolicy,
    /// `PEER_POLICIES` seeds under the stored (API) policies.
    pub seeds: Vec<PolicySeed>,
}

impl V2Options {
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            ping_interval: Some(DEFAULT_PING_INTERVAL),
            store: None,
            events: None,
            sign_policy: SignPolicy::Auto,
            seeds: Vec::new(),
        }
    }
}

/// A static fact about one peer.
#[derive(Clone, Debug)]
struct PeerInfo {
    idx: u16,
    id: [u8; 32],
    compressed: [u8; 33],
}

/// What we observe about a peer at run time.
#[derive(Default)]
struct PeerRuntime {
    pool: PeerPool,
    /// Its policy towards us from its last ping (runtime-only, §4.13).
    remote: Option<PolicyProfile>,
}

struct State {
    peers: HashMap<u16, PeerRuntime>,
    replay: ReplayCache,
}

struct Inner {
    key: SignerKey,
    share: ShareSecret,
    self_id: [u8; 32],
    peers: Vec<PeerInfo>,
    state: Mutex<State>,
    /// Our policy towards each peer and the partial signatures it obtained (shared with v1:
    /// node/peers.rs), edited live through the guard.
    policies: Peers,
    guard: Guard,
    pending: pending::Pending,
    pool: pool::PoolHandle,
    timeout: Duration,
    running: AtomicBool,
    /// Test-only fault injection: the receive loop panics on its next event.
    inject_panic: AtomicBool,
    store: Option<Store>,
    events: Option<EventBus>,
    unclean_start: bool,
}

/// A cheap handle on a running V2 node.
#[derive(Clone)]
pub struct V2Handle(Arc<Inner>);

impl std::fmt::Debug for V2Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("V2Handle")
            .field("idx", &self.0.share.idx)
            .field("pubkey", &hex::encode(self.0.self_id))
            .finish_non_exhaustive()
    }
}

/// Nonce pool sizes shared with one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NonceStatus {
    pub peer: [u8; 32],
    pub idx: u16,
    /// Its nonces we hold (we can ask it to sign while more than 5).
    pub incoming: usize,
    /// Our unspent nonces for it.
    pub outgoing: usize,
    pub sign_ready: bool,
}

/// The subscription of §4.2: kind 20000, authored by any peer, addressed to us.
fn v2_filter(self_id: &[u8; 32], peers: &[[u8; 32]], since: u64) -> nostr::prelude::Filter {
    let mut sorted = peers.to_vec();
    sorted.sort_unstable();
    let authors = sorted
        .iter()
        .filter_map(|k| nostr::prelude::PublicKey::from_slice(k).ok());
    let mut f = nostr::prelude::Filter::new()
        .kind(nostr::prelude::Kind::from(KIND))
        .authors(authors)
        .since(nostr::prelude::Timestamp::from(since));
    if let Ok(me) = nostr::prelude::PublicKey::from_slice(self_id) {
        f = f.pubkey(me);
    }
    f
}

/// Start a V2 node for `share` of `group` on `relays`; it stops when `shutdown` becomes
/// true (a clean stop: the run marker is cleared).
pub fn start(
    group: GroupPackage,
    share: ShareSecret,
    relays: Vec<String>,
    options: V2Options,
    shutdown: watch::Receiver<bool>,
) -> Result<V2Handle, NodeError> {
    start_inner(group, share, relays, options, shutdown, None)
}

/// Start the node a finished [`onboard`] made: it keeps the nonce pool exchanged with the
/// inviter, so both are sign-ready with each other at once (§4.10).
pub fn start_onboarded(
    done: crate::frostr_v2::onboard::Onboarded,
    relays: Vec<String>,
    options: V2Options,
    shutdown: watch::Receiver<bool>,
) -> Result<V2Handle, NodeError> {
    let crate::frostr_v2::onboard::Onboarded {
        share,
        group,
        inviter_idx,
        pool,
    } = done;
    start_inner(
        group,
        share,
        relays,
        options,
        shutdown,
        Some((inviter_idx, pool)),
    )
}

fn start_inner(
    group: GroupPackage,
    share: ShareSecret,
    relays: Vec<String>,
    options: V2Options,
    shutdown: watch::Receiver<bool>,
    initial_pool: Option<(u16, PeerPool)>,
) -> Result<V2Handle, NodeError> {
    if relays.is_empty() {
        return Err(NodeError::NoRelays);
    }
    let key = SignerKey::new(&group, &share).map_err(V2Error::from)?;
    let self_id = share.peer_id();
    let peers: Vec<PeerInfo> = group
        .sorted_members()
        .into_iter()
        .filter(|m| m.idx != share.idx)
        .map(|m| PeerInfo {
            idx: m.idx,
            id: m.peer_id(),
            compressed: m.pubkey,
        })
        .collect();
    let gid = key.gid();
    let (unclean_start, saved_pools) = match &options.store {
        Some(store) => store.v2_begin_run_taking_pools(&gid, now_secs())?,
        None => (false, Vec::new()),
    };
    if unclean_start {
        tracing::warn!(
            group = %hex::encode(gid),
            "the last V2 run did not stop cleanly: every nonce pool is discarded; peers re-sync on the next ping"
        );
        if let Some(bus) = &options.events {
            bus.emit(
                EventKind::Warn,
                "The V2 node did not stop cleanly last time; its nonce pools were discarded and are re-synced by the next ping",
                None,
            );
        }
    }
    let peer_ids: Vec<[u8; 32]> = peers.iter().map(|p| p.id).collect();
    let filter = v2_filter(&self_id, &peer_ids, now_secs());
    let (pool, events) = pool::start(
        pool::PoolConfig::new(relays, filter),
        pool::default_tls(),
        shutdown.clone(),
    );
    let mut state = State {
        peers: peers
            .iter()
            .map(|p| (p.idx, PeerRuntime::default()))
            .collect(),
        replay: ReplayCache::new(),
    };
    let policies =
        Peers::from_members(peers.iter().map(|p| (u32::from(p.idx), p.id, p.compressed)));
    let guard = Guard::open_for(
        GuardConfig {
            store: options.store.clone(),
            sign_policy: options.sign_policy,
            seeds: options.seeds.clone(),
        },
        gid,
        &policies,
    )?;
    // Pools kept by the last clean stop: peers still hold the nonces we advertised.
    let mut restored = 0usize;
    for (peer_id, sealed) in &saved_pools {
        let pool = peers
            .iter()
            .find(|p| &p.id == peer_id)
            .and_then(|p| state.peers.get_mut(&p.idx))
            .zip(
                saved_pools::open(&share.secret, &gid, peer_id, sealed)
                    .and_then(|b| crate::frostr_v2::nonces::PeerPool::import(&b)),
            );
        if let Some((rt, pool)) = pool {
            rt.pool = pool;
            restored += 1;
        }
    }
    if !saved_pools.is_empty() {
        tracing::info!(
            restored,
            saved = saved_pools.len(),
            "V2 nonce pools restored from the last clean stop"
        );
    }
    if let Some((idx, pool)) = initial_pool {
        if let Some(rt) = state.peers.get_mut(&idx) {
            rt.pool = pool;
        }
    }
    let node = V2Handle(Arc::new(Inner {
        key,
        share,
        self_id,
        peers,
        state: Mutex::new(state),
        policies,
        guard,
        pending: pending::Pending::default(),
        pool,
        timeout: options.timeout,
        running: AtomicBool::new(true),
        inject_panic: AtomicBool::new(false),
        store: options.store,
        events: options.events,
        unclean_start,
    }));
    tracing::info!(idx = node.0.share.idx, pubkey = %hex::encode(self_id), "V2 signing node started");
    if let Some(every) = options.ping_interval {
        tokio::spawn(node.clone().keepalive(every, shutdown.clone()));
    }
    let looped = node.clone();
    tokio::spawn(async move {
        // However the loop ends (a panic included), the node is marked stopped and its rounds
        // fail, so the watchdog starts a new one. After a panic the run marker stays set: the
        // next start discards the nonce pools, as after any unclean stop.
        let stopped = StopGuard(looped.clone());
        pool::receive_until(events, shutdown, |ev| {
            if looped.0.inject_panic.swap(false, Ordering::SeqCst) {
                panic!("injected fault: the V2 receive loop panics");
            }
            looped.on_event(ev)
        })
        .await;
        drop(stopped);
        if let Some(store) = looped.0.store.clone() {
            let gid = looped.0.key.gid();
            let pools = looped.sealed_pools(&gid);
            if let Err(e) = store
                .run_blocking(move |s| s.v2_end_run_saving_pools(&gid, &pools))
                .await
            {
                tracing::warn!(error = %e, "cannot clear the V2 run marker; the next start discards nonce pools");
            }
        }
        tracing::info!("V2 signing node stopped");
    });
    Ok(node)
}

/// Clears `running` and fails every pending round when the receive task ends, normally or by
/// a panic (the task's future is dropped while unwinding).
struct StopGuard(V2Handle);

impl Drop for StopGuard {
    fn drop(&mut self) {
        self.0.0.running.store(false, Ordering::SeqCst);
        self.0.fail_pending();
        if std::thread::panicking() {
            tracing::error!("the V2 node's receive loop panicked; the node is stopped");
        }
    }
}

impl V2Handle {
    /// Fault injection for tests only: the receive loop panics on the next event it gets.
    /// Nothing in igloo calls it.
    #[doc(hidden)]
    pub fn inject_receive_panic(&self) {
        self.0.inject_panic.store(true, Ordering::SeqCst);
    }

    /// Every peer's pool, sealed, for [`Store::v2_end_run_saving_pools`] at a clean stop.
    fn sealed_pools(&self, gid: &[u8; 32]) -> Vec<([u8; 32], Vec<u8>)> {
        let exported: Vec<(u16, zeroize::Zeroizing<Vec<u8>>)> = self
            .state()
            .peers
            .iter()
            .map(|(idx, rt)| (*idx, rt.pool.export()))
            .collect();
        exported
            .into_iter()
            .filter_map(|(idx, bytes)| {
                let peer = self.peer_id_of(idx)?;
                saved_pools::seal(&self.0.share.secret, gid, &peer, &bytes).map(|s| (peer, s))
            })
            .collect()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True while the receive loop runs.
    pub fn is_running(&self) -> bool {
        self.0.running.load(Ordering::SeqCst)
    }

    /// True when at least one relay socket is open.
    pub fn is_connected(&self) -> bool {
        self.0.pool.connected_count() > 0
    }

    pub fn relay_states(&self) -> Vec<RelayState> {
        self.0.pool.states()
    }

    /// Changes on every message in or out and every relay connection change.
    pub fn activity(&self) -> watch::Receiver<Instant> {
        self.0.pool.activity()
    }

    /// Fail every round in flight: their callers get [`NodeError::Stopped`].
    pub fn fail_pending(&self) {
        self.0.pending.clear();
    }

    /// Our x-only share key (our Nostr identity and peer id).
    pub fn self_xonly(&self) -> [u8; 32] {
        self.0.self_id
    }

    /// The x-only group key (the npub's key).
    pub fn group_xonly(&self) -> [u8; 32] {
        self.0.key.group().group_pk
    }

    pub fn group(&self) -> &GroupPackage {
        self.0.key.group()
    }

    pub fn group_id(&self) -> [u8; 32] {
        self.0.key.gid()
    }

    pub fn idx(&self) -> u16 {
        self.0.share.idx
    }

    /// True when this start found the run marker of an unclean stop (pools discarded).
    pub fn started_after_unclean_stop(&self) -> bool {
        self.0.unclean_start
    }

    /// The other members in the shape the HTTP layer shows for v1 peers (the shared peer
    /// table: policy, partial count, liveness), with the remote policy of the V2 runtime.
    pub fn peers(&self) -> Vec<Peer> {
        let mut list = self.0.policies.list();
        let st = self.state();
        for peer in &mut list {
            let rt = u16::try_from(peer.idx).ok().and_then(|i| st.peers.get(&i));
            peer.remote_policy = rt.and_then(|r| r.remote.as_ref()).map(remote_view);
        }
        list
    }

    /// One peer by x-only key.
    pub fn peer(&self, xonly: &[u8; 32]) -> Option<Peer> {
        self.peers().into_iter().find(|p| &p.xonly == xonly)
    }

    /// Nonce pool sizes per peer.
    pub fn nonce_status(&self) -> Vec<NonceStatus> {
        let st = self.state();
        self.0
            .peers
            .iter()
            .filter_map(|p| {
                st.peers.get(&p.idx).map(|r| NonceStatus {
                    peer: p.id,
                    idx: p.idx,
                    incoming: r.pool.incoming_len(),
                    outgoing: r.pool.outgoing_len(),
                    sign_ready: r.pool.is_sign_ready(),
                })
            })
            .collect()
    }

    /// Forget every nonce exchanged with `peer` (both directions); the next ping with it
    /// exchanges new ones. False when it is not a peer.
    pub fn discard_nonces(&self, peer: &[u8; 32]) -> bool {
        let Some(idx) = self.peer_idx(peer) else {
            return false;
        };
        if let Some(rt) = self.state().peers.get_mut(&idx) {
            rt.pool.discard();
        }
        true
    }

    fn peer_idx(&self, id: &[u8; 32]) -> Option<u16> {
        self.0.peers.iter().find(|p| &p.id == id).map(|p| p.idx)
    }

    fn peer_id_of(&self, idx: u16) -> Option<[u8; 32]> {
        self.0.peers.iter().find(|p| p.idx == idx).map(|p| p.id)
    }

    /// Publish to the event stream, when one is attached. Never pass secrets.
    pub(crate) fn emit(
        &self,
        kind: EventKind,
        message: impl Into<String>,
        data: Option<serde_json::Value>,
    ) {
        if let Some(bus) = &self.0.events {
            bus.emit(kind, message, data);
        }
    }

    /// Our policy towards member `idx` now (API policy, else `PEER_POLICIES`, else allow
    /// both ways); read on every request, so edits apply at once.
    pub(super) fn local_policy(&self, idx: u16) -> Policy {
        self.peer_id_of(idx)
            .and_then(|id| self.0.policies.get(&id))
            .map(|p| p.policy)
            .unwrap_or_default()
    }

    /// Our effective policy for `peer` as sent in pings (§4.13): the stored v1-style policy
    /// mapped onto sign/ECDH/onboard; ping and echo stay allowed.
    fn policy_for(&self, peer: &[u8; 32]) -> PolicyProfile {
        use crate::frostr_v2::envelope::MethodFlags;
        let (p, changed) = self
            .0
            .policies
            .get(peer)
            .map(|x| (x.policy, x.meta.last_updated.unwrap_or(0)))
            .unwrap_or_default();
        let flags = |on: bool| MethodFlags {
            echo: true,
            ping: true,
            onboard: on,
            sign: on,
            ecdh: on,
        };
        // bifrost-rs stamps both with the send time; do the same so a reader that orders
        // profiles by revision takes ours as the newest.
        let now = now_secs();
        PolicyProfile {
            for_peer: *peer,
            revision: now.max(changed),
            updated: now.max(changed),
            block_all: false,
            request: flags(p.send),
            respond: flags(p.recv),
        }
    }

    /// Encrypt `envelope` for member `to` and publish it to every connected relay.
    fn send(&self, to: u16, envelope: &Envelope) -> Result<(), NodeError> {
        let recipient = self
            .peer_id_of(to)
            .ok_or_else(|| NodeError::UnknownPeer(format!("member {to}")))?;
        let mut nonce = [0u8; 32];
        let mut aux = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        rand::rngs::OsRng.fill_bytes(&mut aux);
        let ev = v2event::seal(
            &self.0.share.secret,
            &recipient,
            envelope,
            nonce,
            &aux,
            now_secs(),
        )
        .map_err(V2Error::from)?;
        let ev = nostr::prelude::Event::from_json(ev.to_json())
            .map_err(|e| NodeError::BadReply(format!("cannot convert our own event: {e}")))?;
        if self.0.pool.publish(&ev) == 0 {
            return Err(NodeError::NotPublished);
        }
        self.0.pool.touch();
        Ok(())
    }

    /// Ping every peer now and then (keeps pools topped up, §4.6); the first round goes out
    /// as soon as a relay is connected.
    async fn keepalive(self, every: Duration, mut shutdown: watch::Receiver<bool>) {
        let mut first = true;
        loop {
            let wait = if first {
                Duration::from_millis(200)
            } else {
                every
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            if !self.is_running() {
                return;
            }
            if !self.is_connected() {
                continue;
            }
            first = false;
            let ids: Vec<[u8; 32]> = self.0.peers.iter().map(|p| p.id).collect();
            for id in ids {
                let node = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = node.ping(&id, PING_TIMEOUT).await {
                        tracing::debug!(peer = %hex::encode(id), error = %e, "V2 keep-alive ping failed");
                    }
                });
            }
        }
    }
}

/// A peer's V2 policy profile in the v1 shape (`send`: it may ask us, `recv`: it answers us).
fn remote_view(p: &PolicyProfile) -> crate::frostr::transport::payload::PingResponse {
    crate::frostr::transport::payload::PingResponse {
        send: !p.block_all && p.request.sign,
        recv: !p.block_all && p.respond.sign,
    }
}

/// Ping outcome in the v1 shape, so the HTTP layer needs no second type.
fn ping_result(latency_ms: u64, remote: Option<&PolicyProfile>) -> PingResult {
    PingResult {
        latency_ms,
        policy: remote.map(remote_view).unwrap_or(
            crate::frostr::transport::payload::PingResponse {
                send: true,
                recv: true,
            },
        ),
    }
}

/// Whether a payload is the kind that answers `request`.
fn answers(request: &Payload, reply: &Payload) -> bool {
    matches!(
        (request, reply),
        (Payload::PingRequest(_), Payload::PingResponse(_))
            | (Payload::SignRequest(_), Payload::SignResponse(_))
            | (Payload::EcdhRequest(_), Payload::EcdhResponse(_))
            | (Payload::OnboardRequest(_), Payload::OnboardResponse(_))
            | (_, Payload::Error(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_is_the_v2_subscription() {
        let ks =
            crate::frostr_v2::keyset::generate("t", 2, 3, &mut rand::thread_rng()).expect("keyset");
        let me = ks.shares[0].peer_id();
        let mut peers = vec![ks.shares[2].peer_id(), ks.shares[1].peer_id()];
        let f = v2_filter(&me, &peers, 1_700_000_000);
        let json = serde_json::to_value(&f).expect("json");
        assert_eq!(json["kinds"], serde_json::json!([20000]));
        assert_eq!(json["#p"], serde_json::json!([hex::encode(me)]));
        peers.sort_unstable();
        let want: Vec<String> = peers.iter().map(hex::encode).collect();
        let mut got: Vec<String> = json["authors"]
            .as_array()
            .expect("authors")
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        got.sort();
        assert_eq!(got, want, "peers only, never ourselves");
    }

    #[tokio::test]
    async fn the_supervisor_runs_either_protocol() {
        // A listener that never speaks WebSocket: the nodes run, unconnected.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let relays = vec![format!("ws://{}", listener.local_addr().expect("addr"))];
        let (_tx, rx) = watch::channel(false);
        let sup = crate::node::Supervisor::new(rx, EventBus::new());
        let timeout = Duration::from_secs(5);

        let v1 = crate::frostr::keyset::generate(&mut rand::thread_rng(), 2, 3, None)
            .expect("v1 keyset");
        sup.start(
            v1.group.clone(),
            v1.shares[0].clone(),
            relays.clone(),
            timeout,
        )
        .expect("v1 starts");
        assert_eq!(sup.current_any().map(|n| n.protocol()), Some(Protocol::V1));
        assert!(sup.current().is_some() && sup.wants_node());

        let ks = crate::frostr_v2::keyset::generate("sup", 2, 3, &mut rand::thread_rng())
            .expect("v2 keyset");
        let h = sup
            .apply_v2(
                Some((ks.group.clone(), ks.shares[1].clone())),
                relays.clone(),
                timeout,
            )
            .expect("v2 starts")
            .expect("a handle");
        let any = sup.current_any().expect("a node runs");
        assert_eq!(any.protocol(), Protocol::V2);
        assert_eq!(any.self_xonly(), h.self_xonly());
        assert_eq!(any.group_xonly(), ks.group.group_pk);
        assert_eq!(any.self_compressed(), Some(ks.shares[1].pubkey()));
        assert!(sup.current().is_none(), "no v1 node any more");
        assert!(sup.wants_any_node() && !sup.wants_node());

        let again = sup.restart().expect("restart");
        assert_eq!(again.protocol(), Protocol::V2);
        assert!(
            again
                .as_v2()
                .is_some_and(|n| n.self_xonly() == h.self_xonly())
        );

        sup.apply_v2(None, relays, timeout).expect("stop");
        assert!(sup.current_any().is_none() && !sup.wants_any_node());
    }

    #[test]
    fn only_matching_payloads_answer() {
        use crate::frostr_v2::envelope::{ErrorData, Ping};
        let ping = Payload::PingRequest(Ping {
            version: 2,
            advertised_nonces: vec![],
            held_peer_nonce_codes: vec![],
            policy_profile: None,
        });
        let pong = Payload::PingResponse(Ping {
            version: 2,
            advertised_nonces: vec![],
            held_peer_nonce_codes: vec![],
            policy_profile: None,
        });
        let err = Payload::Error(ErrorData {
            code: "c".into(),
            message: "m".into(),
        });
        assert!(answers(&ping, &pong));
        assert!(answers(&ping, &err));
        assert!(!answers(&ping, &ping));
    }
}
