//! Echo (spec §5, reference §8.4): a `/echo/req` published to our own pubkey.
//!
//! * At start the node publishes one on every relay, as soon as that relay first connects
//!   (once per relay and node run): this is what Igloo Desktop's share-export flow (igloo-core
//!   `awaitShareEcho`) waits for on the device it exported the share from, and it may listen
//!   on any one of the relays, including one that connects later than the others.
//! * [`NodeHandle::echo`] measures a relay round trip: our own subscription sees the echo
//!   come back.
//! * An echo from our own pubkey that we did not send means another device holds this share:
//!   logged and reported on the event stream.
//! * An echo from a peer is answered with `/echo/res` carrying our policy for it, as
//!   igloo-server does (bifrost 1.0.7 peers ignore that reply).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::RngCore;
use tokio::sync::watch;

use super::{NodeError, NodeHandle};
use crate::events::EventKind;
use crate::frostr::transport::envelope::{Envelope, MessageId};
use crate::frostr::transport::payload::{Payload, PingResponse};

/// How many of our own echo ids are remembered.
const REMEMBERED: usize = 64;

/// Ids of echoes this node published (bounded, oldest forgotten first).
#[derive(Default)]
pub(super) struct SentEchoes(Mutex<VecDeque<[u8; 16]>>);

impl SentEchoes {
    fn remember(&self, id: MessageId) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        g.push_back(id.0);
        while g.len() > REMEMBERED {
            g.pop_front();
        }
    }

    fn contains(&self, id: &MessageId) -> bool {
        let g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        g.contains(&id.0)
    }
}

fn fresh() -> (MessageId, String) {
    let mut id = [0u8; 16];
    let mut challenge = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut id);
    rand::rngs::OsRng.fill_bytes(&mut challenge);
    // igloo-core accepts an even-length hex challenge (or the legacy literal "echo").
    (MessageId::from_random(id), hex::encode(challenge))
}

impl NodeHandle {
    /// Publish one echo to ourselves; its id is remembered as ours.
    fn publish_echo(&self, id: MessageId, challenge: String) -> Result<(), NodeError> {
        self.0.sent_echoes.remember(id);
        let me = self.0.self_xonly;
        self.send(&me, id, &Payload::EchoReq(challenge))
    }

    /// Publish the start-up echo on each relay as soon as it first connects (once per relay
    /// in this node run); ends when every relay got one, or at shutdown.
    pub(super) async fn startup_echo(self, mut shutdown: watch::Receiver<bool>) {
        let mut activity = self.activity();
        let mut echoed = vec![false; self.relay_states().len()];
        loop {
            for (i, state) in self.relay_states().iter().enumerate() {
                if !state.connected || echoed.get(i).copied().unwrap_or(true) {
                    continue;
                }
                let (id, challenge) = fresh();
                self.0.sent_echoes.remember(id);
                let me = self.0.self_xonly;
                let sent = self.send_to_relay(i, &me, id, &Payload::EchoReq(challenge));
                // Gone again before we could send: try at its next connection.
                echoed[i] = !matches!(sent, Err(NodeError::NotPublished));
                match sent {
                    Ok(()) => {
                        tracing::info!(relay = %state.url, "published the start-up echo");
                        self.emit(
                            EventKind::Info,
                            "Echo published (share-export confirmation)",
                            Some(serde_json::json!({ "relay": state.url })),
                        );
                    }
                    Err(e) => {
                        tracing::warn!(relay = %state.url, error = %e, "start-up echo not published")
                    }
                }
            }
            if echoed.iter().all(|e| *e) {
                return;
            }
            tokio::select! {
                r = activity.changed() => if r.is_err() { return },
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    }

    /// Echo to ourselves through the relays and wait for it to come back: a relay round trip.
    pub async fn echo(&self, timeout: Duration) -> Result<Duration, NodeError> {
        if !self.is_running() {
            return Err(NodeError::Stopped);
        }
        let (id, challenge) = fresh();
        let me = self.0.self_xonly;
        let rx = self.0.pending.register(id, vec![me]);
        let started = Instant::now();
        if let Err(e) = self.publish_echo(id, challenge) {
            self.0.pending.cancel(&id);
            return Err(e);
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(_)) => Ok(started.elapsed()),
            Ok(Err(_)) => Err(NodeError::Stopped),
            Err(_) => {
                self.0.pending.cancel(&id);
                Err(NodeError::Timeout(timeout))
            }
        }
    }

    /// An incoming `/echo/req`.
    pub(super) fn on_echo(&self, from: [u8; 32], id: MessageId, challenge: String) {
        if from == self.0.self_xonly {
            if self
                .0
                .pending
                .resolve(&id, from, Payload::EchoReq(challenge))
                || self.0.sent_echoes.contains(&id)
            {
                return;
            }
            tracing::warn!(
                "an echo from our own share that this node did not send: another device holds this share"
            );
            self.emit(
                EventKind::Warn,
                "Another device holds this share (an echo from our own key that we did not send)",
                Some(serde_json::json!({ "pubkey": hex::encode(from) })),
            );
            return;
        }
        let Some(peer) = self.0.peers.get(&from) else {
            tracing::debug!("dropping an echo from a stranger");
            return;
        };
        self.0.peers.mark_seen(&from);
        let policy = PingResponse {
            send: peer.policy.send,
            recv: peer.policy.recv,
        };
        let data = serde_json::to_string(&policy).unwrap_or_default();
        if let Err(e) = self.send_envelope(&from, &Envelope::new("/echo/res", id, data)) {
            tracing::debug!(error = %e, "echo reply not sent");
        }
    }
}
