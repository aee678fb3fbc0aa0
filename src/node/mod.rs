//! The running signer: relay pool, request/response correlation, handlers, peers, health.
//!
//! [`start`] decodes the headless credentials, opens the pool with the v1 filter (spec §4.1)
//! and spawns the receive loop; [`NodeHandle`] is what the HTTP layer calls.

pub mod approval;
mod echo;
mod guard;
pub mod health;
pub mod peers;
pub mod pending;
pub mod pool;
mod requester;
mod responder;
mod retry;
pub mod supervisor;
pub mod v2;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rand::RngCore;
use tokio::sync::watch;

use crate::config::Config;
use crate::frostr::credentials::{self, CredentialError};
use crate::frostr::ecdh::EcdhError;
use crate::frostr::session::SessionError;
use crate::frostr::sign::SignError;
use crate::frostr::transport::envelope::MessageId;
use crate::frostr::transport::event::{self, OpenError};
use crate::frostr::transport::payload::Payload;
use crate::frostr::types::x_only;
use crate::frostr::{GroupPackage, SharePackage};

pub use approval::{ApprovalError, PendingSign, SignPolicy};
pub use guard::{GuardConfig, PolicyError, PolicyUpdate};
pub use peers::{Peer, Policy, PolicyMeta, PolicySeed, PolicySource};
pub use requester::PingResult;
pub use supervisor::Supervisor;

/// Why the node could not start or a request failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("no group and share credentials are configured")]
    NoCredentials,
    #[error("credential: {0}")]
    Credential(#[from] CredentialError),
    #[error("no relays are configured")]
    NoRelays,
    #[error("the node is not running")]
    Stopped,
    #[error("not enough peers may be asked: need {need}, have {have}")]
    NotEnoughPeers { need: usize, have: usize },
    #[error("{0} is not a peer of this group")]
    UnknownPeer(String),
    #[error("no relay is connected; the request was not sent")]
    NotPublished,
    #[error("the peers did not answer within {0:?}")]
    Timeout(Duration),
    #[error("session: {0}")]
    Session(#[from] SessionError),
    #[error("signing: {0}")]
    Sign(#[from] SignError),
    #[error("ECDH: {0}")]
    Ecdh(#[from] EcdhError),
    #[error("a peer sent an unexpected reply: {0}")]
    BadReply(String),
    #[error("cannot seal a message: {0}")]
    Seal(#[from] OpenError),
    #[error("peer policies or counters could not be loaded: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    V2(#[from] v2::V2Error),
}

/// Shared state of a running node.
struct Inner {
    group: GroupPackage,
    share: SharePackage,
    self_xonly: [u8; 32],
    peers: peers::Peers,
    pending: pending::Pending,
    pool: pool::PoolHandle,
    timeout: Duration,
    running: AtomicBool,
    /// Test-only fault injection: the receive loop panics on its next event.
    inject_panic: AtomicBool,
    /// Policies, partial counts, approvals (the share-leak guard).
    guard: guard::Guard,
    /// Where the node reports what it does (`/api/events`); set by the [`Supervisor`].
    events: OnceLock<crate::events::EventBus>,
    /// Ids of the echoes we published, to tell them from another device's (see `echo`).
    sent_echoes: echo::SentEchoes,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.guard.flush_blocking(&self.peers);
    }
}

/// A cheap handle on the running node.
#[derive(Clone)]
pub struct NodeHandle(Arc<Inner>);

impl std::fmt::Debug for NodeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeHandle")
            .field("idx", &self.0.share.idx)
            .field("pubkey", &hex::encode(self.0.self_xonly))
            .finish_non_exhaustive()
    }
}

pub(crate) fn now_secs() -> u64 {
    crate::clock::unix_secs()
}

/// The v1 subscription filter (spec §4.1).
fn v1_filter(self_xonly: &[u8; 32], peers: &[[u8; 32]], since: u64) -> nostr::prelude::Filter {
    let authors = peers
        .iter()
        .chain(std::iter::once(self_xonly))
        .filter_map(|k| nostr::prelude::PublicKey::from_slice(k).ok());
    let mut f = nostr::prelude::Filter::new()
        .kind(nostr::prelude::Kind::from(event::KIND))
        .authors(authors)
        .since(nostr::prelude::Timestamp::from(since));
    if let Ok(me) = nostr::prelude::PublicKey::from_slice(self_xonly) {
        f = f.pubkey(me);
    }
    f
}

/// Decode and check the configured credentials; the node starts only from a valid pair.
pub fn credentials_from_config(config: &Config) -> Result<(GroupPackage, SharePackage), NodeError> {
    let (Some(g), Some(s)) = (&config.group_cred, &config.share_cred) else {
        return Err(NodeError::NoCredentials);
    };
    let group = credentials::decode_group(g.expose().trim())?;
    let share = credentials::decode_share(s.expose().trim())?;
    credentials::check_share_in_group(&share, &group)?;
    Ok((group, share))
}

/// Start a node from the headless credentials of `config`, connected to `config.relays`.
/// Stops when `shutdown` becomes true.
pub fn start(config: &Config, shutdown: watch::Receiver<bool>) -> Result<NodeHandle, NodeError> {
    let (group, share) = credentials_from_config(config)?;
    start_with(
        group,
        share,
        config.relays.clone(),
        config.sign_timeout,
        shutdown,
    )
}

/// Start a node with explicit credentials and relays, policies in memory only.
pub fn start_with(
    group: GroupPackage,
    share: SharePackage,
    relays: Vec<String>,
    timeout: Duration,
    shutdown: watch::Receiver<bool>,
) -> Result<NodeHandle, NodeError> {
    start_inner(
        group,
        share,
        relays,
        timeout,
        GuardConfig::default(),
        shutdown,
        None,
    )
}

/// Start a node whose policies and partial counts live in `guard.store`.
pub fn start_guarded(
    group: GroupPackage,
    share: SharePackage,
    relays: Vec<String>,
    timeout: Duration,
    guard: GuardConfig,
    shutdown: watch::Receiver<bool>,
) -> Result<NodeHandle, NodeError> {
    start_inner(group, share, relays, timeout, guard, shutdown, None)
}

/// [`start_guarded`], reporting to `events` from the first moment (the start-up echo included).
pub fn start_with_events(
    group: GroupPackage,
    share: SharePackage,
    relays: Vec<String>,
    timeout: Duration,
    guard: GuardConfig,
    shutdown: watch::Receiver<bool>,
    events: &crate::events::EventBus,
) -> Result<NodeHandle, NodeError> {
    start_inner(group, share, relays, timeout, guard, shutdown, Some(events))
}

fn start_inner(
    group: GroupPackage,
    share: SharePackage,
    relays: Vec<String>,
    timeout: Duration,
    guard: GuardConfig,
    shutdown: watch::Receiver<bool>,
    bus: Option<&crate::events::EventBus>,
) -> Result<NodeHandle, NodeError> {
    if relays.is_empty() {
        return Err(NodeError::NoRelays);
    }
    let self_xonly = x_only(&share.public_key());
    let peers = peers::Peers::from_group(&group, share.idx);
    let guard = guard::Guard::open(guard, &group, &peers)?;
    let peer_keys: Vec<[u8; 32]> = peers.list().iter().map(|p| p.xonly).collect();
    let filter = v1_filter(&self_xonly, &peer_keys, now_secs());
    let (pool, events) = pool::start(
        pool::PoolConfig::new(relays, filter),
        pool::default_tls(),
        shutdown.clone(),
    );
    let node = NodeHandle(Arc::new(Inner {
        group,
        share,
        self_xonly,
        peers,
        pending: pending::Pending::default(),
        pool,
        timeout,
        running: AtomicBool::new(true),
        inject_panic: AtomicBool::new(false),
        guard,
        events: OnceLock::new(),
        sent_echoes: echo::SentEchoes::default(),
    }));
    node.spawn_count_flusher(shutdown.clone());
    if let Some(bus) = bus {
        node.set_events(bus.clone());
    }
    tracing::info!(idx = node.0.share.idx, pubkey = %hex::encode(self_xonly), "signing node started");
    // The echo Igloo Desktop's share-export flow waits for (igloo-core `awaitShareEcho`).
    tokio::spawn(node.clone().startup_echo(shutdown.clone()));
    let looped = node.clone();
    tokio::spawn(async move {
        // However the loop ends (a panic included), the node is marked stopped and its
        // requests fail, so the watchdog starts a new one.
        let _stopped = StopGuard(looped.clone());
        pool::receive_until(events, shutdown, |ev| {
            if looped.0.inject_panic.swap(false, Ordering::SeqCst) {
                panic!("injected fault: the receive loop panics");
            }
            looped.on_event(ev)
        })
        .await;
        tracing::info!("signing node stopped");
    });
    Ok(node)
}

/// Clears `running` and fails every pending request when the receive task ends, normally or
/// by a panic (the task's future is dropped while unwinding).
struct StopGuard(NodeHandle);

impl Drop for StopGuard {
    fn drop(&mut self) {
        self.0.0.running.store(false, Ordering::SeqCst);
        self.0.fail_pending();
        if std::thread::panicking() {
            tracing::error!("the signing node's receive loop panicked; the node is stopped");
        }
    }
}

impl NodeHandle {
    /// Fault injection for tests only: the receive loop panics on the next event it gets.
    /// Nothing in igloo calls it.
    #[doc(hidden)]
    pub fn inject_receive_panic(&self) {
        self.0.inject_panic.store(true, Ordering::SeqCst);
    }

    /// True while the receive loop runs.
    pub fn is_running(&self) -> bool {
        self.0.running.load(Ordering::SeqCst)
    }

    /// True when at least one relay socket is open.
    pub fn is_connected(&self) -> bool {
        self.0.pool.connected_count() > 0
    }

    pub fn relay_states(&self) -> Vec<pool::RelayState> {
        self.0.pool.states()
    }

    /// Changes on every message in or out and every relay connection change.
    pub fn activity(&self) -> watch::Receiver<std::time::Instant> {
        self.0.pool.activity()
    }

    /// Fail every request in flight (the node stops): their callers get [`NodeError::Stopped`].
    pub fn fail_pending(&self) {
        self.0.pending.clear();
    }

    pub fn peers(&self) -> Vec<Peer> {
        self.0.peers.list()
    }

    /// Change our policy towards a peer; false when it is not a peer.
    pub fn set_policy(&self, xonly: &[u8; 32], policy: Policy) -> bool {
        self.0.peers.set_policy(xonly, policy)
    }

    /// Attach the event bus; only the first call counts.
    pub fn set_events(&self, events: crate::events::EventBus) {
        let _ = self.0.events.set(events);
    }

    /// Publish to the event stream, when one is attached. Never pass secrets.
    pub(crate) fn emit(
        &self,
        kind: crate::events::EventKind,
        message: impl Into<String>,
        data: Option<serde_json::Value>,
    ) {
        if let Some(bus) = self.0.events.get() {
            bus.emit(kind, message, data);
        }
    }

    pub fn self_xonly(&self) -> [u8; 32] {
        self.0.self_xonly
    }

    pub fn group(&self) -> &GroupPackage {
        &self.0.group
    }

    /// Encrypt `payload` for `to` and publish it to every connected relay.
    fn send(&self, to: &[u8; 32], id: MessageId, payload: &Payload) -> Result<(), NodeError> {
        self.send_envelope(to, &payload.to_envelope(id))
    }

    /// Encrypt an envelope for `to` and publish it to every connected relay.
    fn send_envelope(
        &self,
        to: &[u8; 32],
        envelope: &crate::frostr::transport::envelope::Envelope,
    ) -> Result<(), NodeError> {
        let ev = self.seal_event(to, envelope)?;
        if self.0.pool.publish(&ev) == 0 {
            return Err(NodeError::NotPublished);
        }
        self.0.pool.touch();
        Ok(())
    }

    /// Encrypt `payload` for `to` and publish it to the relay at `relay` (pool order) only.
    fn send_to_relay(
        &self,
        relay: usize,
        to: &[u8; 32],
        id: MessageId,
        payload: &Payload,
    ) -> Result<(), NodeError> {
        let ev = self.seal_event(to, &payload.to_envelope(id))?;
        if !self.0.pool.publish_to(relay, &ev) {
            return Err(NodeError::NotPublished);
        }
        self.0.pool.touch();
        Ok(())
    }

    /// Our kind-20004 event carrying `envelope`, encrypted for `to`.
    fn seal_event(
        &self,
        to: &[u8; 32],
        envelope: &crate::frostr::transport::envelope::Envelope,
    ) -> Result<nostr::prelude::Event, NodeError> {
        let mut iv = [0u8; 24];
        let mut aux = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut iv);
        rand::rngs::OsRng.fill_bytes(&mut aux);
        let ev = event::seal(&self.0.share.seckey, to, envelope, &iv, &aux, now_secs())?;
        nostr::prelude::Event::from_json(ev.to_json())
            .map_err(|e| NodeError::BadReply(format!("cannot convert our own event: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_is_the_v1_subscription() {
        let ks =
            crate::frostr::keyset::generate(&mut rand::thread_rng(), 2, 3, None).expect("keyset");
        let me_real = x_only(&ks.shares[0].public_key());
        let peer = x_only(&ks.shares[1].public_key());
        let f = v1_filter(&me_real, &[peer], 1_700_000_000);
        let json = serde_json::to_value(&f).expect("json");
        assert_eq!(json["kinds"], serde_json::json!([20004]));
        assert_eq!(json["since"], serde_json::json!(1_700_000_000u64));
        assert_eq!(json["#p"], serde_json::json!([hex::encode(me_real)]));
        let authors = json["authors"].as_array().expect("authors");
        assert_eq!(authors.len(), 2);
        assert!(authors.contains(&serde_json::json!(hex::encode(peer))));
        assert!(authors.contains(&serde_json::json!(hex::encode(me_real))));
    }
}
