//! Signature checks on every core.
//!
//! Checking a BIP-340 signature (libsecp256k1, about 420k instructions) is ~85% of the cost
//! of an EVENT. The daemon runs on one runtime thread, which needs only a small share of a
//! core per event, so on a machine with more than one core the checks go to a pool of one
//! plain thread per core: under a flood every core verifies while the runtime thread still
//! gets its turn from the OS scheduler. Each connection still handles its messages in order
//! (it awaits its own check), so `OK`s keep their order. On one core, or when the pool's
//! queue is full, the check runs inline.
//!
//! Each thread keeps the parsed x-only keys of recent authors: lifting an x coordinate onto
//! the curve costs a field square root (~45k instructions, a tenth of a check), and a relay
//! sees the same few authors again and again.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use nostr::prelude::Event;
use secp256k1::{Secp256k1, VerifyOnly, XOnlyPublicKey, schnorr};
use tokio::sync::oneshot;

/// Checks waiting for a thread; beyond this, callers verify inline (natural back-pressure).
const QUEUE: usize = 1024;
/// More threads than this only add contention for a relay of this size.
const MAX_THREADS: usize = 4;
/// Parsed author keys kept per thread (32 + 64 bytes each); the cache is emptied when full,
/// so a flood of one-off keys costs what it did without a cache and memory stays bounded.
const KEY_CACHE: usize = 4096;

/// A verification context and the parsed keys of recent authors (one per thread).
pub(crate) struct SigChecker {
    secp: Secp256k1<VerifyOnly>,
    keys: HashMap<[u8; 32], XOnlyPublicKey>,
}

impl SigChecker {
    fn new() -> Self {
        Self {
            secp: Secp256k1::verification_only(),
            keys: HashMap::new(),
        }
    }

    /// Whether `event.sig` is a valid BIP-340 signature of `event.id` by `event.pubkey`.
    pub(crate) fn check(&mut self, event: &Event) -> bool {
        // Not a point on the curve: no signature can be valid.
        let Some(key) = self.key(event.pubkey.as_bytes()) else {
            return false;
        };
        let sig = schnorr::Signature::from_byte_array(*event.sig.as_bytes());
        self.secp
            .verify_schnorr(&sig, event.id.as_bytes(), &key)
            .is_ok()
    }

    /// The parsed key, from the cache or parsed and remembered. Invalid keys are not cached,
    /// so junk keys cannot evict real ones.
    fn key(&mut self, bytes: &[u8; 32]) -> Option<XOnlyPublicKey> {
        if let Some(k) = self.keys.get(bytes) {
            return Some(*k);
        }
        let k = XOnlyPublicKey::from_byte_array(bytes).ok()?;
        if self.keys.len() >= KEY_CACHE {
            self.keys.clear();
        }
        self.keys.insert(*bytes, k);
        Some(k)
    }

    #[cfg(test)]
    fn cached(&self) -> usize {
        self.keys.len()
    }
}

thread_local! {
    static CHECKER: RefCell<SigChecker> = RefCell::new(SigChecker::new());
}

/// Check a signature with this thread's [`SigChecker`].
pub(crate) fn check(event: &Event) -> bool {
    CHECKER.with(|c| match c.try_borrow_mut() {
        Ok(mut c) => c.check(event),
        // Unreachable (no re-entry), but never panic: a fresh checker gives the same answer.
        Err(_) => SigChecker::new().check(event),
    })
}

type Job = (Box<Event>, oneshot::Sender<(Box<Event>, bool)>);

pub(crate) struct Verifier {
    tx: Option<SyncSender<Job>>,
}

impl Verifier {
    /// One thread per core (at most [`MAX_THREADS`]); none on one core, where a thread hop
    /// would only add latency. The threads end when the verifier is dropped.
    pub(crate) fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_threads(if cores > 1 { cores.min(MAX_THREADS) } else { 0 })
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
    let ok = check(&event);
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
        let ok = check(&event);
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

    #[test]
    fn cached_keys_still_judge_each_signature() {
        let (good, bad) = events();
        let mut c = SigChecker::new();
        for _ in 0..3 {
            assert!(c.check(&good), "valid with the key parsed or cached");
            assert!(
                !c.check(&bad),
                "a foreign signature fails with the cached key"
            );
        }
        assert_eq!(c.cached(), 1, "one author, one parse");
    }

    #[test]
    fn a_key_off_the_curve_fails_and_is_not_cached() {
        let (good, _) = events();
        // x = 5 is not the x coordinate of any secp256k1 point (5^3 + 7 = 132 is a non-residue).
        let mut json: serde_json::Value = serde_json::from_str(&good.as_json()).expect("json");
        json["pubkey"] = serde_json::Value::String(format!("{:064x}", 5));
        let off = Event::from_json(json.to_string()).expect("event");
        let mut c = SigChecker::new();
        assert!(!c.check(&off));
        assert_eq!(c.cached(), 0);
        assert!(!check(&off));
    }

    #[test]
    fn the_cache_stays_bounded() {
        let (good, bad) = events();
        let mut c = SigChecker::new();
        // Many distinct keys: x = 1, 2, ... (about half are on the curve).
        let mut parsed = 0;
        for x in 1u32..=(KEY_CACHE as u32 * 3) {
            let mut b = [0u8; 32];
            b[28..].copy_from_slice(&x.to_be_bytes());
            parsed += usize::from(c.key(&b).is_some());
            assert!(c.cached() <= KEY_CACHE);
        }
        assert!(parsed > KEY_CACHE, "the test overflowed the cache");
        assert!(c.check(&good));
        assert!(!c.check(&bad));
        assert!(c.cached() <= KEY_CACHE);
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
