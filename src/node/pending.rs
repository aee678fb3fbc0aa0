//! Request/response correlation (spec §4.6): a request id maps to the peers we wait for;
//! it completes when each has sent one message with that id.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::oneshot;

use crate::frostr::transport::envelope::MessageId;
use crate::frostr::transport::payload::Payload;

/// A reply: sender x-only key and its payload.
pub type Reply = ([u8; 32], Payload);

struct Waiting {
    expect: Vec<[u8; 32]>,
    got: Vec<Reply>,
    done: Option<oneshot::Sender<Vec<Reply>>>,
}

/// All requests in flight.
#[derive(Default)]
pub struct Pending(Mutex<HashMap<[u8; 16], Waiting>>);

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pending")
    }
}

impl Pending {
    /// Register a request to `expect` before publishing it.
    pub fn register(&self, id: MessageId, expect: Vec<[u8; 32]>) -> oneshot::Receiver<Vec<Reply>> {
        let (tx, rx) = oneshot::channel();
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        g.insert(
            id.0,
            Waiting {
                expect,
                got: Vec::new(),
                done: Some(tx),
            },
        );
        rx
    }

    /// Forget a request (timed out or failed to publish).
    pub fn cancel(&self, id: &MessageId) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        g.remove(&id.0);
    }

    /// Offer an incoming reply; returns whether a pending request took it. Only the first
    /// message per expected sender counts.
    pub fn resolve(&self, id: &MessageId, from: [u8; 32], payload: Payload) -> bool {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let Some(w) = g.get_mut(&id.0) else {
            return false;
        };
        if !w.expect.contains(&from) || w.got.iter().any(|(k, _)| *k == from) {
            return false;
        }
        w.got.push((from, payload));
        if w.got.len() == w.expect.len() {
            if let Some(w) = g.remove(&id.0) {
                if let Some(tx) = w.done {
                    let _ = tx.send(w.got);
                }
            }
        }
        true
    }

    /// Drop every request in flight: their waiters see the node as stopped.
    pub fn clear(&self) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        g.clear();
    }

    pub fn len(&self) -> usize {
        self.0.lock().map(|g| g.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn completes_when_every_peer_answered_once() {
        let p = Pending::default();
        let id = MessageId([7; 16]);
        let rx = p.register(id, vec![[1; 32], [2; 32]]);
        assert!(!p.resolve(&MessageId([8; 16]), [1; 32], Payload::PingReq));
        assert!(
            !p.resolve(&id, [3; 32], Payload::PingReq),
            "stranger ignored"
        );
        assert!(p.resolve(&id, [1; 32], Payload::PingReq));
        assert!(
            !p.resolve(&id, [1; 32], Payload::PingReq),
            "duplicate ignored"
        );
        assert_eq!(p.len(), 1);
        assert!(p.resolve(&id, [2; 32], Payload::PingReq));
        let got = rx.await.expect("completed");
        assert_eq!(got.len(), 2);
        assert!(p.is_empty());
    }

    #[test]
    fn cancel_forgets() {
        let p = Pending::default();
        let id = MessageId([1; 16]);
        let _rx = p.register(id, vec![[1; 32]]);
        p.cancel(&id);
        assert!(p.is_empty());
        assert!(!p.resolve(&id, [1; 32], Payload::PingReq));
    }
}
