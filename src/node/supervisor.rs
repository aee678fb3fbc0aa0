//! Owns "the" signing node of this process: at most one runs; starting a new one (credentials
//! or relays changed) stops the previous one first; removing credentials stops it.
//!
//! The HTTP layer and the daemon only talk to the node through [`Supervisor::current`], so a
//! restart is invisible to them apart from requests that were in flight.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::health::HealthReport;
use super::v2::{AnyNode, V2Handle, V2Options};
use super::{NodeError, NodeHandle};
use crate::events::{EventBus, EventKind};
use crate::frostr::{GroupPackage, SharePackage};

/// What the node was last asked to run with, so the watchdog can restart it the same way.
#[derive(Clone)]
struct Desired {
    creds: Creds,
    relays: Vec<String>,
    timeout: Duration,
}

/// Credentials of either protocol.
#[derive(Clone)]
enum Creds {
    V1(GroupPackage, SharePackage),
    V2(
        crate::frostr_v2::GroupPackage,
        crate::frostr_v2::ShareSecret,
    ),
}

struct Running {
    handle: AnyNode,
    /// Stops this node only (the process-wide shutdown also reaches it).
    stop: watch::Sender<bool>,
}

struct Inner {
    current: Mutex<Option<Running>>,
    desired: Mutex<Option<Desired>>,
    /// Bumped whenever a node starts or stops; the health runner follows it.
    generation: watch::Sender<u64>,
    health: Mutex<HealthReport>,
    shutdown: watch::Receiver<bool>,
    events: EventBus,
    /// Store, sign policy and policy seeds every started node gets.
    guard: Mutex<super::GuardConfig>,
}

/// Cheap to clone; all clones manage the same node.
#[derive(Clone)]
pub struct Supervisor(Arc<Inner>);

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("current", &self.current())
            .finish()
    }
}

impl Supervisor {
    /// A supervisor with no node; every node it starts stops when `shutdown` becomes true.
    pub fn new(shutdown: watch::Receiver<bool>, events: EventBus) -> Self {
        Supervisor(Arc::new(Inner {
            current: Mutex::new(None),
            desired: Mutex::new(None),
            generation: watch::Sender::new(0),
            health: Mutex::new(HealthReport {
                is_healthy: true,
                ..HealthReport::default()
            }),
            shutdown,
            events,
            guard: Mutex::new(super::GuardConfig::default()),
        }))
    }

    /// Where nodes started from now on keep their policies and counts, and how they sign.
    pub fn set_guard_config(&self, guard: super::GuardConfig) {
        *self.0.guard.lock().unwrap_or_else(|p| p.into_inner()) = guard;
    }

    /// Run a node with these credentials and relays, or none (`creds` = `None`: the
    /// credentials were removed). A running node is stopped first; requests in flight on it
    /// fail with [`NodeError::Stopped`]. This is what credential or relay changes call.
    pub fn apply(
        &self,
        creds: Option<(GroupPackage, SharePackage)>,
        relays: Vec<String>,
        timeout: Duration,
    ) -> Result<Option<NodeHandle>, NodeError> {
        match creds {
            Some((group, share)) => self.start(group, share, relays, timeout).map(Some),
            None => {
                self.stop();
                Ok(None)
            }
        }
    }

    /// Run a V2 (bifrost-rs) node with these credentials and relays, or none; like
    /// [`Self::apply`], a running node of either protocol is stopped first.
    pub fn apply_v2(
        &self,
        creds: Option<(
            crate::frostr_v2::GroupPackage,
            crate::frostr_v2::ShareSecret,
        )>,
        relays: Vec<String>,
        timeout: Duration,
    ) -> Result<Option<V2Handle>, NodeError> {
        match creds {
            Some((group, share)) => self.start_v2(group, share, relays, timeout).map(Some),
            None => {
                self.stop();
                Ok(None)
            }
        }
    }

    /// Restart the node (either protocol) with the credentials and relays it last started
    /// with.
    pub fn restart(&self) -> Result<AnyNode, NodeError> {
        let desired = lock(&self.0.desired).clone();
        let Some(d) = desired else {
            return Err(NodeError::NoCredentials);
        };
        match d.creds {
            Creds::V1(group, share) => self
                .start(group, share, d.relays, d.timeout)
                .map(AnyNode::V1),
            Creds::V2(group, share) => self
                .start_v2(group, share, d.relays, d.timeout)
                .map(AnyNode::V2),
        }
    }

    /// True when a v1 node should be running (it was started and not stopped since); a V2
    /// node does not count here, see [`Self::wants_any_node`] (what the health runner uses).
    pub fn wants_node(&self) -> bool {
        matches!(
            lock(&self.0.desired).as_ref().map(|d| &d.creds),
            Some(Creds::V1(..))
        )
    }

    /// True when a node of either protocol should be running.
    pub fn wants_any_node(&self) -> bool {
        lock(&self.0.desired).is_some()
    }

    /// Changes whenever a node starts or stops.
    pub fn generation(&self) -> watch::Receiver<u64> {
        self.0.generation.subscribe()
    }

    /// The health model's last report (see [`super::health`]).
    pub fn health(&self) -> HealthReport {
        lock(&self.0.health).clone()
    }

    pub(super) fn set_health(&self, report: HealthReport) {
        *lock(&self.0.health) = report;
    }

    pub fn events(&self) -> &EventBus {
        &self.0.events
    }

    /// The running v1 node, if any (a node whose loop ended counts as none; a V2 node
    /// counts as none here: see [`Self::current_any`]).
    pub fn current(&self) -> Option<NodeHandle> {
        lock(&self.0.current)
            .as_ref()
            .and_then(|r| r.handle.as_v1().cloned())
            .filter(NodeHandle::is_running)
    }

    /// The running node of either protocol, if any.
    pub fn current_any(&self) -> Option<AnyNode> {
        lock(&self.0.current)
            .as_ref()
            .map(|r| r.handle.clone())
            .filter(AnyNode::is_running)
    }

    /// Stop the running node (if any) and start a V2 node with these credentials.
    /// Spent nonce codes and the run marker go to the store of the guard configuration.
    pub fn start_v2(
        &self,
        group: crate::frostr_v2::GroupPackage,
        share: crate::frostr_v2::ShareSecret,
        relays: Vec<String>,
        timeout: Duration,
    ) -> Result<V2Handle, NodeError> {
        self.start_v2_inner(group, share, None, relays, timeout)
    }

    /// Like [`Self::start_v2`] for a node that just onboarded: it keeps the nonce pool the
    /// onboarding exchanged with its inviter, so the two can sign at once.
    pub fn start_v2_onboarded(
        &self,
        done: crate::frostr_v2::onboard::Onboarded,
        relays: Vec<String>,
        timeout: Duration,
    ) -> Result<V2Handle, NodeError> {
        let (group, share) = (done.group.clone(), done.share.clone());
        self.start_v2_inner(group, share, Some(done), relays, timeout)
    }

    fn start_v2_inner(
        &self,
        group: crate::frostr_v2::GroupPackage,
        share: crate::frostr_v2::ShareSecret,
        onboarded: Option<crate::frostr_v2::onboard::Onboarded>,
        relays: Vec<String>,
        timeout: Duration,
    ) -> Result<V2Handle, NodeError> {
        self.halt();
        *lock(&self.0.desired) = Some(Desired {
            creds: Creds::V2(group.clone(), share.clone()),
            relays: relays.clone(),
            timeout,
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        forward_shutdown(self.0.shutdown.clone(), stop_tx.clone());
        let mut options = V2Options::new(timeout);
        {
            let guard = lock(&self.0.guard);
            options.store = guard.store.clone();
            options.sign_policy = guard.sign_policy;
            options.seeds = guard.seeds.clone();
        }
        options.events = Some(self.0.events.clone());
        let started = match onboarded {
            Some(done) => super::v2::start_onboarded(done, relays.clone(), options, stop_rx),
            None => super::v2::start(group, share, relays.clone(), options, stop_rx),
        };
        match started {
            Ok(h) => {
                self.install(AnyNode::V2(h.clone()), stop_tx, &relays);
                Ok(h)
            }
            Err(e) => {
                self.start_failed(&e);
                Err(e)
            }
        }
    }

    fn start_failed(&self, e: &NodeError) {
        self.0
            .events
            .emit(EventKind::Error, format!("Node failed to start: {e}"), None);
        self.0.generation.send_modify(|g| *g += 1);
    }

    fn install(&self, handle: AnyNode, stop: watch::Sender<bool>, relays: &[String]) {
        let protocol = handle.protocol().as_str();
        let pubkey = hex::encode(handle.self_xonly());
        *lock(&self.0.current) = Some(Running { handle, stop });
        self.0.events.emit(
            EventKind::Ready,
            "Node started",
            Some(serde_json::json!({
                "pubkey": pubkey,
                "relays": relays,
                "protocol": protocol,
            })),
        );
        self.0.generation.send_modify(|g| *g += 1);
    }

    /// Stop the running node (if any) and start one with these credentials and relays.
    pub fn start(
        &self,
        group: GroupPackage,
        share: SharePackage,
        relays: Vec<String>,
        timeout: Duration,
    ) -> Result<NodeHandle, NodeError> {
        self.halt();
        *lock(&self.0.desired) = Some(Desired {
            creds: Creds::V1(group.clone(), share.clone()),
            relays: relays.clone(),
            timeout,
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        forward_shutdown(self.0.shutdown.clone(), stop_tx.clone());
        let guard = lock(&self.0.guard).clone();
        let started = super::start_with_events(
            group,
            share,
            relays.clone(),
            timeout,
            guard,
            stop_rx,
            &self.0.events,
        );
        let handle = match started {
            Ok(h) => h,
            Err(e) => {
                self.start_failed(&e);
                return Err(e);
            }
        };
        self.install(AnyNode::V1(handle.clone()), stop_tx, &relays);
        Ok(handle)
    }

    /// At process shutdown (the nodes were already told to stop): let go of the store, so
    /// that the daemon can close it cleanly once the nodes' last tasks have finished.
    pub fn release_store(&self) {
        *lock(&self.0.guard) = super::GuardConfig::default();
        drop(lock(&self.0.current).take());
    }

    /// Stop the running node and forget its credentials (no restart); true when one was
    /// running.
    pub fn stop(&self) -> bool {
        *lock(&self.0.desired) = None;
        let stopped = self.halt();
        self.0.generation.send_modify(|g| *g += 1);
        stopped
    }

    /// Stop the running node, keeping what it should run with.
    fn halt(&self) -> bool {
        let old = lock(&self.0.current).take();
        match old {
            Some(r) => {
                let _ = r.stop.send(true);
                r.handle.fail_pending();
                self.0.events.emit(EventKind::Info, "Node stopped", None);
                true
            }
            None => false,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Relay the process-wide shutdown to one node's stop channel; ends when that node is gone.
fn forward_shutdown(mut global: watch::Receiver<bool>, stop: watch::Sender<bool>) {
    tokio::spawn(async move {
        tokio::select! {
            r = global.wait_for(|s| *s) => {
                if r.is_ok() {
                    let _ = stop.send(true);
                }
            }
            _ = stop.closed() => {}
        }
    });
}
