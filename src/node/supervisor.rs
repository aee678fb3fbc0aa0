//! Owns "the" signing node of this process: at most one runs; starting a new one (credentials
//! or relays changed) stops the previous one first; removing credentials stops it.
//!
//! The HTTP layer and the daemon only talk to the node through [`Supervisor::current`], so a
//! restart is invisible to them apart from requests that were in flight.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::{NodeError, NodeHandle};
use crate::events::EventBus;
use crate::frostr::{GroupPackage, SharePackage};

struct Running {
    handle: NodeHandle,
    /// Stops this node only (the process-wide shutdown also reaches it).
    stop: watch::Sender<bool>,
}

struct Inner {
    current: Mutex<Option<Running>>,
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
            shutdown,
            events,
            guard: Mutex::new(super::GuardConfig::default()),
        }))
    }

    /// Where nodes started from now on keep their policies and counts, and how they sign.
    pub fn set_guard_config(&self, guard: super::GuardConfig) {
        *self.0.guard.lock().unwrap_or_else(|p| p.into_inner()) = guard;
    }

    pub fn events(&self) -> &EventBus {
        &self.0.events
    }

    /// The running node, if any (a node whose loop ended counts as none).
    pub fn current(&self) -> Option<NodeHandle> {
        let guard = self.0.current.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .as_ref()
            .map(|r| r.handle.clone())
            .filter(NodeHandle::is_running)
    }

    /// Stop the running node (if any) and start one with these credentials and relays.
    pub fn start(
        &self,
        group: GroupPackage,
        share: SharePackage,
        relays: Vec<String>,
        timeout: Duration,
    ) -> Result<NodeHandle, NodeError> {
        self.stop();
        let (stop_tx, stop_rx) = watch::channel(false);
        forward_shutdown(self.0.shutdown.clone(), stop_tx.clone());
        let guard = self
            .0
            .guard
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let handle = super::start_guarded(group, share, relays, timeout, guard, stop_rx)?;
        handle.set_events(self.0.events.clone());
        let mut guard = self.0.current.lock().unwrap_or_else(|p| p.into_inner());
        *guard = Some(Running {
            handle: handle.clone(),
            stop: stop_tx,
        });
        Ok(handle)
    }

    /// Stop the running node; true when one was running.
    pub fn stop(&self) -> bool {
        let old = {
            let mut guard = self.0.current.lock().unwrap_or_else(|p| p.into_inner());
            guard.take()
        };
        match old {
            Some(r) => {
                let _ = r.stop.send(true);
                true
            }
            None => false,
        }
    }
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
