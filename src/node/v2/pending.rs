//! Correlation of V2 replies with our rounds: a round registers its request id and the
//! member indexes it waits for; each of them may deliver one reply (§4.5 step 6).

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::mpsc;

use crate::frostr_v2::envelope::Payload;

/// A reply: sender's member index and its payload.
pub type Reply = (u16, Payload);

struct Waiting {
    expect: Vec<u16>,
    tx: mpsc::UnboundedSender<Reply>,
}

/// Every round in flight, by request id.
#[derive(Default)]
pub struct Pending(Mutex<HashMap<String, Waiting>>);

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pending({})", self.len())
    }
}

impl Pending {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Waiting>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Register a round before sending it; replies arrive on the receiver. The receiver
    /// ends (`None`) when the round is cancelled or the node stops.
    pub fn register(&self, id: &str, expect: Vec<u16>) -> mpsc::UnboundedReceiver<Reply> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock().insert(id.to_owned(), Waiting { expect, tx });
        rx
    }

    /// Forget a round (finished, failed or timed out).
    pub fn cancel(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Offer a reply; true when a round waited for this sender. One reply per sender.
    pub fn resolve(&self, id: &str, from: u16, payload: Payload) -> bool {
        let mut g = self.lock();
        let Some(w) = g.get_mut(id) else {
            return false;
        };
        let Some(pos) = w.expect.iter().position(|e| *e == from) else {
            return false;
        };
        w.expect.swap_remove(pos);
        let delivered = w.tx.send((from, payload)).is_ok();
        if w.expect.is_empty() || !delivered {
            g.remove(id);
        }
        delivered
    }

    /// Drop every round: their requesters see the node as stopped.
    pub fn clear(&self) {
        self.lock().clear();
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frostr_v2::envelope::ErrorData;

    fn err() -> Payload {
        Payload::Error(ErrorData {
            code: "x".into(),
            message: "y".into(),
        })
    }

    #[tokio::test]
    async fn one_reply_per_expected_sender_then_done() {
        let p = Pending::default();
        let mut rx = p.register("r1", vec![2, 3]);
        assert!(!p.resolve("other", 2, err()));
        assert!(!p.resolve("r1", 4, err()), "stranger ignored");
        assert!(p.resolve("r1", 2, err()));
        assert!(!p.resolve("r1", 2, err()), "second reply ignored");
        assert_eq!(p.len(), 1);
        assert!(p.resolve("r1", 3, err()));
        assert!(p.is_empty());
        assert_eq!(rx.recv().await.map(|r| r.0), Some(2));
        assert_eq!(rx.recv().await.map(|r| r.0), Some(3));
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test]
    async fn clear_ends_waiters() {
        let p = Pending::default();
        let mut rx = p.register("r", vec![2]);
        p.clear();
        assert!(rx.recv().await.is_none());
        assert!(!p.resolve("r", 2, err()));
    }
}
