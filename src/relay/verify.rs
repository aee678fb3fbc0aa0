//! Signature checks on spare cores.
//!
//! Checking a BIP-340 signature is the largest cost of an EVENT. The daemon runs on one
//! runtime thread, so on a machine with more than one core the checks go to a small pool of
//! plain threads while the runtime thread keeps parsing, storing and fanning out. Each
//! connection still handles its messages in order (it awaits its own check), so `OK`s keep
//! their order. On one core, or when the pool's queue is full, the check runs inline.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use nostr::prelude::Event;
use tokio::sync::oneshot;

/// Checks waiting for a thread; beyond this, callers verify inline (natural back-pressure).
const QUEUE: usize = 1024;
/// More threads than this only add contention for a relay of this size.
const MAX_THREADS: usize = 4;

type Job = (Box<Event>, oneshot::Sender<(Box<Event>, bool)>);

pub(crate) struct Verifier {
    tx: Option<SyncSender<Job>>,
}

impl Verifier {
    /// One thread per core beyond the first (at most [`MAX_THREADS`]); none on one core.
    /// The threads end when the verifier is dropped.
    pub(crate) fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_threads(cores.saturating_sub(1).min(MAX_THREADS))
    }

    pub(crate) fn with_threads(threads: usize) -> Self {
        if threads == 0 {
            return Verifier { tx: None };
        }
        let (tx, rx) = sync_channel::<Job>(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        let mut spawned = 0;
        for i in 0..threads {
            let rx = Arc::clone(&rx);
            let ok = std::thread::Builder::new()
                .name(format!("relay-verify-{i}"))
                .spawn(move || work(&rx))
                .is_ok();
            spawned += usize::from(ok);
        }
        Verifier {
            tx: (spawned > 0).then_some(tx),
        }
    }

    /// Whether the event's signature is valid; the event comes back with the answer.
    /// `None` only if a worker thread died mid-check (the event is lost with it).
    pub(crate) async fn verify(&self, event: Box<Event>) -> Option<(Box<Event>, bool)> {
        let Some(tx) = &self.tx else {
            return Some(inline(event));
        };
        let (reply, answer) = oneshot::channel();
        match tx.try_send((event, reply)) {
            Ok(()) => answer.await.ok(),
            Err(TrySendError::Full((event, _)) | TrySendError::Disconnected((event, _))) => {
                Some(inline(event))
            }
        }
    }
}

fn inline(event: Box<Event>) -> (Box<Event>, bool) {
    let ok = event.verify_signature();
    (event, ok)
}

fn work(rx: &Mutex<Receiver<Job>>) {
    loop {
        // Hold the lock only to take one job.
        let job = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        let Ok((event, reply)) = job else { return };
        let ok = event.verify_signature();
        let _ = reply.send((event, ok));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nostr::prelude::{EventBuilder, FinalizeUnsignedEvent, Kind, PublicKey, Signature};

    fn signed(key: &k256::schnorr::SigningKey, content: &str) -> Event {
        let pubkey = PublicKey::from_slice(&key.verifying_key().to_bytes()).expect("key");
        let unsigned = EventBuilder::new(Kind::from_u16(1), content).finalize_unsigned(pubkey);
        let sig = key
            .sign_raw(unsigned.compute_id().as_bytes(), &[7u8; 32])
            .expect("sign");
        let sig = Signature::from_slice(&sig.to_bytes()).expect("sig");
        unsigned.add_signature(sig).expect("valid")
    }

    fn events() -> (Event, Event) {
        let key = k256::schnorr::SigningKey::from_bytes(&[0x42; 32]).expect("key");
        let good = signed(&key, "hello");
        let other = signed(&key, "other");
        // The id and content of one event with the signature of another.
        let mut json: serde_json::Value = serde_json::from_str(&good.as_json()).expect("json");
        json["sig"] = serde_json::Value::String(other.sig.to_string());
        let bad = Event::from_json(json.to_string()).expect("event");
        (good, bad)
    }

    #[tokio::test]
    async fn pool_and_inline_agree_on_good_and_bad_signatures() {
        let (good, bad) = events();
        for threads in [0, 1, 3] {
            let v = Verifier::with_threads(threads);
            let (back, ok) = v.verify(Box::new(good.clone())).await.expect("answer");
            assert!(ok, "{threads} threads: a valid signature");
            assert_eq!(back.id, good.id);
            let (_, ok) = v.verify(Box::new(bad.clone())).await.expect("answer");
            assert!(!ok, "{threads} threads: a foreign signature");
        }
    }
}
